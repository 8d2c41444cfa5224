"""Text from pages is made safe before it becomes a title, a site name, an author, a
point or a related title: no control characters, no bidi overrides; and in Slack, its
formatting characters cannot restyle the digest."""

from __future__ import annotations

import json

import pytest

from adapters.slack.render import neutralise_formatting, render_reply as slack_reply, render_unfurl
from adapters.telegram.render import render_reply as telegram_reply
from benchmarks.standins.telegram_api import visible_text
import bot.extract
from bot.extract import article_from_text
from bot.limits import cap_digest
from bot.models import Digest, RelatedLink, Reply
from bot.text import BIDI_CONTROLS, clean_body, clean_line

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = "".join(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]))
UNSAFE = set(BIDI) | set(CONTROLS) | {"\r", "\n", "\t"}


def test_the_bidi_controls_are_the_embeddings_overrides_and_isolates():
    assert BIDI_CONTROLS == set(BIDI)


def test_a_line_keeps_no_control_or_bidi_character():
    evil = f"Bank\u202e{CONTROLS}moc.elgoog\u2066 \x1b[31mred\x1b[0m\nnext\tline\u2028end{BIDI}"
    cleaned = clean_line(evil)
    assert not set(cleaned) & UNSAFE
    assert cleaned == "Bank moc.elgoog [31mred[0m next line end"  # NEL (in the C1 block) is a line break


def test_right_to_left_text_keeps_its_marks():
    assert clean_line("שלום\u200f עולם \u200eABC\u061c") == "שלום\u200f עולם \u200eABC\u061c"


def test_body_text_keeps_line_breaks_and_tabs():
    assert clean_body("one\r\ntwo\rthree\u2028four\tfive\x00\u202e") == "one\ntwo\nthree\nfour\tfive"
    assert clean_body(None) == "" and clean_line(None) == ""


def test_pasted_text_fields_are_clean():
    article = article_from_text(f"\u202eHeadline\x00 of\x07 the day\u2069\nBody\x1b text.\u202e", url="https://a.example/x")
    assert article.title == "Headline of the day"
    assert article.text == "Headline of the day\nBody text."
    article = article_from_text("Some body text here.", title="Given\u202e title\x00")
    assert article.title == "Given title"


def test_extracted_page_fields_are_clean():
    title = "Budget\u202e approved\x00"
    html = f"""<html><head><title>{title}</title>
      <meta property="og:site_name" content="Daily\u2066 News\x1b">
      <meta name="author" content="Jane\u202d Doe\x07"></head>
      <body><article><h1>{title}</h1>
      <p>{"The council approved the budget on Tuesday after a long debate. " * 8}\u202e</p>
      <p>{"Residents will see new bike lanes and repaired roads next year. " * 8}</p>
      </article></body></html>"""
    # the blocking extraction function (named extract_page since extraction moved to worker processes)
    extract_page = getattr(bot.extract, "extract_page", None) or bot.extract._extract
    article = extract_page(html, "https://news.example/budget", 50)
    for field in (article.title, article.site_name, article.author, article.text):
        assert field and not set(field) & (set(BIDI) | set(CONTROLS) - {"\n", "\t"})
    assert article.title == "Budget approved"


def test_every_digest_field_is_clean_whatever_the_source():
    dirty = f"x\u202e{CONTROLS}y\n\tz"
    digest = cap_digest(Digest(title=dirty, points=[dirty, "\x00\u202e"], source=dirty, author=dirty, date=dirty,
                               related=[RelatedLink(dirty, "https://a.example/r")]))  # fmt: skip
    fields = [digest.title, *digest.points, digest.source, digest.author, digest.date, digest.related[0].title]
    assert fields == ["x y z"] * 6  # NEL (U+0085) is a line break: a space; the empty point is dropped
    (message,) = telegram_reply(Reply(digest=Digest(title=dirty, points=[dirty])))
    assert not set(visible_text(message)) & (UNSAFE - {"\n"})


# -- Slack formatting ----------------------------------------------------------------------


def test_formatting_characters_are_replaced_by_look_alikes():
    assert neutralise_formatting("*bold* _it_ ~no~ `x` ```code```") == "∗bold∗ ˍitˍ ∼no∼ ˋxˋ ˋˋˋcodeˋˋˋ"


@pytest.mark.parametrize("text", ["*URGENT*", "_read this_", "~was $10~", "```rm -rf```", "`code`"])
def test_page_text_cannot_restyle_a_slack_digest(text):
    digest = Digest(title=text, points=[f"Point {text} here"], source=text, date=text,
                    related=[RelatedLink(text, "https://a.example/some_path~x*y")])  # fmt: skip
    (message,) = slack_reply(Reply(digest=digest))
    mrkdwn = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    mrkdwn += [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
    mrkdwn.append(message.text)
    page_markers = set(text) & set("*_~`")
    for part in mrkdwn:
        assert not page_markers & set(part.replace("*Related*", "").replace("https://a.example/some_path~x*y", ""))
    # our own formatting and the link's address are untouched
    assert any("*Related*" in part for part in mrkdwn)
    assert "<https://a.example/some_path~x*y|" in json.dumps(message.blocks)
    unfurl = json.dumps(render_unfurl(digest), ensure_ascii=False)
    assert "Point " + neutralise_formatting(text) in unfurl


def test_the_bots_own_text_keeps_its_characters():
    (message,) = slack_reply(Reply(text="Use /subscribe 08:00 America/New_York"))
    assert "America/New_York" in message.blocks[0]["text"]["text"]
