"""The scaled-out queue in this process, for tests: arq's pool on an emptied redis-server,
and an arq Worker (adapters/worker.py's message_worker or content_worker) running in the
test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis
from arq import ArqRedis, Worker

from adapters.queue import open_queue_pool
from adapters.worker import close_worker


@asynccontextmanager
async def fresh_queue_pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    """The queue's pool on `redis_url`, emptied first (FLUSHDB); closed at the end."""
    with redis.Redis.from_url(redis_url) as admin:
        admin.flushdb()
    pool = await open_queue_pool(redis_url)
    try:
        yield pool
    finally:
        await pool.aclose()


@asynccontextmanager
async def worker_running(worker: Worker) -> AsyncIterator[Worker]:
    """`worker` taking jobs in this event loop until the block ends; then closed and stopped."""
    running = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        await close_worker(worker)
        running.cancel()
        with suppress(asyncio.CancelledError):
            await running
