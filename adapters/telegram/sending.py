"""Sending to Telegram: a `Reply` as HTML messages (or an edit of the bot's message), each
part once through a `Delivery`; "typing…" while the core works; the flood limiter.

Flood control is python-telegram-bot's `AIORateLimiter`: Telegram's limits (30 messages a
second, 20 a minute per group) are kept, and a 429 is waited out for `retry_after` and
the message sent again. Only messages spend that budget: a "typing…" action (sent only
once an answer has taken TYPING_DELAY, never for a quick cached one) goes straight out and
is simply dropped if Telegram refuses it, so it never delays a reply.

What Telegram refuses is mapped to the core's words: a 403 for a chat gone for the bot
(blocked, kicked, deactivated) is `ChatGone`; a group that became a supergroup
(`ChatMigrated`) is `ChatMoved`; other 400s and 403s on an unprompted send are
`PermanentSendError` (sending again cannot help). Answering a chat, a moved chat's data
follows it and the reply is sent there once; a gone chat is erased (lifecycle.py).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from typing import AsyncIterator

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application

from adapters.delivery import Delivery, PermanentSendError, untracked
from adapters.telegram.lifecycle import Lifecycle
from adapters.telegram.render import keyboard_buttons, render_reply
from adapters.telegram.updates import PLATFORM, group_ref
from bot.delivery import ChatGone, ChatMoved
from bot.core import SummaryBot
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)

# What a 403 says when the chat is gone for the bot for good (the Bot API's descriptions);
# any other 403 is a refusal of that one message. "chat not found" (400) is not here: a
# changed bot token makes every chat "not found", and that must erase nothing.
GONE = ("bot was blocked by the user", "bot was kicked from", "bot is not a member", "user is deactivated")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # a digest is its own preview
TYPING_DELAY = 0.5  # seconds of work before the chat shows "typing…" (quick answers need none)
TYPING_REFRESH = 4.5  # Telegram shows a chat action for 5 seconds
RETRIES_AFTER_429 = 3
UNTHROTTLED = frozenset({"sendChatAction"})  # cosmetic calls that must not take a message's slot


class CountingRateLimiter(AIORateLimiter):
    """python-telegram-bot's flood limiter, counting Telegram's 429s for /metrics; chat
    actions bypass it (see UNTHROTTLED)."""

    def __init__(self, metrics, **options):
        super().__init__(**options)
        self.metrics = metrics

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint in UNTHROTTLED:
            return await callback(*args, **kwargs)  # a refusal raises; _keep_typing gives up quietly
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)

    async def _run_request(self, *args, **kwargs):  # the one call each try goes through
        try:
            return await super()._run_request(*args, **kwargs)
        except RetryAfter:
            self.metrics.platform_429s.labels(PLATFORM).inc()
            raise


class TelegramSender:
    """Replies out through the application's bot (its flood limiter included)."""

    def __init__(self, application: Application, bot: SummaryBot, lifecycle: Lifecycle):
        self.application = application
        self.bot = bot
        self.lifecycle = lifecycle

    async def send(self, chat: ChatRef, replies: list[Reply], delivery: Delivery | None = None) -> None:
        """Post replies unprompted (daily digests), each part once through `delivery`;
        PermanentSendError where Telegram refused a part as a bad request (400: sending it
        again cannot help); ChatGone where the chat is gone for the bot (403: blocked,
        kicked, deactivated); ChatMoved where the group became a supergroup (the caller
        moves the chat's data and sends there)."""
        try:
            for reply in replies:
                await self.send_reply(chat, reply, delivery)
        except (BadRequest, Forbidden) as exc:  # 429s are RetryAfter, a migrated chat ChatMoved: not this
            raise PermanentSendError(f"Telegram refused it: {exc}") from exc

    async def send_replies(self, incoming: Incoming, replies: list[Reply], delivery: Delivery) -> None:
        """`replies` in `incoming`'s chat: where the group became a supergroup, its data is
        moved and the reply sent there once; where the chat is gone, its data is erased."""
        chat = incoming.chat
        try:
            for reply in replies:
                try:
                    await self.send_reply(chat, reply, delivery)
                except ChatMoved as moved:  # once: the message it answered stayed in the old group
                    await self.lifecycle.move(chat, moved.new_chat)
                    chat = moved.new_chat
                    await self.send_reply(chat, replace(reply, reply_to=None), delivery)
        except ChatGone as exc:  # the log line names no chat: it outlives the erasure
            log.warning("telegram: a reply was refused for good (%s); erasing the chat's data", exc)
            await self.lifecycle.privacy.erase_chat(chat)

    async def send_reply(self, chat: ChatRef, reply: Reply, delivery: Delivery | None = None) -> None:
        """`reply` as one or more HTML messages; the first answers `reply.reply_to`."""
        delivery = delivery or untracked()
        if reply.replaces is not None:
            await self._replace_message(chat, reply, delivery)
            return
        answering = ReplyParameters(int(reply.reply_to), allow_sending_without_reply=True) if reply.reply_to else None
        buttons = keyboard_buttons(reply) if reply.buttons else []
        texts = render_reply(reply, t=self.bot.languages.get(reply.language))
        for n, text in enumerate(texts):
            content: list = [text, answering.message_id if answering else None]
            keyboard = None
            if buttons and n == len(texts) - 1:  # under the reply: on its last message
                content.append(buttons)
                keyboard = _keyboard(buttons)
            await delivery.once(
                [chat.key, chat.thread_id],  # what the call sends: a re-run that differs sends it
                content,
                lambda text=text, answering=answering, keyboard=keyboard: self._send_message(
                    chat, text, answering, keyboard
                ),
            )
            answering = None  # the rest of a long reply follows the first part

    async def _replace_message(self, chat: ChatRef, reply: Reply, delivery: Delivery) -> None:
        """`reply` in place of the bot's message `reply.replaces` (editMessageText), with its
        buttons. A digest is always one message; anything longer keeps its first message."""
        buttons = keyboard_buttons(reply) if reply.buttons else []
        text = render_reply(reply, t=self.bot.languages.get(reply.language))[0]
        await delivery.once(
            [chat.key, "edit", reply.replaces], [text, buttons],
            lambda: self._edit_message(chat, int(reply.replaces), text, _keyboard(buttons)),  # none: buttons removed
        )  # fmt: skip

    async def _edit_message(self, chat: ChatRef, message_id: int, text: str, keyboard: InlineKeyboardMarkup) -> None:
        try:
            await self.application.bot.edit_message_text(
                text, chat_id=int(chat.chat_id), message_id=message_id, parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW, reply_markup=keyboard,
            )  # fmt: skip
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():  # two presses of one button at once: the first did it
                raise

    async def _send_message(
        self, chat: ChatRef, text: str, answering: ReplyParameters | None, keyboard: InlineKeyboardMarkup | None
    ) -> Message:
        try:
            return await self.application.bot.send_message(
                int(chat.chat_id),
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_parameters=answering,
                message_thread_id=int(chat.thread_id) if chat.thread_id else None,
                reply_markup=keyboard,
            )
        except ChatMigrated as exc:
            raise ChatMoved("Telegram: the group is now a supergroup", group_ref(exc.new_chat_id)) from exc
        except Forbidden as exc:
            if any(reason in exc.message.lower() for reason in GONE):
                raise ChatGone(f"Telegram refused it: {exc.message}") from exc
            raise

    @asynccontextmanager
    async def typing(self, chat: ChatRef) -> AsyncIterator[None]:
        """Show "typing…" in `chat` while the body runs, once it has run TYPING_DELAY."""
        task = asyncio.create_task(self._keep_typing(chat))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _keep_typing(self, chat: ChatRef) -> None:
        await asyncio.sleep(TYPING_DELAY)
        while True:
            try:
                await self.application.bot.send_chat_action(
                    int(chat.chat_id), ChatAction.TYPING, message_thread_id=int(chat.thread_id) if chat.thread_id else None
                )
            except TelegramError as exc:  # cosmetic: never fail an update over it
                log.debug("telegram: typing action in %s failed: %s", chat.key, exc)
                return
            await asyncio.sleep(TYPING_REFRESH)


def _keyboard(buttons: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """An inline keyboard of (label, callback_data) buttons, one a row."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=command)] for label, command in buttons])
