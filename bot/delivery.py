"""Making each platform call at most once, even when the work that makes it runs again.

A worker that dies after sending some of a message's replies leaves its job to another
worker, which runs the core again; a daily digest whose third part failed is retried a
minute later. Either way the second run must send only what the first did not.
`Delivery.once` records each platform call in the store as soon as the platform accepted
it, keyed by what the call sends (its target and a hash of its content, and how many
identical calls came before it in this run), and skips a call already recorded. A second
run whose replies differ sends the changed ones: nothing is matched by position. The window
left is one call wide: a process killed between the platform's answer and the record can
repeat that one call.

The core owns this (the digest scheduler uses it); adapters make the calls through it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.store import keys

T = TypeVar("T")
SENT_TTL = 24 * 3600  # longer than a queued job is retried


class PermanentSendError(Exception):
    """The platform refused a message for a reason that sending it again cannot fix (an
    HTTP 4xx other than 429: a message too long, a chat not found, the bot not allowed).
    Adapters raise it from their platform's error so that the core can give up without
    importing any platform library."""


class ChatGone(PermanentSendError):
    """The chat is gone for the bot for good: its user blocked it, it was removed from the
    group or channel, the account was deleted. Whoever sends stops (never retries) and erases
    the chat's data (bot.privacy), as for a removal the platform announced."""


class ChatMoved(PermanentSendError):
    """The chat lives on under another id (a Telegram group upgraded to a supergroup): its
    data is to move to `new_chat` (bot.privacy.move_chat) and what was refused is sent there.
    A PermanentSendError, so that code unaware of moves gives up instead of retrying."""

    def __init__(self, message: str, new_chat):
        super().__init__(message)
        self.new_chat = new_chat  # a ChatRef


def call_hash(target: object, content: object) -> str:
    """A short, stable name for one platform call: where it goes and what it carries (any
    JSON-like value: a text, Slack blocks)."""
    encoded = json.dumps([target, content], sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Delivery:
    """The platform calls of one unit of work: a queued job (`job_id`), or anything else
    that names its records with `key(call_hash, occurrence)`. Without a store (or a name)
    every call is made: nothing will run the work again."""

    def __init__(
        self,
        store=None,
        job_id: str | None = None,
        *,
        key: Callable[[str, int], str] | None = None,
        ttl: float = SENT_TTL,
    ):
        if key is None and job_id is not None:

            def key(call: str, occurrence: int) -> str:
                return keys.delivery(job_id, call, occurrence)

        self.store = store if key is not None else None
        self.key = key
        self.ttl = ttl
        self._occurrences: Counter[str] = Counter()  # identical calls in one run are each made
        self.sent = 0  # platform calls made by this run
        self.skipped = 0  # calls an earlier run had made

    async def once(self, target: object, content: object, send: Callable[[], Awaitable[T]]) -> T | None:
        """Make the platform call `send`, which sends `content` to `target`, unless an
        earlier run made the same call; None when skipped."""
        call = call_hash(target, content)
        occurrence = self._occurrences[call]
        self._occurrences[call] += 1
        record = self.key(call, occurrence) if self.store is not None else None
        if record is not None and await self.store.get(record) is not None:
            self.skipped += 1
            return None
        result = await send()
        self.sent += 1
        if record is not None:
            await self.store.set(record, b"1", ttl=self.ttl)
        return result


def untracked() -> Delivery:
    """For calls made in the process that received the message: nothing to repeat."""
    return Delivery()
