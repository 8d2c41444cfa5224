"""Scaling out on arq, a job queue on Redis: fronts enqueue, workers do the work.

Two queues, so that waiting never starves working:
  summary-bot:messages  one job per chat message (a Telegram update, a Slack event or slash
                        command), id "<platform>:<update or event id>". A front acknowledges
                        the platform only after the job is safely in Redis; a redelivery of
                        the same update finds the id's marker and is not answered twice. A
                        worker runs the core on it and sends the replies. The job (the
                        update or payload: text, user names, Slack's response_url) is in
                        Redis only while queued or running: nothing is kept after it ends
                        (keep_result 0); the marker `summary-bot:seen:<job id>` ("1", for
                        MESSAGE_SEEN_SECONDS) is what remembers the id.
  summary-bot:content   one job per link and length, id "content:<hash of canonical URL>:
                        <length>": fetch, extract, summarize and embed. A message job waits for
                        it, so one URL shared in a hundred chats at once costs one fetch and
                        one model run in the whole deployment. Its result (the article's text
                        and key points: a public page's, cached in the store 24 h anyway)
                        is kept CONTENT_RESULT_SECONDS, for the message jobs waiting on it.
A worker that dies mid-job leaves the job in the queue; arq runs it again once the dead
worker's in-progress mark (job timeout + 10 s) lapses. A content job that runs past its
timeout is run once more (see adapters/worker.py), and its waiters wait for that run. A
content job's failure is shared only with the chats that were waiting on that attempt: a
chat that asks later starts a new attempt (at most one every FAILED_RETRY_SECONDS per link).
Jobs travel as JSON, never pickle: whoever can write to Redis must not be able to run code
in a worker.

Redis holds the queues and every piece of durable state, so `RedisWatch` says at start
whether acknowledged messages would survive a Redis restart, and whether a full Redis would
evict keys or refuse writes; /healthz repeats it and answers 503 while Redis refuses writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import result_key_prefix
from arq.jobs import Job, JobResult, deserialize_result
from redis.exceptions import RedisError

from adapters.runner import Health
from bot.extract import Article, ExtractionBusy, ExtractionError
from bot.fetch import FetchError
from bot.inference import ModelBusy, ModelTimeout
from bot.links import canonicalize
from bot.metrics import Metrics
from bot.store.redis_store import STORE_FULL, StoreFull, is_out_of_memory
from bot.summarize import Summary

log = logging.getLogger(__name__)

MESSAGES_QUEUE = "summary-bot:messages"
CONTENT_QUEUE = "summary-bot:content"
MESSAGE_SEEN_SECONDS = 3600  # a job id's marker lives this long: redeliveries within it are ignored
MESSAGE_RESULT_SECONDS = 0  # a message job's result (with its payload, as arq keeps it) is not kept
SEEN_PREFIX = "summary-bot:seen:"
CONTENT_RESULT_SECONDS = 60  # long enough for every waiter to read; later ones hit the store's caches
# A waiting message job looks for its content job's result after 20 ms, then less and less
# often, up to every 500 ms: a cached link is answered at once, and the jobs waiting on
# uncached ones cost Redis (and the worker's event loop) a few light reads a second each.
RESULT_FIRST_POLL = 0.02
RESULT_MAX_POLL = 0.5
# A failed content job's result is for the chats that waited on it (they read it within a
# poll); a later asker starts a new attempt, but no sooner than this after the failure, so
# that a dead site costs one fetch every few seconds however many chats share it.
FAILED_RETRY_SECONDS = 5.0
ATTEMPT_LOOKS = 3  # enqueue or join, at most this many times when failures keep appearing
CONTENT_TIMEOUT_TRIES = 2  # a content job that runs past its timeout is run once more


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
    """The job queue's connections. Says in a line or two at start what Redis's settings
    mean for the deployment: whether acknowledged messages survive a restart, and what a
    full Redis would do."""
    pool = await create_pool(
        redis_settings(url),
        job_serializer=to_json_bytes,
        job_deserializer=from_json_bytes,
        default_queue_name=MESSAGES_QUEUE,
    )
    await RedisWatch(pool).report()
    return pool


class MessageQueue:
    """The front's side: hand one chat message to the workers."""

    def __init__(self, pool: ArqRedis, *, metrics: Metrics | None = None):
        self.pool = pool
        self.redis = RedisWatch(pool, metrics)

    async def submit(self, job_id: str, platform: str, payload: dict) -> bool:
        """Enqueue the message; False when this id was seen already (the platform delivered
        it again). Raises when Redis cannot take it (StoreFull, with a sentence that says
        so, when Redis is out of memory): answer the platform with an error then, so that it
        delivers the message again (the id's marker is taken back, so that one is answered)."""
        marker = SEEN_PREFIX + job_id
        try:
            if not await self.pool.set(marker, b"1", nx=True, ex=MESSAGE_SEEN_SECONDS):
                return False
            try:
                job = await self.pool.enqueue_job(
                    "handle_message", platform, payload, _job_id=job_id, _queue_name=MESSAGES_QUEUE
                )
            except BaseException:
                with suppress(Exception):
                    await self.pool.delete(marker)
                raise
        except RedisError as exc:
            if is_out_of_memory(exc):
                self.redis.saw_full()
                raise StoreFull() from None
            raise
        return job is not None  # None: a job of this id is still queued or running

    async def healthy(self) -> Health:
        return await self.redis.check()


