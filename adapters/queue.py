"""Scaling out on arq, a job queue on Redis: fronts enqueue, workers do the work.

Two queues, so that waiting never starves working:
  summary-bot:messages  one job per chat message (a Telegram update, a Slack event or slash
                        command), id "<platform>:<update or event id>". A front acknowledges
                        the platform only after the job is safely in Redis; a redelivery of
                        the same update finds the id taken and is not answered twice. A
                        worker runs the core on it and sends the replies.
  summary-bot:content   one job per link and length, id "content:<hash of canonical URL>:
                        <length>": fetch, extract, summarize and embed. A message job waits for
                        it, so one URL shared in a hundred chats at once costs one fetch and
                        one model run in the whole deployment.
A worker that dies mid-job leaves the job in the queue; arq runs it again once the dead
worker's in-progress mark (job timeout + 10 s) lapses. Jobs travel as JSON, never pickle:
whoever can write to Redis must not be able to run code in a worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job

from bot.extract import Article, ExtractionError
from bot.fetch import FetchError
from bot.inference import ModelBusy, ModelTimeout
from bot.links import canonicalize
from bot.summarize import Summary

log = logging.getLogger(__name__)

MESSAGES_QUEUE = "summary-bot:messages"
CONTENT_QUEUE = "summary-bot:content"
MESSAGE_RESULT_SECONDS = 3600  # a job id stays taken this long: redeliveries within it are ignored
CONTENT_RESULT_SECONDS = 60  # long enough for every waiter to read; later ones hit the store's caches
# A waiting message job looks for its content job's result after 20 ms, then less and less
# often, up to every 500 ms: a cached link is answered at once, and the jobs waiting on
# uncached ones cost Redis (and the worker's event loop) a few light reads a second each.
RESULT_FIRST_POLL = 0.02
RESULT_MAX_POLL = 0.5


def to_json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=_describe).encode()


def from_json_bytes(data: bytes) -> Any:
    return json.loads(data)


def _describe(value: Any) -> Any:
    # arq stores a failed job's exception as its result: keep its text, not the object.
    if isinstance(value, BaseException):
        return {"error": f"{type(value).__name__}: {value}"}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 2
    return settings


async def open_queue_pool(url: str) -> ArqRedis:
    return await create_pool(
        redis_settings(url),
        job_serializer=to_json_bytes,
        job_deserializer=from_json_bytes,
        default_queue_name=MESSAGES_QUEUE,
    )


class MessageQueue:
    """The front's side: hand one chat message to the workers."""

    def __init__(self, pool: ArqRedis):
        self.pool = pool

    async def submit(self, job_id: str, platform: str, payload: dict) -> bool:
        """Enqueue the message; False when a job with this id exists already (the platform
        delivered it again). Raises when Redis cannot take it: answer the platform with an
        error then, so that it delivers the message again."""
        job = await self.pool.enqueue_job(
            "handle_message", platform, payload, _job_id=job_id, _queue_name=MESSAGES_QUEUE
        )
        return job is not None

    async def healthy(self) -> bool:
        try:
            return bool(await self.pool.ping())
        except Exception:
            return False


def content_wait_seconds(job_timeout: float) -> float:
    """How long a message job waits for a link's content: the content job's own time, and
    once more if the worker running it died (arq runs it again job_timeout + 10 s after it
    started)."""
    return 2 * job_timeout + 10


def message_job_timeout(job_timeout: float) -> float:
    """A message job: waiting for its content, then related links and sending."""
    return content_wait_seconds(job_timeout) + job_timeout


def content_job_id(url: str, length: str) -> str:
    canonical = canonicalize(url)  # ValueError for a non-http URL, as the pipeline would raise
    return f"content:{hashlib.sha256(canonical.encode()).hexdigest()}:{length}"


class QueuedContent:
    """A `ContentRunner` (bot.pipeline) that has a link's article and key points made by
    whichever worker runs the content job for it."""

    def __init__(self, pool: ArqRedis, *, timeout: float):
        self.pool = pool
        self.timeout = timeout

    async def __call__(self, url: str, length: str) -> tuple[Article, Summary, bool]:
        job_id = content_job_id(url, length)
        job = await self.pool.enqueue_job("digest_content", url, length, _job_id=job_id, _queue_name=CONTENT_QUEUE)
        if job is None:  # running or just finished for another chat: share its result
            job = Job(job_id, self.pool, _queue_name=CONTENT_QUEUE, _deserializer=from_json_bytes)
        info = await self._wait_for(job)
        if info is None:
            raise ModelTimeout(self.timeout)
        if not info.success:  # the job failed in arq itself (retries used up)
            log.error("content job %s failed: %s", job_id, info.result)
            raise ExtractionError("I couldn't summarize that link because of an error on my side.")
        return content_from_result(info.result)

    async def _wait_for(self, job: Job):
        """The job's result once there is one (None after `timeout`), polled with backoff."""
        deadline = time.monotonic() + self.timeout
        delay = RESULT_FIRST_POLL
        while True:
            info = await job.result_info()
            if info is not None:
                return info
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, RESULT_MAX_POLL)


# -- what a content job returns, as JSON ---------------------------------------------------
_ERROR_KINDS = {"fetch": FetchError, "extract": ExtractionError, "busy": ModelBusy, "timeout": ModelTimeout}


def content_result(article: Article, summary: Summary, cached: bool) -> dict:
    return {"ok": True, "article": article.to_dict(), **summary.to_json(), "cached": cached}


def content_error(exc: Exception) -> dict:
    kind = next((name for name, cls in _ERROR_KINDS.items() if isinstance(exc, cls)), "extract")
    return {"ok": False, "kind": kind, "message": str(exc)}


def content_from_result(result: Any) -> tuple[Article, Summary, bool]:
    if not isinstance(result, dict) or "ok" not in result:
        raise ExtractionError("I couldn't summarize that link because of an error on my side.")
    if not result["ok"]:
        if result.get("kind") in ("fetch",):
            raise FetchError(result["message"])
        raise ExtractionError(result["message"])  # the friendly sentence travels as it was written
    # "sources" and "summarizer" are absent from a worker of an earlier version: plain points
    return Article.from_dict(result["article"]), Summary.from_json(result), bool(result["cached"])
