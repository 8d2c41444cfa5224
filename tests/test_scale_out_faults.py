"""Scaled out, faults of issue 19: content jobs' failures and time-outs, messages of a
platform a worker cannot answer, and Redis as the one store (its memory, its persistence).

The queue tests run arq Workers in this process on a real redis-server, with a stand-in
pipeline (no model); the front and worker tests run `summary-bot run` / `summary-bot worker`
as processes, as test_scale_out.py does."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from contextlib import asynccontextmanager, suppress

import aiohttp
import pytest
import redis
from arq.jobs import Job, JobStatus

from adapters.queue import (
    CONTENT_QUEUE,
    MESSAGES_QUEUE,
    MessageQueue,
    QueuedContent,
    RedisWatch,
    content_wait_seconds,
    from_json_bytes,
    open_queue_pool,
    read_persistence,
    redis_settings,
)
from adapters.worker import MESSAGE_MAX_TRIES, ForeignMessages, close_worker, content_worker, message_worker
from benchmarks.deployment import Deployment, RedisServer, clean_environment
from benchmarks.standins.telegram_api import BotApiStandIn
from bot.extract import Article
from bot.fetch import FetchError
from bot.inference import ModelBusy
from bot.metrics import Metrics
from bot.store.redis_store import RedisStore, StoreFull
from bot.summarize import Summary
from queue_support import fresh_queue_pool, worker_running

SECRET = "webhook-secret"


# -- helpers ----------------------------------------------------------------------------------
class StandInPipeline:
    """compute_content as a worker's pipeline has it: each call takes the next behaviour
    from `script` ("fail", "busy", "hang", "ok"; the last one repeats)."""

    def __init__(self, *script: str):
        self.script = list(script)
        self.calls = 0

    async def compute_content(self, url: str, length: str):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if step == "fail":
            raise FetchError("That site answered 503 Service Unavailable.")
        if step == "busy":
            raise ModelBusy()
        if step == "hang":
            await asyncio.sleep(3600)
        article = Article(url=url, title="The river plan", text="The river authority approved the plan.")
        return article, Summary(["The authority approved the plan."], summarizer="extractive"), True  # cached: no vectors


class StandInBot:
    def __init__(self, pipeline: StandInPipeline):
        self.pipeline = pipeline


@asynccontextmanager
async def content_jobs(redis_url: str, pipeline: StandInPipeline, *, job_timeout: float = 5):
    """A content worker (adapters/worker.py's) running in this process, and the queue's pool."""
    async with fresh_queue_pool(redis_url) as pool:
        worker = content_worker({"bot": StandInBot(pipeline), "job_timeout": job_timeout}, redis_settings(redis_url),
                                job_timeout=job_timeout)  # fmt: skip
        async with worker_running(worker):
            yield pool


def fill(url: str) -> None:
    """Write until Redis refuses even a tiny write for memory (maxmemory, noeviction)."""
    with redis.Redis.from_url(url) as admin:
        for size in (10_000, 100, 1):
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                for n in range(200_000):
                    admin.set(f"filler:{size}:{n}", b"x" * size)


def front_env(redis_url: str, telegram: BotApiStandIn) -> dict:
    env = clean_environment()
    env.update({
        "SUMMARY_BOT_WORKERS": "external", "SUMMARY_BOT_REDIS_URL": redis_url, "SUMMARY_BOT_HTTP_HOST": "127.0.0.1",
        "SUMMARY_BOT_TELEGRAM_TOKEN": telegram.token, "SUMMARY_BOT_TELEGRAM_API_URL": telegram.base_url,
        "SUMMARY_BOT_TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:9/telegram", "SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "SUMMARY_BOT_LOG_LEVEL": "INFO", "OMP_NUM_THREADS": "1",
    })  # fmt: skip
    return env


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


def log_of(deployed: Deployment, name: str) -> str:
    return (deployed.logs_dir / f"{name}.log").read_text(errors="replace")


# -- 6: a content job's failure is for the chats that waited on that attempt ------------------
async def test_a_failed_content_job_is_shared_with_its_waiters_and_the_next_asker_tries_again(redis_url):
    """Fails before the fix: the failure stayed the job's result for 60 s and the later
    asker got "That site answered 503" too, with no new attempt."""
    pipeline = StandInPipeline("fail", "ok")
    async with content_jobs(redis_url, pipeline) as pool:
        content = QueuedContent(pool, timeout=10, retry_after=0.2)
        url = "http://127.0.0.1:9/story.html"
        # Three chats ask at once: one attempt, and its failure is theirs.
        first = await asyncio.gather(*(content(url, "medium") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(result, FetchError) for result in first), first
        assert pipeline.calls == 1
        # A chat asking afterwards gets a new attempt (the site is back), not the old failure.
        article, summary, _ = await content(url, "medium")
        assert article.title == "The river plan" and summary.points
        assert pipeline.calls == 2
        # A success is shared: no third attempt.
        await content(url, "medium")
        assert pipeline.calls == 2


async def test_a_dead_site_is_tried_again_at_most_once_per_retry_interval(redis_url):
    """Bounded: askers that find a fresh failure wait for the interval and then share one
    new attempt between them, not one each. (Fails before the fix: no new attempt at all.)"""
    pipeline = StandInPipeline("fail")
    async with content_jobs(redis_url, pipeline) as pool:
        content = QueuedContent(pool, timeout=10, retry_after=0.5)
        url = "http://127.0.0.1:9/dead.html"
        with pytest.raises(FetchError):
            await content(url, "short")
        later = await asyncio.gather(*(content(url, "short") for _ in range(5)), return_exceptions=True)
        assert all(isinstance(result, FetchError) for result in later)
        assert pipeline.calls == 2


# -- 18: a content job past its timeout runs once more, and its waiters wait for it ----------
async def test_a_content_job_past_its_timeout_runs_again_and_the_waiting_chat_gets_the_digest(redis_url):
    """Fails before the fix: arq failed the job at its timeout and the waiting chat was told
    "I couldn't summarize that link because of an error on my side"."""
    pipeline = StandInPipeline("hang", "ok")
    async with content_jobs(redis_url, pipeline, job_timeout=1) as pool:
        content = QueuedContent(pool, timeout=content_wait_seconds(1))
        article, summary, _ = await content("http://127.0.0.1:9/slow.html", "medium")
    assert article.title == "The river plan" and summary.points
    assert pipeline.calls == 2


async def test_a_content_job_past_its_timeout_twice_tells_the_chat_it_took_too_long(redis_url):
    """Once is a retry; twice is an answer (friendly, not "error on my side")."""
    pipeline = StandInPipeline("hang")
    async with content_jobs(redis_url, pipeline, job_timeout=1) as pool:
        content = QueuedContent(pool, timeout=content_wait_seconds(1))
        with pytest.raises(Exception, match="took longer than 1 seconds"):
            await content("http://127.0.0.1:9/slow.html", "medium")
    assert pipeline.calls == 2


# -- 19: a refusal reaching the chat is counted as one ---------------------------------------
async def test_a_busy_model_on_a_worker_reaches_the_chat_as_busy_not_as_an_extraction_error(redis_url):
    """The core counts summary_bot_errors{kind="busy"} for a ModelBusy. Fails before the fix:
    a worker's "busy" came back as an ExtractionError, counted as kind "extract"."""
    async with content_jobs(redis_url, StandInPipeline("busy", "ok")) as pool:
        content = QueuedContent(pool, timeout=10, retry_after=0.1)
        with pytest.raises(ModelBusy, match="busy"):
            await content("http://127.0.0.1:9/story.html", "medium")
        assert (await content("http://127.0.0.1:9/story.html", "medium"))[0].title  # not kept: tried again


# -- 9: a message of a platform this worker has no credentials for is left for another ------
async def test_a_message_for_a_platform_without_credentials_is_left_in_the_queue(redis_url, caplog):
    """Fails before the fix: the job was marked done and the message lost."""
    metrics = Metrics()
    ctx = {"services": {}, "store": None, "foreign": ForeignMessages([], metrics)}
    async with fresh_queue_pool(redis_url) as pool:
        async with worker_running(message_worker(ctx, redis_settings(redis_url), job_timeout=5, concurrency=2)):
            for n in range(3):
                assert await MessageQueue(pool).submit(f"slack:Ev{n}", "slack", {"kind": "event"})
            deadline = time.monotonic() + 10
            while metrics.foreign_messages.labels("slack", "left")._value.get() < 3:
                assert time.monotonic() < deadline, "the worker never took the messages"
                await asyncio.sleep(0.05)
            for n in range(3):
                job = Job(f"slack:Ev{n}", pool, _queue_name=MESSAGES_QUEUE, _deserializer=from_json_bytes)
                assert await job.status() in (JobStatus.deferred, JobStatus.queued, JobStatus.in_progress)
                assert await job.result_info() is None  # not done
    lines = [r for r in caplog.records if r.name == "adapters.worker" and "no slack credentials" in r.getMessage()]
    assert len(lines) == 1  # once a minute, not once a message


def test_a_message_no_worker_takes_is_given_up_after_the_tries_and_counted(caplog):
    metrics = Metrics()
    foreign = ForeignMessages(["telegram"], metrics)
    with caplog.at_level(logging.ERROR, "adapters.worker"):
        foreign.leave("slack", MESSAGE_MAX_TRIES)  # returns: arq marks it done
    assert metrics.foreign_messages.labels("slack", "dropped")._value.get() == 1
    assert "dropped unanswered" in caplog.text


# -- 13: a full Redis says so --------------------------------------------------------------
async def test_a_full_redis_is_a_clear_error_and_the_front_answers_503_until_it_has_room(tmp_path):
    """Fails before the fix: /healthz said 200 (Redis answered PING) while every enqueue
    failed with "command not allowed when used memory > 'maxmemory'", and the store raised
    that same opaque error."""
    async with BotApiStandIn() as telegram:
        with RedisServer("--maxmemory", "3mb", "--maxmemory-policy", "noeviction", "--save", "", "--appendonly", "no") as server:
            deployed = Deployment(front_env(server.url, telegram), tmp_path)
            try:
                deployed.start("front1", "run")
                await deployed.wait_healthy(["front1"], timeout=60)
                fill(server.url)
                store = await RedisStore.connect(server.url)
                try:
                    with pytest.raises(StoreFull, match="Redis is full"):
                        await store.set("summary-bot:x", b"1")
                finally:
                    await store.close()
                async with aiohttp.ClientSession() as http:
                    update = telegram.new_update("/help", chat_id=5)
                    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    async with http.post(deployed.url("front1", "/telegram"), json=update, headers=headers) as response:
                        assert response.status == 503  # Telegram delivers it again later
                    status, body = await get(http, deployed.url("front1", "/healthz"))
                    assert status == 503 and "Redis is full" in body, body
                    status, body = await get(http, deployed.url("front1", "/metrics"))
                    used = next(line for line in body.splitlines() if line.startswith("summary_bot_redis_used_memory_bytes"))
                    assert float(used.split()[-1]) > 2e6
                    assert "summary_bot_redis_full 1.0" in body
                    with redis.Redis.from_url(server.url) as admin:
                        admin.flushdb()
                    status, body = await get(http, deployed.url("front1", "/healthz"))
                    deadline = time.monotonic() + 30  # a refused write keeps it 503 a few seconds
                    while status != 200:
                        assert time.monotonic() < deadline, body
                        await asyncio.sleep(0.5)
                        status, body = await get(http, deployed.url("front1", "/healthz"))
                full_lines = [line for line in log_of(deployed, "front1").splitlines() if "ERROR adapters.queue: Redis is full" in line]
                assert len(full_lines) == 1, log_of(deployed, "front1")
            finally:
                deployed.stop_all()


async def test_an_evicting_redis_is_warned_about():
    with RedisServer("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru") as server:
        pool = await open_queue_pool(server.url)
        try:
            health = await RedisWatch(pool).check()
        finally:
            await pool.aclose()
    assert health.ok and any("allkeys-lru" in note and "noeviction" in note for note in health.notes)


# -- 17: whether acknowledged work survives a Redis restart ----------------------------------
async def test_a_front_on_a_redis_without_persistence_says_so_at_start_and_on_healthz(redis_url, tmp_path):
    """The session's Redis runs with --appendonly no --save "". Fails before the fix: the
    front said nothing and /healthz said only "ok"."""
    async with BotApiStandIn() as telegram:
        deployed = Deployment(front_env(redis_url, telegram), tmp_path)
        try:
            deployed.start("front1", "run")
            await deployed.wait_healthy(["front1"], timeout=60)
            async with aiohttp.ClientSession() as http:
                status, body = await get(http, deployed.url("front1", "/healthz"))
        finally:
            deployed.stop_all()
    assert status == 200 and body.startswith("ok") and "warning: Redis keeps nothing on disk" in body, body
    lines = [line for line in log_of(deployed, "front1").splitlines() if "Redis keeps nothing on disk" in line]
    assert len(lines) == 1 and "WARNING" in lines[0]


async def test_persistence_is_read_as_durable_snapshots_only_or_unknown():
    with RedisServer("--appendonly", "yes") as server:
        pool = await open_queue_pool(server.url)
        durable = await read_persistence(pool)
        health = await RedisWatch(pool).check()
        await pool.aclose()
    assert durable.durable is True and health.ok and not health.notes
    with RedisServer("--appendonly", "no", "--save", "3600 1") as server:
        pool = await open_queue_pool(server.url)
        snapshots = await read_persistence(pool)
        await pool.aclose()
    assert snapshots.durable is False and "snapshots" in snapshots.line
    with RedisServer("--appendonly", "no", "--rename-command", "CONFIG", "") as server:  # as on managed Redis
        pool = await open_queue_pool(server.url)
        unknown = await read_persistence(pool)
        await pool.aclose()
    assert unknown.durable is None and "unknown" in unknown.line


# -- a worker's start and stop, as a process -----------------------------------------------
async def test_a_worker_says_what_it_answers_and_what_redis_would_lose_and_logs_its_shutdown_once(redis_url, tmp_path):
    """Fails before the fix: no persistence warning (at start or on /healthz), and arq
    logged "shutdown on SIGUSR1" once for each of its two Workers."""
    with redis.Redis.from_url(redis_url) as admin:
        admin.flushdb()
    env = clean_environment()
    env.update({
        "SUMMARY_BOT_WORKERS": "external", "SUMMARY_BOT_REDIS_URL": redis_url, "SUMMARY_BOT_HTTP_HOST": "127.0.0.1",
        "SUMMARY_BOT_LOG_LEVEL": "INFO", "OMP_NUM_THREADS": "1",
    })  # fmt: skip
    deployed = Deployment(env, tmp_path)
    try:
        deployed.start("worker1", "worker")
        await deployed.wait_healthy(["worker1"])
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, deployed.url("worker1", "/healthz"))
        assert status == 200 and "warning: Redis keeps nothing on disk" in body, body
        os.kill(deployed.processes["worker1"].pid, signal.SIGTERM)
        deployed.processes["worker1"].wait(timeout=30)
    finally:
        deployed.stop_all()
    text = log_of(deployed, "worker1")
    assert sum("Redis keeps nothing on disk" in line for line in text.splitlines()) == 1, text
    assert "answers messages of no platform" in text
    shutdown = [line for line in text.splitlines() if "shutdown" in line.lower() or "stopping" in line.lower()]
    assert len(shutdown) == 1 and "worker stopping" in shutdown[0], text


