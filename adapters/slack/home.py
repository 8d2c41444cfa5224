"""The App Home tab: what the bot does and how to use it, the daily digests (and feeds) of the
channels the user may manage, each with a Stop button, and a short privacy text.

Which channels: the workspace's chats that have a subscription or feeds (the store's owner
index, `Store.owners_in`), each asked of the core's ACL (bot.acl, failing closed: workspace
admins and the channel's creator, adapters/slack/admins.py) as if the user sent /unsubscribe
there. A Stop press is that user sending /unsubscribe in that chat: the channel in the
press's block_id is hostile input, so it must be one the view could list (a channel of the
presser's workspace with a subscription), and the core checks the presser's right at the
press, whatever the view showed. Direct messages are never listed (the Home tab cannot tell
whose a DM is): a DM's digest is stopped with /unsubscribe in it.

Slack app setup: App Home -> Home Tab on; Event Subscriptions -> `app_home_opened`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urlsplit

from slack_bolt.async_app import AsyncBoltContext

from adapters.delivery import Delivery
from adapters.slack.handoff import HandOff
from adapters.slack.incoming import chat_kind, slack_chat
from adapters.slack.payloads import is_id, part, press_id, text
from adapters.slack.render import escape
from bot.acl import Decision
from bot.commands import Command
from bot.core import POLICY_FILE, REACTION_DEFAULT
from bot.digest.subscriptions import Subscription
from bot.i18n import N_, Translator, english
from bot.models import ChatRef, Incoming, Reply
from bot.store import keys

log = logging.getLogger(__name__)

HOME_STOP_ACTION_ID = "summary_bot_home_stop"
STOP_COMMAND = "/unsubscribe"  # a Stop button's value, and the only one a press is accepted with
_STOP_BLOCK = "home_stop:"  # + the channel id: which channel a Stop button is for
MAX_CHATS_READ = 2000  # a workspace's chats read for subscriptions at most, per view
MAX_CHATS_ASKED = 50  # chats with a digest whose admins are asked of Slack, per view
MAX_LISTED = 40  # channels shown (a Home view holds 100 blocks)


class AppHome:
    def __init__(self, work: HandOff):
        self.work = work

    def jobs(self) -> dict:
        return {"home": self.answer, "home_stop": self.stop}

    # -- the listeners ----------------------------------------------------------------------
    async def on_app_home_opened(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("tab") != "home" or not is_id(event.get("user")):
            return  # the Messages tab, or a payload we cannot answer
        await self.work.hand_off(body, context, {"kind": "home", "user_id": event["user"]})

    async def on_stop(self, ack, body: dict, action: dict, context: AsyncBoltContext) -> None:
        """A Stop press in the Home view (a block_actions payload from a view)."""
        user, view = part(body, "user"), part(body, "view")
        block = text(action.get("block_id"), 64) or ""
        channel = block.removeprefix(_STOP_BLOCK)
        if not (view.get("type") == "home" and action.get("value") == STOP_COMMAND and block.startswith(_STOP_BLOCK)
                and is_id(channel) and is_id(user.get("id"))):  # fmt: skip
            await ack()
            return
        job_id = press_id("home", context.team_id, channel, user["id"], action.get("action_ts"))
        await self.work.hand_off_once(job_id, context, {"kind": "home_stop", "user_id": user["id"], "channel_id": channel})
        await ack()

    # -- the jobs ---------------------------------------------------------------------------
    async def answer(self, payload: dict, delivery: Delivery, instead: Reply | None) -> None:
        if instead is None:  # too busy: the tab shows what it showed last; the next visit publishes it
            await self.publish(payload.get("team_id"), payload["user_id"], delivery)

    async def stop(self, payload: dict, delivery: Delivery, instead: Reply | None) -> None:
        team, user = payload.get("team_id"), payload["user_id"]
        channel = payload["channel_id"]
        subscription = await self.work.bot.digests.subscriptions.get(slack_chat(team, channel).key)
        if subscription is None or not _listable(subscription.chat, team):
            log.info("a Home tab Stop press named a channel without a listed digest; nothing changed")
            await self.publish(team, user, delivery)
            return
        notice = None
        if instead is None:
            chat = subscription.chat
            language = await self.work.locale_of(team, user)
            asked = Incoming(chat=replace(chat, thread_id=None), text=STOP_COMMAND, user_id=user, addressed_to_bot=True, language=language)
            notice = (channel, await self.work.bot.handle(asked))  # the core checks the presser's right
        await self.publish(team, user, delivery, notice)

    async def publish(self, team: str | None, user: str, delivery: Delivery, notice=None) -> None:
        channels = await self.manageable(team, user)
        # The Home tab is the user's own, not a channel's: their Slack locale, else English.
        t = self.work.bot.languages.get(await self.work.locale_of(team, user))
        view = render_home(self.work.bot.settings, channels, notice, t=t)
        client = await self.work.sender.client_for_workspace(team)
        await delivery.once(["views.publish", team, user], [view], lambda: client.views_publish(user_id=user, view=view))

    async def manageable(self, team: str | None, user: str) -> list[tuple[str, Subscription | None, int]]:
        """(channel id, its subscription, how many feeds it follows) for each channel of `team`
        with a digest or feeds whose settings `user` may change, by the core's ACL."""
        if not team:
            return []
        bot, listed, asked = self.work.bot, [], 0
        owners = sorted(await bot.store.owners_in(f"slack:{team}"))[:MAX_CHATS_READ]
        for chat_key in owners:
            channel = chat_key.rpartition(":")[2]
            subscription = await bot.digests.subscriptions.get(chat_key)
            feeds = len(await bot.store.hgetall(keys.digest_feeds(chat_key)))
            chat = subscription.chat if subscription else slack_chat(team, channel, kind=chat_kind(channel))
            if not (subscription or feeds) or not _listable(chat, team) or chat.key != chat_key:
                continue
            if asked >= MAX_CHATS_ASKED or len(listed) >= MAX_LISTED:
                break
            asked += 1
            as_if = Incoming(chat=chat, text=STOP_COMMAND, user_id=user, addressed_to_bot=True)
            if await bot.permissions.decide(as_if, Command("unsubscribe", "")) is Decision.ALLOWED:
                listed.append((channel, subscription, feeds))
        return listed


