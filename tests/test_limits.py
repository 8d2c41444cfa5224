"""The caps on one link's digest (bot.limits): how text is cut, and what a capped digest
may hold."""

from __future__ import annotations

import pytest

from bot.limits import (
    MAX_POINT_CHARS,
    MAX_POINTS,
    MAX_RELATED,
    MAX_RELATED_TITLE_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    cap_daily_digest,
    cap_digest,
    shorten,
)
from bot.models import DailyDigest, Digest, DigestEntry, RelatedLink


def test_short_text_is_left_alone():
    assert shorten("  A short  title ", 200) == "A short title"


def test_text_is_cut_at_a_clause_break_near_the_end():
    text = "The council approved the plan on Tuesday after a long debate; residents were not convinced"
    assert shorten(text, 70) == "The council approved the plan on Tuesday after a long debate…"


def test_text_is_cut_between_words_when_no_clause_break_is_near():
    text = "The council approved the plan on Tuesday after a long and heated debate in the town hall"
    cut = shorten(text, 50)
    assert cut == "The council approved the plan on Tuesday after a…" and len(cut) <= 50


def test_an_unbroken_word_is_cut_hard_with_an_ellipsis():
    assert shorten("x" * 1_000_000, 350) == "x" * 349 + "…"


@pytest.mark.parametrize(
    "text, kept",
    [
        ("e\u0301" * 100, "e\u0301"),  # a letter and its combining accent stay together
        ("👩\u200d💻" * 100, "👩\u200d💻"),  # an emoji joined with ZWJ
        ("🇫🇷" * 100, "🇫🇷"),  # a flag is two regional indicators
    ],
)
def test_a_hard_cut_never_splits_a_character_sequence(text, kept):
    cut = shorten(text, 20)
    assert cut.endswith("…") and len(cut) <= 20
    assert cut[:-1] == kept * (len(cut[:-1]) // len(kept))


def test_a_capped_digest_holds_at_most_the_caps():
    digest = cap_digest(Digest(
        title="T" * 10_000, points=["p " * 10_000, "", "  ", *[f"Point {i}." for i in range(20)]],
        source="s" * 1000, author="a" * 1000, date="d" * 1000, reading_minutes=0,
        url="https://a.example/" + "u" * MAX_URL_CHARS,
        related=[RelatedLink("r" * 1000, "javascript:alert(1) x"), *[RelatedLink("r" * 1000, f"https://a.example/{i}") for i in range(20)]],
    ))  # fmt: skip
    assert len(digest.title) <= MAX_TITLE_CHARS
    assert len(digest.points) == MAX_POINTS and all(0 < len(p) <= MAX_POINT_CHARS for p in digest.points)
    assert digest.points[1:] == ["Point 0.", "Point 1.", "Point 2.", "Point 3."]  # empty points dropped
    assert len(digest.related) == MAX_RELATED and all(len(r.title) <= MAX_RELATED_TITLE_CHARS for r in digest.related)
    assert [r.url for r in digest.related] == ["https://a.example/0", "https://a.example/1", "https://a.example/2"]
    assert digest.url is None  # too long to be a link: dropped, never cut
    assert digest.reading_minutes == 1
    assert cap_digest(digest) == digest  # capping twice changes nothing


def test_daily_digest_stories_are_capped_but_all_kept():
    entries = [DigestEntry("t" * 1000, f"https://a.example/{i}", "s" * 5000, "src\u202e", group="g" * 500) for i in range(30)]
    daily = cap_daily_digest(DailyDigest("Daily\x00", entries))
    assert daily.title == "Daily" and len(daily.entries) == 30
    assert all(len(e.title) <= MAX_TITLE_CHARS and e.source == "src" and len(e.group) <= 120 for e in daily.entries)
