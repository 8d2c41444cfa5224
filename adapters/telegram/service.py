"""The Telegram adapter: python-telegram-bot's `Application` wired to the core, assembled
from one module per job.

One message's journey: an update arrives (long polling, or the webhook route on the
shared HTTP server, webhook.py) -> `Dispatch` (dispatch.py) sorts it by kind ->
`incoming_from_update` makes a message an `Incoming` -> `SummaryBot.handle` -> each `Reply`
is rendered to HTML messages (`render_reply`) and sent as a reply to the message that asked
(sending.py). While the core works the chat shows "typing…". Scaled out, a front's webhook
queues the update and a worker answers it (`answer_job`), the same journey.

Presses of a reply's buttons are in callbacks.py, inline mode in inline.py, the chat's
lifecycle (removals, migrations) in lifecycle.py; the command menu is registered with
setMyCommands at start (menu.py).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.constants import ChatMemberStatus
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, BaseRateLimiter, TypeHandler

from adapters.delivery import Delivery
from adapters.telegram.bounded import BoundedUpdates
from adapters.telegram.callbacks import Presses
from adapters.telegram.dispatch import Dispatch, lifecycle_update
from adapters.telegram.inline import INLINE_BUTTON, InlineMode
from adapters.telegram.lifecycle import Lifecycle
from adapters.telegram.menu import register_commands
from adapters.telegram.sending import RETRIES_AFTER_429, CountingRateLimiter, TelegramSender
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.updates import PLATFORM, is_chat_admin
from adapters.telegram.webhook import SECRET_RE, Webhook
from bot.config import ConfigError
from bot.core import SummaryBot
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)

__all__ = ["INLINE_BUTTON", "TelegramService"]  # INLINE_BUTTON: read here by the catalogs' test

ALLOWED_UPDATES = ["message", "channel_post", "my_chat_member", "callback_query", "inline_query"]


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
        if self.webhook_url and not SECRET_RE.fullmatch(self.webhook_secret):
            raise ConfigError(
                "summary-bot: SUMMARY_BOT_TELEGRAM_WEBHOOK_URL needs SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET: "
                "1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        self.bot = bot
        self.privacy = bot.privacy  # the core's erasure and migration service (bot.privacy)
        bot.permissions.register(PLATFORM, self._may_change_settings)  # the core asks it (bot.acl)
        self.api_url = api_url = settings.telegram_api_url.rstrip("/")
        builder = (
            Application.builder()
            .token(settings.telegram_token)
            .base_url(f"{api_url}/bot")  # python-telegram-bot appends the token
            .base_file_url(f"{api_url}/file/bot")
            .rate_limiter(rate_limiter or CountingRateLimiter(bot.metrics, max_retries=RETRIES_AFTER_429))
            # SUMMARY_BOT_TELEGRAM_CONCURRENCY updates in progress, as many waiting; past that "busy"
            .concurrent_updates(BoundedUpdates(settings.telegram_concurrency, self._refuse, lifecycle_update))
        )
        if self.webhook_url:
            builder = builder.updater(None)  # updates come in through add_routes instead
        self.application = builder.build()
        self.lifecycle = Lifecycle(self.application, self.privacy)
        self.sender = TelegramSender(self.application, bot, self.lifecycle)
        self.inline = InlineMode(bot, settings.telegram_inline_budget)
        self.dispatch = Dispatch(self.application, bot, self.sender, self.lifecycle, self.inline, Presses(bot, self.sender))
        self.webhook = Webhook(self.application, self.webhook_secret, self.bot_id, self.inline, queue=queue)
        # Every kind in ALLOWED_UPDATES, each sorted out by `Dispatch.answer` (as on a worker).
        self.application.add_handler(TypeHandler(Update, self.dispatch.on_update))
        self.application.add_error_handler(self.dispatch.on_error)

    async def _refuse(self, update: object) -> None:
        await self.dispatch.refuse(update)

    # -- ChatService ------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        if self.webhook_url:
            app.router.add_post(urlsplit(self.webhook_url).path or "/", self.webhook.on_webhook)

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
        await register_commands(self.application, self.bot)  # after polling began: getMe, deleteWebhook stay first
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
        """Post replies unprompted (daily digests); see `TelegramSender.send`."""
        await self.sender.send(chat, replies, delivery)

    async def send_reply(self, chat: ChatRef, reply: Reply, delivery: Delivery | None = None) -> None:
        """`reply` as one or more HTML messages; see `TelegramSender.send_reply`."""
        await self.sender.send_reply(chat, reply, delivery)

    async def answer_job(self, payload: dict, delivery: Delivery) -> None:
        """On a worker: the update a front queued, answered as if polled here."""
        await self.dispatch.answer_job(payload, delivery)

    # -- who may change a chat's settings (bot.acl) -----------------------------------------------
    async def _is_admin(self, chat_id: int, user_id: int) -> bool:
        member = await self.application.bot.get_chat_member(chat_id, user_id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def _may_change_settings(self, chat: ChatRef, user_id: str, message: Incoming) -> bool:
        return await is_chat_admin(chat, user_id, self._is_admin, pressed=message.via_button)
