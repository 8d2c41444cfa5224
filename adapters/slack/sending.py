"""Everything the adapter posts to Slack: replies in a thread, a slash command's answer on
its response_url, daily digests in a channel.

One HTTP session serves every Web API call once opened (slack-sdk opens and closes a
session per call otherwise: a TLS handshake and ~10 ms of CPU each). Slack's 429s are
waited out (Retry-After) and counted; each message goes out once through a `Delivery`, so
a re-run job does not post it again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.delivery import Delivery, PermanentSendError, untracked
from adapters.slack.incoming import channel_of
from adapters.slack.installation_store import StoreInstallationStore
from adapters.slack.render import SlackMessage, render_replacement, render_replies
from adapters.slack.settings import SlackSettings
from bot.i18n import Languages
from bot.metrics import Metrics
from bot.models import ChatRef, Incoming, Reply

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3  # 429s waited out (Retry-After) before a post is given up

# Errors that say "not now" rather than "never" (Slack answers most refusals with HTTP 200).
_TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})


class CountingRateLimitRetries(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's wait-and-retry on 429, counting Slack's 429s for /metrics."""

    def __init__(self, metrics, **options):
        super().__init__(**options)
        self.metrics = metrics

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:
        limited = await super()._can_retry_async(state=state, request=request, response=response, error=error)
        if limited:
            self.metrics.platform_429s.labels("slack").inc()
        return limited


