"""The in-process inference service: one model thread, a bounded queue, a budget per job,
a model never used from two threads at once, health when a job gets stuck, and single
flight that survives a caller going away."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest
from aiohttp import web
from local_site import serve_site
from model_support import make_summary_bot, shared_inference

from adapters.runner import health_route
from bot.config import Settings
from bot.inference import LocalInference, ModelBusy, ModelStuck, ModelTimeout, check_deadline
from bot.metrics import Metrics
from bot.models import ChatRef, Incoming


class NoModels:
    """Stands in for the loaded models in tests of the queue itself: the jobs below bring
    their own work."""

    def __init__(self, settings):
        pass


def blocking_job(release: threading.Event, started: threading.Event | None = None):
    def work(models):
        if started is not None:
            started.set()
        release.wait(30)
        return "released"

    return work


async def test_a_full_queue_is_refused_at_once_with_a_friendly_busy_error():
    service = LocalInference(Settings(), queue_size=2, budget=60, load_models=NoModels)
    release, started = threading.Event(), threading.Event()
    try:
        running = asyncio.create_task(service.run(blocking_job(release, started)))
        await asyncio.to_thread(started.wait, 10)  # the model thread holds the first job
        queued = [asyncio.create_task(service.run(lambda models: "queued")) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(ModelBusy, match="try again in a minute"):
            await service.run(lambda models: "one too many")
        assert service.jobs_refused == 1
        release.set()
        assert await running == "released"
        assert await asyncio.gather(*queued) == ["queued", "queued"]
    finally:
        release.set()
        service.close()


class ModelUse:
    """Jobs that count how many threads are inside the model at once, as the tokenizer would
    ("Already borrowed")."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most_at_once = 0

    def job(self, result="ran", release: threading.Event | None = None, started: threading.Event | None = None):
        def work(models):
            with self.lock:
                self.inside += 1
                self.most_at_once = max(self.most_at_once, self.inside)
            try:
                if started is not None:
                    started.set()
                if release is not None:
                    release.wait(30)  # never checks its deadline
                return result
            finally:
                with self.lock:
                    self.inside -= 1

        return work


def sample(metrics: Metrics, name: str, **labels) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_a_stuck_job_is_answered_and_the_next_waits_for_the_model_instead_of_sharing_it():
    metrics = Metrics()
    # The stuck job is released within the next job's budget (about 0.7 s to spare).
    service = LocalInference(Settings(), queue_size=4, budget=0.8, load_models=NoModels, metrics=metrics)
    use, stuck_release, stuck_started = ModelUse(), threading.Event(), threading.Event()
    try:
        stuck = asyncio.create_task(service.run(use.job("stuck", stuck_release, stuck_started)))
        after = asyncio.create_task(service.run(use.job("next job ran")))
        with pytest.raises(ModelTimeout, match="took longer than"):
            await stuck
        assert service.threads_abandoned == 1 and service.threads_stuck == 1
        assert sample(metrics, "summary_bot_model_threads_stuck") == 1
        assert service.healthy  # one thread given up on is tolerated
        await asyncio.sleep(0.1)
        assert not after.done()  # a fresh thread took it, but waits for the model the stuck one holds
        stuck_release.set()  # the stuck job comes back within the next job's budget
        assert await asyncio.wait_for(after, 10) == "next job ran"
        assert use.most_at_once == 1  # the model was never used from two threads at once
        # The stuck job is counted once, as a timeout, although its thread finished later.
        assert (service.jobs_done, service.jobs_timed_out) == (1, 1)
        assert sample(metrics, "summary_bot_model_jobs_total", outcome="done") == 1
        assert sample(metrics, "summary_bot_model_jobs_total", outcome="timeout") == 1
        assert service.threads_stuck == 0 and service.healthy
        assert await service.run(use.job("later")) == "later"
    finally:
        stuck_release.set()
        service.close()


