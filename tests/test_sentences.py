"""The sentence splitter: raw news text, PTB-tokenized text, pasted notes."""

from __future__ import annotations

import pytest

from bot.sentences import split_sentences, word_count


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The sky is blue. The grass is green.", ["The sky is blue.", "The grass is green."]),
        ("Is it? Yes! It is.", ["Is it?", "Yes!", "It is."]),
        # abbreviations and initials do not end a sentence
        ("Mr. Smith met Dr. Jones on Jan. 5. They talked.", ["Mr. Smith met Dr. Jones on Jan. 5.", "They talked."]),
        ("J. R. R. Tolkien wrote it. It sold well.", ["J. R. R. Tolkien wrote it.", "It sold well."]),
        ("The U.S. Army said so. Others did not.", ["The U.S. Army said so.", "Others did not."]),
        ("Prices rose e.g. Bread and milk. Then fell.", ["Prices rose e.g. Bread and milk.", "Then fell."]),
        # decimals and amounts
        ("It cost $3.5 million in 2023. Growth was 2.7 percent.", ["It cost $3.5 million in 2023.", "Growth was 2.7 percent."]),
        # quotes close the sentence they belong to
        ('He said: "We will win." Then he left.', ['He said: "We will win."', "Then he left."]),
        ("She wrote: ‘It is over.’ Nobody replied.", ["She wrote: ‘It is over.’", "Nobody replied."]),
        ("'We are ready,' he said. 'So are we.' The end.", ["'We are ready,' he said.", "'So are we.'", "The end."]),
        # an ellipsis before a capital ends one
        ("We waited… Nothing came.", ["We waited…", "Nothing came."]),
    ],
)
def test_raw_text(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Chelsea have made an offer for the team 's forward . He did n't comment .",
            ["Chelsea have made an offer for the team 's forward .", "He did n't comment ."],
        ),
        # lower-cased PTB text still splits at a free-standing full stop
        ("police say they have no objections . the kick-off is at 4pm .", ["police say they have no objections .", "the kick-off is at 4pm ."]),
        # a closing quote written as its own token stays with its sentence
        (
            "He said : ' I have not decided yet . ' Muto would be the first . ' It is an honour . '",
            ["He said : ' I have not decided yet . '", "Muto would be the first .", "' It is an honour . '"],
        ),
        (
            "`` We will win , '' he said . `` Maybe . '' They left .",
            ["`` We will win , '' he said .", "`` Maybe . ''", "They left ."],
        ),
        ("He moved to the U.S. . Then he left .", ["He moved to the U.S. .", "Then he left ."]),
    ],
)
def test_ptb_tokenized_text(text, expected):
    assert split_sentences(text) == expected


def test_hard_wrapped_lines_are_joined_and_paragraphs_split():
    text = (
        "This paragraph was wrapped by an email client at a fixed width, so\n"
        "its lines must be joined back together before splitting.\n"
        "\n"
        "Short heading\n"
        "A new paragraph starts here."
    )
    assert split_sentences(text) == [
        "This paragraph was wrapped by an email client at a fixed width, so its lines must be joined back together before splitting.",
        "Short heading",
        "A new paragraph starts here.",
    ]


def test_bullets_are_sentences_of_their_own():
    text = "Things to bring to the meeting on Friday morning at ten:\n- a laptop\n- the signed contract\n• snacks\n1. a pen"
    assert split_sentences(text) == [
        "Things to bring to the meeting on Friday morning at ten:",
        "- a laptop",
        "- the signed contract",
        "• snacks",
        "1. a pen",
    ]


def test_overlong_sentences_are_cut_at_clause_breaks():
    first = "The council said " + " ".join(["the plan"] * 25) + " would go ahead"
    second = "and residents " + " ".join(["were told"] * 25) + " about it."
    pieces = split_sentences(f"{first}; {second}")
    assert pieces == [f"{first};", second]


def test_unpunctuated_text_is_cut_into_pieces():
    text = " ".join(f"word{i}" for i in range(500))
    pieces = split_sentences(text)
    assert len(pieces) > 5
    assert all(word_count(p) <= 80 for p in pieces)
    assert " ".join(pieces) == text


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "...", "?!"])
def test_empty_or_punctuation_only(text):
    assert all(s.strip() for s in split_sentences(text))


def test_non_english_text():
    assert split_sentences("Der Hund schläft. Écoutez bien. Это тест. Ещё один. 这是一个句子。这是另一个。") == [
        "Der Hund schläft.",
        "Écoutez bien.",
        "Это тест.",
        "Ещё один.",
        "这是一个句子。",
        "这是另一个。",
    ]


def test_huge_input_is_fast():
    import time

    text = " ".join(["The committee met again today to discuss the budget."] * 12_000)  # 108k words
    started = time.perf_counter()
    sentences = split_sentences(text)
    assert len(sentences) == 12_000
    assert time.perf_counter() - started < 5


def test_word_count():
    assert word_count("Three small words — far!") == 4
    assert word_count("") == 0
    assert word_count(None) == 0
