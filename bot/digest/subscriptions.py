"""Which chats get a daily digest, when, and where it goes.

Keys (all through the `Store` protocol):
  digest:subscription:{chat.key}   hash: chat (ChatRef as JSON), at (HH:MM), tz (IANA name),
                                   since (unix time subscribed), last_sent (unix time the last
                                   digest's period ended; absent before the first)
  digest:due                       sorted set: chat.key -> unix time it next needs looking at
The due set lets a scheduler tick read only the chats that are due, however many subscribe.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.digest.localtime import next_occurrence
from bot.models import ChatRef
from bot.store import Store, keys

log = logging.getLogger(__name__)

DUE_KEY = keys.DIGEST_DUE
subscription_key = keys.digest_subscription


def chat_to_json(chat: ChatRef) -> bytes:
    return json.dumps(asdict(chat), sort_keys=True).encode()


def chat_from_json(raw: bytes) -> ChatRef:
    return ChatRef(**json.loads(raw))


@dataclass(frozen=True)
class Subscription:
    chat: ChatRef
    at: time  # local time of day
    zone: ZoneInfo
    since: datetime  # when the chat subscribed (occurrences before it are never sent)
    last_sent: datetime | None = None  # end of the period the last digest covered

    def next_due(self, after: datetime) -> tuple[date, datetime]:
        return next_occurrence(after, self.at, self.zone)

    def describe(self) -> str:
        return f"{self.at:%H:%M} ({self.zone.key})"


class Subscriptions:
    def __init__(self, store: Store):
        self.store = store

    async def subscribe(
        self, chat: ChatRef, at: time, zone: ZoneInfo, now: datetime, language: str | None = None
    ) -> Subscription:
        """Create or change the chat's subscription; the first digest comes at the next
        occurrence of `at` after `now`. The end of the last digest's period is kept.
        `language`: the subscriber's, for digests of a chat that chose none (/language)."""
        key = subscription_key(chat.key)
        fields = {
            "chat": chat_to_json(chat),
            "at": f"{at:%H:%M}".encode(),
            "tz": zone.key.encode(),
            "since": str(now.timestamp()).encode(),
            **({"language": language.encode()} if language else {}),
        }
        for field, value in fields.items():
            await self.store.hset(key, field, value)
        subscription = await self.get(chat.key)
        assert subscription is not None
        await self.schedule(chat.key, subscription.next_due(now)[1])
        return subscription

    async def unsubscribe(self, chat: ChatRef) -> bool:
        removed = await self.store.delete(subscription_key(chat.key))
        await self.store.zrem(DUE_KEY, chat.key)
        return bool(removed)

    async def get(self, chat_key: str) -> Subscription | None:
        fields = await self.store.hgetall(subscription_key(chat_key))
        if not {"chat", "at", "tz", "since"} <= fields.keys():
            return None
        last_sent = fields.get("last_sent")
        return Subscription(
            chat=chat_from_json(fields["chat"]),
            at=time.fromisoformat(fields["at"].decode()),
            zone=_zone_or_utc(fields["tz"].decode(), chat_key),
            since=_from_timestamp(fields["since"]),
            last_sent=_from_timestamp(last_sent) if last_sent else None,
        )

    async def record_sent(self, chat_key: str, period_end: datetime) -> None:
        await self.store.hset(subscription_key(chat_key), "last_sent", str(period_end.timestamp()).encode())

    # -- the due set ----------------------------------------------------------------------
    async def schedule(self, chat_key: str, when: datetime) -> None:
        await self.store.zadd(DUE_KEY, {chat_key: when.timestamp()})

    async def due(self, now: datetime, limit: int) -> list[tuple[str, float]]:
        """(chat key, unix time it was due) of chats due at or before `now`, earliest first."""
        return await self.store.zrangebyscore(DUE_KEY, float("-inf"), now.timestamp(), limit=limit)

    async def drop_from_schedule(self, chat_key: str) -> None:
        await self.store.zrem(DUE_KEY, chat_key)


def _from_timestamp(raw: bytes) -> datetime:
    return datetime.fromtimestamp(float(raw), timezone.utc)


def _zone_or_utc(name: str, chat_key: str) -> ZoneInfo:
    """The stored zone; UTC if this system's tz database no longer has it (an update
    removed it, or the process runs elsewhere): the digest still goes out, an hour or so off."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("time zone %r of %s is unknown here; using UTC", name, chat_key)
        return ZoneInfo("UTC")
