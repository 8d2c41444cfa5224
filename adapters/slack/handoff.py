"""Answering what a listener acked: handed off to a task in this process or, scaled out
(SUMMARY_BOT_WORKERS=external), to a job that a worker answers through the same
`answer_job`.

The listener acks only once the work is handed off: a front that cannot enqueue answers
500 and Slack delivers the event again. In-process, the answer marks the event's claim
done (adapters/slack/claims.py) only after the reply is out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace

from slack_bolt.async_app import AsyncBoltContext

from adapters.delivery import Delivery, untracked
from adapters.slack.claims import CLAIM, EventClaims
from adapters.slack.incoming import host_matches, incoming_from_command, incoming_from_event
from adapters.slack.sending import SlackSender
from adapters.slack.settings import SlackSettings
from adapters.slack.unfurl import unfurl
from bot.core import SummaryBot
from bot.links import remove_urls

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30  # how long stop() lets replies in progress finish


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
        self._work: set[asyncio.Task] = set()

    async def hand_off(self, body: dict, context: AsyncBoltContext, payload: dict) -> None:
        """Start answering `payload` (what a listener made of the event): here, or on a
        worker through the job queue."""
        payload = {**payload, "team_id": context.team_id, "bot_user_id": context.bot_user_id}
        if self.queue is None:
            self._start(self.answer_job(payload, untracked()), claim=context.get(CLAIM))
            return
        event_id = body.get("event_id") or f"slack:ts:{payload.get('event', {}).get('ts')}"
        job_id = event_id if event_id.startswith("slack:") else f"slack:{event_id}"
        if not await self.queue.submit(job_id, "slack", payload):
            log.info("Slack delivered %s again; it is already queued or answered", job_id)

    async def answer_job(self, payload: dict, delivery: Delivery) -> None:
        """Answer one handed-off event or command (in this process, or on a worker)."""
        kind = payload["kind"]
        if kind == "command":
            message = incoming_from_command(payload["command"], self.bot.commands)
            webhook = self.sender.command_webhook(payload["command"].get("response_url", ""))
            if webhook is not None:  # checked before the work: its answer could go nowhere
                await self.sender.reply_to_command(webhook, await self.bot.handle(message), delivery)
            return
        client = await self.sender.client_for_workspace(payload.get("team_id"))
        if kind == "thread":
            message = incoming_from_event(
                payload["event"], team_id=payload.get("team_id"), bot_user_id=payload.get("bot_user_id"),
                addressed_to_bot=payload.get("addressed_to_bot", False),
            )  # fmt: skip
            if not message.addressed_to_bot and self.settings.slack_unfurl_domains:
                # link_shared unfurls those links: one answer (and one share) per link
                domains = self.settings.slack_unfurl_domains
                message = replace(message, text=remove_urls(message.text, lambda url: host_matches(url, domains)))
            await self.sender.reply_in_thread(client, message, await self.bot.handle(message), delivery)
        elif kind == "unfurl":
            await unfurl(self.bot, client, payload, delivery)

    # -- in this process ------------------------------------------------------------------
    def _start(self, work: Coroutine, *, claim: str | None = None) -> None:
        task = asyncio.create_task(self._answer_claimed(work, claim))
        self._work.add(task)
        task.add_done_callback(self._finished)

    async def _answer_claimed(self, work: Coroutine, claim: str | None) -> None:
        await work
        if claim and self.claims is not None:
            await self.claims.answered(claim)

    def _finished(self, task: asyncio.Task) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack reply failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Let the answers in progress finish, for a while."""
        if not self._work:
            return
        done, unfinished = await asyncio.wait(set(self._work), timeout=STOP_GRACE_SECONDS)
        for task in unfinished:
            task.cancel()
        if unfinished:
            log.warning("stopped %d Slack replies still in progress", len(unfinished))
            await asyncio.wait(unfinished)
