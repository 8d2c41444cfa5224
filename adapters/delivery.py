"""Sending one message's replies at most once each, even when its job runs again.

A worker that dies after sending some replies leaves its job to another worker, which runs
the core again. `Delivery` numbers the platform calls of one job and records each in the
store as soon as the platform accepted it; the second run skips the ones already sent. The
window left is one call wide: a worker killed between the platform's answer and the
record can repeat that one call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.store import keys

T = TypeVar("T")
SENT_TTL = 24 * 3600


class Delivery:
    def __init__(self, store=None, job_id: str | None = None):
        self.store = store if job_id else None
        self.job_id = job_id
        self._next = 0
        self.sent = 0  # platform calls made by this run
        self.skipped = 0  # calls an earlier run of the job had made

    async def once(self, send: Callable[[], Awaitable[T]]) -> T | None:
        """Make the platform call `send` unless an earlier run of this job made it."""
        number = self._next
        self._next += 1
        key = keys.delivery(self.job_id, number)
        if self.store is not None and await self.store.get(key) is not None:
            self.skipped += 1
            return None
        result = await send()
        self.sent += 1
        if self.store is not None:
            await self.store.set(key, b"1", ttl=SENT_TTL)
        return result


def untracked() -> Delivery:
    """For replies made in the process that received the message: nothing to repeat."""
    return Delivery()
