"""The Telegram adapter (python-telegram-bot): `TelegramService` for `summary-bot run`.

`TelegramService` (service.py) assembles the adapter from one module per job:

    service.py    the Application: start/stop (long polling or webhook), the ChatService calls
    webhook.py    the webhook route: secret header, body, update; queued for a worker on a front
    bounded.py    in-process: at most SUMMARY_BOT_TELEGRAM_CONCURRENCY updates running and as
                  many waiting; past that the busy sentence (adapters/inprocess.py, shared with Slack)
    dispatch.py   each update to its job, here or on a worker (`answer_job`); errors apologised for
    sending.py    replies out: messages and edits once per Delivery, flood limiter, "typing…",
                  ChatGone / ChatMoved / PermanentSendError
    callbacks.py  button presses (callback_query): answered always, a button's command run
    inline.py     inline mode (`@bot <link>`): answerInlineQuery within the budget, else a button
    lifecycle.py  my_chat_member removals (chat erased) and group -> supergroup migrations
    menu.py       setMyCommands per language at start
    updates.py    Telegram updates -> the core's `Incoming`
    render.py     the core's `Reply` -> Telegram HTML messages, escaped and split
    settings.py   `TelegramSettings`: SUMMARY_BOT_TELEGRAM_*

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
