"""Telegram HTML rendering: escaping, and splitting at 4096 UTF-16 units without ever
cutting a tag. Every message is checked with the stand-in's parser, which refuses what
Telegram refuses."""

from __future__ import annotations

import pytest

from adapters.telegram.render import MAX_MESSAGE_UNITS, Span, fit_lines, pack_messages, render_reply, utf16_units
from benchmarks.standins.telegram_api import BadRequest, visible_text
from bot.models import DailyDigest, Digest, DigestEntry, RelatedLink, Reply

NASTY = '<b>Tom & Jerry</b> <script>alert("x")</script> &amp; <a href="javascript:x">'


def shown(messages: list[str]) -> list[str]:
    """What the reader sees of each message; fails if Telegram would refuse one."""
    texts = [visible_text(message) for message in messages]
    assert all(0 < utf16_units(text) <= MAX_MESSAGE_UNITS for text in texts)
    return texts


def test_every_piece_of_article_text_is_escaped():
    digest = Digest(
        title=NASTY,
        points=[NASTY, "2 < 3 && 5 > 4"],
        source="<i>Site</i>",
        date="<2024>",
        url="https://news.example/a?x=1&y=<2>",
        related=[RelatedLink(title=NASTY, url="https://news.example/b?q=a&r=b")],
    )
    (message,) = render_reply(Reply(digest=digest))
    (text,) = shown([message])
    assert text.splitlines()[0] == NASTY
    assert "• " + NASTY in text and "• 2 < 3 && 5 > 4" in text
    assert "<i>Site</i> · <2024> · 1 min read" in text
    assert '<a href="https://news.example/a?x=1&amp;y=&lt;2&gt;">' in message
    assert '<a href="https://news.example/b?q=a&amp;r=b">' in message
    assert message.count("<script>") == 0


def test_only_http_links_become_links():
    digest = Digest(
        title="A", points=["p"], url="javascript:alert(1)",
        related=[RelatedLink("Data", "data:text/html,x"), RelatedLink("Spaced", "https://a.example/x y"),
                 RelatedLink("Fine", "https://a.example/ok")],
    )  # fmt: skip
    (message,) = render_reply(Reply(digest=digest))
    assert message.count("<a ") == 1 and '<a href="https://a.example/ok">Fine</a>' in message
    assert "javascript" not in message


def test_text_and_error_replies_are_escaped():
    assert render_reply(Reply(text="Use /summary <link or text> & more")) == ["Use /summary &lt;link or text&gt; &amp; more"]
    assert render_reply(Reply(error="bad <url>")) == ["⚠️ bad &lt;url&gt;"]


def test_a_6000_character_reply_becomes_two_messages_split_between_lines():
    lines = [f"line {i:03d} " + "x" * 90 for i in range(60)]  # 60 lines of 99 characters
    text = "\n".join(lines)
    assert len(text) > 5900
    first, second = shown(render_reply(Reply(text=text)))
    assert first.splitlines() + second.splitlines() == lines  # whole lines, none lost or cut
    assert len(first.splitlines()) == 40  # as many as fit: 40 lines are 3999 units, 41 would be 4099


def test_the_limit_counts_utf16_units_so_emoji_count_twice():
    emoji = "😀"  # outside the BMP: a surrogate pair, two units
    line = emoji * 3000  # 3000 characters, 6000 units
    messages = render_reply(Reply(text=line))
    texts = shown(messages)
    assert [utf16_units(t) for t in texts] == [4096, 1904]
    assert "".join(texts) == line  # no pair broken, nothing lost
    texts = shown(render_reply(Reply(text="a" + emoji * 2048)))  # 4097 units: one too many
    assert [utf16_units(t) for t in texts] == [4095, 2]


def test_the_limit_is_on_text_after_entity_parsing():
    text = "&" * 4096  # 4096 visible characters, 20480 characters of markup
    (message,) = render_reply(Reply(text=text))
    assert len(message) == 5 * 4096 and visible_text(message) == text
    assert len(render_reply(Reply(text=text + "&"))) == 2


def test_a_long_formatted_line_is_cut_between_tags_never_inside_one():
    # Digests are never split (see below); daily digests and long texts are, with this.
    title = " ".join(f"w{i:04d}" for i in range(1500))  # 8999 characters, one line
    line = [Span(title, bold=True, href="https://news.example/long")]
    messages = pack_messages([line, [Span("point one")]])
    texts = shown(messages)
    assert len(messages) == 3
    for message in messages[:2]:
        assert message.startswith('<a href="https://news.example/long"><b>') and message.endswith("</b></a>")
    assert "".join(texts).replace("\n", "").startswith(title)
    assert all(not text.startswith(" ") for text in texts[1:])  # cut at a space, kept on the left