async def test_a_job_stuck_behind_a_stuck_job_makes_the_service_unhealthy_until_it_lets_go():
    metrics = Metrics()
    service = LocalInference(Settings(), queue_size=4, budget=0.3, load_models=NoModels, metrics=metrics)
    use, stuck_release = ModelUse(), threading.Event()
    try:
        stuck = asyncio.create_task(service.run(use.job("stuck", stuck_release)))
        behind = asyncio.create_task(service.run(use.job("behind")))
        queued = asyncio.create_task(service.run(use.job("queued")))
        with pytest.raises(ModelTimeout):
            await stuck
        # The next job's budget runs out waiting for the model: a second stuck job.
        with pytest.raises(ModelStuck, match="stuck"):
            await asyncio.wait_for(behind, 10)
        with pytest.raises(ModelStuck):  # what was queued behind it is answered at once
            await asyncio.wait_for(queued, 10)
        assert not service.healthy
        assert sample(metrics, "summary_bot_model_healthy") == 0
        assert sample(metrics, "summary_bot_model_threads_stuck") == 1
        assert service.threads_abandoned == 1  # never more than one thread given up on
        # New jobs are refused at once with the friendly sentence (a ModelBusy: the chat is told).
        with pytest.raises(ModelBusy, match="summarizer is stuck"):
            await asyncio.wait_for(service.run(use.job()), 10)
        assert use.most_at_once == 1
        assert service.jobs_done == 0 and service.jobs_timed_out == 2 and service.jobs_refused == 2

        stuck_release.set()  # the stuck job comes back after all: healthy again, counted once
        for _ in range(200):
            if service.healthy:
                break
            await asyncio.sleep(0.01)
        assert service.healthy and service.threads_stuck == 0
        assert sample(metrics, "summary_bot_model_healthy") == 1
        assert await asyncio.wait_for(service.run(use.job("again")), 10) == "again"
        assert service.jobs_done == 1 and service.jobs_timed_out == 2
        assert use.most_at_once == 1
    finally:
        stuck_release.set()
        service.close()


async def test_healthz_says_503_while_the_model_is_stuck():
    service = LocalInference(Settings(), queue_size=4, budget=0.2, load_models=NoModels)
    release = threading.Event()

    async def ready() -> bool:
        return True

    healthz = health_route(ready, service)
    try:
        assert (await healthz(None)).status == 200
        stuck = asyncio.create_task(service.run(blocking_job(release)))
        behind = asyncio.create_task(service.run(lambda models: "behind"))
        await asyncio.gather(stuck, behind, return_exceptions=True)
        response = await healthz(None)
        assert response.status == 503 and response.text == "model stuck"
        await asyncio.wait_for(service.until_unhealthy(poll=0.01), 10)  # what a worker waits on to exit
    finally:
        release.set()
        service.close()


async def test_a_job_asked_for_during_or_after_close_is_answered_at_once():
    service = LocalInference(Settings(), queue_size=4, budget=5, load_models=NoModels)
    release, started = threading.Event(), threading.Event()
    try:
        running = asyncio.create_task(service.run(blocking_job(release, started)))
        await asyncio.to_thread(started.wait, 10)
        queued = asyncio.create_task(service.run(lambda models: "queued"))
        await asyncio.sleep(0)
        service.close()
        with pytest.raises(ModelBusy):
            await asyncio.wait_for(queued, 10)
        with pytest.raises(ModelBusy):
            await asyncio.wait_for(service.run(lambda models: "after close"), 10)
        release.set()
        assert await asyncio.wait_for(running, 10) == "released"  # the job in progress finishes
    finally:
        release.set()
        service.close()
    never_started = LocalInference(Settings(), load_models=NoModels)
    never_started.close()
    with pytest.raises(ModelBusy):
        await asyncio.wait_for(never_started.warm_up(), 10)


async def test_close_racing_new_jobs_from_other_threads_never_leaves_a_caller_waiting():
    """Callers on several threads (each with its own loop) ask for bursts of jobs while this
    one closes the service: every caller gets its result or ModelBusy, none waits for ever
    (the timeout only detects a caller left waiting; nothing here is slow)."""

    def caller(service, go: threading.Barrier, outcomes: list):
        async def one():
            try:
                return await service.run(lambda models: "ran")
            except ModelBusy:
                return "busy"

        async def burst():
            go.wait()
            try:
                outcomes.extend(await asyncio.wait_for(asyncio.gather(*(one() for _ in range(300))), 30))
            except asyncio.TimeoutError:
                outcomes.append("left waiting")

        asyncio.run(burst())

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # many more interleavings of close() with the callers
    try:
        for attempt in range(40):
            service = LocalInference(Settings(), queue_size=10_000, budget=30, load_models=NoModels)
            await service.warm_up()
            go, outcomes = threading.Barrier(5), []
            threads = [threading.Thread(target=caller, args=(service, go, outcomes)) for _ in range(4)]
            for thread in threads:
                thread.start()
            await asyncio.to_thread(go.wait)
            time.sleep(attempt % 4 / 1000)  # close at different points of the bursts
            service.close()
            for thread in threads:
                await asyncio.to_thread(thread.join, 60)
            assert len(outcomes) == 1200 and set(outcomes) <= {"ran", "busy"}, set(outcomes)
    finally:
        sys.setswitchinterval(switch)


