"""Feeds in the daily digest: an RSS feed served on 127.0.0.1 that grows, fetched through
the guarded fetcher with ETags; new items appear once, already-sent items never again."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import time
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.digest.feeds import FeedError, recent_feed_items
from bot.digest.scheduler import DigestScheduler
from bot.links import canonicalize
from bot.store import keys
from bot.models import Incoming
from digest_support import GROUP, FakeClock, RecordingSender, digest_settings, fresh_redis_store, utc
from local_site import page, serve_site
from model_support import make_summary_bot


class GrowingFeed:
    """An RSS feed whose items the test adds; answers 304 to a matching If-None-Match."""

    def __init__(self):
        self.items: list[tuple[str, str]] = []  # (title, description)
        self.statuses: list[int] = []

    def add(self, title: str, description: str) -> None:
        self.items.append((title, description))

    def document(self) -> str:
        entries = "".join(
            f"<item><title>{title}</title><link>/posts/{number}.html?utm_source=rss</link>"
            f"<guid>post-{number}</guid><description>&lt;p&gt;{description}&lt;/p&gt;</description>"
            f"<pubDate>{format_datetime(utc(2024, 5, 1 + number, 7))}</pubDate></item>"
            for number, (title, description) in reversed(list(enumerate(self.items)))
        )
        return f"<?xml version='1.0'?><rss version='2.0'><channel><title>Harbour Gazette</title>{entries}</channel></rss>"

    async def handle(self, request: web.Request) -> web.Response:
        body = self.document()
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        status = 304 if request.headers.get("If-None-Match") == etag else 200
        self.statuses.append(status)
        if status == 304:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(text=body, content_type="application/rss+xml", headers={"ETag": etag})


@pytest.fixture
async def feed_site():
    feed = GrowingFeed()
    async with serve_site({"/feed.xml": feed.handle, "/page.html": page("<html><body>Hi</body></html>")}) as site:
        site.feed = feed
        yield site


def command(text: str, user_id: str = "admin") -> Incoming:
    return Incoming(chat=GROUP, text=text, user_id=user_id, addressed_to_bot=True)


async def only_admin_is_an_admin(chat, user_id: str, message) -> bool:
    """The group's admin check, as the Telegram adapter would register it."""
    return user_id == "admin"


async def test_new_feed_items_appear_once_and_an_unchanged_feed_costs_a_304(redis_url, feed_site, tmp_path):
    feed = feed_site.feed
    feed.add("Ferry timetable changes for the summer", "The harbour ferry runs every twenty minutes from June.")
    store = await fresh_redis_store(redis_url)
    bot = make_summary_bot(digest_settings(tmp_path), store)
    clock = bot.digests.clock = FakeClock(utc(2024, 5, 6, 12))
    bot.permissions.register(GROUP.platform, only_admin_is_an_admin)
    sender = RecordingSender(clock)
    scheduler = DigestScheduler(bot.digests, {"telegram": sender})
    try:
        await bot.digests.subscriptions.subscribe(GROUP, time(8, 0), ZoneInfo("UTC"), clock())
        (added,) = await bot.handle(command(f"/feeds add {feed_site.url('/feed.xml')}"))
        assert "Harbour Gazette" in added.text and "(1 item so far)" in added.text  # the plural form of its language

        feed.add("Lighthouse reopens to visitors", "After two years of repairs the old lighthouse opens on Saturday.")
        clock.now = utc(2024, 5, 7, 8, 0, 5)
        assert (await scheduler.tick()).sent == 1  # only the item that is new since /feeds add

        clock.now = utc(2024, 5, 8, 8, 0, 5)  # the feed has not changed: 304, nothing new
        assert (await scheduler.tick()).empty == 1

        feed.add("Harbour festival dates announced", "The festival returns in August with boat races.")
        clock.now = utc(2024, 5, 9, 8, 0, 5)
        assert (await scheduler.tick()).sent == 1

        related = await recent_feed_items(store, GROUP, limit=2)
    finally:
        await bot.close()
        await store.close()

    assert feed.statuses == [200, 200, 304, 200]
    first, second = (daily for _, daily, _ in sender.accepted)
    assert [(e.title, e.source, e.summary) for e in first.entries] == [
        ("Lighthouse reopens to visitors", "Harbour Gazette", "After two years of repairs the old lighthouse opens on Saturday.")
    ]  # fmt: skip
    assert first.entries[0].url == feed_site.url("/posts/1.html?utm_source=rss")
    assert [e.title for e in second.entries] == ["Harbour festival dates announced"]
    assert [link.title for link in related] == ["Harbour festival dates announced", "Lighthouse reopens to visitors"]


