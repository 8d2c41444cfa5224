"""Helpers for the daily-digest tests: a clock the test moves, senders that record what
the "platform" accepted (whole digests, or digests in parts), and a fresh Redis store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import redis

from bot.config import Settings
from bot.delivery import Delivery, untracked
from bot.digest.scheduler import DigestScheduler
from bot.digest.service import DigestService
from bot.fetch import Fetcher
from bot.models import ChatRef, DailyDigest, Reply
from bot.store.redis_store import RedisStore
from model_support import shared_extractor, shared_inference

GROUP = ChatRef(platform="telegram", chat_id="-1001234", kind="group")


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


class RecordingSender:
    """A platform that accepts digests (after `delay` seconds), or raises while `failures`
    is positive, or, with `hang`, never answers."""

    def __init__(self, clock: FakeClock | None = None, delay: float = 0.0, failures: int = 0, hang: bool = False):
        self.clock = clock
        self.delay = delay
        self.failures = failures
        self.hang = hang
        self.called = asyncio.Event()
        self.accepted: list[tuple[ChatRef, DailyDigest, datetime | None]] = []

    async def __call__(self, chat: ChatRef, replies: list[Reply], delivery: Delivery | None = None) -> None:
        self.called.set()
        if self.hang:
            await asyncio.Event().wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the platform is down")
        (reply,) = replies
        assert reply.daily is not None
        self.accepted.append((chat, reply.daily, self.clock() if self.clock else None))


class PartsSender:
    """A platform that takes a digest in three messages (title, period, a count of the
    stories), each through the scheduler's `Delivery` as the adapters send them. Part
    `fail_part` (1-based) raises `error()` while `failures` is positive."""

    def __init__(self, *, fail_part: int = 0, failures: int = 0, error=lambda: RuntimeError("the platform is down")):
        self.fail_part = fail_part
        self.failures = failures
        self.error = error
        self.attempts: list[str] = []  # every message the platform was asked to take
        self.accepted: list[str] = []  # the messages it took

    @staticmethod
    def parts(daily) -> list[str]:
        return [daily.title, daily.period, f"{len(daily.entries)} stories"]

    async def __call__(self, chat: ChatRef, replies: list[Reply], delivery: Delivery | None = None) -> None:
        delivery = delivery or untracked()
        for reply in replies:
            for number, text in enumerate(self.parts(reply.daily), start=1):
                await delivery.once(chat.key, text, lambda number=number, text=text: self._take(number, text))

    async def _take(self, number: int, text: str) -> None:
        self.attempts.append(text)
        if number == self.fail_part and self.failures > 0:
            self.failures -= 1
            raise self.error()
        self.accepted.append(text)


async def fresh_redis_store(url: str) -> RedisStore:
    with redis.Redis.from_url(url) as admin:
        admin.flushdb()
    return await RedisStore.connect(url)


def digest_settings(tmp_path, **overrides) -> Settings:
    options = {"sqlite_path": tmp_path / "store.sqlite3", "fetch_allow_private": ["127.0.0.0/8"], **overrides}
    return Settings(**options)


def scheduler_for(store, settings: Settings, clock: FakeClock, sender, **options) -> DigestScheduler:
    digests = DigestService(settings, store, Fetcher(settings), shared_extractor(), shared_inference(), clock)
    return DigestScheduler(digests, {GROUP.platform: sender}, **options)
