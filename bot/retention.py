"""Bounded retention: what nothing else expires is swept here, on a schedule.

Most keys carry their own time to live (caches, rate limits, digest history, job records).
What does not is bounded by the sweep, run by every process that runs the digest scheduler
(`RetentionSweeper.run`, every SWEEP_SECONDS; a lease in the store lets one process sweep per
period):
  * chats idle for SUMMARY_BOT_CHAT_RETENTION_DAYS (no message the bot received) with no
    subscription and no feed are erased whole (bot.privacy.Privacy.erase_chat). A chat's
    last activity is `chats:last-seen` (chat key -> unix time), written by `ChatActivity` at
    most once a day per chat and process. Chats stored before it was kept start their clock
    at the first sweep that finds them; a chat with a subscription or a feed has its clock
    started again, so the period counts from when those end;
  * the related memory of every scope drops the entries not shared again there for
    SUMMARY_BOT_RELATED_RETENTION_DAYS (bot.related.memory.RelatedMemory.prune);
  * the store deletes its expired keys (SQLite keeps them on disk until then; Redis expires
    keys itself).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.privacy import Privacy, parse_chat
from bot.related.memory import RelatedMemory
from bot.store import Store, keys

log = logging.getLogger(__name__)

DAY = 86400.0
SWEEP_SECONDS = 3600.0  # how often a sweep runs (the lease makes it one process's)
LEASE_KEY = "retention:sweep-lease"  # held by the process sweeping now; names no chat
IDLE_BATCH = 200  # idle chats read (and erased) at a time
MEMO_SIZE = 100_000  # chats a process remembers having recorded today; cleared when full


def chat_of(chat_key: str):
    """The chat whose key is `chat_key` (a Slack key may name its team: "slack:T1:C1")."""
    chat = parse_chat(chat_key)
    if chat.key != chat_key:
        chat = replace(chat, chat_id=chat_key.partition(":")[2])
    return chat


class ChatActivity:
    """Records when a chat last had a message: one write a day per chat and process."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._recorded: dict[str, int] = {}  # chat key -> the day it was last recorded

    async def seen(self, chat_key: str) -> None:
        now = self.clock()
        day = int(now // DAY)
        if self._recorded.get(chat_key) == day:
            return
        await self.store.zadd(keys.CHATS_LAST_SEEN, {chat_key: now})
        if len(self._recorded) >= MEMO_SIZE:
            self._recorded.clear()
        self._recorded[chat_key] = day


@dataclass
class SweepReport:
    chats_erased: int = 0
    chats_clock_started: int = 0  # chats found with no record of activity (stored before it was kept)
    related_dropped: int = 0  # related-memory entries past their retention
    expired_keys: int = 0  # keys past their time to live, deleted by the store


class RetentionSweeper:
    def __init__(
        self,
        store: Store,
        *,
        chat_retention_days: float,
        related_retention_days: float,
        memory: RelatedMemory | None = None,
        privacy: Privacy | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.chat_retention = chat_retention_days * DAY
        self.related_retention = related_retention_days * DAY
        self.memory = memory or RelatedMemory(store, clock=clock)
        self.privacy = privacy or Privacy(store, memory=self.memory)
        self.clock = clock

    @classmethod
    def of(cls, bot, **kwargs) -> RetentionSweeper:
        """The sweeper for an assembled bot (bot.core.SummaryBot): its store, settings,
        related memory (whose in-process views it keeps current) and privacy service."""
        return cls(
            bot.store, chat_retention_days=bot.settings.chat_retention_days,
            related_retention_days=bot.settings.related_retention_days, memory=bot.pipeline.related.memory,
            privacy=getattr(bot, "privacy", None), **kwargs,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event, *, every: float = SWEEP_SECONDS) -> None:
        """Sweep every `every` seconds until `stop`; a failed sweep is logged and tried again
        next time."""
        while not stop.is_set():
            try:
                if await self.store.set_if_absent(LEASE_KEY, b"1", ttl=every * 0.9):
                    report = await self.sweep()
                    log.info(
                        "retention sweep: %d idle chats erased, %d related entries dropped, %d expired keys deleted",
                        report.chats_erased, report.related_dropped, report.expired_keys,
                    )  # fmt: skip
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the retention sweep failed; it runs again in %g s", every)
            try:
                await asyncio.wait_for(stop.wait(), every)
            except TimeoutError:
                pass

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        await self._idle_chats(report)
        await self._owners(report)
        report.expired_keys = await self.store.sweep_expired()
        return report

    async def _idle_chats(self, report: SweepReport) -> None:
        cutoff = self.clock() - self.chat_retention
        while True:
            idle = await self.store.zrangebyscore(keys.CHATS_LAST_SEEN, float("-inf"), cutoff, limit=IDLE_BATCH)
            if not idle:
                return
            for chat_key, _ in idle:
                seen = await self.store.zscore(keys.CHATS_LAST_SEEN, chat_key)
                if seen is None or seen > cutoff:  # active again since it was read
                    continue
                if await self._in_use(chat_key):
                    # subscribed, or following a feed: not idle; the period starts again
                    await self.store.zadd(keys.CHATS_LAST_SEEN, {chat_key: self.clock()})
                    continue
                try:
                    chat = chat_of(chat_key)
                except ValueError:  # not a chat key we wrote: nothing to erase under it
                    await self.store.zrem(keys.CHATS_LAST_SEEN, chat_key)
                    continue
                await self.privacy.erase_chat(chat)
                await self.store.zrem(keys.CHATS_LAST_SEEN, chat_key)
                report.chats_erased += 1

    async def _in_use(self, chat_key: str) -> bool:
        return bool(
            await self.store.hgetall(keys.digest_subscription(chat_key))
            or await self.store.hgetall(keys.digest_feeds(chat_key))
        )

    async def _owners(self, report: SweepReport) -> None:
        """Every owner in the store: its related memory pruned; a chat with no record of
        activity gets one (its clock starts now)."""
        for owner in await self.store.owners():
            names = await self.store.keys_of(owner)
            if any(name.startswith(f"related:{owner}:") for name in names):
                report.related_dropped += await self.memory.prune(owner, self.related_retention)
            chat_data = any(not name.startswith("related:") for name in names)
            if chat_data and await self.store.zscore(keys.CHATS_LAST_SEEN, owner) is None:
                await self.store.zadd(keys.CHATS_LAST_SEEN, {owner: self.clock()})
                report.chats_clock_started += 1
