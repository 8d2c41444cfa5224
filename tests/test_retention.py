"""Issue 18, items 4 and 5: nothing kept without a bound, and no secrets or chat text in logs.

Each retention on both stores where it applies (the `store` fixture); time is a fake clock
handed to the code under test, never waited for (but for SQLite's own expiry, which reads
the system clock: a key with a 50 ms time to live)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import numpy as np
import pytest
import redis

from bot.models import ChatRef
from bot.privacy import Privacy
from bot.related.memory import RelatedMemory
from bot.retention import ChatActivity, RetentionSweeper
from bot.store import keys
from bot.store.sqlite_store import SQLiteStore

DAY = 86400.0
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def vector(seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return values / np.linalg.norm(values)


# -- the related memory: entries not shared again for the retention period go ---------------
async def test_related_entries_not_shared_again_expire_and_an_empty_scope_leaves_no_counters(store):
    """Fails before the change: the memory had no time of sharing, and no prune."""
    clock = Clock()
    memory = RelatedMemory(store, clock=clock)
    scope = "telegram:42"
    await memory.remember(scope, "https://a.example/one", "One", vector(1), contributor=scope)
    await memory.remember(scope, "https://a.example/two", "Two", vector(2), contributor=scope)
    clock.now += 50 * DAY
    await memory.shared_again(scope, "https://a.example/one", scope)  # its 90 days start over
    clock.now += 41 * DAY
    assert await memory.prune(scope, 90 * DAY) == 1
    view = await memory.view(scope)
    assert [link.title for link in view.links] == ["One"]
    clock.now += 50 * DAY
    assert await memory.prune(scope, 90 * DAY) == 1
    assert len(await memory.view(scope)) == 0
    # only `version` is left, expiring after another period (so views see the scope change)
    assert await store.keys_of(scope) == [keys.related(scope, "version")]


async def test_entries_remembered_before_the_times_were_kept_start_their_clock(store):
    clock = Clock()
    memory = RelatedMemory(store, clock=clock)
    await memory.remember("global", "https://a.example/old", "Old", vector(3))
    await store.delete(keys.related("global", "shared"))  # as stored by an earlier version
    assert await memory.prune("global", 90 * DAY) == 0  # kept: its clock starts now
    clock.now += 91 * DAY
    assert await memory.prune("global", 90 * DAY) == 1


# -- chats: idle a year with no subscription and no feed, erased ----------------------------
async def test_an_idle_chat_is_swept_and_a_subscribed_or_active_one_is_not(store):
    """Fails before the change: nothing recorded activity and nothing swept."""
    clock = Clock()
    activity = ChatActivity(store, clock=clock)
    sweeper = RetentionSweeper(store, chat_retention_days=365, related_retention_days=90, clock=clock)
    idle, subscribed, active = "telegram:1", "telegram:-100200", "slack:T1:C1"
    for chat in (idle, subscribed, active):
        await activity.seen(chat)
        await store.hset(keys.chat_settings(chat), "autosummary", b"off")
    await store.hset(keys.digest_subscription(subscribed), "chat", b"{}")
    await activity.seen(idle)  # the same day: no second write
    clock.now += 200 * DAY
    await activity.seen(active)
    await store.hset(keys.chat_settings("telegram:7"), "tz", b"UTC")  # stored before activity was kept
    clock.now += 166 * DAY
    report = await sweeper.sweep()
    assert report.chats_erased == 1 and report.chats_clock_started == 1
    assert await store.keys_of(idle) == []
    assert await store.zscore(keys.CHATS_LAST_SEEN, idle) is None
    for chat in (subscribed, active, "telegram:7"):
        assert await store.hgetall(keys.chat_settings(chat)), chat
    assert await store.zscore(keys.CHATS_LAST_SEEN, subscribed) == clock.now  # its period starts again
    clock.now += 366 * DAY
    await sweeper.sweep()
    assert await store.keys_of(active) == [] and await store.keys_of("telegram:7") == []
    assert await store.hgetall(keys.chat_settings(subscribed))


async def test_the_sweep_prunes_every_scope_of_the_related_memory(store):
    clock = Clock()
    memory = RelatedMemory(store, clock=clock)
    sweeper = RetentionSweeper(store, chat_retention_days=365, related_retention_days=90, memory=memory, clock=clock)
    await memory.remember("slack:T9", "https://a.example/x", "X", vector(4), contributor="slack:T9:C1")
    clock.now += 91 * DAY
    assert (await sweeper.sweep()).related_dropped == 1
    assert await store.hgetall(keys.related("slack:T9", "contributors")) == {}


async def test_erasing_or_moving_a_chat_takes_its_activity_record_with_it(store):
    activity = ChatActivity(store)
    await activity.seen("telegram:-5")
    await activity.seen("telegram:-6")
    privacy = Privacy(store)
    await privacy.move_chat(ChatRef("telegram", "-5", kind="group"), ChatRef("telegram", "-1005", kind="group"))
    await privacy.erase_chat(ChatRef("telegram", "-6", kind="group"))
    seen = [member for member, _ in await store.zrangebyscore(keys.CHATS_LAST_SEEN, float("-inf"), float("inf"))]
    assert seen == ["telegram:-1005"]


# -- SQLite: expired rows leave the file on a schedule, not only when read -------------------
async def test_sqlite_sweeps_expired_rows_out_of_the_file(tmp_path):
    path = tmp_path / "store.sqlite3"
    store = await SQLiteStore.open(path)
    try:
        await store.set(keys.rate_decision("telegram:1", "m1"), b"EXPIRED-SECRET-VALUE", ttl=0.05)
        await store.set("kept", b"1")
        await asyncio.sleep(0.2)  # past its time to live; nothing reads or writes it
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT COUNT(*) FROM keys").fetchone()[0] == 2  # expired, still there
        assert await store.sweep_expired() == 1
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT key FROM keys").fetchall() == [("kept",)]
            assert raw.execute("SELECT COUNT(*) FROM owners").fetchone()[0] == 0
        files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("store.sqlite3"))
        assert b"EXPIRED-SECRET-VALUE" not in files
    finally:
        await store.close()


# -- arq: no message payload after a job ends ------------------------------------------------
class RecordingService:
    platform = "slack"

    def __init__(self):
        self.answered: list[dict] = []

    async def answer_job(self, payload, delivery):
        self.answered.append(payload)


def every_byte(url: str) -> bytes:
    """Every key and value in Redis, whatever their type."""
    out = []
    with redis.Redis.from_url(url) as admin:
        for name in admin.scan_iter(count=1000):
            out.append(name)
            kind = admin.type(name).decode()
            if kind == "string":
                out.append(admin.get(name) or b"")
            elif kind == "hash":
                out += [b"%s=%s" % pair for pair in admin.hgetall(name).items()]
            elif kind == "zset":
                out += [member for member, _ in admin.zrange(name, 0, -1, withscores=True)]
            elif kind in ("set", "list"):
                out += list(admin.smembers(name) if kind == "set" else admin.lrange(name, 0, -1))
    return b"\n".join(out)


async def test_a_finished_message_job_leaves_no_payload_and_a_redelivery_is_not_answered_twice(redis_url):
    """Fails before the change: arq kept the whole payload as the job's result for an hour."""
    from adapters.queue import SEEN_PREFIX, MessageQueue, redis_settings
    from adapters.worker import ForeignMessages, message_worker
    from bot.metrics import Metrics
    from queue_support import fresh_queue_pool, worker_running

    service = RecordingService()
    ctx = {"services": {"slack": service}, "store": None, "foreign": ForeignMessages(["slack"], Metrics())}
    payload = {"kind": "command", "text": "PRIVATE-MESSAGE-TEXT", "user_name": "alice-the-user",
               "response_url": "https://hooks.slack.com/commands/T1/1/SECRETHOOK"}  # fmt: skip
    async with fresh_queue_pool(redis_url) as pool:
        queue = MessageQueue(pool)
        assert await queue.submit("slack:Ev1", "slack", payload)
        queued = every_byte(redis_url)
        assert b"PRIVATE-MESSAGE-TEXT" in queued  # a queued job holds its payload, as it must
        async with worker_running(message_worker(ctx, redis_settings(redis_url), job_timeout=5, concurrency=2)) as worker:
            deadline = time.monotonic() + 10
            while worker.jobs_complete < 1:
                assert time.monotonic() < deadline, "the worker never ran the job"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # arq finishes its bookkeeping after counting
            assert service.answered == [payload]
            left = every_byte(redis_url)
            for secret in (b"PRIVATE-MESSAGE-TEXT", b"alice-the-user", b"SECRETHOOK", b"hooks.slack.com"):
                assert secret not in left, (secret, left)
            with redis.Redis.from_url(redis_url) as admin:
                assert admin.get(SEEN_PREFIX + "slack:Ev1") == b"1"
                assert 0 < admin.ttl(SEEN_PREFIX + "slack:Ev1") <= 3600
            assert not await queue.submit("slack:Ev1", "slack", payload)  # redelivered: not answered again
            await asyncio.sleep(0.3)
            assert service.answered == [payload]


