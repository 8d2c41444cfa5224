"""Key points are clean sentences of the article body: what a reader sees of a whole page."""

import pytest

from bot.extract import extract_page
from bot.summarize.extractive import ExtractiveSummarizer, point_sentences
from bot.summarize.points import as_point, strip_dateline
from model_support import shared_models

TITLE = "River council votes to close the old dam"
# A page as sites publish them: headline, dateline, byline, a photo with its caption and
# credit, a subhead, a teaser of another story and boilerplate around the article.
PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>{TITLE} | Valley Post</title></head>
<body><article>
<h1>{TITLE}</h1>
<p class="byline">By Maria Lopez and Tom Reed</p>
<p>VALLEY CITY (AP) — The river council voted on Tuesday to close the old dam that has held back the
Grey River for ninety years, ending a debate that split the town for a decade.</p>
<figure><img src="dam.jpg"><figcaption>The old dam seen from the north bank in March
Photo: Madeleine Hadwiger</figcaption></figure>
<p>Council members said the repairs the dam needs would cost more than building a new weir downstream.</p>
<h2>What happens next</h2>
<p>Engineers will begin lowering the reservoir in May, and the work is expected to last two years.</p>
<p>Fishermen welcomed the decision, saying salmon could return to the upper valley within a decade.</p>
<p>Read more: Valley schools to get new buses</p>
<p>The mayor said the town would hold a public meeting about the new weir in the spring…</p>
<p>Advertisement</p>
<p>Farmers downstream asked the council to keep water flowing to their fields during the work.</p>
</article></body></html>"""


def page_points(length: str = "long") -> list[str]:
    article = extract_page(PAGE, "https://valley.example/news/dam.html", 100)
    return shared_models().summarizer.summarize(article.text, title=article.title, length=length)


def test_headline_dateline_caption_credit_subhead_and_boilerplate_never_reach_the_points():
    points = page_points("long")
    assert points, "the page has sentences to show"
    shown = "\n".join(points)
    for unwanted in (TITLE, "VALLEY CITY", "(AP)", "Madeleine Hadwiger", "Photo:", "seen from the north bank",
                     "What happens next", "Read more", "Advertisement", "By Maria Lopez", "public meeting"):  # fmt: skip
        assert unwanted not in shown, (unwanted, points)
    assert points[0].startswith("The river council voted on Tuesday")  # the dateline dropped, the sentence kept
    assert all(p.endswith((".", "!", "?")) for p in points)
    assert all(len(p) <= 350 for p in points)


def test_a_headline_fused_into_the_first_line_is_never_a_point():
    text = (
        "Council closes the old dam\n"
        "Council closes the old dam The river council voted on Tuesday to close the old dam on the Grey River.\n"
        "Repairs would have cost more than building a new weir downstream, members said.\n"
        "Engineers will begin lowering the reservoir in May and expect the work to last two years.\n"
        "Fishermen said salmon could return to the upper valley within a decade.\n"
    )
    opening, _ = point_sentences(text, "Council closes the old dam")
    assert not any("Council closes the old dam" in s for s in opening)
    assert len(opening) == 3


@pytest.mark.parametrize(
    "line, point",
    [
        ("WASHINGTON (Reuters) - Scientists unveiled the first map of Titan on Monday.", "Scientists unveiled the first map of Titan on Monday."),
        ("BUFFALO, N.Y. — Hours before the game, the coach said he was confident.", "Hours before the game, the coach said he was confident."),
        ("NEW DELHI: Nearly 150 Indians returned home on Wednesday after being deported.", "Nearly 150 Indians returned home on Wednesday after being deported."),
        ("(CNN) -- A man was arrested on Friday after a long chase.", "A man was arrested on Friday after a long chase."),
        ("Berlin, 5. März (dpa) - Die Regierung hat am Montag das Gesetz beschlossen.", "Die Regierung hat am Montag das Gesetz beschlossen."),
        ("The mayor, who spoke in Washington, said the plan would work.", "The mayor, who spoke in Washington, said the plan would work."),
        ("“It takes a while,” Boudreau said before the game.", "“It takes a while,” Boudreau said before the game."),
        ("Москва — столица России, и в ней живут миллионы людей.", "Москва — столица России, и в ней живут миллионы людей."),
    ],
)
def test_datelines_are_dropped_and_sentences_kept(line, point):
    assert as_point(line) == point


@pytest.mark.parametrize(
    "line",
    [
        "The old dam seen from the north bank Photo: Madeleine Hadwiger",  # caption and credit
        "Bildquelle: SWR",
        "- Kategorie: Saúde",
        "What happens next",  # a subhead
        "Twenty teams have punched tickets for next summer's tournament",  # a standfirst, no full stop
        "The mayor said the town would hold a meeting about it in the spring…",  # a teaser
        "Brace yourself: the singer might not be able to perform all of her hits ...",
        "Read more: Valley schools to get new buses",
        "Advertisement",
        "This copy is for your personal, non-commercial use only.",
        "By Maria Lopez and Tom Reed",
        "5:45 AM PST 11/19/2019 by Patrick Shanley",
        "which were released online and are making the rounds on social media.",  # a fragment
        "The Latest on a deadly stabbing on a commuter train (all times local):",
        "| HD | THE HOME DEPOT INC. | 225.86 | -12.99 |",
        "To order copies for distribution visit http://www.djreprints.com.",
    ],
)
def test_lines_that_are_not_sentences_of_the_article_are_no_points(line):
    assert as_point(line) is None


def test_a_sentence_that_only_mentions_a_place_in_capitals_keeps_it():
    assert strip_dateline("NASA said on Monday that the launch would slip.") == "NASA said on Monday that the launch would slip."
    assert strip_dateline("UK - a short label") == "UK - a short label"  # too little after it to be a dateline


def test_thai_lines_may_be_points_without_end_punctuation():
    text = "\n".join(["กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทยและเป็นเมืองที่ใหญ่ที่สุด",
                      "วันนี้อากาศร้อนมากและมีผู้คนจำนวนมากออกไปเที่ยว",
                      "รัฐบาลประกาศมาตรการใหม่เพื่อช่วยเหลือเกษตรกร"])  # fmt: skip
    opening, _ = point_sentences(text, None)
    assert len(opening) == 3


def test_text_without_any_sentence_still_gets_points():
    """Chat messages without punctuation: better their lines than nothing."""
    text = "hey can you look at this\nthe meeting moved to thursday afternoon\nbring the budget numbers please"
    opening, _ = point_sentences(text, None)
    assert opening == text.splitlines()


class CountingEncoder:
    """The real encoder, counting the sentences it embeds."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return self.encoder.embed(texts)


