"""In-process Telegram updates are bounded (adapters/telegram/bounded.py), through the real
python-telegram-bot client polling the stand-in Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio


from adapters.telegram import TelegramService
from adapters.telegram.settings import TelegramSettings
from benchmarks.standins.telegram_api import BotApiStandIn, visible_text
from bot.config import Settings
from bot.inference import ModelBusy
from bot.store import open_store
from model_support import make_summary_bot
from tests.local_site import HeldPages, serve_site
from tests.test_telegram import article_page


async def until(condition) -> None:
    """Wait for `condition()` to hold (30 s at most: a hang fails the test, not the run)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 30)


async def test_a_burst_of_updates_is_bounded_and_past_the_bound_a_chat_hears_busy_once(tmp_path):
    """At most SUMMARY_BOT_TELEGRAM_CONCURRENCY updates are answered at once and as many
    again wait; an update past that is answered at once with the model queue's busy
    sentence (once per chat) and counted; once the pages answer, every admitted update is
    answered. Fails before the fix: python-telegram-bot started a task for every update,
    all waiting for one of 64 places with no bound on the waiting, and nobody heard busy."""
    bound = 2
    held = HeldPages(article_page("River council cleans up the water"))

    async with BotApiStandIn() as api, serve_site(held.routes(10)) as site:
        options = dict(
            telegram_token=api.token, telegram_api_url=api.base_url, fetch_allow_private=["127.0.0.0/8"],
            sqlite_path=tmp_path / "store.sqlite3", redis_url=None, telegram_concurrency=bound,
        )  # fmt: skip
        settings = Settings(**options)
        store = await open_store(settings)
        bot = make_summary_bot(settings, store)
        await bot.inference.warm_up()
        service = TelegramService(TelegramSettings(**options), bot)
        await service.start()
        try:
            admitted = [11, 12, 13, 14]  # chats: two in progress, two waiting
            for n, chat in enumerate(admitted):
                api.queue_message(site.url(f"/story{n}"), chat_id=chat)
            await until(lambda: held.fetching >= bound)
            await asyncio.sleep(0)
            refused = [15, 15, 15, 16]
            for n, chat in enumerate(refused, start=4):
                api.queue_message(site.url(f"/story{n}"), chat_id=chat)
            told = await api.wait_for("sendMessage", count=2)
            assert sorted(call.params["chat_id"] for call in told) == [15, 16]
            assert all(str(ModelBusy()) in visible_text(call.params["text"]) for call in told)
            assert held.most == bound  # the waiting two have not started

            held.release.set()
            answered = await api.wait_for("sendMessage", count=2 + len(admitted))
            assert sorted(call.params["chat_id"] for call in answered[2:]) == admitted
            assert all("River council" in visible_text(call.params["text"]) for call in answered[2:])
        finally:
            await service.stop()
            await bot.close()
    assert held.most == bound
    assert bot.metrics.errors.labels("busy")._value.get() == len(refused)
    assert len(api.calls_to("sendMessage")) == 2 + len(admitted)
