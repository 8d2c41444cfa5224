"""Helpers for the daily-digest tests: a clock the test moves, a sender that records what
the "platform" accepted, and a fresh Redis store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import redis

from bot.config import Settings
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

    async def __call__(self, chat: ChatRef, replies: list[Reply]) -> None:
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
