"""What happens when a workspace removes the app: `app_uninstalled` and `tokens_revoked`.

Bolt runs only the first listener that matches an event, so one listener per event does
both jobs: the installation store's deletion (what slack-bolt's own token-revocation
listeners do, which are therefore never registered: `enable_token_revocation_listeners` is
not called) and, on uninstall, the erasure of every record of the workspace through the
core's `Privacy.erase_workspace` (channels, DMs, related memory, subscriptions, feeds).
The erasure comes last: nothing written after it names the workspace. Both events are
answered 200 in token mode and in OAuth mode.

Also here: chats stored before their key named the team (`slack:C1`, now `slack:T1:C1`)
are moved once (`LegacyChats`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from slack_bolt.async_app import AsyncBoltContext

from adapters.slack.incoming import channel_of, slack_chat
from adapters.slack.installation_store import StoreInstallationStore
from bot.core import SummaryBot
from bot.digest.subscriptions import chat_from_json
from bot.models import ChatRef
from bot.store import keys

log = logging.getLogger(__name__)

MAX_REMEMBERED_CHANNELS = 10_000  # channels checked for legacy keys in this process


class Lifecycle:
    def __init__(self, bot: SummaryBot, installations: StoreInstallationStore | None):
        self.bot = bot
        self.installations = installations  # None in token mode: the token is the operator's setting

    async def on_app_uninstalled(self, context: AsyncBoltContext) -> None:
        enterprise, team, org = context.enterprise_id, context.team_id, bool(context.is_enterprise_install)
        if self.installations is None:
            teams = [team] if team else []
            log.warning("the Slack app was uninstalled from its workspace: remove SUMMARY_BOT_SLACK_BOT_TOKEN")
        else:
            teams = await self.installations.teams_served(enterprise, team, org)
            await self.installations.async_delete_all(enterprise_id=enterprise, team_id=None if org else team)
        for workspace in teams:
            chats = await self.bot.privacy.erase_workspace("slack", workspace)
            log.info("Slack app uninstalled: a workspace's installation and %d chats erased", chats)

    async def on_tokens_revoked(self, event: dict, context: AsyncBoltContext) -> None:
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        users = [user for user in tokens.get("oauth") or [] if isinstance(user, str)][:1000]
        bots = tokens.get("bot") or []
        if self.installations is None:
            if bots:
                log.warning("Slack revoked the bot token: replace SUMMARY_BOT_SLACK_BOT_TOKEN")
            return
        enterprise = context.enterprise_id
        team = None if context.is_enterprise_install else context.team_id
        for user in users:
            await self.installations.async_delete_installation(enterprise_id=enterprise, team_id=team, user_id=user)
        if bots:
            await self.installations.async_delete_bot(enterprise_id=enterprise, team_id=team)
        log.info("Slack revoked tokens: %d user, %d bot; deleted from the store", len(users), len(bots))


class LegacyChats:
    """Chats stored as `slack:{channel}` before a chat's key named its team: moved to
    `slack:{team}:{channel}` (bot.privacy.move_chat), at start for every subscribed chat (the
    subscription names its team) and, for the rest (settings, history), the first time this
    process sees the channel from a team. A channel shared between organisations goes to the
    first team seen in it."""

    def __init__(self, bot: SummaryBot):
        self.bot = bot
        self._checked: OrderedDict[str, None] = OrderedDict()

    async def migrate_subscribed(self, default_team) -> int:
        """Move every subscribed legacy chat to its subscription's team, else to
        `await default_team()` (token mode: the configured workspace's, by auth.test)."""
        store, moved = self.bot.store, 0
        for chat_key, _ in await store.zrangebyscore(keys.DIGEST_DUE, float("-inf"), float("inf")):
            platform, _, channel = chat_key.partition(":")
            if platform != "slack" or ":" in channel or not channel:
                continue
            raw = await store.hget(keys.digest_subscription(chat_key), "chat")
            chat = chat_from_json(raw) if raw else None
            team = (chat.scope_id if chat is not None else None) or await default_team()
            if team:
                await self._move(chat or ChatRef("slack", channel, kind="group"), team)
                moved += 1
        if moved:
            log.info("moved %d Slack chats to keys that name their team", moved)
        return moved

    async def adopt(self, chat: ChatRef) -> None:
        """Before a chat's first message in this process: its legacy keys, if any, are its."""
        if not chat.scope_id or chat.chat_id in self._checked:
            return
        self._checked[chat.chat_id] = None
        if len(self._checked) > MAX_REMEMBERED_CHANNELS:
            self._checked.popitem(last=False)
        legacy = ChatRef("slack", channel_of(chat), kind=chat.kind)
        if await self.bot.store.keys_of(legacy.key) or await self.bot.store.zscore(keys.DIGEST_DUE, legacy.key) is not None:
            await self._move(legacy, chat.scope_id)

    async def _move(self, legacy: ChatRef, team: str) -> None:
        channel = channel_of(legacy)
        new = slack_chat(team, channel, kind=legacy.kind)
        await self.bot.privacy.move_chat(ChatRef("slack", channel, kind=legacy.kind), new)
        self._checked[new.chat_id] = None
