"""Answers running as tasks in this process (no job queue): bounded, so that a burst of
events cannot start more work than the process can finish.

At most `limit` answers run at once (SUMMARY_BOT_SLACK_CONCURRENCY), and as many again wait
their turn: a waiting event is answered about one answer's time later. Past that an event
is refused at once (the caller tells the channel the bot is busy), rather than queued
behind work it would wait minutes for. Scaled out, the job queue and each worker's
SUMMARY_BOT_WORKER_CONCURRENCY bound this instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30  # how long stop() lets replies in progress finish


class InProcessAnswers:
    def __init__(self, limit: int):
        self._turns = asyncio.Semaphore(limit)
        self._room = 2 * limit  # in progress and waiting
        self._admitted = 0
        self._tasks: set[asyncio.Task] = set()

    def start(self, answer: Callable[[], Awaitable[None]]) -> bool:
        """Start `answer` as a task that waits its turn; False, and nothing started, when
        the room for answers in progress and waiting is full."""
        if self._admitted >= self._room:
            return False
        self._admitted += 1
        self.start_aside(self._in_turn(answer))
        return True

    async def _in_turn(self, answer: Callable[[], Awaitable[None]]) -> None:
        try:
            async with self._turns:
                await answer()
        finally:
            self._admitted -= 1

    def start_aside(self, work: Awaitable[None]) -> None:
        """A task outside the bound (a busy reply: BusyNotices bounds those), still awaited by `stop`."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack reply failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Let the answers in progress finish, for a while."""
        if not self._tasks:
            return
        done, unfinished = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_SECONDS)
        for task in unfinished:
            task.cancel()
        if unfinished:
            log.warning("stopped %d Slack replies still in progress", len(unfinished))
            await asyncio.wait(unfinished)