async def test_a_job_that_checks_its_deadline_stops_there():
    service = LocalInference(Settings(), queue_size=4, budget=0.3, load_models=NoModels)
    rounds: list[int] = []

    def cooperative(models):
        for n in range(10_000_000):
            rounds.append(n)
            check_deadline()
            threading.Event().wait(0.01)
        return "never"

    try:
        with pytest.raises(ModelTimeout):
            await service.run(cooperative)
        assert service.threads_abandoned == 0  # stopped by itself: no thread given up
        assert await service.run(lambda models: 42) == 42
    finally:
        service.close()


async def test_a_caller_that_goes_away_before_its_job_starts_costs_no_model_work():
    service = LocalInference(Settings(), queue_size=4, budget=60, load_models=NoModels)
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []
    try:
        first = asyncio.create_task(service.run(blocking_job(release, started)))
        await asyncio.to_thread(started.wait, 10)
        gone = asyncio.create_task(service.run(lambda models: ran.append("gone")))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)  # its caller has gone
        release.set()
        await first
        assert await service.run(lambda models: ran.append("kept") or "ok") == "ok"
        assert ran == ["kept"]
    finally:
        release.set()
        service.close()


# -- through the core ------------------------------------------------------------------------

ARTICLE = " ".join(
    f"The harbour authority said on Monday that berth {n} would reopen after repairs costing "
    f"{n + 2} million euros, ending months of delays for ferry passengers." for n in range(12)
)


@pytest.fixture
def slow_site():
    """One article whose server waits until the test lets it answer."""
    gate = asyncio.Event()

    async def slow(request):
        await gate.wait()
        html = (
            "<html><head><title>Harbour berths reopen</title></head><body><article>"
            f"<h1>Harbour berths reopen</h1><p>{ARTICLE}</p></article></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    return gate, slow


async def test_two_users_one_link_the_first_cancelled_the_second_still_gets_the_digest(store, tmp_path, slow_site):
    gate, slow = slow_site
    settings = Settings(sqlite_path=tmp_path / "s.sqlite3", fetch_allow_private=["127.0.0.0/8"], user_rate_limit=0)
    async with serve_site({"/harbour.html": slow}) as site:
        bot = make_summary_bot(settings, store)
        try:
            url = site.url("/harbour.html")
            first = asyncio.create_task(bot.handle(Incoming(ChatRef("console", "a"), url, user_id="a")))
            second = asyncio.create_task(bot.handle(Incoming(ChatRef("console", "b"), url, user_id="b")))
            await asyncio.sleep(0.2)  # both are waiting on the one fetch
            first.cancel()
            gate.set()
            replies = await second
        finally:
            await bot.close()
    assert first.cancelled()
    assert len(replies) == 1 and replies[0].digest is not None, replies
    assert replies[0].digest.title == "Harbour berths reopen"
    assert bot.pipeline.model_runs == 1


async def test_a_full_model_queue_is_answered_with_the_busy_reply(store, tmp_path):
    settings = Settings(sqlite_path=tmp_path / "s.sqlite3", user_rate_limit=0)
    bot = make_summary_bot(settings, store)
    inference = shared_inference()
    release, started = threading.Event(), threading.Event()
    blockers = []
    try:
        blockers.append(asyncio.create_task(inference.run(blocking_job(release, started))))
        await asyncio.to_thread(started.wait, 60)  # the model loads first, then runs the blocker
        for _ in range(inference.queue_size):
            blockers.append(asyncio.create_task(inference.run(lambda models: None)))
        await asyncio.sleep(0)
        replies = await bot.handle(Incoming(ChatRef("console", "me"), f"/summary {ARTICLE}", user_id="me"))
    finally:
        release.set()
        await asyncio.gather(*blockers, return_exceptions=True)
        await bot.close()
    assert len(replies) == 1 and replies[0].error, replies
    assert "busy" in replies[0].error and "try again" in replies[0].error