def content_wait_seconds(job_timeout: float) -> float:
    """How long a message job waits for a link's content: the content job's own time, once
    more when it ran past its timeout (it is tried again), and once more if the worker
    running it died (arq runs it again job_timeout + 10 s after it started)."""
    return CONTENT_TIMEOUT_TRIES * job_timeout + job_timeout + 10


def message_job_timeout(job_timeout: float) -> float:
    """A message job: waiting for its content, then related links and sending."""
    return content_wait_seconds(job_timeout) + job_timeout


def content_job_id(url: str, length: str) -> str:
    canonical = canonicalize(url)  # ValueError for a non-http URL, as the pipeline would raise
    return f"content:{hashlib.sha256(canonical.encode()).hexdigest()}:{length}"


class QueuedContent:
    """A `ContentRunner` (bot.pipeline) that has a link's article and key points made by
    whichever worker runs the content job for it."""

    def __init__(self, pool: ArqRedis, *, timeout: float, retry_after: float = FAILED_RETRY_SECONDS):
        self.pool = pool
        self.timeout = timeout
        self.retry_after = retry_after
        self._drop_if_equal = pool.register_script(_DELETE_IF_EQUALS)

    async def __call__(self, url: str, length: str) -> tuple[Article, Summary, bool]:
        job_id = content_job_id(url, length)
        job = await self._attempt(job_id, url, length)
        info = await self._wait_for(job)
        if info is None:
            raise ModelTimeout(self.timeout)
        if not info.success:  # the job failed in arq itself (retries used up)
            log.error("content job %s failed: %s", job_id, info.result)
            raise ExtractionError("I couldn't summarize that link because of an error on my side.")
        return content_from_result(info.result)

    async def _attempt(self, job_id: str, url: str, length: str) -> Job:
        """The attempt this caller waits on: a new one, the one queued or running, or one
        that succeeded. A failure that ended before this caller asked is not its to share
        (a 503 once, a model time-out): its result is dropped and a new attempt queued, no
        sooner than `retry_after` after that failure."""
        job = Job(job_id, self.pool, _queue_name=CONTENT_QUEUE, _deserializer=from_json_bytes)
        for _ in range(ATTEMPT_LOOKS):
            if await self.pool.enqueue_job("digest_content", url, length, _job_id=job_id, _queue_name=CONTENT_QUEUE):
                return job
            raw = await self.pool.get(result_key_prefix + job_id)
            if raw is None:  # queued or running for another chat: share it
                return job
            earlier = deserialize_result(raw, deserializer=from_json_bytes)
            if not failed(earlier):
                return job
            since = time.time() - earlier.finish_time.timestamp()  # another host's clock: bounded below
            await asyncio.sleep(min(self.retry_after, max(0.0, self.retry_after - since)))
            await self._drop_if_equal(keys=[result_key_prefix + job_id], args=[raw])
        return job  # failures keep appearing as fast as we look: share the latest

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


