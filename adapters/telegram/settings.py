"""Telegram's settings: `SUMMARY_BOT_TELEGRAM_*` environment variables (pydantic-settings),
read like the core's (`bot.config.load_settings(TelegramSettings)`: a bad value is one line)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config import ENV_PREFIX


class TelegramSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    telegram_token: str | None = None  # set: `summary-bot run` serves Telegram
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None  # set: webhooks on the shared HTTP server, else long polling
    telegram_webhook_secret: str | None = None
    # Seconds an inline query (`@bot <link>`) waits for a link's digest before it is answered
    # with a button to a private chat instead: Telegram drops an answer after about 10 s.
    telegram_inline_budget: float = Field(4.0, gt=0, le=8)
    # in-process: updates answered at once (as many again wait; past that, "busy"), as Slack's
    telegram_concurrency: int = Field(64, ge=1)

    @property
    def configured(self) -> bool:
        return bool(self.telegram_token)
