"""The Telegram adapter running as in production, for tests: the real python-telegram-bot
client polling the stand-in Bot API on 127.0.0.1, over a given store."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from digest_support import digest_settings
from model_support import make_summary_bot

from adapters.telegram import TelegramService
from adapters.telegram.settings import TelegramSettings
from benchmarks.standins.telegram_api import BotApiStandIn


@asynccontextmanager
async def running_telegram(api: BotApiStandIn, store, tmp_path: Path, **settings):
    """The adapter over `store` (bot settings: digest_settings(tmp_path, **settings)),
    started as `summary-bot run` starts it, the model loaded first; yields (service, bot).
    Stopping it first finishes every update in progress."""
    bot = make_summary_bot(digest_settings(tmp_path, **settings), store)
    await bot.inference.warm_up()
    service = TelegramService(TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url), bot)
    await service.start()
    try:
        yield service, bot
    finally:
        await service.stop()
        await bot.close()
