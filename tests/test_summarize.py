"""The default extractive summarizer: its points are the text's own sentences, in order,
as many as asked for; odd input never crashes; the same input gives the same points."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.sentences import split_sentences
from bot.summarize import summarizer_identity
from model_support import shared_models
from bot.summarize.extractive import WEIGHTS_PATH, ExtractiveSummarizer, ScorerWeights

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

ARTICLE = """City council approves new river clean-up plan after two years of debate.

The council voted 9 to 2 on Tuesday to spend $4.5 million on filters at the Eastside treatment works.
Nitrate levels in the river have doubled since 2015, according to the regional water authority.
"This is the most important vote we have taken this term," said councillor Ana Ruiz.
Farmers upstream will be offered grants of up to $20,000 to change how they spread fertiliser.
Work on the filters is expected to start in the spring and finish by the end of next year.
Opponents said the money would be better spent on repairing the city's roads.
The regional water authority will publish monthly readings on its website from June.
Residents can check the figures for their own street using a new online map.
The plan also includes a public consultation on a swimming area near the old mill.
A similar scheme in a neighbouring town cut nitrate levels by a third within three years."""


@pytest.fixture(scope="module")
def summarizer() -> ExtractiveSummarizer:
    return shared_models().summarizer  # the session's: the encoder loads once


def _in_order(points: list[str], text: str) -> bool:
    sentences = split_sentences(text)
    positions = [sentences.index(p) for p in points]
    return positions == sorted(positions) and len(set(positions)) == len(positions)


@pytest.mark.parametrize("length, count", [("short", 1), ("medium", 3), ("long", 5)])
def test_points_are_sentences_of_the_text_in_reading_order(summarizer, length, count):
    points = summarizer.summarize(ARTICLE, title="River clean-up plan approved", length=length)
    assert len(points) == count
    assert all(p in split_sentences(ARTICLE) for p in points)
    assert _in_order(points, ARTICLE)


def test_deterministic(summarizer):
    first = summarizer.summarize(ARTICLE, length="long")
    assert all(summarizer.summarize(ARTICLE, length="long") == first for _ in range(3))


def test_packaged_weights_say_what_they_were_fitted_on():
    weights = ScorerWeights.load(WEIGHTS_PATH)
    assert weights.trained_on, "the packaged weights must name their training files"
    assert weights.position_decay > 0
    assert set(weights.trained_on).isdisjoint(weights.excluded)


def test_version_keys_the_cache(monkeypatch):
    """Summaries are cached under the summarizer's identity: a new version is a new cache."""
    before = summarizer_identity(Settings())
    assert before.startswith(f"extractive-minilm:{ExtractiveSummarizer.version}:")
    monkeypatch.setattr(ExtractiveSummarizer, "version", ExtractiveSummarizer.version + "-next")
    assert summarizer_identity(Settings()) != before


def test_not_a_first_three_rule_on_pasted_notes(summarizer):
    email = (SEEDS / "pasted-text.txt").read_text(encoding="utf-8")
    subject = email.splitlines()[0]
    points = summarizer.summarize(email, title=subject, length="medium")
    assert len(points) == 3 and _in_order(points, email)
    assert points != split_sentences(email)[:3]
    assert subject not in points, "the title is not repeated as a point"
    assert "Hi all," not in points and "Marta" not in points


def test_chat_like_text_yields_its_substantial_messages(summarizer):
    chat = "\n".join(
        [
            "hey",
            "ok",
            "so about friday",
            "The release is moved to Friday because the payment provider needs two more days for testing.",
            "lol",
            "Please make sure every open pull request is reviewed by Thursday noon at the latest.",
            "sure",
            "The demo for the customer stays on Monday, and Sam will run it from the staging server.",
            "thanks!",
        ]
    )
    points = summarizer.summarize(chat, length="medium")
    assert len(points) == 3
    assert all(len(p.split()) >= 8 for p in points)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "Just one sentence here.",
        "no punctuation at all just words flowing on and on " * 40,
        "Short. Bits. Only. Here.",
        "!!! ??? ...",
        "12 34 56. 78 90.",
        "😀 🎉 👍",
        "<p>Some <b>markup</b> that was not extracted.</p> <div>And more of it here.</div>",
        "Der Stadtrat hat am Dienstag einen neuen Plan beschlossen. Die Kosten liegen bei 4,5 Millionen Euro. "
        "Die Arbeiten beginnen im Frühjahr. Anwohner können die Messwerte online einsehen.",
        "这是第一句话。这是第二句话。这是第三句话。这是第四句话。",
        "The same sentence again and again here. " * 30,
    ],
    ids=lambda text: repr(text[:24]),
)
def test_odd_input_never_crashes_and_gives_sentences_of_it(summarizer, text):
    for length, most in (("short", 1), ("medium", 3), ("long", 5)):
        points = summarizer.summarize(text, length=length)
        assert len(points) <= most
        assert all(isinstance(p, str) and p.strip() for p in points)
        assert all(p in split_sentences(text) for p in points)
        if any(ch.isalnum() for ch in text):
            assert points, "text with words in it gets at least one point"


def test_huge_input_is_summarized_from_its_opening_and_a_bounded_part_of_the_rest(summarizer):
    from bot.summarize.extractive import LONG_TEXT_MAX_SCANNED

    text = " ".join(f"Sentence number {i} talks about topic {i % 17} at some length today." for i in range(10_000))
    assert all(int(point.split()[2]) < 40 for point in summarizer.summarize(text))  # 110k words, medium: the opening
    points = summarizer.summarize(text, length="long")
    assert len(points) == 5
    numbers = [int(point.split()[2]) for point in points]
    assert all(n < 40 for n in numbers[:4])  # the opening leads
    assert all(n < LONG_TEXT_MAX_SCANNED for n in numbers)  # the rest is read only so far


def test_other_weights_can_be_given(summarizer, tmp_path):
    path = tmp_path / "w.json"
    ScorerWeights(position_decay=0.0, min_words=1, weights={"centrality": 1.0}).save(path)
    other = ExtractiveSummarizer(summarizer.encoder, weights=path)
    assert other.encoder is summarizer.encoder  # the encoder is shared, not reloaded
    assert len(other.summarize(ARTICLE)) == 3
    with pytest.raises(ValueError, match="unknown features"):
        path.write_text('{"weights": {"nonsense": 1}}')
        ScorerWeights.load(path)
