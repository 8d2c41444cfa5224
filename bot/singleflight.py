"""One run of a piece of work for every concurrent caller that asks for it by the same key.

The work runs as a task of its own, not inside the first caller: a caller that goes away
(its request cancelled, its chat gone) never cancels the work the others are waiting for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        return await asyncio.shield(self.start(key, work))

    def start(self, key: str, work: Callable[[], Awaitable[T]]) -> asyncio.Task:
        """The task doing `work` for `key`, started now unless one is running: for a caller
        that waits only so long and leaves the work to finish for the next (await it shielded)."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.create_task(work())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: str, task: asyncio.Task) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have gone away

    async def close(self) -> None:
        """Cancel work nobody will wait for any more (at shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