# KEYS[1]: a job's result; ARGV[1]: the failed result a caller saw. Another caller may have
# dropped it and a new attempt finished meanwhile: that one stays.
_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def failed(info: JobResult) -> bool:
    """Whether a content job's result is a failure (arq's own, or one the job returned)."""
    return not info.success or not (isinstance(info.result, dict) and info.result.get("ok"))


# -- what a content job returns, as JSON ---------------------------------------------------
# first match wins: ExtractionBusy (a full extraction queue) is a refusal, not a bad page
_ERROR_KINDS = {
    "busy": (ModelBusy, ExtractionBusy), "fetch": FetchError, "extract": ExtractionError, "timeout": ModelTimeout,
}


def content_result(article: Article, summary: Summary, cached: bool) -> dict:
    return {"ok": True, "article": article.to_dict(), **summary.to_json(), "cached": cached}


def content_error(exc: Exception) -> dict:
    kind = next((name for name, cls in _ERROR_KINDS.items() if isinstance(exc, cls)), "extract")
    return {"ok": False, "kind": kind, "message": str(exc)}


def content_from_result(result: Any) -> tuple[Article, Summary, bool]:
    if not isinstance(result, dict) or "ok" not in result:
        raise ExtractionError("I couldn't summarize that link because of an error on my side.")
    if not result["ok"]:
        kind = result.get("kind")
        if kind == "fetch":
            raise FetchError(result["message"])
        if kind in ("busy", "timeout"):  # counted as what they are (a refusal, a time-out), not as extraction
            error = ModelBusy() if kind == "busy" else ModelTimeout(0)
            error.args = (result["message"],)  # the friendly sentence the worker wrote
            raise error
        raise ExtractionError(result["message"])  # the friendly sentence travels as it was written
    # "sources" and "summarizer" are absent from a worker of an earlier version: plain points
    return Article.from_dict(result["article"]), Summary.from_json(result), bool(result["cached"])


# -- what Redis's settings mean for the deployment ------------------------------------------
PERSISTENCE_RECHECK_SECONDS = 60.0  # /healthz re-reads Redis's persistence settings this often
FULL_LOG_SECONDS = 60.0  # "Redis is full" is logged once a minute at most, however many writes fail
FULL_MEMORY_SECONDS = 10.0  # after a refused write, /healthz says 503 at least this long
PROBE_KEY = "summary-bot:health-probe"  # /healthz writes it: a full Redis refuses every write


@dataclass
class Persistence:
    durable: bool | None  # whether acknowledged work survives a Redis restart; None: unknown
    line: str  # the sentence that says so


async def read_persistence(client) -> Persistence:
    """Redis's persistence settings, in a sentence. CONFIG is often disabled on managed Redis:
    INFO persistence then tells whether the append-only file is on, or nothing."""
    try:
        config = {}
        for name in ("appendonly", "appendfsync", "save"):
            config.update(await client.config_get(name))
    except RedisError as exc:
        try:
            aof = (await client.info("persistence")).get("aof_enabled")
        except RedisError:
            aof = None
        if aof == 1:
            return Persistence(True, "Redis persistence: append-only file on: acknowledged messages survive a Redis restart")
        return Persistence(
            None,
            f"Redis persistence is unknown (CONFIG GET refused: {exc}): unless its append-only file is on "
            "(appendonly yes), messages already acknowledged to the chat platforms are lost if Redis restarts",
        )
    if config.get("appendonly") == "yes":
        return Persistence(
            True,
            f"Redis persistence: append-only file on (appendfsync {config.get('appendfsync', '?')}): "
            "acknowledged messages survive a Redis restart",
        )
    if config.get("save"):
        return Persistence(
            False,
            f"Redis only takes snapshots (save \"{config['save']}\", appendonly no): messages acknowledged to "
            "the chat platforms since the last snapshot are lost if Redis restarts; set appendonly yes",
        )
    return Persistence(
        False,
        "Redis keeps nothing on disk (appendonly no, save \"\"): if it restarts, messages already acknowledged "
        "to the chat platforms and not yet answered are lost, with subscriptions and settings; set appendonly yes",
    )


