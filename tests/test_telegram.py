"""The Telegram adapter end to end: the real python-telegram-bot client talks HTTP to a
stand-in Bot API on 127.0.0.1, pages come from a local site, the real model summarizes,
and the store is SQLite in a temporary folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import adapters.request_body as request_body
from adapters.telegram import TelegramService
from adapters.telegram.settings import TelegramSettings
from benchmarks.standins.telegram_api import BotApiStandIn, utf16_units, visible_text
from bot.config import ConfigError, Settings
from bot.delivery import ChatGone, PermanentSendError
from bot.models import ChatRef, DailyDigest, DigestEntry, Reply
from bot.store import open_store
from tests.local_site import page, raw_post, serve_site
from model_support import make_summary_bot
from run_support import free_port, health_answers, summary_bot_run, telegram_run_environment
MARKUP_TITLE = "<b>Tom & Jerry</b> <script>"
LONG_TITLE = "Council " + " ".join(f"word{i}" for i in range(850))  # about 6000 characters


def article_page(title: str, topic: str = "water") -> str:
    """An article page; `title` is plain text, escaped here as a real page would be."""
    from html import escape

    paragraphs = "".join(
        f"<p>Paragraph {i} explains how the river council measured {topic} quality in district {i}, "
        f"finding that nitrate levels fell by {i} percent after the new filters were installed.</p>"
        for i in range(12)
    )
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
            f"<body><article><h1>{escape(title)}</h1>{paragraphs}</article></body></html>")  # fmt: skip


async def slow_article(request: web.Request) -> web.Response:
    await asyncio.sleep(1.5)  # long enough that the chat should show "typing…"
    return web.Response(text=article_page("Slow news", "soil"), content_type="text/html")


@pytest.fixture
async def site():
    routes = {
        "/river": page(article_page("River council cleans up the water")),
        "/tom": page(article_page(MARKUP_TITLE, "cartoon")),
        "/long": page(article_page(LONG_TITLE, "budget")),
        "/slow": slow_article,
    }
    async with serve_site(routes) as served:
        yield served


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as standin:
        yield standin


def telegram_settings(api: BotApiStandIn, tmp_path: Path, **extra) -> tuple[Settings, TelegramSettings]:
    """The core's settings and Telegram's, for a bot talking to the stand-in `api`."""
    options = dict(
        telegram_token=api.token,
        telegram_api_url=api.base_url,
        fetch_allow_private=["127.0.0.0/8"],
        sqlite_path=tmp_path / "store.sqlite3",
        redis_url=None,
    ) | extra
    return Settings(**options), TelegramSettings(**options)


@asynccontextmanager
async def running_service(
    both: tuple[Settings, TelegramSettings], app: web.Application | None = None
) -> AsyncIterator[TelegramService]:
    """The adapter started as `summary-bot run` starts it; on exit it is stopped, which
    first finishes every update in progress, so calls can then be counted exactly."""
    settings, telegram = both
    store = await open_store(settings)
    bot = make_summary_bot(settings, store)
    # As `summary-bot run` does before /healthz says ready: the model is loaded first (once
    # per test session). Loading it on a test's first link took 6-17 s on a busy machine,
    # longer than the stand-in's wait_for allows: why the typing test used to fail.
    await bot.inference.warm_up()
    service = TelegramService(telegram, bot)
    if app is not None:
        service.add_routes(app)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await bot.close()
        await store.close()


def sent_texts(api: BotApiStandIn) -> list[str]:
    return [call.params["text"] for call in api.calls_to("sendMessage")]


# -- links in, digests out ---------------------------------------------------------------


async def test_link_message_gets_one_html_reply_answering_it(api, site, tmp_path):
    async with running_service(telegram_settings(api, tmp_path)):
        update = api.queue_message(f"look at this {site.url('/river')}", chat_id=501)
        await api.wait_for("sendMessage")
    (call,) = api.calls_to("sendMessage")
    assert call.params["chat_id"] == 501
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert f'<a href="{site.url("/river")}"><b>River council cleans up the water</b></a>' in call.params["text"]
    assert "• Paragraph" in visible_text(call.params["text"])
    assert [c.method for c in api.calls[:2]] == ["getMe", "deleteWebhook"]  # polling took over


async def test_title_with_markup_arrives_escaped(api, site, tmp_path):
    async with running_service(telegram_settings(api, tmp_path)):
        api.queue_message(site.url("/tom"), chat_id=502)
        await api.wait_for("sendMessage")
    (text,) = sent_texts(api)
    assert "<b>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; &lt;script&gt;</b>" in text
    assert "<script>" not in text
    assert visible_text(text).startswith(MARKUP_TITLE)  # what the reader sees
    assert len(api.sent_messages) == 1  # and Telegram accepted it


async def test_a_page_with_a_6000_character_title_is_one_valid_message_with_the_title_cut(api, site, tmp_path):
    """A digest always renders to exactly one message (bot/limits.py caps it)."""
    async with running_service(telegram_settings(api, tmp_path)):
        update = api.queue_message(site.url("/long"), chat_id=503)
        await api.wait_for("sendMessage")
    (call,) = api.calls_to("sendMessage")
    assert len(api.sent_messages) == 1  # accepted: valid HTML, within 4096 units
    shown = visible_text(call.params["text"])
    assert utf16_units(shown) <= 4096
    title = shown.split("\n", 1)[0]
    assert title.endswith("…") and len(title) <= 200
    assert LONG_TITLE.startswith(title.removesuffix("…"))
    assert call.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert call.params["text"].startswith(f'<a href="{site.url("/long")}"><b>')  # the cut title keeps its tags


async def test_a_429_is_waited_out_and_the_message_still_goes_out(api, site, tmp_path):
    api.fail_next("sendMessage", status=429, retry_after=1)
    async with running_service(telegram_settings(api, tmp_path)):
        api.queue_message(site.url("/river"), chat_id=504)
        refused, delivered = await api.wait_for("sendMessage", 2)
    assert delivered.at - refused.at >= 1.0
    assert delivered.params["text"] == refused.params["text"]
    assert len(api.sent_messages) == 1


async def test_typing_is_shown_while_working_and_not_for_quick_answers(api, site, tmp_path):
    async with running_service(telegram_settings(api, tmp_path)):
        api.queue_message("/help", chat_id=505)
        await api.wait_for("sendMessage")
        api.queue_message(site.url("/slow"), chat_id=506)
        await api.wait_for("sendMessage", 2)
    actions = api.calls_to("sendChatAction")
    assert [(a.params["chat_id"], a.params["action"]) for a in actions] == [(506, "typing")]
    assert actions[0].at < api.calls_to("sendMessage")[1].at


async def test_a_failing_update_is_logged_and_apologised_for_and_the_bot_goes_on(api, tmp_path, caplog):
    api.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")
    async with running_service(telegram_settings(api, tmp_path)):
        first = api.queue_message("/help", chat_id=507)
        failed, apology = await api.wait_for("sendMessage", 2)
        api.queue_message("/help", chat_id=508)
        await api.wait_for("sendMessage", 3)
    assert apology.params["text"].startswith("Sorry, something went wrong")
    assert apology.params["reply_parameters"]["message_id"] == first["message"]["message_id"]
    assert api.calls_to("sendMessage")[2].params["chat_id"] == 508  # still serving
    assert f"update {first['update_id']} failed" in caplog.text


async def test_send_posts_a_daily_digest_unprompted_and_raises_when_refused(api, tmp_path):
    """A kicked bot's 403 is ChatGone (the scheduler stops that digest and erases the chat);
    any other 403 only refuses that message."""
    entries = [DigestEntry(f"Story {i} & co", f"https://a.example/{i}", "One sentence. " * 15, "Site") for i in range(40)]
    topic = ChatRef(platform="telegram", chat_id="-1003", thread_id="5", kind="group")
    async with running_service(telegram_settings(api, tmp_path)) as service:
        await service.send(topic, [Reply(daily=DailyDigest("Your daily digest", entries))])
        api.fail_next("sendMessage", status=403, description="Forbidden: bot was kicked from the supergroup chat")
        with pytest.raises(ChatGone, match="kicked"):
            await service.send(topic, [Reply(text="hello")])
        api.fail_next("sendMessage", status=403, description="Forbidden: bot can't send messages to bots")
        with pytest.raises(PermanentSendError) as other:
            await service.send(topic, [Reply(text="hello")])
        assert not isinstance(other.value, ChatGone)
    calls = api.calls_to("sendMessage")
    assert len(calls) == 5 and len(api.sent_messages) == 3  # the digest in three messages, then the refusals
    assert all(c.params["chat_id"] == -1003 and c.params["message_thread_id"] == 5 for c in calls)
    assert not any("reply_parameters" in c.params for c in calls)
    shown = "\n".join(m["text"] for m in api.sent_messages)
    assert all(f"Story {i} & co" in shown for i in range(40))


# -- groups and channels ------------------------------------------------------------------


async def test_groups_commands_mentions_admins_and_channels(api, site, tmp_path):
    group, admin, member = -1001, 11, 12
    api.set_member_status(group, admin, "administrator")
    link = site.url("/river")
    async with running_service(telegram_settings(api, tmp_path)):
        refused = api.queue_message("/autosummary off", chat_id=group, chat_type="supergroup", user_id=member)
        await api.wait_for("sendMessage", 1)
        switched = api.queue_message("/autosummary@summary_test_bot off", chat_id=group, chat_type="supergroup", user_id=admin)
        await api.wait_for("sendMessage", 2)
        ignored = [
            api.queue_message(f"shared {link}", chat_id=group, chat_type="supergroup", user_id=member),
            api.queue_message(f"/summary@other_bot {link}", chat_id=group, chat_type="supergroup", user_id=member),
            api.queue_message("/unknown", chat_id=group, chat_type="supergroup", user_id=member),
        ]
        asked = [
            api.queue_message(f"/summary {link}", chat_id=group, chat_type="supergroup", user_id=member),
            api.queue_message(f"@Summary_Test_Bot {link}", chat_id=group, chat_type="supergroup", user_id=member),
            api.queue_message(f"in the channel: {link}", chat_id=-1002, chat_type="channel"),
        ]
        await api.wait_for("sendMessage", 5)
    replies = {c.params["reply_parameters"]["message_id"]: c.params["text"] for c in api.calls_to("sendMessage")}
    ids = lambda updates: [u.get("message", u.get("channel_post"))["message_id"] for u in updates]  # noqa: E731
    assert replies[ids([refused])[0]] == "⚠️ Only chat admins can change that."
    assert "won't summarize" in replies[ids([switched])[0]]
    assert set(replies) == set(ids([refused, switched] + asked))  # nothing for the ignored ones
    assert all("River council" in replies[i] for i in ids(asked))
    assert [c.params["user_id"] for c in api.calls_to("getChatMember")] == [member, admin]
    assert len(ignored) == 3


async def test_bad_telegram_settings_stop_start_up_with_one_line(api, tmp_path):
    settings, telegram = telegram_settings(api, tmp_path, telegram_token="1:not-the-token")
    store = await open_store(settings)
    bot = make_summary_bot(settings, store)
    try:
        with pytest.raises(ConfigError, match="Telegram refused SUMMARY_BOT_TELEGRAM_TOKEN") as refused:
            await TelegramService(telegram, bot).start()
        assert "not-the-token" not in str(refused.value)
        assert [(c.method, c.authorized) for c in api.calls] == [("getMe", False)]
        _, no_secret = telegram_settings(api, tmp_path, telegram_webhook_url="https://bot.example/hook")
        with pytest.raises(ConfigError, match="needs SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET"):
            TelegramService(no_secret, bot)
    finally:
        await bot.close()
        await store.close()


# -- webhook ---------------------------------------------------------------------------


async def test_webhook_checks_the_secret_token(api, site, tmp_path, monkeypatch):
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/updates"
    settings = telegram_settings(api, tmp_path, telegram_webhook_url=hook, telegram_webhook_secret="s3cret-token")
    app = web.Application()
    async with running_service(settings, app):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            assert api.webhook["url"] == hook and api.webhook["secret_token"] == "s3cret-token"
            forged = api.new_update(site.url("/river"), chat_id=509)
            async with aiohttp.ClientSession() as http:
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                    async with http.post(hook, json=forged, headers=headers) as response:
                        assert response.status == 403
            # Odd bytes from strangers are refused, never a 500 with a traceback.
            assert await raw_post(port, "/telegram/updates", b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe\r\n", b"{}") == 403
            lying = b"X-Telegram-Bot-Api-Secret-Token: s3cret-token\r\nContent-Type: application/json; charset=nope\r\n"
            assert await raw_post(port, "/telegram/updates", lying, b"[1, 2]") == 400
            monkeypatch.setattr(request_body, "BODY_READ_SECONDS", 0.5)
            slow = b"X-Telegram-Bot-Api-Secret-Token: s3cret-token\r\n"
            assert await raw_post(port, "/telegram/updates", slow, b'{"update_id": 1', length=1000) == 408
            genuine = api.new_update(site.url("/river"), chat_id=510)
            assert await api.deliver_to_webhook(genuine) == 200
            await api.wait_for("sendMessage")
        finally:
            await runner.cleanup()
    (call,) = api.calls_to("sendMessage")
    assert call.params["chat_id"] == 510
    assert call.params["reply_parameters"]["message_id"] == genuine["message"]["message_id"]
    assert not api.calls_to("getUpdates")


# -- summary-bot run, as a separate process -----------------------------------------------


async def test_summary_bot_run_answers_a_link_end_to_end(api, site, tmp_path):
    env = telegram_run_environment(api, tmp_path, SUMMARY_BOT_HTTP_PORT="0")  # /healthz on any free port
    log_path = tmp_path / "run.log"
    async with summary_bot_run(env, log_path) as process:
        update = api.queue_message(site.url("/river"), chat_id=511)
        (call,) = await api.wait_for("sendMessage", timeout=120)
    log = log_path.read_text()
    assert process.returncode == 0, log
    assert call.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert "River council cleans up the water" in call.params["text"]
    assert "telegram adapter started" in log
    assert api.token.split(":")[1] not in log  # the token never reaches the logs


async def test_the_model_is_loaded_before_healthz_says_ready(api, site, tmp_path):
    """`summary-bot run` warms the model at start: /healthz answers 503 while it loads and
    200 once it is loaded, and the first reply after that needs no model load."""
    port = free_port()
    env = telegram_run_environment(
        api, tmp_path, SUMMARY_BOT_HTTP_HOST="127.0.0.1", SUMMARY_BOT_HTTP_PORT=str(port), SUMMARY_BOT_LOG_LEVEL="INFO"
    )
    log_path = tmp_path / "run.log"
    loaded = "loaded sentence encoder"
    statuses: list[int] = []
    async with summary_bot_run(env, log_path) as process:
        async for answer in health_answers(process, port, log_path, tries=1200):  # up to 2 minutes
            if answer is None:
                continue  # not listening yet
            statuses.append(answer[0])
            if answer[0] == 200:
                break
            if answer[0] == 503:
                assert loaded not in log_path.read_text(), "loaded but still not ready?"
        assert statuses and statuses[-1] == 200, (statuses, log_path.read_text()[-3000:])
        assert loaded in log_path.read_text()  # the model was loaded before healthz turned 200
        update = api.queue_message(site.url("/river"), chat_id=512)
        (call,) = await api.wait_for("sendMessage", timeout=60)
    log = log_path.read_text()
    assert set(statuses[:-1]) <= {503}, statuses  # never ready before the model was
    assert 503 in statuses  # it did say "not yet" while the model loaded
    assert log.count(loaded) == 1  # the first reply did not load it again
    assert call.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert "River council cleans up the water" in call.params["text"]