def test_a_digest_with_an_overlong_title_is_one_message_with_the_title_cut():
    title = " ".join(f"w{i:04d}" for i in range(1500))  # 8999 characters, one line
    digest = Digest(title=title, points=["point one"], source="Site", url="https://news.example/long")
    (message,) = render_reply(Reply(digest=digest))
    (text,) = shown([message])
    first = text.splitlines()[0]
    assert first.endswith("…") and len(first) <= 200 and title.startswith(first[:-1])
    assert message.startswith('<a href="https://news.example/long"><b>') and "• point one" in text


@pytest.mark.parametrize(
    ("lines", "limit", "expected"),
    [
        (["aaaa", "bbbb", "cccc"], 9, ["aaaa\nbbbb", "cccc"]),  # 4 + newline + 4 fits exactly
        (["aaaa", "bbbb", "cccc"], 8, ["aaaa", "bbbb", "cccc"]),
        (["aaaa", "", "bbbb"], 5, ["aaaa", "bbbb"]),  # no message starts or ends blank
        (["abc defghij"], 6, ["abc ", "defghi", "j"]),  # at a space if it keeps half, else hard
    ],
)
def test_packing_lines_into_messages(lines, limit, expected):
    assert pack_messages([[Span(line)] for line in lines], limit) == expected


def test_daily_digest_shows_each_story_linked_under_its_group():
    daily = DailyDigest(
        title="Your daily digest – Friday 3 March",
        period="the last 24 hours",
        entries=[
            DigestEntry("Cars & <trucks>", "https://a.example/1", "Sales fell.", "A News", shares=3, group="Autos"),
            DigestEntry("EV news", "https://a.example/2", "Chargers.", "B News", group="Autos"),
            DigestEntry("Talks", "https://a.example/3", "They met.", "C News"),
        ],
    )
    (message,) = render_reply(Reply(daily=daily))
    (text,) = shown([message])
    assert text.splitlines() == [
        "Your daily digest – Friday 3 March", "the last 24 hours",
        "", "Autos", "• Cars & <trucks> — A News · shared 3×", "Sales fell.",
        "", "• EV news — B News", "Chargers.",
        "", "• Talks — C News", "They met.",
    ]  # fmt: skip
    assert '<a href="https://a.example/1"><b>Cars &amp; &lt;trucks&gt;</b></a>' in message


def test_a_long_daily_digest_is_split_between_stories():
    entries = [DigestEntry(f"Story {i}", f"https://a.example/{i}", "Summary sentence. " * 12, "Site") for i in range(40)]
    texts = shown(render_reply(Reply(daily=DailyDigest("Digest", entries))))
    assert len(texts) == 3
    assert sum(text.count("• Story") for text in texts) == 40


def test_the_standin_refuses_what_telegram_refuses():
    for bad in ("<b>open", "a < b", "Tom & Jerry", "<script>x</script>", "<b><i>x</b></i>"):
        with pytest.raises(BadRequest):
            visible_text(bad)


# -- one link, one message, whatever the page -------------------------------------------------

EMOJI = "😀"  # two UTF-16 units


@pytest.mark.parametrize(
    "digest",
    [
        # a page that is one megabyte-long "word"
        Digest(title="x" * 1_000_000, points=["x" * 1_000_000] * 3, source="y" * 100_000, date="1" * 10_000,
               related=[RelatedLink("z" * 1_000_000, "https://a.example/" + "z" * 3000)] * 50),
        # emoji count two units each: the caps in characters are not enough on their own
        Digest(title=EMOJI * 10_000, points=[EMOJI * 10_000] * 20, source=EMOJI * 1000, author=EMOJI * 1000,
               related=[RelatedLink(EMOJI * 1000, f"https://a.example/{i}") for i in range(20)]),
        # markup-heavy text: 5 units of HTML per visible character
        Digest(title="&" * 100_000, points=["<&>" * 100_000] * 10, source="&" * 1000,
               related=[RelatedLink("&" * 1000, "https://a.example/&")] * 5),
    ],
    ids=["megabyte-word", "emoji", "entities"],
)  # fmt: skip
def test_any_digest_is_exactly_one_message(digest):
    messages = render_reply(Reply(digest=digest))
    assert len(messages) == 1
    shown(messages)  # Telegram would accept it and it is within 4096 units


def test_fitting_cuts_the_longest_text_first():
    lines = [[Span("Title")], [Span("• " + "a" * 100)], [Span("• short point")]]
    fitted = fit_lines(lines, 60)
    assert sum(utf16_units(s.text) for line in fitted for s in line) + len(fitted) - 1 <= 60
    assert fitted[0] == [Span("Title")] and fitted[2] == [Span("• short point")]
    assert fitted[1][0].text.endswith("…")