@dataclass
class RedisMemory:
    used: int  # bytes
    limit: int  # maxmemory, bytes; 0: none
    policy: str  # maxmemory-policy

    @property
    def line(self) -> str:
        limit = f"of maxmemory {_megabytes(self.limit)}" if self.limit else "(no maxmemory)"
        return f"Redis memory: {_megabytes(self.used)} used {limit}, maxmemory-policy {self.policy}"

    @property
    def evicts(self) -> str | None:
        """The warning when a full Redis would drop keys rather than refuse writes."""
        if self.policy == "noeviction":
            return None
        return (
            f"Redis's maxmemory-policy is {self.policy}: when it fills up it silently deletes keys, which may be "
            "queued messages, subscriptions or tokens; set maxmemory-policy noeviction"
        )


async def read_memory(client) -> RedisMemory | None:
    try:
        info = await client.info("memory")
    except RedisError:
        return None
    return RedisMemory(int(info.get("used_memory", 0)), int(info.get("maxmemory", 0)), str(info.get("maxmemory_policy", "?")))


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


class RedisWatch:
    """Redis as the deployment's one store of queues and durable state: its persistence and
    memory, said at start, on /healthz and in /metrics. A full Redis (noeviction: it refuses
    writes) makes /healthz answer 503, so a front is taken out of rotation rather than
    failing enqueues one by one, and is said in one line a minute."""

    def __init__(self, client, metrics: Metrics | None = None) -> None:
        self.client = client
        self.metrics = metrics
        self._persistence: Persistence | None = None
        self._persistence_read = -PERSISTENCE_RECHECK_SECONDS
        self._full_logged = -FULL_LOG_SECONDS
        self._full_seen = -FULL_MEMORY_SECONDS

    async def report(self) -> None:
        """At start: what acknowledged work would survive, and Redis's memory, in a line each."""
        persistence = await self.persistence()
        log.log(logging.INFO if persistence.durable else logging.WARNING, "%s", persistence.line)
        memory = await read_memory(self.client)
        if memory is not None:
            log.log(logging.WARNING if memory.evicts else logging.INFO, "%s", memory.evicts or memory.line)

    async def persistence(self) -> Persistence:
        if self._persistence is None or time.monotonic() - self._persistence_read > PERSISTENCE_RECHECK_SECONDS:
            self._persistence = await read_persistence(self.client)
            self._persistence_read = time.monotonic()
        return self._persistence

    async def check(self) -> Health:
        """Ready while Redis answers and takes writes; the notes say what an operator must know."""
        try:
            await self.client.ping()
            memory = await read_memory(self.client)
            full = not await self._takes_writes()
            persistence = await self.persistence()
        except (RedisError, OSError):
            return Health(False, ["Redis does not answer"])
        full = full or time.monotonic() - self._full_seen < FULL_MEMORY_SECONDS
        if self.metrics is not None:
            self.metrics.redis_full.set(1 if full else 0)
            if memory is not None:
                self.metrics.redis_used_memory.set(memory.used)
                self.metrics.redis_max_memory.set(memory.limit)
        notes = []
        if full:
            self._say_full(memory)
            notes.append(STORE_FULL if memory is None else f"{STORE_FULL} ({memory.line})")
        if memory is not None and memory.evicts:
            notes.append(memory.evicts)
        if not persistence.durable:
            notes.append(persistence.line)
        return Health(not full, notes)

    async def _takes_writes(self) -> bool:
        try:
            await self.client.set(PROBE_KEY, b"1", px=60_000)
        except RedisError as exc:
            if is_out_of_memory(exc):
                return False
            raise
        return True

    def saw_full(self) -> None:
        """An enqueue was refused for memory: /healthz says 503 a while even if the next
        probe gets through (Redis hovering at its limit), and a line says so."""
        self._full_seen = time.monotonic()
        self._say_full(None)

    def _say_full(self, memory: RedisMemory | None) -> None:
        now = time.monotonic()  # one line a minute at most, however many writes are refused
        if now - self._full_logged >= FULL_LOG_SECONDS:
            self._full_logged = now
            log.error("%s%s", STORE_FULL, f" ({memory.line})" if memory else "")
