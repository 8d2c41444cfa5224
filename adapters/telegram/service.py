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
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from contextlib import asynccontextmanager, suppress
from typing import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from telegram import LinkPreviewOptions, ReplyParameters, Update
from telegram.constants import ChatAction, ChatMemberStatus, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, BaseRateLimiter, ContextTypes, MessageHandler, filters

from adapters.delivery import Delivery, PermanentSendError, untracked
from adapters.request_body import read_body, too_slow
from adapters.telegram.render import render_reply
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.updates import PLATFORM, incoming_from_update, is_chat_admin, message_of
from bot.config import ConfigError
from bot.core import SummaryBot
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "channel_post"]
APOLOGY = "Sorry, something went wrong on my side. Please try again later."
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
        if self.webhook_url and not _SECRET_RE.fullmatch(self.webhook_secret):
            raise ConfigError(
                "summary-bot: SUMMARY_BOT_TELEGRAM_WEBHOOK_URL needs SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET: "
                "1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        self.bot = bot
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
        self.application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST, self._on_message)
        )
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
        log.info("telegram: serving as @%s (%s)", self.application.bot.username, "webhook" if self.webhook_url else "long polling")

    async def stop(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()  # finishes the updates in progress
        await self.application.shutdown()

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
        again cannot help). A 403 (bot blocked or kicked) still raises Forbidden."""
        try:
            for reply in replies:
                await self.send_reply(chat, reply, delivery)
        except BadRequest as exc:  # 429s are RetryAfter and a migrated chat ChatMigrated: not this
            raise PermanentSendError(f"Telegram refused it: {exc}") from exc

    # -- sending ------------------------------------------------------------------------------
    async def send_reply(self, chat: ChatRef, reply: Reply, delivery: Delivery | None = None) -> None:
        """`reply` as one or more HTML messages; the first answers `reply.reply_to`."""
        delivery = delivery or untracked()
        answering = ReplyParameters(int(reply.reply_to), allow_sending_without_reply=True) if reply.reply_to else None
        for text in render_reply(reply):
            await delivery.once(
                [chat.key, chat.thread_id],  # what the call sends: a re-run that differs sends it
                [text, answering.message_id if answering else None],
                lambda text=text, answering=answering: self.application.bot.send_message(
                    int(chat.chat_id),
                    text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                    reply_parameters=answering,
                    message_thread_id=int(chat.thread_id) if chat.thread_id else None,
                )
            )
            answering = None  # the rest of a long reply follows the first part

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
        try:
            fresh = await self.queue.submit(f"telegram:{self.bot_id}:{update.update_id}", self.platform, {"update": data})
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
            await self._answer(update, delivery)
        except Exception as exc:
            await self._on_error(update, _ErrorContext(exc))

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._answer(update, untracked())

    async def _answer(self, update: Update, delivery: Delivery) -> None:
        incoming = await incoming_from_update(update, self.application.bot.bot)
        if incoming is None:
            return
        async with self._typing(incoming.chat):
            replies = await self.bot.handle(incoming)
        for reply in replies:
            await self.send_reply(incoming.chat, reply, delivery)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = message_of(update) if isinstance(update, Update) else None
        where = f"update {update.update_id}" if isinstance(update, Update) else "the Telegram adapter"
        log.error("telegram: %s failed", where, exc_info=context.error)
        if message is None or message.chat is None:
            return  # nowhere to apologise to
        try:
            await self.application.bot.send_message(
                message.chat_id,
                APOLOGY,
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


class _ErrorContext:
    """What `_on_error` reads of python-telegram-bot's callback context, for errors met
    outside its dispatching (a queued update answered on a worker)."""

    def __init__(self, error: BaseException):
        self.error = error
