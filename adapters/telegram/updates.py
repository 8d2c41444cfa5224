"""Telegram updates as the core's `Incoming` messages.

Which messages concern the bot is decided here only as far as Telegram knows more than
the core: who the bot is (mentions, replies to it, `/command@OtherBot`) and who is a chat
admin. Commands, links and rate limits are the core's business.
"""

from __future__ import annotations

import re
from typing import Awaitable, Callable

from telegram import Message, MessageEntity, Update, User

from bot.commands import parse_command
from bot.models import ChatRef, Incoming

PLATFORM = "telegram"

# Telegram chat types -> the core's chat kinds
CHAT_KINDS = {"private": "private", "group": "group", "supergroup": "group", "channel": "channel"}

# Commands that change a chat's settings: for these (and only these, since each check is
# an API call) the adapter asks Telegram whether the sender is a chat admin.
SETTINGS_COMMANDS = frozenset({"autosummary", "subscribe", "unsubscribe", "feeds"})

# (chat_id, user_id) -> may this user change the chat's settings?
AdminCheck = Callable[[int, int], Awaitable[bool]]


def message_of(update: Update) -> Message | None:
    """The new message an update carries (a chat message or a channel post), if any."""
    return update.message or update.channel_post


async def incoming_from_update(update: Update, me: User, is_admin: AdminCheck) -> Incoming | None:
    """`update` as the core sees it, or None when it holds nothing for this bot (no text,
    a service message, a command for another bot). `is_admin` is asked only when the
    answer matters: for /autosummary in a group."""
    message = message_of(update)
    if message is None:
        return None
    text = message_text(message)
    if not text:
        return None
    command = parse_command(text)
    if command and command.addressed_to and command.addressed_to.lower() != (me.username or "").lower():
        return None
    chat = message.chat
    kind = CHAT_KINDS.get(chat.type)
    if kind is None:
        return None
    mentioned = _mentions(message, me)
    replied_to_bot = bool(message.reply_to_message and message.reply_to_message.from_user
                          and message.reply_to_message.from_user.id == me.id)  # fmt: skip
    sender = message.from_user or message.sender_chat
    return Incoming(
        chat=ChatRef(
            platform=PLATFORM,
            chat_id=str(chat.id),
            thread_id=str(message.message_thread_id) if message.is_topic_message else None,
            kind=kind,
        ),
        text=_without_mention(text, me) if mentioned else text,
        user_id=str(sender.id) if sender else "",
        message_id=str(message.message_id),
        reply_to_text=message_text(message.reply_to_message) if message.reply_to_message else None,
        addressed_to_bot=kind == "private" or mentioned or replied_to_bot or bool(command and command.addressed_to),
        is_admin=await _is_admin(message, kind, is_admin) if command and command.name in SETTINGS_COMMANDS else False,
    )


def message_text(message: Message) -> str:
    """Text or caption, with the targets of hidden links ("click here" -> URL) added, so
    the core sees every link the reader could follow."""
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or ()
    hidden = [e.url for e in entities if e.type == MessageEntity.TEXT_LINK and e.url and e.url not in text]
    return "\n".join([text, *dict.fromkeys(hidden)]) if hidden else text


def _mentions(message: Message, me: User) -> bool:
    entities = message.entities or message.caption_entities or ()
    if any(e.type == MessageEntity.TEXT_MENTION and e.user and e.user.id == me.id for e in entities):
        return True
    return bool(me.username) and _mention_re(me).search(message.text or message.caption or "") is not None


def _without_mention(text: str, me: User) -> str:
    return _mention_re(me).sub("", text).strip() if me.username else text


def _mention_re(me: User) -> re.Pattern:
    return re.compile(rf"@{re.escape(me.username or '')}\b", re.I)


async def _is_admin(message: Message, kind: str, is_admin: AdminCheck) -> bool:
    if kind != "group":
        return True  # private chats are the user's own; only admins can post in channels
    if message.sender_chat and message.sender_chat.id == message.chat.id:
        return True  # an anonymous admin posting as the group
    if message.from_user is None:
        return False
    return await is_admin(message.chat.id, message.from_user.id)