class SlackSender:
    """Posts to Slack for one process: the Web API with the right workspace's token, and
    response_urls on Slack's own hosts only."""

    def __init__(
        self, settings: SlackSettings, metrics: Metrics, installation_store: StoreInstallationStore | None,
        languages: Languages | None = None,
    ):
        self.settings = settings
        self.languages = languages  # the renderer's own words in each reply's language
        self.metrics = metrics
        self.installation_store = installation_store  # OAuth: a token per workspace; else the one bot token
        self._http: aiohttp.ClientSession | None = None
        self.client = self.web_client(None if installation_store else settings.slack_bot_token)

    def open(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
            self.client.session = self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _retries(self) -> list[CountingRateLimitRetries]:
        return [CountingRateLimitRetries(self.metrics, max_retry_count=RATE_LIMIT_RETRIES)]

    def web_client(self, token: str | None) -> AsyncWebClient:
        base_url = self.settings.slack_api_url
        return AsyncWebClient(
            token=token,
            session=self._http,
            base_url=base_url if base_url.endswith("/") else base_url + "/",  # the client appends the method
            retry_handlers=self._retries(),
        )

    async def client_for_workspace(self, team_id: str | None) -> AsyncWebClient:
        if self.installation_store is None:
            return self.client
        bot = await self.installation_store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise LookupError(f"summary-bot is not installed in the Slack workspace {team_id}")
        return self.web_client(bot.bot_token)

    async def send(self, chat: ChatRef, replies: list[Reply], delivery: Delivery | None = None) -> None:
        """Post replies to a channel unprompted (daily digests), each message once through
        `delivery`; raises PermanentSendError if Slack refuses one for good, SlackApiError
        if it may take it later, LookupError if the workspace has not installed the app."""
        delivery = delivery or untracked()
        client = await self.client_for_workspace(chat.scope_id)
        # A Slack ChatRef's thread is only that of the message that asked (every answer goes
        # to a thread); a daily digest belongs in the channel itself.
        channel = replace(chat, thread_id=None)
        for message in render_replies(replies, self.languages):
            try:
                await delivery.once(
                    [channel.key, None], [message.text, message.blocks],
                    lambda message=message: self._post_message(client, channel, message),
                )  # fmt: skip
            except SlackApiError as exc:
                if _may_pass_later(exc):
                    raise
                raise PermanentSendError(f"Slack refused it: {exc.response.get('error')}") from exc

    async def reply_in_thread(
        self, client: AsyncWebClient, message: Incoming, replies: list[Reply], delivery: Delivery,
        *, response_url: str | None = None,
    ) -> None:  # fmt: skip
        """The replies to `message` in its thread; a `private` one only to its sender; one
        that `replaces` a message (a Shorter/Longer press) edits it (chat.update, or the
        press's `response_url` where Slack lets the bot not update it directly)."""
        for reply in replies:
            if reply.replaces is not None:
                await self._replace(client, message.chat, reply, delivery, response_url)
                continue
            for rendered in render_replies([reply], self.languages):
                if reply.private:
                    await delivery.once(
                        ["ephemeral", message.chat.key, message.chat.thread_id, message.user_id],
                        [rendered.text, rendered.blocks],
                        lambda rendered=rendered: client.chat_postEphemeral(
                            channel=channel_of(message.chat), user=message.user_id, thread_ts=message.chat.thread_id,
                            text=rendered.text, blocks=rendered.blocks,
                        ),
                    )  # fmt: skip
                else:
                    await delivery.once(
                        [message.chat.key, message.chat.thread_id], [rendered.text, rendered.blocks],
                        lambda rendered=rendered: self._post_message(client, message.chat, rendered),
                    )  # fmt: skip

    async def _replace(
        self, client: AsyncWebClient, chat: ChatRef, reply: Reply, delivery: Delivery, response_url: str | None
    ) -> None:
        rendered = render_replacement(reply, self.languages)
        try:
            await delivery.once(
                ["update", chat.key, reply.replaces], [rendered.text, rendered.blocks],
                lambda: client.chat_update(channel=channel_of(chat), ts=reply.replaces, text=rendered.text, blocks=rendered.blocks),
            )  # fmt: skip
        except SlackApiError as exc:
            # A message a slash command's response_url posted, in a channel the bot is not in:
            # the press's own response_url may still replace it (Slack allows it for 30 minutes).
            webhook = self.command_webhook(response_url) if response_url and not _may_pass_later(exc) else None
            if webhook is None:
                raise
            log.info("Slack refused chat.update (%s); replacing through the press's response_url", exc.response.get("error"))
            await self._replace_through(webhook, rendered, delivery)

    async def _replace_through(self, webhook: AsyncWebhookClient, rendered: SlackMessage, delivery: Delivery) -> None:
        response = await delivery.once(
            ["response_url", webhook.url, "replace"], [rendered.text, rendered.blocks],
            lambda: webhook.send(text=rendered.text, blocks=rendered.blocks, replace_original=True,
                                 unfurl_links=False, unfurl_media=False),
        )  # fmt: skip
        if response is not None and response.status_code != 200:
            log.error("Slack refused a replacement: %s %s", response.status_code, response.body)

    async def _post_message(self, client: AsyncWebClient, chat: ChatRef, message: SlackMessage) -> None:
        await client.chat_postMessage(
            channel=channel_of(chat), thread_ts=chat.thread_id, text=message.text, blocks=message.blocks,
            unfurl_links=False, unfurl_media=False,
        )  # fmt: skip

    def command_webhook(self, response_url: str) -> AsyncWebhookClient | None:
        """Where a slash command's answer goes: its response_url, which works in any
        channel (even one the bot is not in) and shows a `private` reply to the user alone.
        None, with a warning, for a URL off Slack's own hosts, whatever the request names."""
        if not self._is_slack_url(response_url):
            log.warning("a slash command named a response_url off Slack (%s); not answered", urlsplit(response_url).netloc)
            return None
        return AsyncWebhookClient(response_url, session=self._http, retry_handlers=self._retries())

    async def reply_to_command(self, webhook: AsyncWebhookClient, replies: list[Reply], delivery: Delivery) -> None:
        for reply in replies:
            if reply.replaces is not None:  # a press under a message only its presser saw
                await self._replace_through(webhook, render_replacement(reply, self.languages), delivery)
                continue
            for rendered in render_replies([reply], self.languages):
                response = await delivery.once(
                    ["response_url", webhook.url], [rendered.text, rendered.blocks, reply.private],
                    lambda rendered=rendered, reply=reply: webhook.send(
                        text=rendered.text, blocks=rendered.blocks,
                        response_type="ephemeral" if reply.private else "in_channel",
                        unfurl_links=False, unfurl_media=False,
                    ),
                )  # fmt: skip
                if response is not None and response.status_code != 200:
                    log.error("Slack refused a slash command reply: %s %s", response.status_code, response.body)

    def _is_slack_url(self, url: str) -> bool:
        """On https://hooks.slack.com, or on the host the Web API is reached at
        (SUMMARY_BOT_SLACK_API_URL: slack.com, or a stand-in in tests)."""

        def origin(address: str) -> tuple:
            parts = urlsplit(address)
            return parts.scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(parts.scheme)

        try:
            return origin(url) in (("https", "hooks.slack.com", 443), origin(self.settings.slack_api_url))
        except ValueError:  # a malformed port
            return False


def _may_pass_later(exc: SlackApiError) -> bool:
    """Whether sending again may succeed: a 429, a 5xx, or an error Slack calls temporary."""
    status = getattr(exc.response, "status_code", 200)
    return status == 429 or status >= 500 or exc.response.get("error") in _TRANSIENT_ERRORS
