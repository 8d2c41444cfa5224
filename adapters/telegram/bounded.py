"""Updates answered in this process, bounded: a burst of updates cannot hold more of them
in memory, each with its sender waiting, than the process can finish.

python-telegram-bot takes every update off its queue at once and starts a task for it
(polled by its updater, or put on the queue by our webhook route), which then waits for
one of the `concurrent_updates` places: under a burst, the waiting grew without bound.
`BoundedUpdates` is the application's update processor instead: at most `limit` updates
are answered at once (SUMMARY_BOT_TELEGRAM_CONCURRENCY) and as many again wait their turn;
an update past that is refused at once (`refuse`: the chat hears the model queue's busy
sentence, at most once a minute, adapters/inprocess.py), as the Slack adapter does.
Membership changes and migrations (`exempt`) skip the bound: they are a store's work,
no page, and dropping one would lose an erasure or a move. Scaled out, the job queue and
each worker's SUMMARY_BOT_WORKER_CONCURRENCY bound this instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.ext import BaseUpdateProcessor

# PTB's own semaphore (around `do_process_update`) must not hold anything back: the
# bound is kept here, where a refusal is answered instead of waiting.
_UNBOUNDED = 2**31 - 1


class BoundedUpdates(BaseUpdateProcessor):
    def __init__(self, limit: int, refuse: Callable[[object], Awaitable[None]], exempt: Callable[[object], bool]):
        super().__init__(_UNBOUNDED)
        self.limit = limit
        self.refuse = refuse
        self.exempt = exempt
        self._room = 2 * limit  # in progress and waiting
        self._admitted = 0
        self._turns: asyncio.Semaphore | None = None
        self.in_progress = 0  # updates being answered now (at most `limit`)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self.exempt(update):
            await coroutine
            return
        if self._admitted >= self._room:
            coroutine.close()  # never started: nothing of it runs
            await self.refuse(update)
            return
        self._admitted += 1
        try:
            async with self._turns:
                self.in_progress += 1
                try:
                    await coroutine
                finally:
                    self.in_progress -= 1
        finally:
            self._admitted -= 1

    async def initialize(self) -> None:
        self._turns = asyncio.Semaphore(self.limit)

    async def shutdown(self) -> None:
        pass
