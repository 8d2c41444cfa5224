"""Erasure, migration and export of a chat's data (bot.privacy), on both stores.

The data is made by the real features (links shared through SummaryBot from the sample site,
/subscribe, /autosummary, /feeds add, a digest sent in part by the scheduler), not written by
hand, so a key family the erasure misses shows up. After an erasure, every key and value
(Redis: SCAN and a dump of each key by type) or every byte of the database files (SQLite, WAL
included) is searched for the chat's id and for a text only it shared."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from adapters.seed_site import SeedSite
from bot.digest.scheduler import DigestScheduler
from bot.models import ChatRef, Incoming
from bot.privacy import Privacy, parse_chat
from bot.store import keys
from bot.store.redis_store import RedisStore
from digest_support import FakeClock, PartsSender, digest_settings, utc
from local_site import serve_site
from model_support import make_summary_bot

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PAGES = ["google-nest-hub-matter-update", "russia-us-prisoner-exchange-talks-g20", "chinese-brands-russia-car-market"]
PUBLIC_CACHES = ("article:", "summary:", "related:vector:")  # name no chat (the decisions)


def feed(name: str) -> str:
    items = "".join(
        f"<item><title>{name} item {n}</title><link>/{name}/posts/{n}.html</link><guid>{name}-{n}</guid></item>"
        for n in range(2)
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>{name} news</title>{items}</channel></rss>"


@pytest.fixture
async def sites():
    feeds = {f"/{name}/feed.xml": (200, {"Content-Type": "application/rss+xml"}, feed(name)) for name in ("zqxvictimfeed", "sharedfeed", "otherfeed")}
    async with SeedSite(SEEDS) as seeded, serve_site(feeds) as feed_site:
        yield seeded, feed_site


async def dump(store, tmp_path) -> bytes:
    """Everything the store holds, as bytes: Redis keys and values of every type, or the
    SQLite database files as they are on disk."""
    if not isinstance(store, RedisStore):
        return b"".join(path.read_bytes() for path in sorted(tmp_path.glob("store.sqlite3*")))
    client = store._redis
    out = []
    async for name in client.scan_iter(count=1000):
        kind = (await client.type(name)).decode()
        value = {
            "string": client.get, "hash": client.hgetall, "zset": lambda n: client.zrange(n, 0, -1, withscores=True),
            "set": client.smembers, "list": lambda n: client.lrange(n, 0, -1),
        }[kind](name)  # fmt: skip
        out.append(name + b"=" + repr(await value).encode())
    return b"\n".join(out)


async def redis_keys(store) -> list[str]:
    return [name.decode() async for name in store._redis.scan_iter(count=1000)] if isinstance(store, RedisStore) else []


async def use(bot, chat: ChatRef, site, feed_site, feed_name: str, pages: list[str], first_id: int) -> None:
    """What a chat does with the bot: settings, a subscription, a feed, shared links."""
    say = lambda text, n: bot.handle(Incoming(chat=chat, text=text, user_id=f"user{n}", message_id=str(n), addressed_to_bot=True))  # noqa: E731
    (reply,) = await say("/autosummary on", first_id)
    assert "OK" in reply.text, reply
    (reply,) = await say("/subscribe 08:00 Europe/Berlin", first_id + 1)
    assert "08:00" in reply.text, reply
    (reply,) = await say(f"/feeds add {feed_site.url(f'/{feed_name}/feed.xml')}", first_id + 2)
    assert reply.error is None, reply.error
    for n, page in enumerate(pages):
        message = Incoming(chat=chat, text=f"{site.base_url}/news/{page}.html", user_id="sharer", message_id=str(first_id + 10 + n))
        (reply,) = await bot.handle(message)
        assert reply.digest is not None, reply.error


def allow_all(bot) -> None:
    for platform in ("telegram", "slack"):
        bot.permissions.register(platform, lambda chat, user_id, message: asyncio.sleep(0, result=True))


async def test_erase_chat_leaves_nothing_of_it_and_the_other_chat_intact(store, sites, tmp_path):
    site, feed_site = sites
    victim = ChatRef("telegram", "-1009876543217", kind="group")
    other = ChatRef("telegram", "-1002222", kind="group")
    bot = make_summary_bot(digest_settings(tmp_path), store)
    clock = bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))
    allow_all(bot)
    privacy = Privacy(store, memory=bot.pipeline.related.memory)
    try:
        await use(bot, victim, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
        await use(bot, other, site, feed_site, "otherfeed", PAGES[1:], 200)
        for chat in (victim, other):  # both follow one feed too: its state must stay for the other
            (reply,) = await bot.handle(Incoming(chat=chat, text=f"/feeds add {feed_site.url('/sharedfeed/feed.xml')}", user_id="admin", addressed_to_bot=True))
            assert reply.error is None, reply.error
        # The daily digest, its second part refused once: parts, pending digest, claim records.
        clock.now = utc(2024, 5, 7, 6, 0, 20)
        sender = PartsSender(fail_part=2, failures=2)
        assert (await DigestScheduler(bot.digests, {"telegram": sender}).tick()).failed == 2

        before = await privacy.inventory(victim)
        assert (before.shares, before.articles, before.feeds, before.subscription) == (2, 2, 2, True)
        assert before.settings == 2 and before.related == 2  # autosummary and tz; its own scope
        exported = await privacy.export_chat(victim)
        assert any("zqxvictimfeed" in str(value) for value in exported["keys"].values())
        assert exported["digest_due_at"] is not None
        other_before = await privacy.inventory(other)
        assert b"9876543217" in await dump(store, tmp_path)

        erased = await privacy.erase_chat(victim)
        assert erased == before

        everything = await dump(store, tmp_path)
        assert b"9876543217" not in everything
        assert b"zqxvictimfeed" not in everything
        assert (await privacy.inventory(victim)).empty
        assert await privacy.inventory(other) == other_before
        assert b"sharedfeed" in everything and b"otherfeed" in everything
        assert await bot.digests.digest_until(other, clock(), daily=True) is not None
    finally:
        await bot.close()


async def test_shared_scope_keeps_what_others_shared_and_erase_workspace_leaves_nothing(store, sites, tmp_path):
    site, feed_site = sites
    victim = ChatRef("slack", "CVICTIMZ9", scope_id="TWORKSP7", kind="group")
    colleague = ChatRef("slack", "CCOLLEAG8", scope_id="TWORKSP7", kind="group")
    stranger = ChatRef("slack", "CSTRANGE6", scope_id="TOTHERS5", kind="group")
    bot = make_summary_bot(digest_settings(tmp_path), store)  # related memory per workspace (default)
    allow_all(bot)
    privacy = Privacy(store, memory=bot.pipeline.related.memory)
    try:
        await use(bot, victim, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
        await use(bot, colleague, site, feed_site, "sharedfeed", PAGES[1:2], 200)
        await use(bot, stranger, site, feed_site, "otherfeed", PAGES[2:], 300)
        memory = bot.pipeline.related.memory
        assert len(await memory.view("slack:TWORKSP7")) == 2
        assert (await privacy.inventory(victim)).related == 1  # the one only it shared

        await privacy.erase_chat(victim)
        assert b"CVICTIMZ9" not in await dump(store, tmp_path)
        view = await memory.view("slack:TWORKSP7")
        assert [link.url for link in view.links] == [f"{site.base_url}/news/{PAGES[1]}.html"]  # the colleague's too
        assert (await privacy.inventory(colleague)).related == 1

        assert await privacy.erase_workspace("slack", "TWORKSP7") == 1
        everything = await dump(store, tmp_path)
        for gone in (b"TWORKSP7", b"CCOLLEAG8", b"sharedfeed"):
            assert gone not in everything, gone
        assert (await privacy.inventory(stranger)).shares == 1
        assert b"CSTRANGE6" in everything and b"TOTHERS5" in everything
        # What stays names no chat: the caches of public pages, the other workspace's keys.
        left = [name for name in await redis_keys(store) if not name.startswith(PUBLIC_CACHES)]
        unexplained = [name for name in left if not ("CSTRANGE6" in name or "TOTHERS5" in name or name.startswith(("digest:due", "chats:last-seen", "digest:feed", "ratelimit:", "erasures:", "erased-at:")))]  # per user, 120 s; erasure counts: a hash, 1 h
        assert unexplained == []
    finally:
        await bot.close()


async def test_move_chat_keeps_everything_under_the_new_id(store, sites, tmp_path):
    site, feed_site = sites
    group = ChatRef("telegram", "-4455667788", kind="group")
    supergroup = ChatRef("telegram", "-1004455667788", kind="group")
    bot = make_summary_bot(digest_settings(tmp_path), store)
    bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))
    allow_all(bot)
    privacy = Privacy(store, memory=bot.pipeline.related.memory)
    try:
        await use(bot, group, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
        before = await privacy.inventory(group)
        assert await privacy.move_chat(group, supergroup) == before.keys

        assert await privacy.inventory(supergroup) == before
        assert (await privacy.inventory(group)).empty
        subscription = await bot.digests.subscriptions.get(supergroup.key)
        assert subscription.chat == supergroup and subscription.describe() == "08:00 (Europe/Berlin)"
        assert await store.zscore(keys.DIGEST_DUE, supergroup.key) is not None
        assert await store.zscore(keys.DIGEST_DUE, group.key) is None
        pending = await bot.digests.digest_until(supergroup, bot.digests.clock(), daily=True)
        assert len(pending.daily.entries) >= 2  # the history moved; feed items may come too
        everything = await dump(store, tmp_path)
        at = everything.find(b"telegram:-4455667788")
        assert at == -1, everything[max(0, at - 300) : at + 100]
        assert len(await memory_rows(bot, supergroup)) == 2
    finally:
        await bot.close()


async def memory_rows(bot, chat: ChatRef):
    return (await bot.pipeline.related.memory.view(chat.key)).links


def test_parse_chat_reads_what_operators_write():
    assert parse_chat("telegram:-1001234") == ChatRef("telegram", "-1001234", kind="group")
    assert parse_chat("telegram:42").kind == "private"
    assert parse_chat("slack:T1:C2") == ChatRef("slack", "T1:C2", scope_id="T1", kind="group")
    assert parse_chat("slack:T1:C2").key == "slack:T1:C2"  # the key the Slack adapter writes
    for bad in ("telegram", ":1", "slack:T1:", "telegram:1 2"):
        with pytest.raises(ValueError):
            parse_chat(bad)


def test_operators_export_and_forget_a_chat_from_the_command_line(tmp_path, monkeypatch, capsys):
    import json
    from datetime import time
    from zoneinfo import ZoneInfo

    from adapters import cli
    from bot.store.sqlite_store import SQLiteStore
    from digest_support import GROUP

    database = tmp_path / "bot.sqlite3"

    async def subscribe() -> None:
        store = await SQLiteStore.open(database)
        bot = make_summary_bot(digest_settings(tmp_path, sqlite_path=database), store)
        try:
            await bot.digests.subscriptions.subscribe(GROUP, time(8, 0), ZoneInfo("UTC"), utc(2024, 5, 6, 12))
            await bot.digests.remember_zone(GROUP, ZoneInfo("UTC"))
        finally:
            await bot.close()
            await store.close()

    asyncio.run(subscribe())
    monkeypatch.setenv("SUMMARY_BOT_SQLITE_PATH", str(database))
    monkeypatch.delenv("SUMMARY_BOT_REDIS_URL", raising=False)
    assert cli.main(["export", "--chat", GROUP.key]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["keys"][keys.digest_subscription(GROUP.key)]["at"] == "08:00"
    assert exported["keys"][keys.chat_settings(GROUP.key)] == {"tz": "UTC"}
    assert cli.main(["forget", "--chat", GROUP.key]) == 0
    assert json.loads(capsys.readouterr().out)["erased"]["subscription"] is True
    assert cli.main(["export", "--chat", GROUP.key]) == 0
    assert json.loads(capsys.readouterr().out)["keys"] == {}
    assert GROUP.chat_id.encode() not in database.read_bytes()
    assert cli.main(["forget", "--chat", "telegram"]) == 2


async def test_a_summary_in_flight_when_its_chat_is_erased_leaves_nothing_of_it(store, tmp_path):
    """A link being summarized when its chat is erased (/forget pressed meanwhile, the bot
    removed, an operator's `summary-bot forget`) still gets its reply, but what its work
    writes after the erasure (the share in the digest history, the related memory, the
    activity record) is erased again once it ends. A message that begins after the erasure
    is the chat's again. Fails before the fix: the share and the memory entry were written
    after the erasure and stayed, naming the chat."""
    from local_site import HeldPages, serve_site
    from test_telegram import article_page

    chat = ChatRef("telegram", "-1007777123457", kind="group")
    held = HeldPages(article_page("River council cleans up the water"))
    async with serve_site(held.routes(2)) as site:
        bot = make_summary_bot(digest_settings(tmp_path), store)
        try:
            link = lambda n: Incoming(chat=chat, text=site.url(f"/story{n}"), user_id="sharer", message_id=str(n), addressed_to_bot=True)  # noqa: E731
            work = asyncio.create_task(bot.handle(link(0)))
            await asyncio.wait_for(until(lambda: held.fetching == 1), 30)
            await bot.privacy.erase_chat(chat)  # while the page is still being fetched
            held.release.set()
            (reply,) = await asyncio.wait_for(work, 60)
            assert reply.digest is not None, reply.error  # the chat asked before: it gets its answer
            assert (await bot.privacy.inventory(chat)).empty
            assert b"7777123457" not in await dump(store, tmp_path)

            (reply,) = await bot.handle(link(1))  # after the erasure: recorded as usual
            assert reply.digest is not None, reply.error
            assert (await bot.privacy.inventory(chat)).shares == 1
        finally:
            await bot.close()


async def test_a_daily_digest_going_out_when_its_chat_is_erased_leaves_nothing_of_it(store, sites, tmp_path):
    """The chat is erased (its bot removed, /forget pressed) after the first part of its
    daily digest went out and before the rest: the parts, the sent record and the next due
    time the send writes afterwards are erased again once it ends. Fails before the fix:
    they stayed, naming the chat (and the composed digest held its shared titles)."""
    site, feed_site = sites
    victim = ChatRef("telegram", "-1006666123457", kind="group")
    bot = make_summary_bot(digest_settings(tmp_path), store)
    clock = bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))
    allow_all(bot)

    class Held(PartsSender):  # the platform takes the first part, then waits
        release = asyncio.Event()

        async def _take(self, number: int, text: str) -> None:
            if number == 2:
                await self.release.wait()
            await super()._take(number, text)

    try:
        await use(bot, victim, site, feed_site, "zqxvictimfeed", PAGES[:2], 100)
        clock.now = utc(2024, 5, 7, 6, 0, 20)
        sender = Held()
        scheduler = DigestScheduler(bot.digests, {"telegram": sender}, fenced=bot.privacy.fenced)
        tick = asyncio.create_task(scheduler.tick())
        await asyncio.wait_for(until(lambda: len(sender.accepted) == 1), 30)
        await bot.privacy.erase_chat(victim)
        sender.release.set()
        assert (await asyncio.wait_for(tick, 60)).sent == 1  # the platform took it all
        assert (await bot.privacy.inventory(victim)).empty
        assert b"6666123457" not in await dump(store, tmp_path)
    finally:
        await bot.close()


async def test_a_queued_message_of_a_chat_erased_before_a_worker_took_it_leaves_nothing(redis_url, tmp_path):
    """Scaled out: a link waits in the job queue while its chat is erased; the worker that
    takes it afterwards still answers it (the chat asked before), but what the answer writes
    is erased again, since the message arrived before the erasure (arq's enqueue time). A
    message queued after the erasure is the chat's again. Fails before the fix: its share
    and memory entry stayed."""
    from adapters.queue import MessageQueue, redis_settings
    from adapters.worker import ForeignMessages, message_worker
    from bot.config import Settings
    from bot.metrics import Metrics
    from local_site import serve_site
    from queue_support import fresh_queue_pool, worker_running
    from test_telegram import article_page

    chat = ChatRef("telegram", "-1005555123457", kind="group")

    class LinkService:  # a platform's worker side: the payload is the link, the chat is fixed
        platform = "telegram"

        def __init__(self, bot):
            self.bot, self.replies = bot, []

        async def answer_job(self, payload, delivery):
            message = Incoming(chat=chat, text=payload["text"], user_id="sharer", message_id=payload["id"], addressed_to_bot=True)
            self.replies += await self.bot.handle(message)

    page = article_page("River council cleans up the water")
    async with fresh_queue_pool(redis_url) as pool, serve_site({"/story": (200, {"Content-Type": "text/html"}, page)}) as site:
        store = await RedisStore.connect(redis_url)
        bot = make_summary_bot(Settings(redis_url=redis_url, fetch_allow_private=["127.0.0.0/8"]), store)
        service = LinkService(bot)
        ctx = {"services": {"telegram": service}, "store": store, "foreign": ForeignMessages(["telegram"], Metrics())}
        try:
            queue = MessageQueue(pool)
            assert await queue.submit("telegram:1", "telegram", {"text": site.url("/story"), "id": "1"})
            await bot.privacy.erase_chat(chat)  # while the message waits for a worker
            worker = message_worker(ctx, redis_settings(redis_url), job_timeout=30, concurrency=2)
            async with worker_running(worker):
                await asyncio.wait_for(until(lambda: worker.jobs_complete >= 1), 60)
                assert service.replies and service.replies[0].digest is not None, service.replies
                assert (await bot.privacy.inventory(chat)).empty
                assert b"5555123457" not in await dump(store, tmp_path)

                assert await queue.submit("telegram:2", "telegram", {"text": site.url("/story"), "id": "2"})
                await asyncio.wait_for(until(lambda: worker.jobs_complete >= 2), 60)
                assert (await bot.privacy.inventory(chat)).shares == 1  # queued after the erasure: kept
        finally:
            await bot.close()
            await store.close()


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)