def _listable(chat: ChatRef, team: str | None) -> bool:
    """A channel of this workspace the Home tab may show: not a DM (anyone is "admin" of a DM)."""
    channel = chat.chat_id.rpartition(":")[2]
    return (chat.platform == "slack" and bool(team) and chat.scope_id == team and chat.chat_id == f"{team}:{channel}"
            and chat.kind != "private" and not channel.startswith("D") and is_id(channel))  # fmt: skip


# -- the view ---------------------------------------------------------------------------------

HOW_TO = N_("""\
I summarize articles: the title, source, key points, reading time and related links.
• *Share a link* in a channel I'm in: I answer in its thread (admins turn this off with `/autosummary off`).
• `/summary <link or text>` anywhere, or `/summary private <link>` to see it alone.
• *Summarize* in a message's menu (⋮ More actions): the summary only you see, with a button to share it in the thread.
• *React* with :{emoji}: to a message with a link: its summary in the thread, once (admins choose the emoji with `/summary reaction :emoji:|off`).
• `/subscribe 08:00 Europe/Berlin`: a daily digest of the links shared in a channel; `/feeds add <feed URL>` adds a feed's new items to it.
• `/summary help` shows every command.""")


def render_home(settings, channels: list[tuple[str, Subscription | None, int]], notice=None, t: Translator | None = None) -> dict:
    """The Home tab's view (views.publish), in `t`'s language (English without it). Our own
    text only, except the core's replies in `notice`, which are escaped."""
    t = t or english()
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": t._("Summary bot"), "emoji": True}}]
    if notice is not None:
        channel, replies = notice
        said = " ".join(escape(reply.error or reply.text or "") for reply in replies)
        blocks.append(_context(f"<#{channel}>: {said}"))
    blocks.append(_section(t._(HOW_TO, emoji=REACTION_DEFAULT)))
    blocks += [{"type": "divider"}, _section(t._("*Daily digests of the channels you manage*"))]
    if not channels:
        blocks.append(_context(t._("None: channel admins see their channels' digests here, each with a button to stop it.")))
    for channel, subscription, feeds in channels:
        parts = [f"<#{channel}>", t._("daily digest at {when}", when=subscription.describe()) if subscription else t._("no daily digest")]
        if feeds:
            parts.append(t.ngettext("{count} feed (`/feeds list` there)", "{count} feeds (`/feeds list` there)", feeds))
        block = _section(" · ".join(parts))
        if subscription is not None:
            block["block_id"] = f"{_STOP_BLOCK}{channel}"
            block["accessory"] = {
                "type": "button", "action_id": HOME_STOP_ACTION_ID, "value": STOP_COMMAND, "style": "danger",
                "text": {"type": "plain_text", "text": t._("Stop"), "emoji": True},
                "confirm": {"title": {"type": "plain_text", "text": t._("Stop the daily digest?")},
                            "text": {"type": "plain_text", "text": t._("The channel gets no more daily digests. /subscribe there brings them back.")},
                            "confirm": {"type": "plain_text", "text": t._("Stop")}, "deny": {"type": "plain_text", "text": t._("Cancel")}},
            }  # fmt: skip
        blocks.append(block)
    if channels:
        blocks.append(_context(t._("To change a digest's time, send `/subscribe HH:MM Area/City` in its channel.")))
    blocks += [{"type": "divider"}, _section(t._("*Privacy*") + "\n" + privacy_text(settings, t))]
    return {"type": "home", "blocks": blocks}


def privacy_text(settings, t: Translator | None = None) -> str:
    """A short, workspace-wide version of what /privacy tells about one channel (bot.core)."""
    t = t or english()
    if settings.summarizer == "llm" and settings.llm_url:
        host = urlsplit(settings.llm_url).hostname or settings.llm_url
        writer = t._(
            "Summaries are written by a language-model server at {host}: it receives each article's text, no names or channel ids.",
            host=escape(host),
        )
    else:
        writer = t._("Summaries are written on this bot's own server: no text goes to an outside AI service.")
    policy = escape(settings.privacy_url or t._(POLICY_FILE))
    days = settings.history_days
    return t._(
        "In each channel I keep the links shared there and their summaries for {days} "
        "(for the daily digest), its settings, subscription and feeds, and a memory of related articles. "
        "{writer} `/summary privacy` in a channel shows what I keep about it; `/summary forget` there erases it "
        "(channel admins). Uninstalling the app erases everything of the workspace. The operator's privacy policy: {policy}",
        days=t.ngettext("{count} day", "{count} days", int(days) if days == int(days) else 2, count=f"{days:g}"),
        writer=writer, policy=policy,
    )


def _section(mrkdwn: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn[:3000]}}


def _context(mrkdwn: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:2000]}]}
