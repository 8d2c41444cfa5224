"""The Slack adapter: slack-bolt's AsyncApp on the shared aiohttp server (or Socket Mode).

A message's journey: Slack POSTs to /slack/events -> Bolt's middleware chain verifies the
signature (401 otherwise), answers url_verification, ignores our own events, and
`_skip_retried_events` drops a delivery we have already seen -> a listener below acks at
once and starts the work as a task -> `SummaryBot.handle` -> `render` -> chat.postMessage
(or the slash command's response_url, or chat.unfurl).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.incoming import (
    chat_kind,
    host_matches,
    incoming_from_command,
    incoming_from_event,
    is_from_a_person,
)
from adapters.slack.installation_store import StoreInstallationStore, StoreOAuthStateStore
from adapters.slack.render import SlackMessage, render_replies, render_unfurl
from bot.config import ConfigError, Settings
from bot.core import SummaryBot
from bot.links import find_urls
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"
EVENT_DEDUPE_TTL = 3600  # Slack retries an event for about an hour at most
RATE_LIMIT_RETRIES = 3  # 429s waited out (Retry-After) before a post is given up
STOP_GRACE_SECONDS = 30  # how long stop() lets replies in progress finish


class SlackService:
    platform = "slack"

    def __init__(self, settings: Settings, bot: SummaryBot):
        self.settings = settings
        self.bot = bot
        self.oauth = bool(settings.slack_client_id and settings.slack_client_secret)
        if not settings.slack_signing_secret and not settings.slack_app_token:
            raise ConfigError(
                "summary-bot: Slack needs SUMMARY_BOT_SLACK_SIGNING_SECRET (events over HTTP) "
                "or SUMMARY_BOT_SLACK_APP_TOKEN (Socket Mode)"
            )
        if not self.oauth and not settings.slack_bot_token:
            raise ConfigError("summary-bot: Slack needs SUMMARY_BOT_SLACK_BOT_TOKEN (or the _CLIENT_ID/_CLIENT_SECRET pair)")
        self.installation_store = StoreInstallationStore(bot.store) if self.oauth else None
        self.client = self._web_client(None if self.oauth else settings.slack_bot_token)
        self.app = AsyncApp(
            name="summary-bot",
            logger=log,
            signing_secret=settings.slack_signing_secret or "",
            client=self.client,
            oauth_settings=self._oauth_settings() if self.oauth else None,
            # Listeners only start tasks, so running them before the response still acks at once,
            # and every task is started (and tracked) before Slack hears back.
            process_before_response=True,
        )
        self.app.use(self._skip_retried_events)
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_app_mention)
        self.app.event("link_shared")(self._on_link_shared)
        self.app.command(re.compile(r"^/"))(self._on_command)
        self._work: set[asyncio.Task] = set()
        self._socket_mode = None

    def _web_client(self, token: str | None) -> AsyncWebClient:
        base_url = self.settings.slack_api_url
        return AsyncWebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",  # the client appends the method
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)],
        )

    def _oauth_settings(self) -> AsyncOAuthSettings:
        return AsyncOAuthSettings(
            client_id=self.settings.slack_client_id,
            client_secret=self.settings.slack_client_secret,
            scopes=self.settings.slack_scopes,
            installation_store=self.installation_store,
            state_store=StoreOAuthStateStore(self.bot.store),
            install_path=INSTALL_PATH,
            redirect_uri_path=OAUTH_REDIRECT_PATH,
        )

    # -- ChatService ----------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        if self.settings.slack_signing_secret:  # without it requests could not be verified
            app.router.add_post(EVENTS_PATH, self._dispatch)
        flow = self.app.oauth_flow
        if flow is not None:
            app.router.add_get(flow.install_path, self._install_page)
            app.router.add_get(flow.redirect_uri_path, self._oauth_redirect)

    async def start(self) -> None:
        if self.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_mode = AsyncSocketModeHandler(self.app, self.settings.slack_app_token, logger=log)
            await self._socket_mode.connect_async()
            log.info("connected to Slack in Socket Mode")

    async def stop(self) -> None:
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
        if self._work:
            done, unfinished = await asyncio.wait(set(self._work), timeout=STOP_GRACE_SECONDS)
            for task in unfinished:
                task.cancel()
            if unfinished:
                log.warning("stopped %d Slack replies still in progress", len(unfinished))
                await asyncio.wait(unfinished)

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        """Post replies to a channel unprompted (daily digests); raises SlackApiError if
        Slack refuses them, LookupError if the workspace has not installed the app."""
        client = await self._client_for_workspace(chat.scope_id)
        # A Slack ChatRef's thread is only that of the message that asked (every answer goes
        # to a thread); a daily digest belongs in the channel itself.
        channel = replace(chat, thread_id=None)
        for message in render_replies(replies):
            await self._post_message(client, channel, message)

    async def _client_for_workspace(self, team_id: str | None) -> AsyncWebClient:
        if self.installation_store is None:
            return self.client
        bot = await self.installation_store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise LookupError(f"summary-bot is not installed in the Slack workspace {team_id}")
        return self._web_client(bot.bot_token)

    # -- HTTP -----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _install_page(self, request: web.Request) -> web.Response:
        response = await self.app.oauth_flow.handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        response = await self.app.oauth_flow.handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    # -- middleware and listeners (each returns at once; the work runs as a task) ---------
    async def _skip_retried_events(self, body: dict, next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """One reply per event however often Slack delivers it (it retries when an ack is
        slow or lost): the first delivery claims the event id in the store for an hour."""
        event_id = body.get("event_id")
        if event_id and not await self.bot.store.set_if_absent(f"slack:event:{event_id}", b"1", ttl=EVENT_DEDUPE_TTL):
            log.info("event %s was already handled; skipping this retry", event_id)
            return BoltResponse(status=200, body="")
        await next()
        return None

    async def _on_message(self, event: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        if not is_from_a_person(event):
            return  # edits, deletions, joins, bots (ours included)
        if context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", ""):
            return  # a mention: the app_mention event answers it
        message = incoming_from_event(event, team_id=context.team_id, bot_user_id=context.bot_user_id, addressed_to_bot=False)
        urls = find_urls(message.text)
        if urls and all(host_matches(url, self.settings.slack_unfurl_domains) for url in urls):
            return  # link_shared answers these with unfurls
        self._start(self._answer_in_thread(client, message))

    async def _on_app_mention(self, event: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        message = incoming_from_event(event, team_id=context.team_id, bot_user_id=context.bot_user_id, addressed_to_bot=True)
        self._start(self._answer_in_thread(client, message))

    async def _on_command(self, ack, command: dict) -> None:
        await ack()
        message = incoming_from_command(command, self.bot.commands)
        self._start(self._answer_command(command["response_url"], message))

    async def _on_link_shared(self, event: dict, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        domains = self.settings.slack_unfurl_domains
        urls = [link["url"] for link in event.get("links", []) if host_matches(link.get("url", ""), domains)]
        if not urls:
            return
        channel = event.get("channel", "")
        chat = ChatRef(platform="slack", chat_id=channel, thread_id=event.get("thread_ts"), scope_id=context.team_id,
                       kind=chat_kind(channel))  # fmt: skip
        message = Incoming(chat=chat, text=" ".join(urls), user_id=event.get("user", ""), addressed_to_bot=True)
        self._start(self._unfurl(client, event, message, urls))

    # -- the work -------------------------------------------------------------------------
    def _start(self, work: Coroutine) -> None:
        task = asyncio.create_task(work)
        self._work.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack reply failed", exc_info=task.exception())

    async def _answer_in_thread(self, client: AsyncWebClient, message: Incoming) -> None:
        for reply in await self.bot.handle(message):
            for rendered in render_replies([reply]):
                if reply.private:
                    await client.chat_postEphemeral(
                        channel=message.chat.chat_id, user=message.user_id, thread_ts=message.chat.thread_id,
                        text=rendered.text, blocks=rendered.blocks,
                    )  # fmt: skip
                else:
                    await self._post_message(client, message.chat, rendered)

    async def _post_message(self, client: AsyncWebClient, chat: ChatRef, message: SlackMessage) -> None:
        await client.chat_postMessage(
            channel=chat.chat_id, thread_ts=chat.thread_id, text=message.text, blocks=message.blocks,
            unfurl_links=False, unfurl_media=False,
        )  # fmt: skip

    async def _answer_command(self, response_url: str, message: Incoming) -> None:
        """Slash command replies go to its response_url: this works in any channel, even
        one the bot is not in, and shows a `private` reply to the user alone."""
        webhook = AsyncWebhookClient(
            response_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)]
        )
        for reply in await self.bot.handle(message):
            for rendered in render_replies([reply]):
                response = await webhook.send(
                    text=rendered.text, blocks=rendered.blocks,
                    response_type="ephemeral" if reply.private else "in_channel",
                    unfurl_links=False, unfurl_media=False,
                )  # fmt: skip
                if response.status_code != 200:
                    log.error("Slack refused a slash command reply: %s %s", response.status_code, response.body)

    async def _unfurl(self, client: AsyncWebClient, event: dict, message: Incoming, urls: list[str]) -> None:
        # A link typed in the composer is not shared yet: it must not join the daily digest.
        shared = event.get("source") != "composer"
        replies = await self.bot.summarize_links(message, urls, record_history=shared)
        unfurls = {url: render_unfurl(reply.digest) for url, reply in zip(urls, replies) if reply.digest is not None}
        if not unfurls:
            return  # errors (a page we cannot read, a rate limit) leave Slack's own preview alone
        where = (
            {"unfurl_id": event["unfurl_id"], "source": event["source"]}
            if event.get("unfurl_id") and event.get("source")
            else {"channel": event["channel"], "ts": event["message_ts"]}
        )
        try:
            await client.chat_unfurl(unfurls=unfurls, **where)
        except SlackApiError as exc:
            log.warning("chat.unfurl failed: %s", exc.response.get("error"))
