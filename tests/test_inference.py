"""The in-process inference service: one model thread, a bounded queue, a budget per job,
and single flight that survives a caller going away."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web
from local_site import serve_site
from model_support import make_summary_bot, shared_inference

from bot.config import Settings
from bot.inference import LocalInference, ModelBusy, ModelTimeout, check_deadline
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


async def test_a_job_over_budget_is_answered_and_does_not_hold_up_the_next():
    service = LocalInference(Settings(), queue_size=4, budget=0.5, load_models=NoModels)
    stuck_release = threading.Event()
    try:
        stuck = asyncio.create_task(service.run(blocking_job(stuck_release)))  # never checks its deadline
        after = asyncio.create_task(service.run(lambda models: "next job ran"))
        with pytest.raises(ModelTimeout, match="took longer than"):
            await stuck
        # The next job finished although the stuck one is still running on its old thread.
        assert await after == "next job ran"
        assert not stuck_release.is_set()
        assert service.threads_abandoned == 1
    finally:
        stuck_release.set()
        service.close()


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
