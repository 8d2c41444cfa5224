"""The Telegram adapter (python-telegram-bot): `TelegramService` for `summary-bot run`.

  service.py  the Application: polling or webhook, handling, sending, errors
  updates.py  Telegram updates -> the core's `Incoming`
  render.py   the core's `Reply` -> Telegram HTML messages, escaped and split
  settings.py `TelegramSettings`: SUMMARY_BOT_TELEGRAM_*

The stand-in Bot API and `summary-bot bench telegram` are in the benchmarks package.
"""

from __future__ import annotations


def __getattr__(name: str):
    # Imported on first use, so that commands which never talk to Telegram (and reading
    # TelegramSettings) do not pay for importing python-telegram-bot.
    if name == "TelegramService":
        from adapters.telegram.service import TelegramService

        return TelegramService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TelegramService"]
