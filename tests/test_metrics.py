"""/metrics: Prometheus counters of what the bot did, in its own registry."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from local_site import page, serve_site
from model_support import shared_inference

from adapters.runner import metrics_route
from bot.config import Settings
from bot.core import SummaryBot
from bot.metrics import Metrics
from bot.models import ChatRef, Incoming
from bot.pipeline import SummaryPipeline

ARTICLE = "<html><head><title>Tram line opens</title></head><body><article><h1>Tram line opens</h1><p>{}</p></article></body></html>".format(
    " ".join(f"The new tram line {n} carried {n * 1000 + 500} passengers in its first week, the city said on Monday." for n in range(10))
)


async def scrape(metrics: Metrics) -> str:
    app = web.Application()
    app.router.add_get("/metrics", metrics_route(metrics))
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/metrics")) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return await response.text()


async def test_metrics_count_messages_cached_summaries_and_errors(store, tmp_path):
    settings = Settings(sqlite_path=tmp_path / "s.sqlite3", fetch_allow_private=["127.0.0.0/8"], user_rate_limit=0)
    metrics = Metrics()
    inference = shared_inference()
    pipeline = SummaryPipeline(settings, store, inference, metrics=metrics)
    bot = SummaryBot(settings, store, inference, pipeline=pipeline, metrics=metrics)
    chat = ChatRef("console", "me")
    async with serve_site({"/tram.html": page(ARTICLE)}) as site:
        try:
            for _ in range(2):
                (reply,) = await bot.handle(Incoming(chat, site.url("/tram.html"), user_id="me"))
                assert reply.digest is not None
            (missing,) = await bot.handle(Incoming(chat, site.url("/gone.html"), user_id="me"))
            assert missing.error
            await bot.handle(Incoming(chat, "/help", user_id="me"))
        finally:
            await bot.close()
    text = await scrape(metrics)
    assert 'summary_bot_messages_total{kind="link",platform="console"} 3.0' in text
    assert 'summary_bot_messages_total{kind="help",platform="console"} 1.0' in text
    assert 'summary_bot_summaries_total{source="computed"} 1.0' in text
    assert 'summary_bot_summaries_total{source="cached"} 1.0' in text
    assert 'summary_bot_errors_total{kind="fetch"} 1.0' in text
    assert 'summary_bot_stage_seconds_count{stage="fetch"} 2.0' in text
    assert "summary_bot_model_queue_depth" in text
