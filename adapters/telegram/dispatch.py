"""Each update to its job, polled or from the webhook here, or queued by a front and
answered on a worker (`answer_job`): membership changes and migrations (lifecycle.py),
inline queries (inline.py), button presses (callbacks.py), and messages: `Incoming` ->
`SummaryBot.handle` -> replies sent (sending.py), "typing…" while the core works.

In-process, updates past the bound (bounded.py) are refused here: a message the bot would
answer gets the model queue's busy sentence, each chat at most once a minute (`refuse`).

A failure inside one update is logged and answered with a short apology; the application
keeps serving other updates.
"""

from __future__ import annotations

import logging
import time

from telegram import ReplyParameters, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from adapters.delivery import Delivery, untracked
from adapters.inprocess import BusyNotices
from adapters.telegram.callbacks import Presses
from adapters.telegram.inline import InlineMode
from adapters.telegram.lifecycle import Lifecycle
from adapters.telegram.sending import TelegramSender
from adapters.telegram.updates import incoming_from_update, message_of, migration
from bot.core import SummaryBot
from bot.i18n import N_
from bot.inference import ModelBusy
from bot.links import find_urls
from bot.models import Incoming, Reply

log = logging.getLogger(__name__)

APOLOGY = N_("Sorry, something went wrong on my side. Please try again later.")


class Dispatch:
    def __init__(
        self, application: Application, bot: SummaryBot, sender: TelegramSender, lifecycle: Lifecycle,
        inline: InlineMode, presses: Presses,
    ):  # fmt: skip
        self.application = application
        self.bot = bot
        self.sender = sender
        self.lifecycle = lifecycle
        self.inline = inline
        self.presses = presses
        self.busy_notices = BusyNotices()

    async def answer_job(self, payload: dict, delivery: Delivery) -> None:
        """On a worker: the update a front queued, answered as if polled here."""
        update = Update.de_json(payload["update"], self.application.bot)
        try:
            if update.inline_query is not None and "inline_deadline" in payload:
                left = float(payload["inline_deadline"]) - time.time()  # the front's clock: bounded by the budget
                await self.inline.on_inline(update.inline_query, budget=min(left, self.inline.budget), counted=True)
                return
            await self.answer(update, delivery)
        except Exception as exc:
            await self.on_error(update, _ErrorContext(exc))

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.answer(update, untracked())

    async def answer(self, update: Update, delivery: Delivery) -> None:
        if update.my_chat_member is not None:
            await self.lifecycle.on_membership(update.my_chat_member)
            return
        if update.inline_query is not None:
            await self.inline.on_inline(update.inline_query, budget=self.inline.budget)
            return
        if update.callback_query is not None:
            await self.presses.on_press(update.callback_query, delivery)
            return
        message = message_of(update)
        moved = migration(message) if message is not None else None
        if moved is not None:
            await self.lifecycle.move(*moved)
            return
        incoming = await incoming_from_update(update, self.application.bot.bot)
        if incoming is not None:
            await self._respond(incoming, delivery)

    async def refuse(self, update: object) -> None:
        """An update past the in-process bound (bounded.py): counted as errors{kind="busy"}
        unless it is chatter, and a message the bot would answer gets the busy sentence,
        each chat at most once a minute. A refused button press or inline query is only
        counted (Telegram shows its spinner and gives up)."""
        if not isinstance(update, Update):
            return
        incoming = await incoming_from_update(update, self.application.bot.bot)
        if incoming is None and update.callback_query is None and update.inline_query is None:
            return  # nothing for this bot
        if incoming is not None and not (
            incoming.addressed_to_bot or (bool(find_urls(incoming.text)) and await self.bot.autosummary_enabled(incoming))
        ):
            return  # chatter: there was nothing to say
        self.bot.metrics.errors.labels("busy").inc()
        if incoming is None or not self.busy_notices.may_tell(incoming.chat.key):
            return
        log.warning("telegram: too many updates in progress; chat %s told to try again", incoming.chat.chat_id)
        busy = Reply(error=str(ModelBusy()))
        await self.busy_notices.tell(self.sender.send_replies(incoming, [busy], untracked()))

    async def _respond(self, incoming: Incoming, delivery: Delivery) -> None:
        """The core's replies to `incoming`, sent in its chat (or where that chat moved)."""
        async with self.sender.typing(incoming.chat):
            replies = await self.bot.handle(incoming)
        await self.sender.send_replies(incoming, replies, delivery)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = message_of(update) if isinstance(update, Update) else None
        where = f"update {update.update_id}" if isinstance(update, Update) else "the Telegram adapter"
        log.error("telegram: %s failed", where, exc_info=context.error)
        if message is None or message.chat is None:
            return  # nowhere to apologise to
        try:
            await self.application.bot.send_message(
                message.chat_id,
                self.bot.languages.get(message.from_user.language_code if message.from_user else None)._(APOLOGY),
                reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
                message_thread_id=message.message_thread_id if message.is_topic_message else None,
            )
        except TelegramError:
            log.warning("telegram: could not send the apology for update %s", update.update_id, exc_info=True)


def lifecycle_update(update: object) -> bool:
    """A membership change or a migration: a store's work, never held back by the bound."""
    if not isinstance(update, Update):
        return False
    message = message_of(update)
    return update.my_chat_member is not None or (message is not None and migration(message) is not None)


class _ErrorContext:
    """What `on_error` reads of python-telegram-bot's callback context, for errors met
    outside its dispatching (a queued update answered on a worker)."""

    def __init__(self, error: BaseException):
        self.error = error
