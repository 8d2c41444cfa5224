"""Telegram updates as the core's `Incoming` messages.

Which messages concern the bot is decided here only as far as Telegram knows more than
the core: who the bot is (mentions, replies to it, `/command@OtherBot`). Commands, links,
rate limits and who may run which command are the core's business; `is_chat_admin` is the
admin check this adapter registers with the core (bot.acl), which asks it only when a
settings command in a group needs the answer.

Besides messages: `my_chat_member` (the bot removed from a chat, or blocked by its user:
`removed_chat`), a group's move to a supergroup (`migration`), and presses of the inline
buttons under the bot's replies (`press_as_incoming`: the press is its presser sending the
button's command in that chat, validated as hostile input by `button_command`).
"""

from __future__ import annotations

import re
from typing import Awaitable, Callable

from telegram import CallbackQuery, ChatMemberUpdated, Message, MessageEntity, Update, User
from telegram.constants import ChatMemberStatus

from bot.commands import is_length_button, parse_command
from bot.models import ChatRef, Incoming

PLATFORM = "telegram"

# Telegram chat types -> the core's chat kinds
CHAT_KINDS = {"private": "private", "group": "group", "supergroup": "group", "channel": "channel"}

MAX_CALLBACK_DATA = 64  # bytes: Telegram's limit on a button's callback_data
# The commands the core puts on buttons (bot.core), the only callback data a press may carry:
# anything else is answered "expired" and does nothing. A new button's command goes here too
# (render.keyboard_buttons leaves out, and logs, a button whose command is not listed), and
# Shorter/Longer's `/length <id> <length>` (bot.commands.LENGTH_BUTTON) is the one pattern.
BUTTON_COMMANDS = frozenset({"/forget confirm"})
REMOVED = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)  # "left", "kicked"

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
        language=message.from_user.language_code if message.from_user else None,  # the sender's app language
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


async def is_chat_admin(chat: ChatRef, user_id: str, member_is_admin: MemberIsAdmin, *, pressed: bool = False) -> bool:
    """Whether `user_id` (a user, or the chat a message was sent on behalf of) may change
    `chat`'s settings: its owner and administrators, an anonymous admin posting as the
    group, and whoever posts in a channel (only its admins can). A button press (`pressed`)
    is not a post: any subscriber of a channel may press the buttons under its messages,
    so a press is checked with getChatMember everywhere."""
    if not pressed and (chat.kind == "channel" or user_id == chat.chat_id):
        return True  # a channel post, or an anonymous admin posting as the group
    if not user_id.isdigit():
        return False  # no sender, or another chat (a user's channel) speaking in the group
    return await member_is_admin(int(chat.chat_id), int(user_id))


# -- the bot's own membership, migrations, buttons --------------------------------------------


def removed_chat(change: ChatMemberUpdated, bot_id: int) -> ChatRef | None:
    """The chat the bot was removed from (left or kicked from a group, supergroup or channel;
    blocked by the user of a private chat), or None for any other change."""
    member = change.new_chat_member
    kind = CHAT_KINDS.get(change.chat.type)
    if kind is None or member.user.id != bot_id or member.status not in REMOVED:
        return None
    return ChatRef(platform=PLATFORM, chat_id=str(change.chat.id), kind=kind)


def migration(message: Message) -> tuple[ChatRef, ChatRef] | None:
    """(old group, new supergroup) when `message` is the service message of a group's
    upgrade: `migrate_to_chat_id` in the old group, `migrate_from_chat_id` in the new."""
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return None
    return group_ref(old), group_ref(new)


def group_ref(chat_id: int) -> ChatRef:
    return ChatRef(platform=PLATFORM, chat_id=str(chat_id), kind="group")


def button_command(data: object) -> str | None:
    """`data` if it is exactly the command of a button the bot puts under its replies
    (BUTTON_COMMANDS, or Shorter/Longer's pattern), else None: forged, stale, or from another
    version of the bot."""
    if not isinstance(data, str) or len(data.encode("utf-8", "surrogatepass")) > MAX_CALLBACK_DATA:
        return None
    return data if data in BUTTON_COMMANDS or is_length_button(data) else None


def press_as_incoming(query: CallbackQuery, command: str) -> Incoming | None:
    """A press of a button with (valid) `command` as its presser sending it in the chat of
    the message the button is on, answering that message; None when that message is not
    there to answer (too old, or a button of an inline message) or does not carry a button
    with that data (a client can send any data with a press on any message)."""
    message = query.message
    if message is None or not message.is_accessible or message.chat is None:
        return None
    keyboard = message.reply_markup.inline_keyboard if message.reply_markup else ()
    if not any(button.callback_data == command for row in keyboard for button in row):
        return None
    kind = CHAT_KINDS.get(message.chat.type)
    if kind is None:
        return None
    return Incoming(
        chat=ChatRef(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            thread_id=str(message.message_thread_id) if getattr(message, "is_topic_message", False) else None,
            kind=kind,
        ),
        text=command,
        user_id=str(query.from_user.id),
        message_id=str(message.message_id),
        addressed_to_bot=True,
        via_button=True,
        language=query.from_user.language_code if query.from_user else None,
    )
