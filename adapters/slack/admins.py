"""Who may change a Slack channel's settings: the admin check the Slack adapter registers
with the core (bot.acl), which asks it only for a settings command outside a DM.

An admin here is a workspace admin or owner of the channel's own workspace (`users.info`:
is_admin, is_owner, is_primary_owner; a user from another organisation in a shared channel
does not count), or the channel's creator (`conversations.info`: channel.creator). A Web API
call that fails raises, and the core then refuses the command (fail closed). Needs the
`users:read` scope and, for the creator, `channels:read` / `groups:read` / `mpim:read`.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.incoming import channel_of
from bot.models import ChatRef

ADMIN_FLAGS = ("is_admin", "is_owner", "is_primary_owner")


async def is_admin_or_channel_creator(client: AsyncWebClient, chat: ChatRef, user_id: str) -> bool:
    if not user_id:
        return False
    user = (await client.users_info(user=user_id)).get("user") or {}
    in_this_workspace = chat.scope_id is None or user.get("team_id") == chat.scope_id
    if in_this_workspace and not user.get("deleted") and any(user.get(flag) is True for flag in ADMIN_FLAGS):
        return True
    channel = (await client.conversations_info(channel=channel_of(chat))).get("channel") or {}
    return channel.get("creator") == user_id
