"""`summary-bot worker`: one worker of a scaled-out deployment (see adapters/queue.py).

It loads the model, then serves two arq queues on SUMMARY_BOT_REDIS_URL: chat messages
(run the core, answer on the message's platform, each platform call made once) and link
contents (fetch, extract, summarize, embed; with SUMMARY_BOT_SUMMARIZER=llm the requests to
the LLM server are made here too, as part of summarizing). It also runs the daily-digest scheduler, which
needs the model; the store makes sure each digest goes out once however many workers run.
/healthz on SUMMARY_BOT_HTTP_PORT answers 200 once the model is loaded and Redis answers.

It says at start which platforms it can answer; a message of another platform is put back
in the queue for a worker that has its credentials (counted, and logged once a minute),
never marked done unanswered. A content job that runs past SUMMARY_BOT_JOB_TIMEOUT is run
once more, by whichever worker takes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web
from arq.connections import RedisSettings
from arq.worker import Retry, Worker, func
from redis.exceptions import RedisError

from adapters.assembly import assemble_bot, close_bot
from adapters.delivery import Delivery
from adapters.queue import (
    CONTENT_QUEUE,
    CONTENT_RESULT_SECONDS,
    CONTENT_TIMEOUT_TRIES,
    MESSAGE_RESULT_SECONDS,
    MESSAGES_QUEUE,
    QueuedContent,
    RedisWatch,
    content_error,
    content_wait_seconds,
    content_result,
    from_json_bytes,
    message_job_timeout,
    open_queue_pool,
    redis_settings,
    to_json_bytes,
)
from adapters.runner import Health, configured_services, health_route, metrics_route, stop_on_signals
from bot.config import Settings
from bot.core import FRIENDLY_ERRORS
from bot.digest.scheduler import DigestScheduler
from bot.digest.similarity import story_text
from bot.extract import ExtractionError
from bot.inference import ModelTimeout
from bot.metrics import Metrics
from bot.privacy import message_arrived
from bot.related.vectors import embedding_text
from bot.retention import RetentionSweeper
from bot.store import open_store

log = logging.getLogger(__name__)

CONTENT_CONCURRENCY = 4  # links in progress at once; the model thread takes one job at a time anyway
# How often a worker looks for new jobs. arq re-checks every job it holds on each look, so
# looking often costs Redis round trips in proportion to the messages in progress.
MESSAGES_POLL_SECONDS = 0.1
CONTENT_POLL_SECONDS = 0.05  # few content jobs at once: cheap to look often
SHUTDOWN_GRACE_SECONDS = 5  # jobs still running then are handed back to the queue
REDIS_RETRY_FIRST_SECONDS = 1.0  # after losing Redis, the first wait before a fresh arq Worker
REDIS_RETRY_MAX_SECONDS = 30.0  # waits double up to this
# A message of a platform this worker has no credentials for goes back to the queue, due
# again after 2, 4, 8… up to 60 s, for a worker that has them: about 5 minutes in all.
MESSAGE_MAX_TRIES = 10
FOREIGN_RETRY_MAX_SECONDS = 60
FOREIGN_LOG_SECONDS = 60.0  # one line a minute per platform at most


# -- the jobs --------------------------------------------------------------------------------
async def handle_message(ctx: dict, platform: str, payload: dict) -> None:
    """Answer one chat message that a front received."""
    service = ctx["services"].get(platform)
    if service is None:
        ctx["foreign"].leave(platform, ctx["job_try"])  # raises Retry: back to the queue
        return
    # The chat erased while the message waited in the queue: nothing the answer writes stays.
    with message_arrived(ctx["enqueue_time"].timestamp()):
        await service.answer_job(payload, Delivery(ctx["store"], ctx["job_id"]))


class ForeignMessages:
    """Messages of platforms this worker cannot answer (no credentials): each goes back to
    the queue for a worker that can, counted in /metrics and logged once a minute per
    platform; after MESSAGE_MAX_TRIES it is given up, and that is logged every time."""

    def __init__(self, platforms: list[str], metrics: Metrics, clock: Callable[[], float] = time.monotonic):
        self.platforms = sorted(platforms)
        self.metrics = metrics
        self.clock = clock
        self._logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def leave(self, platform: str, job_try: int) -> None:
        if job_try >= MESSAGE_MAX_TRIES:
            self.metrics.foreign_messages.labels(platform, "dropped").inc()
            log.error(
                "a %s message was tried %d times and no worker with %s credentials took it: dropped unanswered",
                platform, job_try, platform,
            )  # fmt: skip
            return
        self.metrics.foreign_messages.labels(platform, "left").inc()
        self._unlogged[platform] = self._unlogged.get(platform, 0) + 1
        now = self.clock()
        if now - self._logged.get(platform, -FOREIGN_LOG_SECONDS) >= FOREIGN_LOG_SECONDS:
            self._logged[platform] = now
            log.warning(
                "this worker has no %s credentials (it answers %s): %d %s message(s) left in the queue for a worker "
                "that has them", platform, ", ".join(self.platforms) or "no platform", self._unlogged.pop(platform),
                platform,
            )  # fmt: skip
        raise Retry(defer=min(2**job_try, FOREIGN_RETRY_MAX_SECONDS))


async def digest_content(ctx: dict, url: str, length: str) -> dict:
    """A link's article and key points, for every chat waiting on them. The vectors the
    chats' related-article search and daily digest need are computed here too, once, so
    the waiting message jobs find them in the store.

    arq cancels a job that runs past its timeout and fails it for good. A worker frozen for
    a while (SIGSTOP, a stalled VM) finds every job it held past its timeout when it wakes,
    though nothing was wrong with the links: so the first run past the timeout asks arq to
    run the job again (any worker may take it, and the chats keep waiting), and a second
    one answers them that it took too long."""
    try:
        return await _digest_content(ctx, url, length)
    except asyncio.CancelledError:
        stop = ctx.get("stop")
        if stop is not None and stop.is_set():
            raise  # shutting down: arq hands the job back to the queue
        if ctx["job_try"] < CONTENT_TIMEOUT_TRIES:
            log.warning("the content job for %s ran past its time (try %d); it runs once more", url, ctx["job_try"])
            raise Retry() from None  # due at once; no defer, which could revive a job another worker finished
        log.error("the content job for %s ran past its time again (try %d); giving up", url, ctx["job_try"])
        return content_error(ModelTimeout(ctx.get("job_timeout", 0)))


async def _digest_content(ctx: dict, url: str, length: str) -> dict:
    pipeline = ctx["bot"].pipeline
    try:
        article, summary, cached = await pipeline.compute_content(url, length)
    except FRIENDLY_ERRORS as exc:
        return content_error(exc)
    except ValueError:
        return content_error(ExtractionError("That doesn't look like a web link I can open."))
    if not cached:
        try:
            lead = summary.points[0] if summary.points else ""
            await pipeline.related.vectors.vectors_for(
                [embedding_text(article.title, article.text), story_text(article.title, lead)]
            )
        except Exception:  # an extra: the chats can still compute them
            log.exception("embedding %s for related articles failed", url)
    return content_result(article, summary, cached)


# -- the process -------------------------------------------------------------------------------
async def keep_working(make: Callable[[], Worker], running: list[Worker], stop: asyncio.Event) -> None:
    """Run the arq Worker `make()` builds until `stop`. When Redis goes away (a restart, a
    failover) arq's poll raises and the Worker is done for: close it (its jobs in progress
    go back to the queue), wait, and start a fresh one, rather than let the process die
    while /healthz says 503 meanwhile."""
    delay = REDIS_RETRY_FIRST_SECONDS
    while not stop.is_set():
        worker = make()
        running.append(worker)
        started = time.monotonic()
        try:
            await worker.async_run()
            return
        except (RedisError, OSError) as exc:
            log.error("worker for %s lost Redis (%s); starting again in %g s", worker.queue_name, exc, delay)
        finally:
            running.remove(worker)
        with suppress(Exception):  # Redis may still be away: closing only cancels its jobs then
            await asyncio.wait_for(close_worker(worker), SHUTDOWN_GRACE_SECONDS)
        if time.monotonic() - started > REDIS_RETRY_MAX_SECONDS:
            delay = REDIS_RETRY_FIRST_SECONDS  # it had been working: a new outage starts over
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(2 * delay, REDIS_RETRY_MAX_SECONDS)


def message_worker(ctx: dict, redis: RedisSettings, *, job_timeout: float, concurrency: int) -> Worker:
    """The arq Worker for chat messages. `job_timeout`: one link's content job's."""
    return Worker(
        [func(handle_message, name="handle_message", max_tries=MESSAGE_MAX_TRIES)], queue_name=MESSAGES_QUEUE,
        max_jobs=concurrency, keep_result=MESSAGE_RESULT_SECONDS, job_timeout=message_job_timeout(job_timeout),
        poll_delay=MESSAGES_POLL_SECONDS, **_common(ctx, redis),
    )  # fmt: skip


async def close_worker(worker: Worker) -> None:
    """Close an arq Worker: its jobs in progress are cancelled and go back to the queue.
    arq's close() gathers the jobs it has just cancelled without return_exceptions, so with a
    job in flight it raises CancelledError half-way (its Redis pool left open) and, uncaught,
    that ended our shutdown before the adapters were stopped. Let the cancelled jobs finish,
    then close again; a cancellation of this task itself still propagates."""
    for _ in range(2):
        try:
            await worker.close()
            return
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
            worker.tasks.clear()


def content_worker(ctx: dict, redis: RedisSettings, *, job_timeout: float) -> Worker:
    """The arq Worker for links' content jobs."""
    return Worker(
        [func(digest_content, name="digest_content")], queue_name=CONTENT_QUEUE, max_jobs=CONTENT_CONCURRENCY,
        keep_result=CONTENT_RESULT_SECONDS, job_timeout=job_timeout, poll_delay=CONTENT_POLL_SECONDS,
        **_common(ctx, redis),
    )  # fmt: skip


