"""Who may change a Slack channel's settings: the admin check the Slack adapter registers
with the core (bot.acl), which asks it only for a settings command outside a DM.

An admin here is a workspace admin or owner of the channel's own workspace (`users.info`:
is_admin, is_owner, is_primary_owner; a user from another organisation in a shared channel
does not count), or the channel's creator (`conversations.info`: channel.creator). A Web API
call that fails raises, and the core then refuses the command (fail closed). Needs the
`users:read` scope and, for the creator, `channels:read` / `groups:read` / `mpim:read`.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.incoming import channel_of
from bot.models import ChatRef

ADMIN_FLAGS = ("is_admin", "is_owner", "is_primary_owner")
USER_TTL = 30.0  # seconds a user's flags (users.info) are trusted: a demoted admin's window
CREATOR_TTL = 3600.0  # a channel's creator does not change; re-read once in a while anyway
MAX_REMEMBERED = 10_000  # users and channels each; the least recently asked go first


class SlackLookups:
    """users.info and conversations.info answers, remembered a while: the App Home tab asks
    the admin check for every channel with a digest at each visit, so without this one user
    clicking the tab spends the workspace's Web API rate limits (and every admin check then
    fails, closed). Failures are not remembered."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._known: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()

    async def _cached(self, key: tuple, ttl: float, ask) -> dict:
        now = self.clock()
        hit = self._known.get(key)
        if hit is not None and now - hit[0] < ttl:
            self._known.move_to_end(key)
            return hit[1]
        value = await ask()  # raises on a failed call: nothing remembered, the check is denied
        self._known[key] = (now, value)
        self._known.move_to_end(key)
        while len(self._known) > 2 * MAX_REMEMBERED:
            self._known.popitem(last=False)
        return value

    async def user(self, client: AsyncWebClient, team: str | None, user_id: str) -> dict:
        async def ask():
            found = (await client.users_info(user=user_id)).get("user") or {}
            return {name: found.get(name) for name in ("team_id", "deleted", *ADMIN_FLAGS)}  # no names kept
        return await self._cached(("user", team, user_id), USER_TTL, ask)

    async def creator(self, client: AsyncWebClient, team: str | None, channel: str) -> dict:
        async def ask():
            found = (await client.conversations_info(channel=channel)).get("channel") or {}
            return {"creator": found.get("creator")}
        return await self._cached(("channel", team, channel), CREATOR_TTL, ask)


async def is_admin_or_channel_creator(
    client: AsyncWebClient, chat: ChatRef, user_id: str, lookups: SlackLookups | None = None
) -> bool:
    if not user_id:
        return False
    lookups = lookups or SlackLookups()
    user = await lookups.user(client, chat.scope_id, user_id)
    in_this_workspace = chat.scope_id is None or user.get("team_id") == chat.scope_id
    if in_this_workspace and not user.get("deleted") and any(user.get(flag) is True for flag in ADMIN_FLAGS):
        return True
    channel = await lookups.creator(client, chat.scope_id, channel_of(chat))
    return channel.get("creator") == user_id
