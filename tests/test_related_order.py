"""Topical relevance leads the related links; a page's Previous/Next neighbours follow,
labelled as what they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.console import render_digest
from adapters.seed_site import SeedSite
from adapters.slack.render import render_reply as slack_render
from adapters.telegram.render import render_reply as telegram_render
from bot.config import Settings
from bot.models import ChatRef, Digest, Incoming, RelatedLink, Reply
from bot.related.page_links import find_page_related
from bot.related.rank import rank_related
from model_support import make_summary_bot

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED = "news/russia-us-prisoner-exchange-talks-g20.html"
NEW_START = "https://northline.example/news/new-start-suspension-arms-control.html"
HOMEPOD = "https://northline.example/news/apple-homepod-7-inch-touchscreen-rumors.html"
MOSKVICH = "https://northline.example/news/moskvich-february-2023-sales.html"


def test_the_seed_page_names_its_previous_and_next_articles_and_its_other_stories():
    found = find_page_related((SEEDS / SEED).read_text(encoding="utf-8"), f"https://northline.example/{SEED}")
    kinds = {link.url: link.kind for link in found}
    assert kinds[HOMEPOD] == "previous" and kinds[MOSKVICH] == "next"
    # Listed under "More stories", but with the kicker of the article's own section
    # (article:section "World"): the same subject area, so it counts as related.
    assert kinds[NEW_START] == "related"
    assert kinds["https://northline.example/news/chinese-brands-russia-car-market.html"] == "more"  # "Autos"


async def test_on_the_seed_page_a_story_of_its_own_section_comes_before_previous_and_next(store, seed_site, tmp_path):
    settings = Settings(fetch_allow_private=["127.0.0.0/8"], sqlite_path=tmp_path / "unused.sqlite3", user_rate_limit=0)
    bot = make_summary_bot(settings, store)
    message = Incoming(chat=ChatRef("test", "fresh", kind="private"), text=f"{seed_site.base_url}/{SEED}", user_id="u1")
    try:
        [reply] = await bot.handle(message)
    finally:
        await bot.close()
    path = lambda url: url.split("/news/", 1)[1]  # noqa: E731  (the sample site serves them on 127.0.0.1)
    assert [(path(link.url), link.kind) for link in reply.digest.related] == [
        (path(NEW_START), "related"), (path(HOMEPOD), "previous"), (path(MOSKVICH), "next"),
    ]  # fmt: skip


def test_topical_links_rank_before_neighbours_and_other_stories():
    page = [RelatedLink("Prev", "https://a.example/p", "previous"), RelatedLink("Next", "https://a.example/n", "next"),
            RelatedLink("Other", "https://a.example/o", "more"), RelatedLink("Rel", "https://a.example/r")]  # fmt: skip
    remembered = [RelatedLink("Seen", "https://a.example/s")]
    ranked = rank_related(page, remembered, [RelatedLink("Feed", "https://a.example/f")], exclude=["https://a.example/me"])
    assert [link.title for link in ranked] == ["Rel", "Seen", "Feed", "Prev", "Next", "Other"]


@pytest.fixture
async def seed_site():
    site = SeedSite(SEEDS)
    await site.start()
    try:
        yield site
    finally:
        await site.stop()


async def test_on_the_seed_page_what_the_chat_read_on_the_topic_comes_before_previous_and_next(store, seed_site, tmp_path):
    settings = Settings(fetch_allow_private=["127.0.0.0/8"], sqlite_path=tmp_path / "unused.sqlite3", user_rate_limit=0)
    bot = make_summary_bot(settings, store)
    chat = ChatRef("test", "news-readers", kind="group")

    async def share(path: str) -> Digest:
        message = Incoming(chat=chat, text=f"{seed_site.base_url}/{path}", user_id="u1", message_id=path, addressed_to_bot=True)
        [reply] = await bot.handle(message)
        assert reply.digest is not None, reply.error
        return reply.digest

    try:
        await share("news/new-start-suspension-arms-control.html")  # read earlier in this chat
        digest = await share(SEED)
    finally:
        await bot.close()
    path = lambda url: url.split("/news/", 1)[1]  # noqa: E731  (the sample site serves them on 127.0.0.1)
    assert [(path(link.url), link.kind) for link in digest.related] == [
        (path(NEW_START), "related"), (path(HOMEPOD), "previous"), (path(MOSKVICH), "next"),
    ]  # fmt: skip
    # Every renderer labels the neighbours.
    console = render_digest(digest)
    assert "Previous: Apple HomePod" in console and "Next: Moskvich" in console
    assert "– New START suspension" in console
    telegram = "".join(telegram_render(Reply(digest=digest)))
    assert "• Previous: <a" in telegram and "• Next: <a" in telegram
    slack = str(slack_render(Reply(digest=digest)))
    assert "Previous: <" in slack and "Next: <" in slack