async def test_a_failed_enqueue_gives_the_id_back_so_the_redelivery_is_answered(redis_url, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from adapters.queue import SEEN_PREFIX, MessageQueue, open_queue_pool

    with redis.Redis.from_url(redis_url) as admin:
        admin.flushdb()
    pool = await open_queue_pool(redis_url)
    try:
        queue = MessageQueue(pool)
        real = pool.enqueue_job

        async def broken(*args, **kwargs):
            raise RedisConnectionError("lost")

        monkeypatch.setattr(pool, "enqueue_job", broken)
        with pytest.raises(RedisConnectionError):
            await queue.submit("telegram:1:5", "telegram", {"update": {}})
        with redis.Redis.from_url(redis_url) as admin:
            assert admin.get(SEEN_PREFIX + "telegram:1:5") is None
        monkeypatch.setattr(pool, "enqueue_job", real)
        assert await queue.submit("telegram:1:5", "telegram", {"update": {}})
    finally:
        await pool.aclose()


# -- logs: no token, message text or pasted text at INFO ------------------------------------
TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
PASTED = " ".join(
    f"The harbour authority reviewed berth {i} and found the crane rails worn beyond repair." for i in range(8)
)


async def test_a_telegram_flow_logs_no_token_and_no_pasted_text_and_keeps_the_paste_under_the_chat(tmp_path, caplog):
    """Fails before the change: httpx logged each Bot API request's URL, token included, at
    INFO; and the pasted text's summary went to the shared 30-day summary cache."""
    from adapters.logs import configure_logging
    from benchmarks.standins.telegram_api import BotApiStandIn
    from tests.test_telegram import running_service, telegram_settings

    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in ("httpx", "httpcore")})
    configure_logging("INFO", "text")
    try:
        caplog.set_level(logging.INFO)
        async with BotApiStandIn(TOKEN) as api:
            async with running_service(telegram_settings(api, tmp_path)):
                api.queue_message(PASTED, chat_id=501)
                await api.wait_for("sendMessage", timeout=120)
    finally:
        root.setLevel(saved[0])
        for handler in root.handlers[:]:
            if handler not in saved[1]:
                root.removeHandler(handler)
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    logged = "\n".join(record.getMessage() for record in caplog.records if record.levelno >= logging.INFO)
    assert TOKEN.split(":")[1] not in logged
    assert "crane rails" not in logged
    with sqlite3.connect(tmp_path / "store.sqlite3") as raw:
        rows = raw.execute("SELECT key, expires_at FROM keys").fetchall()
    names = [name for name, _ in rows]
    assert not [name for name in names if name.startswith(("summary:", "related:vector:"))], names
    (pasted,) = [(name, expires) for name, expires in rows if name.startswith("pasted:telegram:501:summary:")]
    assert pasted[1] - time.time() <= 24 * 3600


def test_the_log_scrubber_hides_tokens_response_urls_and_queries():
    from adapters.logs import scrub

    line = scrub(
        f"POST https://api.telegram.org/bot{TOKEN}/getUpdates xoxb-1-2-abc https://hooks.slack.com/commands/T/1/x "
        "https://news.example/a?key=s3cret"
    )
    assert TOKEN.split(":")[1] not in line and "xoxb-1" not in line and "commands/T" not in line
    assert "s3cret" not in line and "https://news.example/a" in line