def _common(ctx: dict, redis: RedisSettings) -> dict:
    return dict(
        redis_settings=redis, job_serializer=to_json_bytes, job_deserializer=from_json_bytes, handle_signals=False,
        ctx=ctx, log_results=False,
    )  # fmt: skip


def _not_arq_shutdown(record: logging.LogRecord) -> bool:
    # arq logs "shutdown on SIGUSR1" for each of its Workers as it is closed, naming a signal
    # nobody sent; the process says it once, in its own words.
    return not str(record.msg).startswith("shutdown on")


def _shutdown_line(workers: list[Worker]) -> str:
    done = sum(worker.jobs_complete for worker in workers)
    failed = sum(worker.jobs_failed for worker in workers)
    retried = sum(worker.jobs_retried for worker in workers)
    running = sum(not task.done() for worker in workers for task in worker.tasks.values())
    return (
        f"worker stopping: {done} jobs done, {failed} failed, {retried} retried; {running} in progress handed "
        "back to the queue"
    )


async def run_worker(settings: Settings) -> int:
    store = await open_store(settings)
    pool = await open_queue_pool(settings.redis_url)
    bot = assemble_bot(settings, store, content=QueuedContent(pool, timeout=content_wait_seconds(settings.job_timeout)))
    services = {service.platform: service for service in configured_services(settings, bot)}
    redis_watch = RedisWatch(pool, bot.metrics)
    stop = asyncio.Event()
    stop_on_signals(stop)

    async def ready() -> bool:
        try:
            return bot.inference.model_loaded and bot.inference.healthy and bool(await pool.ping())
        except Exception:
            return False

    async def healthy() -> Health:
        redis = await redis_watch.check()  # what Redis would lose or refuse, said on /healthz
        return Health(bool(await ready()), redis.notes)

    health = web.Application()
    health.router.add_get("/healthz", health_route(healthy))
    health.router.add_get("/metrics", metrics_route(bot.metrics, refresh=redis_watch.check))
    runner = web.AppRunner(health, access_log=None)
    await runner.setup()
    workers: list[Worker] = []
    tasks: list[asyncio.Task] = []
    exit_code = 0  # 1: the model got stuck, and the supervisor restarts the worker
    arq_log = logging.getLogger("arq.worker")
    arq_log.addFilter(_not_arq_shutdown)
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        await bot.inference.warm_up()
        for service in services.values():
            await service.start_sending()
        log.info(
            "worker ready: answers messages of %s (any other platform's are left in the queue for a worker that "
            "has its credentials); model loaded; health on %s", ", ".join(sorted(services)) or "no platform", site.name,
        )  # fmt: skip
        ctx = {
            "bot": bot, "services": services, "store": store, "stop": stop, "job_timeout": settings.job_timeout,
            "foreign": ForeignMessages(list(services), bot.metrics),
        }  # fmt: skip
        redis = redis_settings(settings.redis_url)
        makers = [
            lambda: message_worker(ctx, redis, job_timeout=settings.job_timeout, concurrency=settings.worker_concurrency),
            lambda: content_worker(ctx, redis, job_timeout=settings.job_timeout),
        ]
        tasks = [asyncio.create_task(keep_working(make, workers, stop)) for make in makers]
        senders = {platform: service.send for platform, service in services.items()}
        scheduler = DigestScheduler(
            bot.digests, senders, metrics=bot.metrics,
            on_chat_gone=bot.privacy.erase_chat, on_chat_moved=bot.privacy.move_chat,  # blocked/removed; migrated
            fenced=bot.privacy.fenced,  # erased while its digest goes out: nothing of it stays
        )
        tasks.append(asyncio.create_task(scheduler.run(stop)))
        tasks.append(asyncio.create_task(RetentionSweeper.of(bot).run(stop)))  # bot/retention.py
        model_stuck = asyncio.create_task(bot.inference.until_unhealthy())  # a stuck model job: see bot/inference.py
        tasks.append(model_stuck)
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped and task.exception() is not None:
                raise task.exception()
        if model_stuck in done:
            log.error("the model is stuck (a job past its budget would not stop); exiting so that the supervisor restarts this worker")
            exit_code = 1
    finally:
        log.info("%s", _shutdown_line(workers))
        # Jobs still running are cancelled: arq puts them back on the queue for another worker.
        for worker in list(workers):
            try:
                await asyncio.wait_for(close_worker(worker), SHUTDOWN_GRACE_SECONDS)
            except Exception:
                log.exception("closing an arq worker failed")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for service in services.values():
            try:
                await service.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", service.platform)
        await runner.cleanup()
        await close_bot(bot)
        await pool.close(close_connection_pool=True)
        await store.close()
        arq_log.removeFilter(_not_arq_shutdown)
    return exit_code