def long_read(n: int) -> tuple[str, str]:
    topics = ["the harbour", "the new bridge", "the school budget", "the river", "the rail line", "the hospital"]
    sentences = [f"Officials said on day {i} that work on {topics[i % len(topics)]} had moved ahead by {i} percent this week."
                 for i in range(n)]  # fmt: skip
    late = "The council finally agreed that the harbour, the bridge and the river works would all be finished by 2027."
    sentences.insert(int(n * 0.8), late)
    return " ".join(sentences), late


def test_a_long_text_gets_points_from_past_its_opening():
    text, _ = long_read(120)
    encoder = CountingEncoder(shared_models().encoder)
    summarizer = ExtractiveSummarizer(encoder)
    points = summarizer.summarize(text, length="long")
    assert len(points) == 5
    positions = [text.index(p) for p in points]
    assert max(positions) > text.index("day 40 ")  # one point comes from beyond the first 40 sentences
    assert encoder.embedded > 40  # more than the opening was read


def test_a_medium_digest_of_a_long_text_keeps_to_its_opening():
    text, _ = long_read(120)
    encoder = CountingEncoder(shared_models().encoder)
    points = ExtractiveSummarizer(encoder).summarize(text, length="medium")
    assert len(points) == 3 and all(text.index(p) < text.index("day 20 ") for p in points)
    assert encoder.embedded <= 20


def test_a_short_text_is_scored_on_its_opening_only():
    text, _ = long_read(30)
    encoder = CountingEncoder(shared_models().encoder)
    ExtractiveSummarizer(encoder).summarize(text, length="medium")
    assert encoder.embedded <= 20


def test_a_label_followed_by_one_long_word_is_judged_at_once():
    # "Ab: " and a 480-character word once sent the label check into hours of backtracking
    # on the model thread, which holds the GIL: the whole process stood still.
    sentence = "Ab: " + "x" * 480 + " and then a few more words to end the sentence."
    assert as_point(sentence) is None or as_point(sentence).startswith("Ab:")
    assert as_point("Photo: John Smith") is None  # a label line is still no point
