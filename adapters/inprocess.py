"""What the chat adapters share when they answer in this process (no job queue): who
hears "busy" when their bound is full (Slack: adapters/slack/inprocess.py; Telegram:
adapters/telegram/bounded.py)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

BUSY_NOTICE_SECONDS = 60  # a chat hears "busy" at most once in this long
BUSY_NOTICES_AT_ONCE = 8  # busy replies being posted at most; past that a refusal is only counted


class BusyNotices:
    """Who hears "busy": each chat (a channel) at most once a minute, and only a few replies
    posted at once, so that an overload does not turn into a flood of replies (each of them
    waiting its turn under the platform's rate limits), as the core does for rate-limit notices."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._told: OrderedDict[str, float] = OrderedDict()  # place -> when, oldest first
        self._posting = 0

    def may_tell(self, place: str) -> bool:
        """Whether `place` is to hear it now; if so, it is not told again for a minute, and
        the reply holds one of the places being posted until `tell` has sent it."""
        now = self.clock()
        while self._told and next(iter(self._told.values())) <= now - BUSY_NOTICE_SECONDS:
            self._told.popitem(last=False)
        if place in self._told or self._posting >= BUSY_NOTICES_AT_ONCE:
            return False
        self._told[place] = now
        self._posting += 1
        return True

    async def tell(self, notice: Awaitable[None]) -> None:
        try:
            await notice
        finally:
            self._posting -= 1