async def test_closing_a_worker_with_a_job_in_flight_hands_the_job_back_and_finishes(redis_url):
    """Fails before the fix: arq's close() re-raised the CancelledError of the job it had just
    cancelled, so a worker's shutdown stopped half-way (the adapters never stopped, arq's pool
    left open), and this suite failed now and then in teardown when a job was still running."""
    pipeline = StandInPipeline("hang")
    async with fresh_queue_pool(redis_url) as pool:
        worker = content_worker({"bot": StandInBot(pipeline), "job_timeout": 30}, redis_settings(redis_url), job_timeout=30)
        running = asyncio.create_task(worker.async_run())
        try:
            await pool.enqueue_job("digest_content", "http://127.0.0.1:9/a.html", "medium",
                                   _job_id="content:a:medium", _queue_name=CONTENT_QUEUE)  # fmt: skip
            deadline = time.monotonic() + 10
            while pipeline.calls == 0:  # the job is running (hanging) in the worker
                assert time.monotonic() < deadline, "the worker never took the job"
                await asyncio.sleep(0.02)
            # A job cancelled while arq is still reading it from Redis (outside run_job's own
            # handler) ends cancelled, and arq's close() gathers it without return_exceptions:
            # what made this suite fail now and then in teardown. Such a job, made certain:
            worker.tasks["content:b:medium"] = asyncio.create_task(asyncio.sleep(3600))
            await asyncio.wait_for(close_worker(worker), 10)  # returns: no CancelledError
        finally:
            running.cancel()
            with suppress(asyncio.CancelledError):
                await running
        assert worker._pool is None  # closed through to the end: its Redis pool too
        job = Job("content:a:medium", pool, _queue_name=CONTENT_QUEUE, _deserializer=from_json_bytes)
        assert await job.status() in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress)  # handed back
