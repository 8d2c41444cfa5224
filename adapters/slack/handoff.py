"""Answering what a listener acked: handed off to a task in this process or, scaled out
(SUMMARY_BOT_WORKERS=external), to a job that a worker answers through the same
`answer_job`.

The listener acks only once the work is handed off: a front that cannot enqueue answers
500 and Slack delivers the event again. In-process, the answer marks the event's claim
done (adapters/slack/claims.py) only after the reply is out; what runs here is bounded
(adapters/slack/inprocess.py), and an event past the bound is told the bot is busy.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from slack_bolt.async_app import AsyncBoltContext

from adapters.delivery import Delivery, untracked
from adapters.inprocess import BusyNotices
from adapters.slack.claims import CLAIM, EventClaims
from adapters.slack.incoming import chat_kind, host_matches, incoming_from_command, incoming_from_event, slack_chat
from adapters.slack.inprocess import InProcessAnswers
from adapters.slack.lifecycle import LegacyChats
from adapters.slack.locales import UserLocales
from adapters.slack.sending import SlackSender
from adapters.slack.settings import SlackSettings
from adapters.slack.unfurl import unfurl
from bot.core import SummaryBot
from bot.inference import ModelBusy
from bot.links import find_urls, remove_urls
from bot.models import Incoming, Reply

log = logging.getLogger(__name__)


class HandOff:
    def __init__(
        self, settings: SlackSettings, bot: SummaryBot, sender: SlackSender, *, queue=None,
        claims: EventClaims | None = None,
    ):  # fmt: skip
        self.settings = settings
        self.bot = bot
        self.sender = sender
        self.queue = queue  # a MessageQueue on a front; None where this process answers itself
        self.claims = claims
        self.here = InProcessAnswers(settings.slack_concurrency) if queue is None else None
        self.busy_notices = BusyNotices()
        self.legacy = LegacyChats(bot)
        self.locales = UserLocales()  # each user's Slack locale: the language hint of their messages
        # Jobs of the gestures with a module of their own (App Home, the shortcut, the reaction
        # trigger), by kind: each answers (payload, delivery, instead); listeners.py fills it.
        self.gestures: dict[str, Callable[[dict, Delivery, Reply | None], Awaitable[None]]] = {}

    async def hand_off(self, body: dict, context: AsyncBoltContext, payload: dict) -> None:
        """Start answering `payload` (what a listener made of the event): here, or on a
        worker through the job queue."""
        payload = {**payload, "team_id": context.team_id, "bot_user_id": context.bot_user_id}
        if self.here is not None:
            claim = context.get(CLAIM)
            if not self.here.start(lambda: self._answer_here(payload, claim)):
                await self._refuse(payload)
            return
        event_id = body.get("event_id") or f"slack:ts:{payload.get('event', {}).get('ts')}"
        job_id = event_id if event_id.startswith("slack:") else f"slack:{event_id}"
        if not await self.queue.submit(job_id, "slack", payload):
            log.info("Slack delivered %s again; it is already queued or answered", job_id)

    async def hand_off_once(self, job_id: str, context: AsyncBoltContext, payload: dict) -> None:
        """Hand off a slash command or a press (which Slack may replay) under `job_id`:
        in-process its claim answers it once; scaled out, the job queue does."""
        if self.claims is not None and not await self.claims.claim(job_id, context):
            return  # a replay: answered once
        await self.hand_off({"event_id": job_id}, context, payload)

    async def locale_of(self, team_id: str | None, user_id: str) -> str | None:
        """`user_id`'s Slack locale ("ru-RU"), cached; None where Slack would not tell or the
        app is not installed there (English). A gesture's own words follow it."""
        try:
            client = await self.sender.client_for_workspace(team_id)
        except LookupError:
            return None
        return await self.locales.of(client, team_id, user_id) if client else None

    async def answer_job(self, payload: dict, delivery: Delivery, *, instead: Reply | None = None) -> None:
        """Answer one handed-off event or command (in this process, or on a worker); with
        `instead`, that reply rather than the bot's answer (an unfurl then shows nothing)."""

        async def replies(message: Incoming) -> list[Reply]:
            if instead is not None:
                return [instead]
            await self.legacy.adopt(message.chat)
            language = await self.locale_of(message.chat.scope_id, message.user_id)  # not installed: English
            return await self.bot.handle(replace(message, language=language))

        kind = payload["kind"]
        if kind in self.gestures:
            await self.gestures[kind](payload, delivery, instead)
            return
        if kind == "command":
            webhook = self.sender.command_webhook(payload["command"].get("response_url", ""))
            if webhook is not None:  # checked before the work: its answer could go nowhere
                message = incoming_from_command(payload["command"], self.bot.commands)
                await self.sender.reply_to_command(webhook, await replies(message), delivery)
            return
        if kind == "button" and payload["button"].get("ephemeral"):
            # under a message only its presser saw (a slash command's answer): answered the same way
            webhook = self.sender.command_webhook(payload["button"].get("response_url", ""))
            if webhook is not None:
                await self.sender.reply_to_command(webhook, await replies(button_message(payload)), delivery)
            return
        client = await self.sender.client_for_workspace(payload.get("team_id"))
        if kind == "button":
            message = button_message(payload)
            await self.sender.reply_in_thread(
                client, message, await replies(message), delivery, response_url=payload["button"].get("response_url")
            )
        elif kind == "thread":
            message = self._thread_message(payload)
            await self.sender.reply_in_thread(client, message, await replies(message), delivery)
        elif kind == "unfurl" and instead is None:
            await unfurl(self.bot, client, payload, delivery)

    def _thread_message(self, payload: dict) -> Incoming:
        message = incoming_from_event(
            payload["event"], team_id=payload.get("team_id"), bot_user_id=payload.get("bot_user_id"),
            addressed_to_bot=payload.get("addressed_to_bot", False),
        )  # fmt: skip
        if not message.addressed_to_bot and self.settings.slack_unfurl_domains:
            # link_shared unfurls those links: one answer (and one share) per link
            domains = self.settings.slack_unfurl_domains
            message = replace(message, text=remove_urls(message.text, lambda url: host_matches(url, domains)))
        return message

    # -- in this process ------------------------------------------------------------------
    async def _answer_here(self, payload: dict, claim: str | None) -> None:
        await self.answer_job(payload, untracked())
        if claim and self.claims is not None:
            await self.claims.answered(claim)

    async def _refuse(self, payload: dict) -> None:
        """Too many answers in progress and waiting: the event is answered "busy", as the
        model's queue answers past its bound. Its claim is left to run out, so a retry
        from Slack may yet be answered."""
        if not await self._would_answer(payload):
            return  # chatter: there was nothing to say
        self.bot.metrics.errors.labels("busy").inc()
        kind = payload["kind"]
        channel = {"command": lambda: payload["command"].get("channel_id"), "button": lambda: payload["button"]["channel_id"]}.get(
            kind, lambda: payload.get("event", {}).get("channel"))()
        if kind == "unfurl" or not self.busy_notices.may_tell(f"{payload.get('team_id')}:{channel}"):
            return  # Slack's own preview stays; or the channel heard it a moment ago
        log.warning("too many Slack events in progress; %s told to try again", channel)
        busy = Reply(error=str(ModelBusy()), private=kind == "command")  # a command: only its sender needs to know
        self.here.start_aside(self.busy_notices.tell(self.answer_job(payload, untracked(), instead=busy)))

    async def _would_answer(self, payload: dict) -> bool:
        """Whether the bot replies to it at all: a command, an unfurl, a message to the bot,
        or links where autosummary is on; not channel chatter."""
        if payload["kind"] != "thread":
            return True
        message = self._thread_message(payload)
        return message.addressed_to_bot or (bool(find_urls(message.text)) and await self.bot.autosummary_enabled(message))

    async def stop(self) -> None:
        if self.here is not None:
            await self.here.stop()


def button_message(payload: dict) -> Incoming:
    """A button press as its presser sending the button's command in that chat (bot.models.Button)."""
    button = payload["button"]
    channel = button["channel_id"]
    kind = chat_kind(channel, channel_name=button.get("channel_name") or None)
    chat = slack_chat(payload.get("team_id"), channel, thread_id=button.get("thread_ts"), kind=kind)
    return Incoming(
        chat=chat, text=button["command"], user_id=button["user_id"], addressed_to_bot=True, via_button=True,
        message_id=button.get("message_ts"),  # the message the button is on: a Shorter/Longer press edits it
    )
