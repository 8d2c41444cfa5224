"""Inline mode (issue 20, item 1): `@bot <link>` typed in any chat, through the real
python-telegram-bot client against the stand-in Bot API, pages from a local site, the
session's model and real stores. An inline query gets one article result whose message is
the digest (HTML, one message) and whose description is its first point, from the cache at
once or within the budget; past the budget, a button to a private chat with the bot where
`/start <id>` brings the digest. Nothing is stored under any chat."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from adapters.delivery import untracked
from adapters.telegram import TelegramService
from adapters.telegram.render import render_digest
from adapters.telegram.settings import TelegramSettings
from benchmarks.standins.telegram_api import BotApiStandIn, utf16_units, visible_text
from bot.store import keys
from bot.store.sqlite_store import SQLiteStore
from digest_support import digest_settings
from local_site import page, serve_site
from model_support import make_summary_bot
from test_telegram import article_page, free_port

USER, OTHER = 4242, 5151
WITHIN = 120.0  # a budget no summary on a busy test machine runs past
START_ID = re.compile(r"[A-Za-z0-9_-]{16}")


@pytest.fixture
async def api():
    async with BotApiStandIn() as standin:
        yield standin


@pytest.fixture
async def site():
    release = asyncio.Event()

    async def hanging(request: web.Request) -> web.Response:
        await release.wait()  # until the test lets it answer: past any budget
        return web.Response(text=article_page("The page that took its time", "slowness"), content_type="text/html")

    routes = {
        "/river": page(article_page("River council cleans up the water")),
        "/forest": page(article_page("Forest council counts the trees", "tree")),
        "/hanging": hanging,
    }
    async with serve_site(routes) as served:
        served.release = release
        yield served
        release.set()


@pytest.fixture
async def sqlite_store(tmp_path):
    store = await SQLiteStore.open(tmp_path / "inline.sqlite3")
    yield store
    await store.close()


def service_for(api: BotApiStandIn, bot, budget: float = WITHIN, **options) -> TelegramService:
    service = TelegramService(TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url, **options), bot)
    service.inline.budget = budget  # past the setting's bound: the test decides what "within" means
    return service


@asynccontextmanager
async def telegram(api: BotApiStandIn, store, tmp_path: Path, *, budget: float = WITHIN, **settings):
    bot = make_summary_bot(digest_settings(tmp_path, **settings), store)
    await bot.inference.warm_up()
    service = service_for(api, bot, budget)
    await service.start()
    try:
        yield bot
    finally:
        await service.stop()
        await bot.close()


async def ask(api: BotApiStandIn, query: str, user_id: int = USER, **options) -> dict:
    """An inline query typed by `user_id`; the answerInlineQuery it got (accepted)."""
    before = len(api.calls_to("answerInlineQuery"))
    update = api.queue(api.inline_query_update(query, user_id=user_id, **options))
    calls = await api.wait_for("answerInlineQuery", before + 1, timeout=60)
    answer = calls[-1].params
    assert answer["inline_query_id"] == update["inline_query"]["id"]
    assert answer in api.inline_answers  # Telegram accepted it
    return answer


def points_of(text: str) -> list[str]:
    return [line for line in text.split("\nRelated\n")[0].splitlines() if line.startswith("• ")]


async def test_a_link_gets_the_digest_as_one_article_within_the_budget_then_from_the_cache(api, site, store, tmp_path):
    async with telegram(api, store, tmp_path) as bot:
        runs = bot.pipeline.model_runs
        answer = await ask(api, f"look {site.url('/river')} and {site.url('/forest')}", chat_type="supergroup")
        [result] = answer["results"]
        assert result["type"] == "article" and result["title"] == "River council cleans up the water"
        assert 1 <= len(result["id"].encode()) <= 64
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML" and content["link_preview_options"] == {"is_disabled": True}
        shown = visible_text(content["message_text"])  # valid HTML, one message
        assert utf16_units(shown) <= 4096
        assert f'<a href="{site.url("/river")}"><b>River council cleans up the water</b></a>' in content["message_text"]
        first = points_of(shown)[0]
        assert result["description"] == first.removeprefix("• ")
        assert answer["cache_time"] == 300 and answer["is_personal"] is False and "button" not in answer
        assert bot.pipeline.model_runs == runs + 1  # only the first link: the query's first
        print("\nanswerInlineQuery received:", json.dumps(answer, ensure_ascii=False, indent=1))

        again = await ask(api, site.url("/river"), user_id=OTHER)  # cached: at once, the same message
        assert again["results"] == answer["results"]
        assert bot.pipeline.model_runs == runs + 1
        digest = await bot.pipeline.cached_digest(site.url("/river"))
        assert content["message_text"] == render_digest(digest)  # the renderer a reply uses
    # An inline query belongs to no chat: no key has an owner, no chat was seen.
    assert await store.owners() == []
    assert await store.zcard(keys.CHATS_LAST_SEEN) == 0


async def test_past_the_budget_a_button_opens_a_private_chat_where_start_brings_the_digest(api, site, sqlite_store, tmp_path):
    async with telegram(api, sqlite_store, tmp_path, budget=0.2) as bot:
        link = site.url("/hanging")
        answer = await ask(api, link)
        assert answer["results"] == []
        button = answer["button"]
        assert button["text"] == "Summarize in a private chat"
        start = button["start_parameter"]
        assert START_ID.fullmatch(start) and "http" not in start and "127.0.0.1" not in start
        assert answer["cache_time"] == 0 and answer["is_personal"] is True
        assert await sqlite_store.owners() == []  # the id names no chat
        assert await sqlite_store.get(keys.inline_link(start)) == link.encode()

        site.release.set()  # the page answers; the summary is written meanwhile (single flight)
        before = len(api.calls_to("sendMessage"))
        api.queue_message(f"/start {start}", chat_id=USER)  # what the button sends in the private chat
        [*_, reply] = await api.wait_for("sendMessage", before + 1, timeout=60)
        assert reply.params["chat_id"] == USER and reply.params["parse_mode"] == "HTML"
        assert visible_text(reply.params["text"]).startswith("The page that took its time")
        assert "reply_markup" not in reply.params  # a private request: no buttons to keep
        assert bot.pipeline.model_runs >= 1

        for param in ("A" * 16, "inline"):  # an unknown id, and the notices' parameter: /help, or expired
            before = len(api.calls_to("sendMessage"))
            api.queue_message(f"/start {param}", chat_id=USER)
            [*_, told] = await api.wait_for("sendMessage", before + 1, timeout=30)
            assert ("expired" if param != "inline" else "I summarize articles") in told.params["text"]
        # The next query finds the digest in the cache.
        assert (await ask(api, link))["results"][0]["title"] == "The page that took its time"


async def test_no_link_or_an_empty_query_gets_no_results(api, site, sqlite_store, tmp_path):
    async with telegram(api, sqlite_store, tmp_path) as bot:
        for query in ("", "what is this", "ftp://files.example/a " + "x" * 300, "x" * 300 + " " + site.url("/river")):
            answer = await ask(api, query)
            assert answer["results"] == [] and "button" not in answer and answer["cache_time"] == 30
        assert bot.pipeline.model_runs == 0  # a link past the first 256 characters is not read


async def test_a_private_address_is_refused_by_the_fetch_guard(api, site, sqlite_store, tmp_path):
    async with telegram(api, sqlite_store, tmp_path) as bot:
        for link in ("http://10.1.2.3/admin", "http://[::1]:8080/", "http://169.254.169.254/latest/meta-data"):
            answer = await ask(api, link)
            assert answer["results"] == []
            assert answer["button"]["start_parameter"] == "inline"
            assert "not allowed" in answer["button"]["text"] and len(answer["button"]["text"]) <= 64
            assert answer["cache_time"] == 0
        assert bot.pipeline.model_runs == 0


async def test_the_rate_limit_is_per_user(api, site, sqlite_store, tmp_path):
    async with telegram(api, sqlite_store, tmp_path, user_rate_limit=1) as bot:
        first = await ask(api, site.url("/river"))
        assert first["results"]
        # A new minute may begin between two queries: then the next one is refused.
        for _ in range(3):
            refused = await ask(api, site.url("/river"))
            if not refused["results"]:
                break
        else:
            pytest.fail("no inline query was refused by a limit of one summary a minute")
        assert "this minute" in refused["button"]["text"] and refused["is_personal"] is True
        assert (await ask(api, site.url("/river"), user_id=OTHER))["results"]  # another user's own count
        assert bot is not None


async def test_scaled_out_a_front_answers_from_the_cache_and_queues_the_rest_for_a_worker(api, site, sqlite_store, tmp_path):
    """SUMMARY_BOT_WORKERS=external: the front (webhook, a queue) answers a cached link at
    once and queues an uncached one with a deadline; a worker answers it within the budget,
    or with the button once the deadline has passed."""
    bot = make_summary_bot(digest_settings(tmp_path), sqlite_store)
    await bot.inference.warm_up()
    queued: list[dict] = []

    class Queue:  # what a front needs of adapters.queue.MessageQueue
        async def submit(self, job_id: str, platform: str, payload: dict) -> bool:
            queued.append(payload)
            return True

    port = free_port()
    webhook = web.Application()
    front = TelegramService(
        TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url, telegram_webhook_secret="s3cret",
                         telegram_webhook_url=f"http://127.0.0.1:{port}/telegram"),
        bot, queue=Queue(),
    )  # fmt: skip
    front.inline.budget = WITHIN
    front.add_routes(webhook)
    runner = web.AppRunner(webhook, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await front.start()
    worker = service_for(api, bot)
    await worker.start_sending()
    try:
        update = api.inline_query_update(site.url("/river"), user_id=USER)
        assert await api.deliver_to_webhook(update) == 200
        [payload] = queued  # not cached: queued, unanswered
        assert payload["update"] == update and payload["inline_deadline"] > 0
        assert api.calls_to("answerInlineQuery") == []
        await worker.answer_job(payload, untracked())
        [answer] = api.inline_answers
        assert answer["inline_query_id"] == update["inline_query"]["id"]
        assert answer["results"][0]["title"] == "River council cleans up the water"

        cached = api.inline_query_update(site.url("/river"), user_id=OTHER)
        assert await api.deliver_to_webhook(cached) == 200
        assert len(queued) == 1  # answered by the front, from the cache
        assert api.inline_answers[-1]["inline_query_id"] == cached["inline_query"]["id"]
        assert api.inline_answers[-1]["results"] == answer["results"]

        front.inline.budget = 0  # a worker that takes the job after its deadline: the button at once
        late = api.inline_query_update(site.url("/hanging"), user_id=USER)
        assert await api.deliver_to_webhook(late) == 200
        await worker.answer_job(queued[-1], untracked())
        assert api.inline_answers[-1]["inline_query_id"] == late["inline_query"]["id"]
        assert api.inline_answers[-1]["results"] == []
        assert START_ID.fullmatch(api.inline_answers[-1]["button"]["start_parameter"])
        assert await sqlite_store.owners() == []
    finally:
        await worker.stop()
        await front.stop()
        await runner.cleanup()
        await bot.close()