async def test_a_feed_that_fails_to_load_does_not_stop_the_digest(redis_url, feed_site, tmp_path):
    feed_site.feed.add("Ferry timetable changes for the summer", "The ferry runs every twenty minutes.")
    store = await fresh_redis_store(redis_url)
    bot = make_summary_bot(digest_settings(tmp_path, digest_send_empty=True), store)
    clock = bot.digests.clock = FakeClock(utc(2024, 5, 6, 12))
    bot.permissions.register(GROUP.platform, only_admin_is_an_admin)
    sender = RecordingSender(clock)
    try:
        await bot.handle(command(f"/feeds add {feed_site.url('/feed.xml')}"))
        await bot.digests.subscriptions.subscribe(GROUP, time(8, 0), ZoneInfo("UTC"), clock())
        feed_site.routes["/feed.xml"] = page("down", status=503)
        clock.now = utc(2024, 5, 7, 8, 0, 5)
        assert (await DigestScheduler(bot.digests, {"telegram": sender}).tick()).sent == 1
    finally:
        await bot.close()
        await store.close()
    assert sender.accepted[0][1].entries == []


async def test_feeds_commands_and_their_errors(store, feed_site, tmp_path):
    feed_site.feed.add("Ferry timetable changes for the summer", "The ferry runs every twenty minutes.")
    bot = make_summary_bot(digest_settings(tmp_path), store)
    feed_url = feed_site.url("/feed.xml")
    bot.permissions.register(GROUP.platform, only_admin_is_an_admin)
    try:
        (empty,) = await bot.handle(command("/feeds"))
        assert empty.text.startswith("This chat follows no feeds")
        (not_a_feed,) = await bot.handle(command(f"/feeds add {feed_site.url('/page.html')}"))
        assert "isn't an RSS or Atom feed" in not_a_feed.error
        (missing,) = await bot.handle(command(f"/feeds add {feed_site.url('/nothing.xml')}"))
        assert "couldn't load that feed" in missing.error and "404" in missing.error
        (not_a_link,) = await bot.handle(command("/feeds add harbour-news"))
        assert "not a web address" in not_a_link.error
        (refused,) = await bot.handle(command(f"/feeds add {feed_url}", user_id="member"))
        assert "admins" in refused.error
        (listed_by_member,) = await bot.handle(command("/feeds list", user_id="member"))
        assert listed_by_member.text.startswith("This chat follows no feeds")  # reading is open
        assert await bot.digests.feeds.followed(GROUP) == {}

        (added,) = await bot.handle(command(f"/feeds add {feed_url}"))
        assert added.error is None
        (twice,) = await bot.handle(command(f"/feeds add {feed_url}"))
        assert "already follows" in twice.error
        (listed,) = await bot.handle(command("/feeds list"))
        assert listed.text == f"This chat follows:\n• Harbour Gazette – {feed_url}"
        (usage,) = await bot.handle(command("/feeds subscribe everything"))
        assert usage.error.startswith("Usage: /feeds add")
        (unknown,) = await bot.handle(command("/feeds remove https://example.org/other.xml"))
        assert "doesn't follow" in unknown.error
        (removed,) = await bot.handle(command(f"/feeds remove {feed_url}"))
        assert removed.text.startswith("OK") and await bot.digests.feeds.followed(GROUP) == {}
    finally:
        await bot.close()


INTERNAL_FEED = """<?xml version='1.0'?><rss version='2.0'><channel><title>Internal</title>
<item><title>Secret payroll figures</title><link>http://intranet.example/payroll</link><guid>s1</guid></item>
</channel></rss>"""


@pytest.mark.parametrize("body_is", ["a URL", "a file path"])
async def test_a_feed_whose_body_names_another_resource_is_not_followed_there(store, tmp_path, body_is):
    """feedparser opens a str that looks like a URL or a path itself (urllib, open()): a
    feed's body must never make it read an internal address or a local file."""
    internal_file = tmp_path / "internal.xml"
    internal_file.write_text(INTERNAL_FEED)
    async with serve_site({"/internal.xml": page(INTERNAL_FEED, content_type="application/rss+xml")},
                          host="127.0.0.2") as internal:  # fmt: skip
        body = internal.url("/internal.xml") if body_is == "a URL" else str(internal_file)
        async with serve_site({"/feed.xml": page(body, content_type="application/rss+xml")}) as public:
            # Only 127.0.0.1 (the "public" site) may be fetched; 127.0.0.2 is internal.
            bot = make_summary_bot(digest_settings(tmp_path, fetch_allow_private=["127.0.0.1/32"]), store)
            try:
                with pytest.raises(FeedError, match="isn't an RSS or Atom feed"):
                    await bot.digests.feeds.add(GROUP, public.url("/feed.xml"), utc(2024, 5, 6, 12))
                assert await bot.digests.feeds.followed(GROUP) == {}
            finally:
                await bot.close()
        assert internal.requests == []


