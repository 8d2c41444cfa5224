"""`summary-bot worker`: one worker of a scaled-out deployment (see adapters/queue.py).

It loads the model, then serves two arq queues on SUMMARY_BOT_REDIS_URL: chat messages
(run the core, answer on the message's platform, each platform call made once) and link
contents (fetch, extract, summarize, embed; with SUMMARY_BOT_SUMMARIZER=llm the requests to
the LLM server are made here too, as part of summarizing). It also runs the daily-digest scheduler, which
needs the model; the store makes sure each digest goes out once however many workers run.
/healthz on SUMMARY_BOT_HTTP_PORT answers 200 once the model is loaded and Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web
from arq.worker import Worker, func
from redis.exceptions import RedisError

from adapters.assembly import assemble_bot, close_bot
from adapters.delivery import Delivery
from adapters.queue import (
    CONTENT_QUEUE,
    CONTENT_RESULT_SECONDS,
    MESSAGE_RESULT_SECONDS,
    MESSAGES_QUEUE,
    QueuedContent,
    content_error,
    content_wait_seconds,
    content_result,
    from_json_bytes,
    message_job_timeout,
    open_queue_pool,
    redis_settings,
    to_json_bytes,
)
from adapters.runner import configured_services, health_route, metrics_route, stop_on_signals
from bot.config import Settings
from bot.core import FRIENDLY_ERRORS
from bot.digest.scheduler import DigestScheduler
from bot.digest.similarity import story_text
from bot.extract import ExtractionError
from bot.related.vectors import embedding_text
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


# -- the jobs --------------------------------------------------------------------------------
async def handle_message(ctx: dict, platform: str, payload: dict) -> None:
    """Answer one chat message that a front received."""
    service = ctx["services"].get(platform)
    if service is None:
        log.error("a %s message was queued but this worker has no %s credentials", platform, platform)
        return
    await service.answer_job(payload, Delivery(ctx["store"], ctx["job_id"]))


async def digest_content(ctx: dict, url: str, length: str) -> dict:
    """A link's article and key points, for every chat waiting on them. The vectors the
    chats' related-article search and daily digest need are computed here too, once, so
    the waiting message jobs find them in the store."""
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
            await asyncio.wait_for(worker.close(), SHUTDOWN_GRACE_SECONDS)
        if time.monotonic() - started > REDIS_RETRY_MAX_SECONDS:
            delay = REDIS_RETRY_FIRST_SECONDS  # it had been working: a new outage starts over
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(2 * delay, REDIS_RETRY_MAX_SECONDS)


async def run_worker(settings: Settings) -> int:
    store = await open_store(settings)
    pool = await open_queue_pool(settings.redis_url)
    bot = assemble_bot(settings, store, content=QueuedContent(pool, timeout=content_wait_seconds(settings.job_timeout)))
    services = {service.platform: service for service in configured_services(settings, bot)}
    stop = asyncio.Event()
    stop_on_signals(stop)

    async def ready() -> bool:
        try:
            return bot.inference.model_loaded and bool(await pool.ping())
        except Exception:
            return False

    health = web.Application()
    health.router.add_get("/healthz", health_route(ready))
    health.router.add_get("/metrics", metrics_route(bot.metrics))
    runner = web.AppRunner(health, access_log=None)
    await runner.setup()
    workers: list[Worker] = []
    tasks: list[asyncio.Task] = []
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        await bot.inference.warm_up()
        for service in services.values():
            await service.start_sending()
        log.info("worker ready: model loaded, platforms %s, health on %s", sorted(services) or "none", site.name)
        ctx = {"bot": bot, "services": services, "store": store}
        common = dict(
            redis_settings=redis_settings(settings.redis_url),
            job_serializer=to_json_bytes,
            job_deserializer=from_json_bytes,
            handle_signals=False,
            ctx=ctx,
            log_results=False,
        )
        makers = [
            lambda: Worker(
                [func(handle_message, name="handle_message")], queue_name=MESSAGES_QUEUE,
                max_jobs=settings.worker_concurrency, keep_result=MESSAGE_RESULT_SECONDS,
                job_timeout=message_job_timeout(settings.job_timeout), poll_delay=MESSAGES_POLL_SECONDS, **common,
            ),
            lambda: Worker(
                [func(digest_content, name="digest_content")], queue_name=CONTENT_QUEUE,
                max_jobs=CONTENT_CONCURRENCY, keep_result=CONTENT_RESULT_SECONDS,
                job_timeout=settings.job_timeout, poll_delay=CONTENT_POLL_SECONDS, **common,
            ),
        ]  # fmt: skip
        tasks = [asyncio.create_task(keep_working(make, workers, stop)) for make in makers]
        senders = {platform: service.send for platform, service in services.items()}
        scheduler = DigestScheduler(bot.digests, senders, metrics=bot.metrics)
        tasks.append(asyncio.create_task(scheduler.run(stop)))
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped and task.exception() is not None:
                raise task.exception()
    finally:
        # Jobs still running are cancelled: arq puts them back on the queue for another worker.
        for worker in list(workers):
            try:
                await asyncio.wait_for(worker.close(), SHUTDOWN_GRACE_SECONDS)
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
    return 0
