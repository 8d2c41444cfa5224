"""The reaction trigger: an emoji (📝 `:memo:` unless a channel's admins chose another with
`/summary reaction <emoji>|off`) added to a message with a link posts its digest in the
message's thread. For channels that turn automatic summaries off to save noise.

Once per message, whoever reacts and however often: the first reaction claims the message
in the store (a key owned by the chat, so /forget erases it), and later ones find it taken.
The message's text is read with conversations.history (a thread's reply: conversations.replies),
so the app needs `reactions:read` and `channels:history` (`groups:history`, `im:history`,
`mpim:history` for the other kinds of conversation) besides `chat:write`.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.delivery import Delivery
from adapters.slack.handoff import HandOff
from adapters.slack.incoming import chat_kind, plain_text, slack_chat
from adapters.slack.payloads import is_id, is_ts, part, text
from bot.links import find_urls
from bot.models import Incoming, Reply
from bot.store import keys

log = logging.getLogger(__name__)

REACTION_ONCE_TTL = 30 * 86400  # a message is summarized once in this long, however many react
MAX_REACTION_CHARS = 100  # an emoji's name; longer is not one Slack sends


class ReactionTrigger:
    def __init__(self, work: HandOff):
        self.work = work

    def jobs(self) -> dict:
        return {"reaction": self.answer}

    async def on_reaction_added(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        """Every reaction in every channel the bot is in arrives here: all but the chat's
        trigger on a message by someone else are dropped before any work is started."""
        item = part(event, "item")
        channel, ts, user = item.get("channel"), item.get("ts"), event.get("user")
        reaction = text(event.get("reaction"), MAX_REACTION_CHARS)
        if item.get("type") != "message" or not (is_id(channel) and is_ts(ts) and is_id(user) and reaction):
            return
        if context.bot_user_id and event.get("item_user") == context.bot_user_id:
            return  # on one of our own messages (a digest): nothing to summarize
        wanted = await self.work.bot.reaction_trigger(slack_chat(context.team_id, channel))
        if wanted is None or reaction.split("::")[0] != wanted:  # "memo::skin-tone-2" is :memo: too
            return
        reacted = {"channel": channel, "ts": ts, "user": user}
        await self.work.hand_off(body, context, {"kind": "reaction", "event": reacted})

    async def answer(self, payload: dict, delivery: Delivery, instead: Reply | None) -> None:
        if instead is not None:
            return  # too busy: a reaction is no place for "busy"; the next reaction tries again
        reacted, team = payload["event"], payload.get("team_id")
        # A message already summarized costs nothing more: no Slack call for every reaction
        # added (and removed and added again) to it. (The claim below still decides.)
        claim = keys.slack_reaction_claim(slack_chat(team, reacted["channel"]).key, reacted["ts"])
        if await self.work.bot.store.get(claim) is not None:
            return
        client = await self.work.sender.client_for_workspace(team)
        message = await _message(client, reacted["channel"], reacted["ts"])
        if message is None or (payload.get("bot_user_id") and message.get("user") == payload.get("bot_user_id")):
            return
        urls = find_urls(plain_text(message.get("text") or "", payload.get("bot_user_id")))
        if not urls:
            return  # a reaction on a message without a link is only a reaction
        thread = message.get("thread_ts") if is_ts(message.get("thread_ts")) else reacted["ts"]
        chat = slack_chat(team, reacted["channel"], thread_id=thread, kind=chat_kind(reacted["channel"]))
        if not await self.work.bot.store.set_if_absent(claim, b"1", ttl=REACTION_ONCE_TTL):
            return  # someone's reaction got there first
        # Only the links go to the core, never the message's text: a message saying
        # "/unsubscribe <link>" must not become an admin's command by their reaction.
        asked = Incoming(chat=chat, text=" ".join(urls), user_id=reacted["user"], message_id=reacted["ts"], addressed_to_bot=True,
                         language=await self.work.locale_of(team, reacted["user"]))  # as the shortcut: the reactor's words
        try:
            await self.work.sender.reply_in_thread(client, asked, await self.work.bot.handle(asked), delivery)
        except BaseException:
            await self.work.bot.store.delete(claim)  # not answered: a later reaction may try again
            raise


async def _message(client: AsyncWebClient, channel: str, ts: str) -> dict | None:
    """The message `ts` of `channel`: a top-level one from conversations.history, a thread's
    reply from conversations.replies (history lists only top-level messages)."""
    try:
        history = await client.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
        found = next((m for m in history.get("messages") or [] if isinstance(m, dict) and m.get("ts") == ts), None)
        if found is None:  # the thread's parent comes first, then the reply at ts
            thread = await client.conversations_replies(channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=2)
            found = next((m for m in thread.get("messages") or [] if isinstance(m, dict) and m.get("ts") == ts), None)
    except SlackApiError as exc:  # not_in_channel, missing_scope, message deleted...
        log.warning("could not read a reacted-to message (%s)", exc.response.get("error"))
        return None
    return found
