"""The "Summarize" message shortcut: in any message's menu (More actions), the digest of its
link (or of its text, when it is long enough) shown only to the person who asked, on the
shortcut's response_url, with a "Share in thread" button that posts it in the message's thread.

The button carries a random id, never the link or the text: the request is stored under that
id in the chat's data for a day (erased by /forget), and a press is honoured once, and only
for the person who asked. Slack app setup: Interactivity & Shortcuts -> Create New Shortcut ->
"On messages", callback id `summarize_message`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError

from adapters.delivery import Delivery
from adapters.slack.handoff import HandOff
from adapters.slack.incoming import chat_kind, plain_text, slack_chat
from adapters.slack.payloads import is_id, is_ts, part, press_id, text
from adapters.slack.render import render_replies
from bot.core import MIN_PASTED_WORDS
from bot.i18n import N_, Translator, english
from bot.links import find_urls
from bot.models import Incoming, Reply
from bot.sentences import word_count
from bot.store import keys

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK_ID = "summarize_message"
SHARE_ACTION_ID = "summary_bot_share"
SHARE_TTL = 86400  # a Share button works this long (an ephemeral message is gone on reload anyway)
MAX_MESSAGE_CHARS = 40_000  # Slack's own limit on a message's text
MAX_URL_CHARS = 2000
_SHARE_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
NOTHING_TO_SUMMARIZE = N_("That message has no link and is too short to summarize.")
EXPIRED = N_("That button has expired. Use Summarize on the message again.")


class Shortcut:
    def __init__(self, work: HandOff):
        self.work = work

    def jobs(self) -> dict:
        return {"shortcut": self.answer, "share": self.share}

    # -- the listeners: check, hand off, ack ------------------------------------------------
    async def on_shortcut(self, ack, body: dict, context: AsyncBoltContext) -> None:
        """A `message_action` payload: team, channel, user, message{text, ts, ...}, response_url."""
        channel, user, message = part(body, "channel"), part(body, "user"), part(body, "message")
        response_url = text(body.get("response_url"), MAX_URL_CHARS)
        trigger = text(body.get("trigger_id"), 100)
        if not (is_id(channel.get("id")) and is_id(user.get("id")) and is_ts(message.get("ts")) and response_url and trigger):
            await ack()
            return
        thread = message.get("thread_ts") if is_ts(message.get("thread_ts")) else message["ts"]
        asked = {
            "channel_id": channel["id"], "channel_name": text(channel.get("name"), 100), "user_id": user["id"],
            "thread_ts": thread, "text": (message.get("text") if isinstance(message.get("text"), str) else "")[:MAX_MESSAGE_CHARS],
            "response_url": response_url,
        }  # fmt: skip
        await self.work.hand_off_once(press_id("shortcut", context.team_id, trigger), context, {"kind": "shortcut", "shortcut": asked})
        await ack()

    async def on_share(self, ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
        """A press of "Share in thread" under the ephemeral digest (a block_actions payload)."""
        value, user, container = action.get("value"), part(body, "user"), part(body, "container")
        channel_id = part(body, "channel").get("id") or container.get("channel_id")
        response_url = text(body.get("response_url"), MAX_URL_CHARS)
        if not (isinstance(value, str) and _SHARE_ID_RE.fullmatch(value) and is_id(user.get("id")) and is_id(channel_id)):
            await ack()
            return
        pressed = {"share_id": value, "user_id": user["id"], "channel_id": channel_id, "response_url": response_url or ""}
        job_id = press_id("share", context.team_id, channel_id, user["id"], action.get("action_ts"))
        await self.work.hand_off_once(job_id, context, {"kind": "share", "share": pressed})
        await ack()

    # -- the jobs ---------------------------------------------------------------------------
    async def answer(self, payload: dict, delivery: Delivery, instead: Reply | None) -> None:
        """The digest, to the asker alone, with the Share button under each digest."""
        asked = payload["shortcut"]
        webhook = self.work.sender.command_webhook(asked["response_url"])
        if webhook is None:
            return
        answers: list[tuple[Reply, str | None]] = [(instead, None)] if instead is not None else []
        t = english()
        if instead is None:
            chat = _chat(payload.get("team_id"), asked)
            request = _request(plain_text(asked["text"], payload.get("bot_user_id")))
            # /summary private: the asker's alone, leaving no trace in the channel until shared
            message = Incoming(chat=chat, text=f"/summary private {request or ''}", user_id=asked["user_id"], addressed_to_bot=True,
                               language=await self.work.locale_of(payload.get("team_id"), asked["user_id"]))  # fmt: skip
            t = await self._translator(message)  # as the core's answer there: the channel's language, else the asker's
            if request is None:
                answers = [(Reply(error=t._(NOTHING_TO_SUMMARIZE), language=t.code), None)]
            else:
                async with self.work.bot.privacy.fenced(chat):  # the share record too, if erased meanwhile
                    for reply in await self.work.bot.handle(message):
                        share_id = await self._store_share(chat, asked, reply, request) if reply.digest is not None else None
                        reply.buttons = ()  # Share is this message's one button (others would answer in the channel)
                        answers.append((reply, share_id))
        for reply, share_id in answers:
            for number, rendered in enumerate(render_replies([reply], self.work.bot.languages)):
                blocks = rendered.blocks + ([share_button(share_id, t)] if share_id and number == 0 else [])
                await delivery.once(
                    ["response_url", webhook.url], [rendered.text, blocks],
                    lambda rendered=rendered, blocks=blocks: webhook.send(
                        text=rendered.text, blocks=blocks, response_type="ephemeral", replace_original=False,
                        unfurl_links=False, unfurl_media=False,
                    ),
                )  # fmt: skip

    async def _translator(self, message: Incoming) -> Translator:
        return self.work.bot.languages.get(await self.work.bot.language_of(message))

    async def _store_share(self, chat, asked: dict, reply: Reply, request: str) -> str:
        """What the Share button posts: this one link (or the text), in that thread, for that user."""
        share_id = secrets.token_urlsafe(16)
        what = reply.digest.url if reply.digest and reply.digest.url and find_urls(request) else request
        record = {"request": what, "user_id": asked["user_id"], "thread_ts": asked["thread_ts"], "channel_name": asked["channel_name"]}
        await self.work.bot.store.set(keys.slack_share(chat.key, share_id), json.dumps(record).encode(), ttl=SHARE_TTL)
        return share_id

    async def share(self, payload: dict, delivery: Delivery, instead: Reply | None) -> None:
        """The stored request, posted in its thread as its asker sending it there (so it counts
        as shared in the channel); once, and only for the person who asked for it."""
        pressed, team = payload["share"], payload.get("team_id")
        webhook = self.work.sender.command_webhook(pressed["response_url"]) if pressed["response_url"] else None
        key = keys.slack_share(slack_chat(team, pressed["channel_id"]).key, pressed["share_id"])
        raw = await self.work.bot.store.get(key)
        record = json.loads(raw) if raw else None
        language = await self.work.locale_of(team, pressed["user_id"]) if webhook is not None or record else None
        if not record or record.get("user_id") != pressed["user_id"]:
            if webhook is not None:
                t = await self._translator(Incoming(chat=_chat(team, pressed), text="", user_id=pressed["user_id"], language=language))
                await webhook.send(text=t._(EXPIRED), response_type="ephemeral", replace_original=False)
            return
        if instead is not None:
            if webhook is not None:
                await webhook.send(text=instead.error or "", response_type="ephemeral", replace_original=False)
            return
        if not await self.work.bot.store.delete(key):
            return  # a second press in the same moment: the first one shares it
        chat = _chat(team, {**pressed, "thread_ts": record["thread_ts"], "channel_name": record.get("channel_name")})
        message = Incoming(chat=chat, text=f"/summary {record['request']}", user_id=pressed["user_id"], addressed_to_bot=True,
                           language=language)  # fmt: skip
        t = await self._translator(message)
        replies = [reply for reply in await self.work.bot.handle(message) if reply.digest is not None]
        client = await self.work.sender.client_for_workspace(team)
        try:
            await self.work.sender.reply_in_thread(client, message, replies, delivery)
        except SlackApiError as exc:  # not_in_channel: the bot may answer a shortcut where it cannot post
            await self.work.bot.store.set(key, raw, ttl=SHARE_TTL)  # the button works again once invited
            if webhook is not None:
                error = exc.response.get("error")
                await webhook.send(text=t._("I couldn't post in this channel ({error}). Invite me, then press Share again.", error=error),
                                   response_type="ephemeral", replace_original=False)  # fmt: skip
            return
        if webhook is not None and replies:
            await webhook.send(text=t._("Shared in the thread."), response_type="ephemeral", replace_original=True)


def share_button(share_id: str, t: Translator | None = None) -> dict:
    t = t or english()
    return {
        "type": "actions", "block_id": "summary_bot_share",
        "elements": [{"type": "button", "action_id": SHARE_ACTION_ID, "value": share_id, "style": "primary",
                      "text": {"type": "plain_text", "text": t._("Share in thread"), "emoji": True}}],
    }  # fmt: skip


def _chat(team: str | None, asked: dict):
    channel = asked["channel_id"]
    kind = chat_kind(channel, channel_name=asked.get("channel_name") or None)
    return slack_chat(team, channel, thread_id=asked.get("thread_ts"), kind=kind)


def _request(message_text: str) -> str | None:
    """What to summarize in a message: its links, else its text when long enough."""
    urls = find_urls(message_text)
    if urls:
        return " ".join(urls)
    return message_text if word_count(message_text) >= MIN_PASTED_WORDS else None
