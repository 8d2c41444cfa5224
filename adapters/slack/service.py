"""The Slack adapter: slack-bolt's AsyncApp on the shared aiohttp server (or Socket Mode).

A message's journey: Slack POSTs to /slack/events -> `_dispatch` refuses what is not a
well-formed, signed Slack request at most 5 minutes old (401/400) -> Bolt's middleware
chain answers url_verification, ignores our own events, and `_claim_event` drops a
delivery that is being or has been answered -> a listener below hands the work off and
acks -> `answer_job`: `SummaryBot.handle` -> `render` -> chat.postMessage (or the slash
command's response_url, or chat.unfurl).

Handing off is starting a task in this process, or, scaled out (SUMMARY_BOT_WORKERS=
external), enqueueing a job that a worker answers through the same `answer_job`. The ack
goes out only after the hand-off: a front that cannot enqueue answers 500 and Slack
delivers the event again. In-process, an event's claim in the store is a lease: marked
done after the reply, so a process that died mid-reply does not swallow Slack's retry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
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
from adapters.delivery import Delivery, PermanentSendError, untracked
from adapters.request_body import read_body, too_slow
from adapters.slack.admins import is_admin_or_channel_creator
from adapters.slack.installation_store import StoreInstallationStore, StoreOAuthStateStore
from adapters.slack.render import SlackMessage, render_replies, render_unfurl
from adapters.slack.settings import SlackSettings
from bot.config import ConfigError
from bot.core import SummaryBot
from bot.links import find_urls, remove_urls
from bot.models import ChatRef, Incoming, Reply
from bot.store import keys

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"
EVENT_DEDUPE_TTL = 3600  # Slack retries an event for about an hour at most
EVENT_CLAIM_LEASE = 120  # an answer in progress holds its event this long; then a retry may answer
RATE_LIMIT_RETRIES = 3  # 429s waited out (Retry-After) before a post is given up
STOP_GRACE_SECONDS = 30  # how long stop() lets replies in progress finish


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


class SlackService:
    platform = "slack"

    def __init__(self, settings: SlackSettings, bot: SummaryBot, *, queue=None):
        self.settings = settings
        self.bot = bot
        bot.permissions.register(self.platform, self._may_change_settings)  # the core asks it (bot.acl)
        self.queue = queue  # a MessageQueue on a front; None where this process answers itself
        self.oauth = bool(settings.slack_client_id and settings.slack_client_secret)
        if not settings.slack_signing_secret and not settings.slack_app_token:
            raise ConfigError(
                "summary-bot: Slack needs SUMMARY_BOT_SLACK_SIGNING_SECRET (events over HTTP) "
                "or SUMMARY_BOT_SLACK_APP_TOKEN (Socket Mode)"
            )
        if not self.oauth and not settings.slack_bot_token:
            raise ConfigError("summary-bot: Slack needs SUMMARY_BOT_SLACK_BOT_TOKEN (or the _CLIENT_ID/_CLIENT_SECRET pair)")
        self.installation_store = StoreInstallationStore(bot.store) if self.oauth else None
        # One HTTP session for every Web API call once started (slack-sdk opens and closes a
        # session per call otherwise: a TLS handshake and ~10 ms of CPU each).
        self._http: aiohttp.ClientSession | None = None
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
            # `_dispatch` verifies every HTTP request's signature and age before Bolt sees it
            # (401/400 with no traceback); Socket Mode needs none. One check, not two.
            request_verification_enabled=False,
        )
        self.app.use(self._claim_event)
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
            session=self._http,
            base_url=base_url if base_url.endswith("/") else base_url + "/",  # the client appends the method
            retry_handlers=[CountingRateLimitRetries(self.bot.metrics, max_retry_count=RATE_LIMIT_RETRIES)],
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

    def _open_session(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
            self.client.session = self._http

    async def start(self) -> None:
        self._open_session()
        if self.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_mode = AsyncSocketModeHandler(self.app, self.settings.slack_app_token, logger=log)
            await self._socket_mode.connect_async()
            log.info("connected to Slack in Socket Mode")

    async def start_sending(self) -> None:
        """On a worker: only the HTTP session; Web API clients are made per workspace as needed."""
        self._open_session()

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
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(self, chat: ChatRef, replies: list[Reply], delivery: Delivery | None = None) -> None:
        """Post replies to a channel unprompted (daily digests), each message once through
        `delivery`; raises PermanentSendError if Slack refuses one for good, SlackApiError
        if it may take it later, LookupError if the workspace has not installed the app."""
        delivery = delivery or untracked()
        client = await self._client_for_workspace(chat.scope_id)
        # A Slack ChatRef's thread is only that of the message that asked (every answer goes
        # to a thread); a daily digest belongs in the channel itself.
        channel = replace(chat, thread_id=None)
        for message in render_replies(replies):
            try:
                await delivery.once(
                    [channel.key, None], [message.text, message.blocks],
                    lambda message=message: self._post_message(client, channel, message),
                )  # fmt: skip
            except SlackApiError as exc:
                if _may_pass_later(exc):
                    raise
                raise PermanentSendError(f"Slack refused it: {exc.response.get('error')}") from exc

    async def _client_for_workspace(self, team_id: str | None) -> AsyncWebClient:
        if self.installation_store is None:
            return self.client
        bot = await self.installation_store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise LookupError(f"summary-bot is not installed in the Slack workspace {team_id}")
        return self._web_client(bot.bot_token)

    async def _may_change_settings(self, chat: ChatRef, user_id: str, message: Incoming) -> bool:
        """Workspace admins and owners, and the channel's creator (a failed call raises: denied)."""
        return await is_admin_or_channel_creator(await self._client_for_workspace(chat.scope_id), chat, user_id)

    # -- HTTP -----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        """Every request to the events path. A stranger can send anything here, so nothing
        is parsed before the signature holds, and nothing odd reaches Bolt (its parsing
        raises on bodies Slack never sends)."""
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (_TIMESTAMP_RE.fullmatch(timestamp) and signature.isascii()):
            return web.Response(status=401, text="invalid request")  # before reading the body
        raw = await read_body(request)
        if raw is None:
            return too_slow()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=401, text="invalid request")  # Slack signs UTF-8
        content_type = (request.headers.get("Content-Type") or "").split(";")[0] or None  # as Bolt reads it
        refusal = self._refusal(body, timestamp, signature, content_type)
        if refusal is not None:
            return refusal
        try:
            response = await self.app.async_dispatch(
                AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)
            )
        except Exception as exc:  # signed, yet a shape Bolt trips over: not something Slack sends
            log.warning("slack: a signed request Bolt could not read (%s: %s)", type(exc).__name__, exc)
            return web.Response(status=400, text="the body is not what Slack sends")
        return await to_aiohttp_response(response)

    def _refusal(self, body: str, timestamp: str, signature: str, content_type: str | None) -> web.Response | None:
        """401 for a request not signed by Slack in the last 5 minutes, 400 for a signed one
        that is not what Slack sends; None for a request Bolt may handle."""
        verifier = SignatureVerifier(self.settings.slack_signing_secret or "")
        if not verifier.is_valid(body, timestamp, signature):
            return web.Response(status=401, text="invalid request")
        payload = _bolt_payload(body, content_type)
        if not isinstance(payload, dict):
            return web.Response(status=400, text="the body is not what Slack sends")
        if (payload.get("type") == "event_callback" or "event" in payload) and not _well_formed(payload.get("event")):
            return web.Response(status=400, text="the event is not one Slack sends")
        return None

    async def _install_page(self, request: web.Request) -> web.Response:
        response = await self.app.oauth_flow.handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        response = await self.app.oauth_flow.handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    # -- middleware and listeners (each returns at once; the work runs as a task) ---------
    async def _claim_event(
        self, body: dict, context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """One reply per event however often Slack delivers it (it retries when an ack is
        slow or lost). In-process, the first delivery claims the event id for a lease, and
        the answer marks it done for an hour. Scaled out, the job queue does this: the job's
        id is the event's."""
        event_id = body.get("event_id")
        if event_id and self.queue is None:
            key = keys.slack_event(event_id)
            if not await self.bot.store.set_if_absent(key, b"pending", ttl=EVENT_CLAIM_LEASE):
                log.info("event %s is being or was answered; skipping this delivery", event_id)
                return BoltResponse(status=200, body="")
            context["event_claim"] = key
        await next()
        return None

    async def _on_message(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if not is_from_a_person(event):
            return  # edits, deletions, joins, bots (ours included)
        if context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", ""):
            return  # a mention: the app_mention event answers it
        message = incoming_from_event(event, team_id=context.team_id, bot_user_id=context.bot_user_id, addressed_to_bot=False)
        urls = find_urls(message.text)
        if urls and all(host_matches(url, self.settings.slack_unfurl_domains) for url in urls):
            return  # link_shared answers these with unfurls
        await self._hand_off(body, context, {"kind": "thread", "event": event, "addressed_to_bot": False})

    async def _on_app_mention(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        await self._hand_off(body, context, {"kind": "thread", "event": event, "addressed_to_bot": True})

    async def _on_command(self, ack, command: dict, context: AsyncBoltContext) -> None:
        job_id = f"slack:command:{command.get('trigger_id') or command.get('response_url')}"
        if self.queue is None:  # a replayed command is answered once (scaled out, the job id does this)
            key = keys.slack_event(job_id)
            if not await self.bot.store.set_if_absent(key, b"pending", ttl=EVENT_CLAIM_LEASE):
                log.info("command %s is being or was answered; skipping this delivery", job_id)
                await ack()
                return
            context["event_claim"] = key
        await self._hand_off({"event_id": job_id}, context, {"kind": "command", "command": command})
        await ack()  # only once the work is handed off: scaled out, a failed enqueue is a 500

    async def _on_link_shared(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        domains = self.settings.slack_unfurl_domains
        urls = [link["url"] for link in event.get("links", []) if host_matches(link.get("url", ""), domains)]
        if not urls:
            return
        await self._hand_off(body, context, {"kind": "unfurl", "event": event, "urls": urls})

    # -- the work -------------------------------------------------------------------------
    async def _hand_off(self, body: dict, context: AsyncBoltContext, payload: dict) -> None:
        """Start answering: here, or on a worker through the job queue."""
        payload = {**payload, "team_id": context.team_id, "bot_user_id": context.bot_user_id}
        if self.queue is None:
            self._start(self.answer_job(payload, untracked()), claim=context.get("event_claim"))
            return
        event_id = body.get("event_id") or f"slack:ts:{payload.get('event', {}).get('ts')}"
        job_id = event_id if event_id.startswith("slack:") else f"slack:{event_id}"
        if not await self.queue.submit(job_id, self.platform, payload):
            log.info("Slack delivered %s again; it is already queued or answered", job_id)

    async def answer_job(self, payload: dict, delivery: Delivery) -> None:
        """Answer one handed-off event or command (in this process, or on a worker)."""
        kind = payload["kind"]
        if kind == "command":
            message = incoming_from_command(payload["command"], self.bot.commands)
            await self._answer_command(payload["command"].get("response_url", ""), message, delivery)
            return
        client = await self._client_for_workspace(payload.get("team_id"))
        event = payload["event"]
        if kind == "thread":
            message = incoming_from_event(
                event, team_id=payload.get("team_id"), bot_user_id=payload.get("bot_user_id"),
                addressed_to_bot=payload.get("addressed_to_bot", False),
            )  # fmt: skip
            if not message.addressed_to_bot and self.settings.slack_unfurl_domains:
                # link_shared unfurls those links: one answer (and one share) per link
                domains = self.settings.slack_unfurl_domains
                message = replace(message, text=remove_urls(message.text, lambda url: host_matches(url, domains)))
            await self._answer_in_thread(client, message, delivery)
        elif kind == "unfurl":
            channel = event.get("channel", "")
            chat = ChatRef(platform="slack", chat_id=channel, thread_id=event.get("thread_ts"),
                           scope_id=payload.get("team_id"), kind=chat_kind(channel))  # fmt: skip
            urls = payload["urls"]
            message = Incoming(chat=chat, text=" ".join(urls), user_id=event.get("user", ""), addressed_to_bot=True)
            await self._unfurl(client, event, message, urls, delivery)

    def _start(self, work: Coroutine, *, claim: str | None = None) -> None:
        task = asyncio.create_task(self._answer_claimed(work, claim))
        self._work.add(task)
        task.add_done_callback(self._finished)

    async def _answer_claimed(self, work: Coroutine, claim: str | None) -> None:
        await work
        if claim:  # answered: later deliveries of the event are skipped for an hour
            await self.bot.store.set(claim, b"done", ttl=EVENT_DEDUPE_TTL)

    def _finished(self, task: asyncio.Task) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack reply failed", exc_info=task.exception())

    async def _answer_in_thread(self, client: AsyncWebClient, message: Incoming, delivery: Delivery) -> None:
        for reply in await self.bot.handle(message):
            for rendered in render_replies([reply]):
                if reply.private:
                    await delivery.once(
                        ["ephemeral", message.chat.key, message.chat.thread_id, message.user_id],
                        [rendered.text, rendered.blocks],
                        lambda rendered=rendered: client.chat_postEphemeral(
                            channel=message.chat.chat_id, user=message.user_id, thread_ts=message.chat.thread_id,
                            text=rendered.text, blocks=rendered.blocks,
                        ),
                    )  # fmt: skip
                else:
                    await delivery.once(
                        [message.chat.key, message.chat.thread_id], [rendered.text, rendered.blocks],
                        lambda rendered=rendered: self._post_message(client, message.chat, rendered),
                    )  # fmt: skip

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

    async def _post_message(self, client: AsyncWebClient, chat: ChatRef, message: SlackMessage) -> None:
        await client.chat_postMessage(
            channel=chat.chat_id, thread_ts=chat.thread_id, text=message.text, blocks=message.blocks,
            unfurl_links=False, unfurl_media=False,
        )  # fmt: skip

    async def _answer_command(self, response_url: str, message: Incoming, delivery: Delivery) -> None:
        """Slash command replies go to its response_url: this works in any channel, even
        one the bot is not in, and shows a `private` reply to the user alone. Only Slack's
        own hosts are posted to, whatever the request names."""
        if not self._is_slack_url(response_url):
            log.warning("a slash command named a response_url off Slack (%s); not answered", urlsplit(response_url).netloc)
            return
        webhook = AsyncWebhookClient(
            response_url, session=self._http, retry_handlers=[CountingRateLimitRetries(self.bot.metrics, max_retry_count=RATE_LIMIT_RETRIES)]
        )
        for reply in await self.bot.handle(message):
            for rendered in render_replies([reply]):
                response = await delivery.once(
                    ["response_url", response_url], [rendered.text, rendered.blocks, reply.private],
                    lambda rendered=rendered, reply=reply: webhook.send(
                        text=rendered.text, blocks=rendered.blocks,
                        response_type="ephemeral" if reply.private else "in_channel",
                        unfurl_links=False, unfurl_media=False,
                    ),
                )  # fmt: skip
                if response is not None and response.status_code != 200:
                    log.error("Slack refused a slash command reply: %s %s", response.status_code, response.body)

    async def _unfurl(
        self, client: AsyncWebClient, event: dict, message: Incoming, urls: list[str], delivery: Delivery
    ) -> None:
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
            await delivery.once(["unfurl", where], unfurls, lambda: client.chat_unfurl(unfurls=unfurls, **where))
        except SlackApiError as exc:
            log.warning("chat.unfurl failed: %s", exc.response.get("error"))


# Errors that say "not now" rather than "never" (Slack answers most refusals with HTTP 200).
_TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def _may_pass_later(exc: SlackApiError) -> bool:
    """Whether sending again may succeed: a 429, a 5xx, or an error Slack calls temporary."""
    status = getattr(exc.response, "status_code", 200)
    return status == 429 or status >= 500 or exc.response.get("error") in _TRANSIENT_ERRORS


_EVENTS_IN_A_CHANNEL = ("message", "app_mention", "link_shared")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also takes "²"


def _bolt_payload(body: str, content_type: str | None) -> object:
    """The body as Bolt will read it (slack_bolt.request.internals.parse_body: JSON when
    the type says so or it starts with "{", else a form whose `payload` field is JSON), or
    None where Bolt's parsing would raise."""
    try:
        if not body:
            return {}
        if content_type == "application/json" or body.startswith("{"):
            return json.loads(body)
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" in body:
            return json.loads(form["payload"]) if "payload" in form else {}
        return form
    except ValueError:
        return None


def _well_formed(event) -> bool:
    """An Events API event as Slack sends it: an object with a type, and for the events we
    answer, the channel they happened in."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return False
    if event["type"] not in _EVENTS_IN_A_CHANNEL:
        return True
    if not isinstance(event.get("channel"), str) or not event["channel"]:
        return False
    if event["type"] == "link_shared":
        return isinstance(event.get("links"), list)
    return isinstance(event.get("ts"), str) and isinstance(event.get("text", ""), str)