def slow_to_parse_feed() -> str:
    """Malformed XML that sends feedparser to its loose parser, which spends about 12 s on
    these 800 kB (linear, but slow): a thread could not be stopped, a process can."""
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Busy</title><item><title>x &amp; y</title>"
        "<link>https://example.org/1</link><description>" + "<p>a<b>c" * 100_000 + "</description></item></channel></rss>"
    )


async def test_a_feed_that_keeps_the_parser_busy_is_stopped_with_a_friendly_reply(store, tmp_path):
    routes = {"/busy.xml": (200, {"Content-Type": "application/rss+xml"}, slow_to_parse_feed())}
    bot = make_summary_bot(digest_settings(tmp_path, extract_timeout=1, extract_workers=1), store)
    bot.permissions.register(GROUP.platform, only_admin_is_an_admin)
    try:
        async with serve_site(routes) as site:
            (reply,) = await bot.handle(command(f"/feeds add {site.url('/busy.xml')}"))
    finally:
        await bot.close()
    assert "took too long" in reply.error
    assert bot.pipeline.extractor.pages_killed == 1  # its process was stopped, not left running
    assert await bot.digests.feeds.followed(GROUP) == {}


def test_a_feed_that_expands_entities_into_megabytes_gives_capped_fields():
    from bot.digest.feeds import parse_feed
    from bot.limits import MAX_TITLE_CHARS

    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {name} "{("&" + previous + ";") * 10}">' for previous, name in zip("abcde", "bcdef")
    )
    document = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&f;&f;</title>'
        "<item><title>&f;</title><link>https://example.org/1</link><description>&f;</description></item></channel></rss>"
    )
    title, (item,) = parse_feed(document, "https://example.org/feed.xml")
    assert 0 < len(title) <= MAX_TITLE_CHARS and 0 < len(item.title) <= MAX_TITLE_CHARS
    assert len(item.summary) <= 280


def test_an_item_with_a_broken_link_is_skipped_not_the_feed():
    from bot.digest.feeds import parse_feed

    document = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Mixed</title>"
        "<item><title>Broken</title><link>http://[::1</link></item>"
        "<item><title>Fine</title><link>https://example.org/fine</link></item></channel></rss>"
    )
    title, items = parse_feed(document, "https://example.org/feed.xml")
    assert title == "Mixed" and [item.title for item in items] == ["Fine"]


async def test_a_feed_that_posts_a_flood_dated_in_the_future_does_not_crowd_out_the_others(store, tmp_path):
    from bot.digest.compose import MAX_FEED_CANDIDATES
    from bot.digest.feeds import FeedItem, FeedState, feed_state_key
    from bot.links import canonicalize

    bot = make_summary_bot(digest_settings(tmp_path), store)
    now = utc(2024, 5, 6, 12)
    feeds = bot.digests.feeds
    spam = [FeedItem(f"s{n}", f"https://spam.example/{n}", f"Spam {n}", "", "Spam", published=4_070_908_800.0 + n)
            for n in range(50)]  # fmt: skip
    news = [FeedItem(f"n{n}", f"https://news.example/{n}", f"News {n}", "", "News", published=now.timestamp() - 3600 * n)
            for n in range(5)]  # fmt: skip
    try:
        for url, items in (("https://spam.example/feed.xml", spam), ("https://news.example/feed.xml", news)):
            state = FeedState(url=url, title=url, fetched_at=now.timestamp(), items=items)
            await store.set(feed_state_key(canonicalize(url)), state.to_json())
            await store.hset(keys.digest_feeds(GROUP.key), canonicalize(url), json.dumps({"url": url, "title": url}).encode())
        unseen = await feeds.unseen_items(GROUP, now)
    finally:
        await bot.close()
    offered = unseen[:MAX_FEED_CANDIDATES]
    assert {item.item_id for item in news} <= {item.item_id for item in offered}
    assert all(item.published <= now.timestamp() for item in unseen)  # none newer than its feed's fetch


async def test_many_chats_asking_at_once_fetch_a_stale_feed_once(redis_url, feed_site, tmp_path):
    feed = feed_site.feed
    feed.add("Ferry timetable changes for the summer", "The harbour ferry runs every twenty minutes from June.")
    store = await fresh_redis_store(redis_url)
    bot = make_summary_bot(digest_settings(tmp_path), store)
    url = feed_site.url("/feed.xml")
    try:
        states = await asyncio.gather(*(bot.digests.feeds.refresh(canonicalize(url), url, utc(2024, 5, 6, 12)) for _ in range(20)))
    finally:
        await bot.close()
        await store.close()
    assert len(feed.statuses) == 1 and all(state.items for state in states)
