"""The Slack adapter: slack-bolt's AsyncApp on the shared aiohttp server (or Socket Mode),
assembled from one module per job.

A message's journey: Slack POSTs to /slack/events -> the gate (gate.py) refuses what is
not a well-formed, signed Slack request at most 5 minutes old (401/400) -> Bolt's
middleware chain answers url_verification, ignores our own events, and the claim
(claims.py) drops a delivery that is being or has been answered -> a listener
(listeners.py) hands the work off and acks -> `answer_job` (handoff.py), here or on a
worker: `SummaryBot.handle` -> render -> chat.postMessage or the slash command's
response_url (sending.py), or chat.unfurl (unfurl.py). Workspaces install the app by
OAuth (oauth.py), or one workspace's bot token is configured.
"""

from __future__ import annotations

import logging

from aiohttp import web

from adapters.delivery import Delivery
from adapters.slack.admins import SlackLookups, is_admin_or_channel_creator
from adapters.slack.claims import EVENT_CLAIM_LEASE, EVENT_DEDUPE_TTL, EventClaims
from adapters.slack.gate import EVENTS_PATH, SignatureGate
from adapters.slack.handoff import HandOff
from adapters.slack.inprocess import STOP_GRACE_SECONDS
from adapters.slack.lifecycle import Lifecycle
from adapters.slack.listeners import Listeners, build_app
from adapters.slack.oauth import INSTALL_PATH, OAUTH_REDIRECT_PATH, add_oauth_routes, installs_by_oauth, oauth_settings
from adapters.slack.sending import RATE_LIMIT_RETRIES, CountingRateLimitRetries, SlackSender
from adapters.slack.settings import SlackSettings
from bot.config import ConfigError
from bot.core import SummaryBot
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)

__all__ = [
    "EVENTS_PATH", "EVENT_CLAIM_LEASE", "EVENT_DEDUPE_TTL", "INSTALL_PATH", "OAUTH_REDIRECT_PATH",
    "RATE_LIMIT_RETRIES", "STOP_GRACE_SECONDS", "CountingRateLimitRetries", "SlackService",
]  # fmt: skip


class SlackService:
    platform = "slack"

    def __init__(self, settings: SlackSettings, bot: SummaryBot, *, queue=None):
        if not settings.slack_signing_secret and not settings.slack_app_token:
            raise ConfigError(
                "summary-bot: Slack needs SUMMARY_BOT_SLACK_SIGNING_SECRET (events over HTTP) "
                "or SUMMARY_BOT_SLACK_APP_TOKEN (Socket Mode)"
            )
        oauth = oauth_settings(settings, bot.store) if installs_by_oauth(settings) else None
        if oauth is None and not settings.slack_bot_token:
            raise ConfigError("summary-bot: Slack needs SUMMARY_BOT_SLACK_BOT_TOKEN (or the _CLIENT_ID/_CLIENT_SECRET pair)")
        self.settings = settings
        self.bot = bot
        bot.permissions.register(self.platform, self._may_change_settings)  # the core asks it (bot.acl)
        self.lookups = SlackLookups()  # users' flags and channels' creators, remembered a while
        self.sender = SlackSender(settings, bot.metrics, oauth.installation_store if oauth else None, bot.languages)
        # In-process, events are claimed in the store; scaled out, the job queue answers each once.
        # The lease is read from this module at each claim, where a test may shorten it.
        claims = EventClaims(bot.store, lease=lambda: EVENT_CLAIM_LEASE) if queue is None else None
        self.work = HandOff(settings, bot, self.sender, queue=queue, claims=claims)
        self.app = build_app(settings, self.sender.client, oauth)
        lifecycle = Lifecycle(bot, oauth.installation_store if oauth else None)
        Listeners(settings, self.work, lifecycle).register(self.app)
        self._socket_mode = None

    # -- ChatService ----------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        if self.settings.slack_signing_secret:  # without it requests could not be verified
            app.router.add_post(EVENTS_PATH, SignatureGate(self.settings.slack_signing_secret, self.app).dispatch)
        if self.app.oauth_flow is not None:
            add_oauth_routes(app, self.app.oauth_flow)

    async def start(self) -> None:
        self.sender.open()
        await self.work.legacy.migrate_subscribed(self._configured_team)
        if self.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_mode = AsyncSocketModeHandler(self.app, self.settings.slack_app_token, logger=log)
            await self._socket_mode.connect_async()
            log.info("connected to Slack in Socket Mode")

    async def start_sending(self) -> None:
        """On a worker: only the HTTP session; Web API clients are made per workspace as needed."""
        self.sender.open()

    async def stop(self) -> None:
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
        await self.work.stop()
        await self.sender.close()

    async def send(self, chat: ChatRef, replies: list[Reply], delivery: Delivery | None = None) -> None:
        """Post replies to a channel unprompted (daily digests); see `SlackSender.send`."""
        await self.sender.send(chat, replies, delivery)

    async def answer_job(self, payload: dict, delivery: Delivery) -> None:
        """Answer one handed-off event or command (in this process, or on a worker)."""
        await self.work.answer_job(payload, delivery)

    async def _configured_team(self) -> str | None:
        """Token mode: the workspace of SUMMARY_BOT_SLACK_BOT_TOKEN (auth.test); OAuth: none."""
        if self.sender.installation_store is not None:
            return None
        try:
            return (await self.sender.client.auth_test()).get("team_id")
        except Exception as exc:  # noqa: BLE001 - start anyway; the chat moves when it next speaks
            log.warning("could not ask Slack which workspace the bot token is for (%s)", type(exc).__name__)
            return None

    async def _may_change_settings(self, chat: ChatRef, user_id: str, message: Incoming) -> bool:
        """Workspace admins and owners, and the channel's creator (a failed call raises: denied)."""
        client = await self.sender.client_for_workspace(chat.scope_id)
        return await is_admin_or_channel_creator(client, chat, user_id, self.lookups)
