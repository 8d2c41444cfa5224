"""Telegram updates as the core's `Incoming` messages.

Which messages concern the bot is decided here only as far as Telegram knows more than
the core: who the bot is (mentions, replies to it, `/command@OtherBot`). Commands, links,
rate limits and who may run which command are the core's business; `is_chat_admin` is the
admin check this adapter registers with the core (bot.acl), which asks it only when a
settings command in a group needs the answer.
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

# (chat_id, user_id) -> is this user the chat's owner or an administrator (getChatMember)?
MemberIsAdmin = Callable[[int, int], Awaitable[bool]]


def message_of(update: Update) -> Message | None:
    """The new message an update carries (a chat message or a channel post), if any."""
    return update.message or update.channel_post


async def incoming_from_update(update: Update, me: User) -> Incoming | None:
    """`update` as the core sees it, or None when it holds nothing for this bot (no text,
    a service message, a command for another bot)."""
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
    # A message sent on behalf of a chat (an anonymous admin as the group, a channel) comes
    # from that chat; `from_user` is then only a placeholder bot.
    sender = message.sender_chat or message.from_user
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
    # Not inside a word or a link: "https://x.example/@bot/story" mentions no one.
    return re.compile(rf"(?<![\w./:@%~+-])@{re.escape(me.username or '')}\b", re.I)


async def is_chat_admin(chat: ChatRef, user_id: str, member_is_admin: MemberIsAdmin) -> bool:
    """Whether `user_id` (a user, or the chat a message was sent on behalf of) may change
    `chat`'s settings: its owner and administrators, an anonymous admin posting as the
    group, and whoever posts in a channel (only its admins can)."""
    if chat.kind == "channel" or user_id == chat.chat_id:
        return True  # a channel post, or an anonymous admin posting as the group
    if not user_id.isdigit():
        return False  # no sender, or another chat (a user's channel) speaking in the group
    return await member_is_admin(int(chat.chat_id), int(user_id))
