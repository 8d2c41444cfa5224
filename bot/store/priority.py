"""Which store operations go first when the store can do one at a time (the embedded SQLite
file): those of the piece of work (a chat message) that started first.

A burst of messages otherwise interleaves: fifty messages each needing fifteen operations
take turns on the one SQLite thread, so all fifty replies are ready at about the same time,
at the end of the burst. Served oldest first, the first message's reply is ready after its
own fifteen operations and the others follow in order; the total work is the same.

`SummaryBot.handle` marks where a message's work starts (`work_started`); operations from
anywhere else (the digest scheduler, a background task) count from when they are asked for,
so nothing waits behind work that began after it.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_started: ContextVar[float | None] = ContextVar("summary_bot_work_started", default=None)


@contextmanager
def work_started() -> Iterator[None]:
    """Store operations inside (and in tasks started inside) rank by now."""
    token = _started.set(time.monotonic())
    try:
        yield
    finally:
        _started.reset(token)


def rank() -> float:
    """The rank of an operation asked for now: lower goes first."""
    started = _started.get()
    return started if started is not None else time.monotonic()
