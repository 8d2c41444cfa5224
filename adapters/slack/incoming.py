"""Slack payloads (events, slash commands) as the core's `Incoming` messages.

Slack sends text with its own markup: links as `<https://x|label>`, mentions as `<@U123>`,
and `&`, `<`, `>` escaped. `plain_text` turns that back into what the person typed, so the
core finds links and commands exactly as on any other platform.
"""

from __future__ import annotations

import re
from collections.abc import Container
from urllib.parse import urlsplit

from bot.models import ChatRef, Incoming

_MARKUP_RE = re.compile(r"<([^<>]*)>")
_SPACES_RE = re.compile(r"[ \t]{2,}")


def plain_text(text: str, bot_user_id: str | None = None) -> str:
    """Slack markup as plain text: links without their labels, mentions of the bot removed,
    other mentions and channels by name, entities decoded."""

    def replace(match: re.Match) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):  # a user: <@U123> or <@U123|name>
            return "" if target[1:] == bot_user_id else "@" + (label or target[1:])
        if target.startswith("#"):  # a channel: <#C123|general>
            return "#" + (label or target[1:])
        if target.startswith("!"):  # <!here>, <!subteam^S1|@team>
            return label or "@" + target[1:]
        if target.lower().startswith(("http://", "https://")):
            return " " + target + " "  # keep the address, whatever label was shown
        return label or target  # mailto:, tel:, ...

    text = _MARKUP_RE.sub(replace, text or "")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _SPACES_RE.sub(" ", text).strip()


def is_from_a_person(event: dict) -> bool:
    """A plain message a person wrote: not an edit, deletion, join or other subtype, and
    not posted by a bot (ours or another)."""
    return not event.get("subtype") and not event.get("bot_id") and bool(event.get("user"))


# Slack's channel_type in message events; slash commands name the conversation instead.
PRIVATE_GROUP_TYPES = frozenset({"group", "mpim"})  # private channels, group DMs
PRIVATE_GROUP_NAMES = ("privategroup", "mpdm-")  # slash command channel_name (exact, prefix)


def chat_kind(
    channel_id: str, channel_type: str | None = None, *, is_private: bool | None = None, channel_name: str | None = None
) -> str:
    """"private" for direct messages; "private_group" for private channels and group DMs,
    whose members alone may see what is shared there (so it must not surface as "related"
    in a public channel); "group" for public channels. What Slack tells: channel_type
    ("im", "mpim", "group", "channel") in message events, channel_name in slash commands
    ("directmessage", "privategroup", "mpdm-…"), is_private in conversation objects, and
    the id (D… is a DM, G… a private channel or group DM; C… may be either nowadays).
    A C… id with nothing else known (app_mention and link_shared events) counts as private:
    its articles then stay in the channel's own memory rather than risk a leak."""
    # A DM's id starts with D: a channel a user named "directmessage" is not one (in a DM
    # anyone may change settings, so this must fail closed).
    if channel_type == "im" or (channel_id.startswith("D") and (channel_name == "directmessage" or not channel_type)):
        return "private"
    if (
        channel_type in PRIVATE_GROUP_TYPES
        or is_private
        or channel_id.startswith("G")
        or (channel_name or "").startswith(PRIVATE_GROUP_NAMES)
    ):
        return "private_group"
    known_public = channel_type == "channel" or is_private is False or bool(channel_name)
    return "group" if known_public else "private_group"


def slack_chat(team_id: str | None, channel: str, *, thread_id: str | None = None, kind: str = "group") -> ChatRef:
    """The chat of `channel` as seen by the installation of `team_id`: its key names that team
    ("slack:T1:C1"), so a channel shared between organisations (Slack Connect) is one chat per
    organisation, each with its own settings and subscription that only its own admins change."""
    return ChatRef(platform="slack", chat_id=f"{team_id}:{channel}" if team_id else channel,
                   thread_id=thread_id, scope_id=team_id, kind=kind)  # fmt: skip


def channel_of(chat: ChatRef) -> str:
    """The Slack channel id of a chat (its id without the team)."""
    return chat.chat_id.rpartition(":")[2]


def incoming_from_event(event: dict, *, team_id: str | None, bot_user_id: str | None, addressed_to_bot: bool) -> Incoming:
    """A `message` or `app_mention` event; replies go to the message's thread."""
    channel = event["channel"]
    chat = slack_chat(
        team_id, channel, thread_id=event.get("thread_ts") or event["ts"],
        kind=chat_kind(channel, event.get("channel_type"), is_private=event.get("is_private")),
    )  # fmt: skip
    return Incoming(
        chat=chat,
        text=plain_text(event.get("text", ""), bot_user_id),
        user_id=event.get("user", ""),
        message_id=event["ts"],
        addressed_to_bot=addressed_to_bot or chat.kind == "private",
    )


def incoming_from_command(command: dict, core_commands: Container[str]) -> Incoming:
    """A slash command. A Slack command named like a core command (`/autosummary`) is that
    command; any other name (`/summary`, or `/tldr` where `/summary` is taken) summarizes."""
    name = command.get("command", "").lstrip("/").lower()
    if name not in core_commands:
        name = "summary"
    channel = command["channel_id"]
    kind = chat_kind(channel, channel_name=command.get("channel_name"))
    chat = slack_chat(command.get("team_id"), channel, kind=kind)
    text = f"/{name} {plain_text(command.get('text', ''))}".strip()
    return Incoming(chat=chat, text=text, user_id=command.get("user_id", ""), addressed_to_bot=True)


def host_matches(url: str, domains: list[str]) -> bool:
    """Whether `url`'s host is one of `domains` or a subdomain of one."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    return any(host == domain or host.endswith("." + domain) for domain in domains)
