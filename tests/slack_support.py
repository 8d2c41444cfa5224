"""The Slack adapter running as in production, for tests: signed requests into its aiohttp
app, the real slack-sdk client talking to the stand-in Web API on 127.0.0.1."""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from model_support import make_summary_bot

from adapters.seed_site import SeedSite
from adapters.slack import SlackService
from adapters.slack.settings import SlackSettings
from benchmarks.standins.slack_api import SlackStandIn, event_callback
from benchmarks.standins.slack_api import signed_headers as standin_signed_headers
from bot.config import Settings
from bot.store import Store
from bot.store.sqlite_store import SQLiteStore

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
SECRET_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="  # a Fernet key: tokens at rest (OAuth mode)

ROOT = Path(__file__).resolve().parents[1]
SEED_PAGE = ROOT / "seeds" / "news" / "russia-us-prisoner-exchange-talks-g20.html"
SEED_TITLE = "Russia and the US pursue private prisoner-exchange talks amid G20 discussions"


# -- signing and payloads -------------------------------------------------------------------


_TRIGGERS = itertools.count(1)


def trigger_id() -> str:
    """A fresh trigger_id: Slack gives every invocation of a command its own (a repeated one is a replay)."""
    return f"1.2.{next(_TRIGGERS)}"


def signed_headers(body: str, *, secret: str = SECRET, **options) -> dict:
    return standin_signed_headers(body, secret, **options)


def event_body(event: dict, *, event_id: str = "Ev001", team_id: str = "T1") -> str:
    return event_callback(event, event_id=event_id, team_id=team_id)


def message_event(text: str, *, ts: str = "1700000000.000100", channel: str = "C1", **extra) -> dict:
    return {"type": "message", "channel": channel, "user": "U1", "text": text, "ts": ts,
            "channel_type": "channel", **extra}  # fmt: skip


# -- the running app ------------------------------------------------------------------------


@dataclass
class RunningSlack:
    service: SlackService
    http: TestClient
    standin: SlackStandIn
    store: Store

    async def post_event(self, event: dict, *, event_id: str = "Ev001", team_id: str = "T1", headers: dict | None = None):
        body = event_body(event, event_id=event_id, team_id=team_id)
        return await self.http.post("/slack/events", data=body, headers={**signed_headers(body), **(headers or {})})

    async def post_command(self, text: str, *, response_name: str = "cmd", command: str = "/summary"):
        body = urlencode({
            "token": "unused", "team_id": "T1", "team_domain": "test", "channel_id": "C1", "channel_name": "general",
            "user_id": "U1", "user_name": "someone", "command": command, "text": text,
            "response_url": self.standin.response_url(response_name), "trigger_id": trigger_id(),
        })  # fmt: skip
        headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
        return await self.http.post("/slack/events", data=body, headers=headers)

    async def finish(self) -> None:
        """Let every reply in progress finish (what `stop` does), so counts are final."""
        await self.service.stop()


@asynccontextmanager
async def running_slack(standin: SlackStandIn, store: Store, **settings):
    options = {
        "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET, "slack_api_url": standin.api_url,
        "fetch_allow_private": ["127.0.0.0/8"], **settings,
    }  # fmt: skip
    bot = make_summary_bot(Settings(**options), store)
    service = SlackService(SlackSettings(**options), bot)
    app = web.Application()
    service.add_routes(app)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    await service.start()
    try:
        yield RunningSlack(service, http, standin, store)
    finally:
        await service.stop()
        await http.close()
        await bot.close()


# -- fixtures: a test module imports the ones it uses (`from slack_support import standin`) ---


@pytest_asyncio.fixture
async def standin():
    """The stand-in Slack Web API on 127.0.0.1, empty."""
    async with SlackStandIn() as server:
        yield server


@pytest_asyncio.fixture
async def sqlite_store(tmp_path):
    store = await SQLiteStore.open(tmp_path / "slack.sqlite3")
    yield store
    await store.close()


@asynccontextmanager
async def seed_site(tmp_path: Path, extra_pages: dict[str, str] | None = None):
    """A local site serving the seed article at /article.html (and `extra_pages`, name to
    HTML); yields its base URL."""
    pages = tmp_path / "site"
    pages.mkdir()
    (pages / "article.html").write_text(SEED_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    for name, html in (extra_pages or {}).items():
        (pages / name).write_text(html, encoding="utf-8")
    async with SeedSite(pages) as server:
        yield server.base_url


@pytest_asyncio.fixture
async def site(tmp_path):
    """The base URL of a local site with the seed article at /article.html."""
    async with seed_site(tmp_path) as base_url:
        yield base_url
