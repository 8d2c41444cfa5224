"""Bolt's app and the Slack gestures it listens to: the one place a gesture is wired to the bot.

Each listener returns at once: it drops what is not for the bot and hands the rest off
(adapters/slack/handoff.py), so Slack hears back within its 3 seconds. A new gesture (App
Home, a shortcut, block_actions, app_uninstalled) is one more method here and one more
line in `Listeners.register`.
"""

from __future__ import annotations

import logging
import re

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.handoff import HandOff
from adapters.slack.home import HOME_STOP_ACTION_ID, AppHome
from adapters.slack.incoming import host_matches, incoming_from_event, is_from_a_person
from adapters.slack.lifecycle import Lifecycle
from adapters.slack.payloads import is_id, part, press_id
from adapters.slack.reactions import ReactionTrigger
from adapters.slack.render import BUTTON_ACTION_ID, is_button_command
from adapters.slack.settings import SlackSettings
from adapters.slack.shortcut import SHARE_ACTION_ID, SHORTCUT_CALLBACK_ID, Shortcut
from adapters.slack.unfurl import links_to_unfurl
from bot.core import BUTTON_EXPIRED
from bot.links import find_urls

log = logging.getLogger(__name__)


def build_app(settings: SlackSettings, client: AsyncWebClient, oauth: AsyncOAuthSettings | None) -> AsyncApp:
    return AsyncApp(
        name="summary-bot",
        logger=log,
        signing_secret=settings.slack_signing_secret or "",
        client=client,
        oauth_settings=oauth,
        # Listeners only start tasks, so running them before the response still acks at once,
        # and every task is started (and tracked) before Slack hears back.
        process_before_response=True,
        # The gate (adapters/slack/gate.py) verifies every HTTP request's signature and age
        # before Bolt sees it; Socket Mode needs none. One check, not two.
        request_verification_enabled=False,
    )


class Listeners:
    def __init__(self, settings: SlackSettings, work: HandOff, lifecycle: Lifecycle):
        self.settings = settings
        self.work = work
        self.lifecycle = lifecycle
        # Gestures with a module each; their jobs are answered through `work` (here or on a worker).
        self.home, self.shortcut, self.reactions = AppHome(work), Shortcut(work), ReactionTrigger(work)
        for gesture in (self.home, self.shortcut, self.reactions):
            work.gestures.update(gesture.jobs())

    def register(self, app: AsyncApp) -> None:
        """Every gesture the bot answers, one line each."""
        if self.work.claims is not None:  # None scaled out: the job queue answers each event once
            app.use(self.work.claims.claim_event)
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_app_mention)
        app.event("link_shared")(self.on_link_shared)
        app.command(re.compile(r"^/"))(self.on_command)
        app.action(re.compile(rf"^{BUTTON_ACTION_ID}(:[0-9]{{1,2}})?$"))(self.on_button)
        # Ours alone (Bolt's built-in ones are never enabled): each deletes the tokens and,
        # on uninstall, erases the workspace's data (adapters/slack/lifecycle.py).
        app.event("app_home_opened")(self.home.on_app_home_opened)
        app.action(HOME_STOP_ACTION_ID)(self.home.on_stop)
        app.message_shortcut(SHORTCUT_CALLBACK_ID)(self.shortcut.on_shortcut)
        app.action(SHARE_ACTION_ID)(self.shortcut.on_share)
        app.event("reaction_added")(self.reactions.on_reaction_added)
        app.event("app_uninstalled")(self.lifecycle.on_app_uninstalled)
        app.event("tokens_revoked")(self.lifecycle.on_tokens_revoked)

    async def on_message(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if not is_from_a_person(event):
            return  # edits, deletions, joins, bots (ours included)
        if context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", ""):
            return  # a mention: the app_mention event answers it
        message = incoming_from_event(event, team_id=context.team_id, bot_user_id=context.bot_user_id, addressed_to_bot=False)
        urls = find_urls(message.text)
        if urls and all(host_matches(url, self.settings.slack_unfurl_domains) for url in urls):
            return  # link_shared answers these with unfurls
        await self.work.hand_off(body, context, {"kind": "thread", "event": event, "addressed_to_bot": False})

    async def on_app_mention(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        await self.work.hand_off(body, context, {"kind": "thread", "event": event, "addressed_to_bot": True})

    async def on_link_shared(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        urls = links_to_unfurl(event, self.settings.slack_unfurl_domains)
        if urls:
            await self.work.hand_off(body, context, {"kind": "unfurl", "event": event, "urls": urls})

    async def on_command(self, ack, command: dict, context: AsyncBoltContext) -> None:
        job_id = f"slack:command:{command.get('trigger_id') or command.get('response_url')}"
        await self.work.hand_off_once(job_id, context, {"kind": "command", "command": command})
        await ack()  # only once the work is handed off: scaled out, a failed enqueue is a 500

    async def on_button(self, ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
        """A press of a button we rendered (adapters/slack/render.py): its presser sending its
        command in that chat. Everything in the payload is checked as hostile input."""
        value = action.get("value")
        button = _pressed(body, value)
        if button is None:
            await ack()
            webhook = self.work.sender.command_webhook(body.get("response_url") or "") if isinstance(body.get("response_url"), str) else None
            if webhook is not None:
                user = part(body, "user")
                locale = await self.work.locale_of(context.team_id, user["id"]) if is_id(user.get("id")) else None
                t = self.work.bot.languages.get(locale)  # the presser's: the only one who sees it
                await webhook.send(text=t._(BUTTON_EXPIRED), response_type="ephemeral", replace_original=False)
            return
        job_id = press_id("action", context.team_id, button["channel_id"], button["user_id"], str(action.get("action_ts"))[:32])
        await self.work.hand_off_once(job_id, context, {"kind": "button", "button": button})
        await ack()


def _pressed(body: dict, value) -> dict | None:
    """What a block_actions press is, as the job's payload (no message text, no user name), or
    None when it is not a press of one of our buttons in a channel."""
    if not is_button_command(value):
        return None
    user, container, channel, message = (part(body, name) for name in ("user", "container", "channel", "message"))
    channel_id = channel.get("id") or container.get("channel_id")
    user_id = user.get("id")
    if not (is_id(channel_id) and is_id(user_id)):
        return None
    if isinstance(message.get("blocks"), list) and value not in _button_values(message["blocks"]):
        return None  # not a button of the message it claims to be pressed on
    ephemeral = bool(container.get("is_ephemeral")) or not message
    thread = message.get("thread_ts") or message.get("ts")
    pressed_on = message.get("ts") or container.get("message_ts")  # the message a Shorter/Longer press edits
    return {
        "command": value, "user_id": user_id, "channel_id": channel_id,
        "channel_name": channel.get("name") if isinstance(channel.get("name"), str) else None,
        "thread_ts": thread if isinstance(thread, str) and len(thread) <= 32 and not ephemeral else None,
        "ephemeral": ephemeral, "response_url": body.get("response_url") if isinstance(body.get("response_url"), str) else "",
        "message_ts": pressed_on if isinstance(pressed_on, str) and len(pressed_on) <= 32 else None,
    }  # fmt: skip


def _button_values(blocks: list) -> set:
    """The values of the buttons in a message's `actions` blocks."""
    return {
        element.get("value")
        for block in blocks if isinstance(block, dict) and block.get("type") == "actions" and isinstance(block.get("elements"), list)
        for element in block["elements"] if isinstance(element, dict)
    }  # fmt: skip
