"""One link, one reply: whatever the page, its digest renders to exactly one Telegram
message and one Slack post, and the console prints a bounded digest.

The digests here are built the way the pipeline builds them, from article_from_text and
the sentence splitter (the points any summarizer picks are among those sentences), for
the pages that used to flood a chat: one megabyte-long "word" (246 Telegram messages
before the caps) and five megabytes of ordinary text (1,198 messages)."""

from __future__ import annotations

import json
import re

import pytest

from adapters.console import render_digest as console_digest
from adapters.slack.render import MAX_BLOCKS, MAX_HEADER_CHARS, MAX_SECTION_CHARS, render_reply as slack_reply
from adapters.slack.render import render_unfurl
from adapters.telegram.render import MAX_MESSAGE_UNITS, render_reply as telegram_reply, utf16_units
from benchmarks.standins.telegram_api import visible_text
from bot.extract import article_from_text
from bot.limits import MAX_POINT_CHARS, MAX_POINTS, MAX_RELATED, MAX_TITLE_CHARS
from bot.models import Digest, RelatedLink, Reply
from bot.sentences import split_sentences

SENTENCE = "The council voted on Tuesday to build forty kilometres of protected bike lanes by 2027. "


def digest_of(text: str, url: str = "https://news.example/page") -> Digest:
    article = article_from_text(text, url=url)
    return Digest(
        title=article.title,
        points=split_sentences(article.text, limit=20)[:5],
        source=article.site_name,
        url=article.url,
        reading_minutes=article.reading_minutes,
        related=[RelatedLink(title=article.title, url=f"{url}/next/{i}") for i in range(10)],
    )


PAGES = {
    "one-megabyte-word": "x" * 1_000_000,
    "five-megabytes-of-text": SENTENCE * (5_000_000 // len(SENTENCE)),
    "five-megabytes-one-line-of-emoji": "😀" * 1_250_000,
}


@pytest.fixture(scope="module", params=list(PAGES), ids=list(PAGES))
def digest(request) -> Digest:
    return digest_of(PAGES[request.param])


def test_telegram_gets_exactly_one_message(digest):
    (message,) = telegram_reply(Reply(digest=digest))
    text = visible_text(message)  # Telegram's parser would accept it
    assert 0 < utf16_units(text) <= MAX_MESSAGE_UNITS
    bullets = [line for line in text.splitlines() if line.startswith("• ")]
    assert 1 <= len(bullets) <= MAX_POINTS + MAX_RELATED


def test_slack_gets_exactly_one_post(digest):
    (post,) = slack_reply(Reply(digest=digest))
    assert len(post.blocks) <= MAX_BLOCKS
    assert len(post.blocks[0]["text"]["text"]) <= MAX_HEADER_CHARS
    for block in post.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"].encode("utf-16-le")) // 2 <= MAX_SECTION_CHARS
    assert len(post.text) <= 3000
    assert len(json.dumps(render_unfurl(digest), ensure_ascii=False)) < 20_000


def test_the_console_prints_a_bounded_digest(digest):
    printed = console_digest(digest)
    lines = printed.splitlines()
    assert len(lines[0]) <= MAX_TITLE_CHARS
    assert all(len(line) <= MAX_POINT_CHARS + 4 for line in lines if line.startswith("  • "))
    assert len(printed) < 4000


def test_slack_posts_one_message_even_for_a_digest_of_many_points():
    digest = Digest(title="T", points=[f"Point {i} & <b>" + "y" * 3000 for i in range(100)],
                    related=[RelatedLink(f"R{i}", f"https://a.example/{i}") for i in range(100)])  # fmt: skip
    (post,) = slack_reply(Reply(digest=digest))
    sections = "\n".join(b["text"]["text"] for b in post.blocks if b["type"] == "section")
    assert sections.count("• Point") == MAX_POINTS and sections.count("<https://a.example/") == MAX_RELATED
    assert not re.search(r"&(?!amp;|lt;|gt;)", sections)  # no entity cut in half
