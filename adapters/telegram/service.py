"""The Telegram adapter: python-telegram-bot's `Application` wired to the core.

One message's journey: an update arrives (long polling, or the webhook route on the
shared HTTP server) -> `incoming_from_update` makes it an `Incoming` -> `SummaryBot.handle`
-> each `Reply` is rendered to HTML messages (`render_reply`) and sent as a reply to the
message that asked. While the core works the chat shows "typing…".

Scaled out (SUMMARY_BOT_WORKERS=external), a front's webhook puts the update on the job
queue (`MessageQueue`) and answers Telegram only once it is there (503 otherwise, so that
Telegram delivers it again); a worker then runs `answer_update`, the same journey.

Flood control is python-telegram-bot's `AIORateLimiter`: Telegram's limits (30 messages a
second, 20 a minute per group) are kept, and a 429 is waited out for `retry_after` and
the message sent again. Only messages spend that budget: a "typing…" action (sent only
once an answer has taken TYPING_DELAY, never for a quick cached one) goes straight out and
is simply dropped if Telegram refuses it, so it never delays a reply. A failure inside one
update is logged and answered with a short apology; the application keeps serving other
updates.

The chat's lifecycle (issue 18): the bot removed from a group, supergroup or channel, or
blocked by a private chat's user (`my_chat_member` left/kicked), erases that chat's data
through the core's privacy service; so does a send refused with 403 for one of those reasons
(`ChatGone`: a daily digest stops there, never retried). A group upgraded to a supergroup
(its service messages, or `ChatMigrated` on send) has its data moved to the new id, and a
refused reply is sent there once. The command menu is registered with setMyCommands at
start. A reply's buttons are an inline keyboard; a press (`callback_query`) is always
answered, and one whose data is a command a button may carry becomes its presser sending
that command in the chat (the core checks who may).

Inline mode (`@bot <link>` in any chat, bot/inline.py): the query is answered with one
article result whose message is the digest as a reply would show it, from the cache at once
or within TelegramSettings.telegram_inline_budget; past it, with a button that opens a
private chat with the bot (`/start <id>`), where the digest follows. Scaled out, a front
answers from the cache and queues the rest with a deadline for a worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from contextlib import asynccontextmanager, suppress
from typing import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from dataclasses import replace

from telegram import BotCommand, CallbackQuery, ChatMemberUpdated, InlineKeyboardButton, InlineKeyboardMarkup
from telegram import InlineQuery, InlineQueryResultArticle, InlineQueryResultsButton, InputTextMessageContent
from telegram import LinkPreviewOptions, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatMemberStatus, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, BaseRateLimiter, ContextTypes, TypeHandler

from adapters.delivery import Delivery, PermanentSendError, untracked
from adapters.request_body import read_body, too_slow
from adapters.telegram.render import MAX_BUTTON_LABEL, inline_texts, keyboard_buttons, render_reply
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.updates import (
    PLATFORM,
    button_command,
    group_ref,
    incoming_from_update,
    is_chat_admin,
    message_of,
    migration,
    press_as_incoming,
    removed_chat,
)
from bot.config import ConfigError
from bot.core import SummaryBot
from bot.delivery import ChatGone, ChatMoved
from bot.inline import InlineResult
from bot.limits import shorten
from bot.i18n import DEFAULT as DEFAULT_LANGUAGE
from bot.i18n import N_
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "channel_post", "my_chat_member", "callback_query", "inline_query"]
# answerInlineQuery's cache_time: a digest depends only on its link, so Telegram may serve it
# to anyone typing that link (is_personal false) for a while; a button or a notice is for that
# asker, now (the digest may be ready a moment later); a query without a link has no answer.
INLINE_DIGEST_CACHE = 300
INLINE_RETRY_CACHE = 0
INLINE_NOTHING_CACHE = 30
INLINE_BUTTON = N_("Summarize in a private chat")
INLINE_HELP = "inline"  # start parameter of a notice's button: the private chat shows /help
APOLOGY = N_("Sorry, something went wrong on my side. Please try again later.")
EXPIRED = N_("That button has expired.")  # the answer to a press whose data is not a button's command
PRESS_ANSWER_WAIT = 2.0  # seconds a press's answer waits for the core, to carry its word (else the spinner stops)
MAX_PRESS_NOTICE = 200  # characters answerCallbackQuery shows
# What a 403 says when the chat is gone for the bot for good (the Bot API's descriptions);
# any other 403 is a refusal of that one message. "chat not found" (400) is not here: a
# changed bot token makes every chat "not found", and that must erase nothing.
GONE = ("bot was blocked by the user", "bot was kicked from", "bot is not a member", "user is deactivated")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")  # what setMyCommands accepts as a command
MAX_MENU = 100  # commands setMyCommands accepts
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # a digest is its own preview
TYPING_DELAY = 0.5  # seconds of work before the chat shows "typing…" (quick answers need none)
TYPING_REFRESH = 4.5  # Telegram shows a chat action for 5 seconds
CONCURRENT_UPDATES = 64  # updates in progress at once: slow pages must not hold up the rest
RETRIES_AFTER_429 = 3
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a secret_token


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


class TelegramService:
    """A `ChatService` for Telegram (see adapters/runner.py)."""

    platform = PLATFORM

    def __init__(
        self, settings: TelegramSettings, bot: SummaryBot, *, rate_limiter: BaseRateLimiter | None = None, queue=None
    ):
        if not settings.telegram_token:
            raise ConfigError("summary-bot: SUMMARY_BOT_TELEGRAM_TOKEN is not set")
        if queue is not None and not settings.telegram_webhook_url:
            raise ConfigError(
                "summary-bot: with SUMMARY_BOT_WORKERS=external Telegram needs SUMMARY_BOT_TELEGRAM_WEBHOOK_URL "
                "(only one process may long-poll; fronts behind a load balancer receive webhooks)"
            )
        self.queue = queue  # a MessageQueue on a front; None where this process answers itself
        self.bot_id = settings.telegram_token.split(":", 1)[0]  # public part of the token
        self.webhook_url = settings.telegram_webhook_url
        self.webhook_secret = settings.telegram_webhook_secret or ""
        self.inline_budget = settings.telegram_inline_budget
        if self.webhook_url and not _SECRET_RE.fullmatch(self.webhook_secret):
            raise ConfigError(
                "summary-bot: SUMMARY_BOT_TELEGRAM_WEBHOOK_URL needs SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET: "
                "1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        self.bot = bot
        self.privacy = bot.privacy  # the core's erasure and migration service (bot.privacy)
        self._moving = asyncio.Lock()  # a group's two migration messages arrive together
        bot.permissions.register(PLATFORM, self._may_change_settings)  # the core asks it (bot.acl)
        self.api_url = api_url = settings.telegram_api_url.rstrip("/")
        builder = (
            Application.builder()
            .token(settings.telegram_token)
            .base_url(f"{api_url}/bot")  # python-telegram-bot appends the token
            .base_file_url(f"{api_url}/file/bot")
            .rate_limiter(rate_limiter or CountingRateLimiter(bot.metrics, max_retries=RETRIES_AFTER_429))
            .concurrent_updates(CONCURRENT_UPDATES)
        )
        if self.webhook_url:
            builder = builder.updater(None)  # updates come in through add_routes instead
        self.application = builder.build()
        # Every kind in ALLOWED_UPDATES, each sorted out by `_answer` (as on a worker).
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)

    # -- ChatService ------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        if self.webhook_url:
            app.router.add_post(urlsplit(self.webhook_url).path or "/", self._on_webhook)

    async def start(self) -> None:
        try:
            await self.application.initialize()  # getMe: who we are, for mentions and replies
        except (InvalidToken, NetworkError) as exc:
            await self.application.bot.shutdown()  # closes the HTTP clients it opened
            if isinstance(exc, InvalidToken):  # its own message would quote the token
                raise ConfigError("summary-bot: Telegram refused SUMMARY_BOT_TELEGRAM_TOKEN (Unauthorized)") from None
            raise ConfigError(f"summary-bot: cannot reach the Telegram Bot API at {self.api_url}: {exc}") from None
        await self.application.start()
        try:
            if self.webhook_url:
                await self.application.bot.set_webhook(
                    self.webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
                )
            else:
                await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        except BaseException:
            await self.stop()  # the runner stops only services that started
            raise
        await self._register_commands()  # after polling began: getMe, deleteWebhook stay first
        log.info("telegram: serving as @%s (%s)", self.application.bot.username, "webhook" if self.webhook_url else "long polling")

    async def stop(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()  # finishes the updates in progress
        await self.application.shutdown()

    def _menu(self, language: str | None = None) -> list[tuple[str, str]]:
        """(name, description) of the commands clients show in their menu: the core's."""
        return list(self.bot.menu(language))

    async def _register_commands(self) -> None:
        """setMyCommands from the core's registry, so clients list /privacy and the rest:
        English for everyone, then once per other language for users whose Telegram is in
        it (its two-letter code: Telegram's language_code for pt_BR is "pt"). A failure is
        logged: the bot answers commands without a menu too."""
        for language in self.bot.languages.codes:
            commands = [
                BotCommand(name, description[:256])
                for name, description in self._menu(language)
                if _COMMAND_NAME.fullmatch(name) and description.strip()
            ][:MAX_MENU]
            code = None if language == DEFAULT_LANGUAGE else language.partition("_")[0]
            try:
                await self.application.bot.set_my_commands(commands, language_code=code)
            except TelegramError as exc:
                log.warning("telegram: could not register the command menu (setMyCommands, %s): %s", language, exc)

    async def start_sending(self) -> None:
        """On a worker: just enough to send (who we are, the flood limiter); no updates."""
        try:
            await self.application.initialize()
        except InvalidToken:
            await self.application.bot.shutdown()
            raise ConfigError("summary-bot: Telegram refused SUMMARY_BOT_TELEGRAM_TOKEN (Unauthorized)") from None

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

    # -- sending ------------------------------------------------------------------------------
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
                keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=command)] for label, command in buttons])
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
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=command)] for label, command in buttons])
        await delivery.once(
            [chat.key, "edit", reply.replaces], [text, buttons],
            lambda: self._edit_message(chat, int(reply.replaces), text, keyboard),
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

    # -- receiving ----------------------------------------------------------------------------
    async def _on_webhook(self, request: web.Request) -> web.Response:
        secret = request.headers.get(SECRET_HEADER, "")
        if not (secret.isascii() and hmac.compare_digest(secret.encode(), self.webhook_secret.encode())):
            return web.Response(status=403, text="forbidden")
        raw = await read_body(request)
        if raw is None:
            return too_slow()
        try:
            data = json.loads(raw)  # whatever the Content-Type claims: Telegram sends UTF-8 JSON
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400, text="not a Telegram update")
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        if self.queue is None:
            # Answer Telegram at once; the update is handled in the background like a polled one.
            await self.application.update_queue.put(update)
            return web.Response(text="ok")
        payload = {"update": data}
        if update.inline_query is not None:
            payload = await self._front_inline(update.inline_query, data)
            if payload is None:
                return web.Response(text="ok")  # answered here, from the cache
        try:
            fresh = await self.queue.submit(f"telegram:{self.bot_id}:{update.update_id}", self.platform, payload)
        except Exception:
            log.exception("telegram: could not enqueue update %s; Telegram will deliver it again", update.update_id)
            return web.Response(status=503, text="try again")
        if not fresh:
            log.info("telegram: update %s was delivered again; it is already queued or answered", update.update_id)
        return web.Response(text="ok")

    async def answer_job(self, payload: dict, delivery: Delivery) -> None:
        """On a worker: the update a front queued, answered as if polled here."""
        update = Update.de_json(payload["update"], self.application.bot)
        try:
            if update.inline_query is not None and "inline_deadline" in payload:
                left = float(payload["inline_deadline"]) - time.time()  # the front's clock: bounded by the budget
                await self._on_inline(update.inline_query, budget=min(left, self.inline_budget), counted=True)
                return
            await self._answer(update, delivery)
        except Exception as exc:
            await self._on_error(update, _ErrorContext(exc))

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._answer(update, untracked())

    async def _answer(self, update: Update, delivery: Delivery) -> None:
        if update.my_chat_member is not None:
            await self._on_membership(update.my_chat_member)
            return
        if update.inline_query is not None:
            await self._on_inline(update.inline_query, budget=self.inline_budget)
            return
        if update.callback_query is not None:
            await self._on_press(update.callback_query, delivery)
            return
        message = message_of(update)
        moved = migration(message) if message is not None else None
        if moved is not None:
            await self._move(*moved)
            return
        incoming = await incoming_from_update(update, self.application.bot.bot)
        if incoming is not None:
            await self._respond(incoming, delivery)

    async def _respond(self, incoming: Incoming, delivery: Delivery) -> None:
        """The core's replies to `incoming`, sent in its chat (or where that chat moved)."""
        async with self._typing(incoming.chat):
            replies = await self.bot.handle(incoming)
        await self._send_replies(incoming, replies, delivery)

    async def _send_replies(self, incoming: Incoming, replies: list[Reply], delivery: Delivery) -> None:
        chat = incoming.chat
        try:
            for reply in replies:
                try:
                    await self.send_reply(chat, reply, delivery)
                except ChatMoved as moved:  # once: the message it answered stayed in the old group
                    await self._move(chat, moved.new_chat)
                    chat = moved.new_chat
                    await self.send_reply(chat, replace(reply, reply_to=None), delivery)
        except ChatGone as exc:  # the log line names no chat: it outlives the erasure
            log.warning("telegram: a reply was refused for good (%s); erasing the chat's data", exc)
            await self.privacy.erase_chat(chat)

    # -- inline mode -----------------------------------------------------------------------------
    async def _on_inline(self, query: InlineQuery, *, budget: float, counted: bool = False) -> None:
        """`@bot <link>` in any chat: the digest within `budget` seconds, else the button.
        `counted`: the front that queued it took its rate-limit count."""
        result = await self.bot.inline.answer(PLATFORM, str(query.from_user.id), query.query, budget=budget, counted=counted)
        await self._answer_inline(query, result)

    async def _front_inline(self, query: InlineQuery, data: dict) -> dict | None:
        """On a front: answered from the cache at once (None), or the job payload for a
        worker, with the deadline by which it must answer (the budget from now)."""
        result = await self.bot.inline.answer(PLATFORM, str(query.from_user.id), query.query, budget=0, cache_only=True)
        if result.url is None or result.digest is not None or result.notice is not None:
            await self._answer_inline(query, result)
            return None
        return {"update": data, "inline_deadline": time.time() + self.inline_budget}

    async def _answer_inline(self, query: InlineQuery, result: InlineResult) -> None:
        """answerInlineQuery: one article (the digest as one HTML message, the first point as
        its description); or no results and a button to a private chat with the bot: where
        the digest follows (`start_id`), or one labelled with why not (`notice`)."""
        results: list[InlineQueryResultArticle] = []
        button = None
        cache_time = INLINE_RETRY_CACHE
        t = self.bot.languages.get(query.from_user.language_code)  # the asker's app language (no chat to choose one)
        if result.digest is not None:
            title, description, text = inline_texts(result.digest, t=t)
            content = InputTextMessageContent(text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
            results = [InlineQueryResultArticle(_inline_result_id(result.url or ""), title, content, description=description or None)]
            cache_time = INLINE_DIGEST_CACHE
        elif result.start_id is not None:
            button = InlineQueryResultsButton(t._(INLINE_BUTTON), start_parameter=result.start_id)
        elif result.notice is not None:
            button = InlineQueryResultsButton(shorten(t.text(result.notice), MAX_BUTTON_LABEL), start_parameter=INLINE_HELP)
        else:
            cache_time = INLINE_NOTHING_CACHE
        try:
            await query.answer(results, cache_time=cache_time, is_personal=result.personal, button=button)
        except TelegramError as exc:  # too late (past Telegram's wait), or answered by an earlier run
            log.info("telegram: could not answer an inline query: %s", exc)

    async def _on_membership(self, change: ChatMemberUpdated) -> None:
        """The bot left, was removed from, or was blocked in a chat: erase that chat."""
        chat = removed_chat(change, self.application.bot.id)
        if chat is not None:
            log.info("telegram: the bot is out of a %s chat (%s); erasing its data", chat.kind, change.new_chat_member.status)
            await self.privacy.erase_chat(chat)

    async def _move(self, old: ChatRef, new: ChatRef) -> None:
        """A group became a supergroup: its data to the new id. Both the old group's and the
        new supergroup's service message say so; whichever comes second finds nothing left."""
        async with self._moving:
            if (await self.privacy.inventory(old)).empty:
                return
            moved = await self.privacy.move_chat(old, new)
        log.info("telegram: group %s became supergroup %s; moved %d keys", old.chat_id, new.chat_id, moved)

    async def _on_press(self, query: CallbackQuery, delivery: Delivery) -> None:
        """A button pressed: answered always (the client shows a spinner until then); a press
        whose data is a button's command on that message is its presser sending that command
        in that chat. The answer waits up to PRESS_ANSWER_WAIT for the core, so that what the
        core says to the presser alone (an expired id, the rate limit) is the answer's text
        and nothing is posted in the chat; a slower answer (a summary being written) stops the
        spinner at once and the edit follows."""
        command = button_command(query.data)
        incoming = press_as_incoming(query, command) if command is not None else None
        if incoming is None:
            language = query.from_user.language_code if query.from_user else None
            await self._answer_press(query, self.bot.languages.get(language)._(EXPIRED))
            return
        async with self._typing(incoming.chat):
            handling = asyncio.ensure_future(self.bot.handle(incoming))
            answered = False
            try:
                await asyncio.wait_for(asyncio.shield(handling), PRESS_ANSWER_WAIT)
            except asyncio.TimeoutError:
                await self._answer_press(query, None)
                answered = True
            replies = await handling
        if not answered:
            notices = [notice for notice in map(_press_notice, replies) if notice is not None]
            await self._answer_press(query, "\n".join(notices) or None)
            replies = [reply for reply in replies if _press_notice(reply) is None]
        await self._send_replies(incoming, replies, delivery)

    async def _answer_press(self, query: CallbackQuery, text: str | None) -> None:
        try:
            await query.answer(text[:MAX_PRESS_NOTICE] if text else None)
        except TelegramError as exc:  # too old to answer (or answered by an earlier run): still act
            log.debug("telegram: could not answer a button press: %s", exc)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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

    async def _is_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self.application.bot.get_chat_member(chat_id, user_id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def _may_change_settings(self, chat: ChatRef, user_id: str, message: Incoming) -> bool:
        return await is_chat_admin(chat, user_id, self._is_admin)

    @asynccontextmanager
    async def _typing(self, chat: ChatRef) -> AsyncIterator[None]:
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


def _inline_result_id(url: str) -> str:
    """An inline result's id (1-64 bytes): a short hash of the link, the same for every asker."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _press_notice(reply: Reply) -> str | None:
    """A private reply to a press, short enough to be the press's answer (Telegram has no
    message only one member of a group sees); None for one that is posted."""
    text = reply.error or reply.text
    if not reply.private or not text or reply.digest or reply.daily or reply.buttons:
        return None
    return text if len(text) <= MAX_PRESS_NOTICE else None


class _ErrorContext:
    """What `_on_error` reads of python-telegram-bot's callback context, for errors met
    outside its dispatching (a queued update answered on a worker)."""

    def __init__(self, error: BaseException):
        self.error = error
