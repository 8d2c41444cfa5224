"""Telegram updates as the core's `Incoming`: chat kinds, who is addressed, hidden links,
replies, and admin checks only where they matter."""

from __future__ import annotations

from telegram import Update, User

from benchmarks.standins.telegram_api import BotApiStandIn
from adapters.telegram.updates import incoming_from_update, is_chat_admin
from bot.acl import Decision, Permissions
from bot.commands import parse_command

ME = User(id=123456, is_bot=True, first_name="Summary", username="summary_test_bot")
api = BotApiStandIn()  # only its update builders: nothing is served here


class AdminLookups:
    """Answers "is this user an admin?" from a set, and remembers who was asked about."""

    def __init__(self, admins: set[int] = frozenset()):
        self.admins = admins
        self.asked: list[tuple[int, int]] = []

    async def __call__(self, chat_id: int, user_id: int) -> bool:
        self.asked.append((chat_id, user_id))
        return user_id in self.admins


async def incoming(update: dict):
    return await incoming_from_update(Update.de_json(update, None), ME)


async def test_private_message_is_addressed_to_the_bot():
    message = await incoming(api.new_update("https://a.example/x", chat_id=42))
    assert (message.chat.platform, message.chat.chat_id, message.chat.kind) == ("telegram", "42", "private")
    assert message.addressed_to_bot and message.user_id == "42" and message.text == "https://a.example/x"
    assert message.message_id is not None and message.reply_to_text is None


async def test_group_messages_are_addressed_by_mention_reply_or_named_command_only():
    group = dict(chat_id=-100, chat_type="supergroup", user_id=7)
    plain = await incoming(api.new_update("see https://a.example/x", **group))
    assert plain.chat.kind == "group" and not plain.addressed_to_bot
    mention = await incoming(api.new_update("@Summary_Test_Bot please read https://a.example/x", **group))
    assert mention.addressed_to_bot and mention.text == "please read https://a.example/x"
    in_a_link = await incoming(api.new_update("see https://a.example/@summary_test_bot/story", **group))
    assert not in_a_link.addressed_to_bot and in_a_link.text == "see https://a.example/@summary_test_bot/story"
    bot_said = api.new_update("earlier digest", chat_id=-100, chat_type="supergroup", user_id=ME.id)["message"]
    reply = await incoming(api.new_update("more like this", reply_to=bot_said, **group))
    assert reply.addressed_to_bot and reply.reply_to_text == "earlier digest"
    named = await incoming(api.new_update("/summary@summary_test_bot https://a.example/x", **group))
    assert named.addressed_to_bot
    bare = await incoming(api.new_update("/summary https://a.example/x", **group))
    assert not bare.addressed_to_bot  # the core still runs its own commands; it won't answer others'
    assert await incoming(api.new_update("/summary@other_bot https://a.example/x", **group)) is None


async def test_hidden_links_and_captions_reach_the_core():
    update = api.new_update(
        "read this and that",
        entities=[{"type": "text_link", "offset": 5, "length": 4, "url": "https://a.example/this"},
                  {"type": "text_link", "offset": 14, "length": 4, "url": "https://a.example/that"}],
    )  # fmt: skip
    assert (await incoming(update)).text == "read this and that\nhttps://a.example/this\nhttps://a.example/that"
    photo = api.new_update("x")
    message = photo["message"]
    del message["text"]
    message.update(photo=[{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}], caption="https://a.example/p")
    assert (await incoming(photo)).text == "https://a.example/p"


async def test_reply_to_text_is_the_quoted_message_text_or_caption():
    quoted = api.new_update("original https://a.example/q", chat_id=-100, chat_type="group")["message"]
    message = await incoming(api.new_update("/summary", chat_id=-100, chat_type="group", reply_to=quoted))
    assert message.reply_to_text == "original https://a.example/q"


async def test_messages_without_text_are_not_for_the_core():
    update = api.new_update("x")
    del update["message"]["text"]
    update["message"]["new_chat_members"] = [{"id": 9, "is_bot": False, "first_name": "New"}]
    assert await incoming(update) is None


async def test_channel_posts_come_from_the_channel():
    message = await incoming(api.new_update("https://a.example/c", chat_id=-200, chat_type="channel"))
    assert message.chat.kind == "channel" and message.user_id == "-200" and not message.addressed_to_bot


async def test_admin_is_looked_up_only_for_settings_commands_in_groups():
    """The adapter's admin check as the core's permissions use it (bot.acl)."""
    lookups = AdminLookups(admins={7})
    permissions = Permissions()
    permissions.register("telegram", lambda chat, user_id, message: is_chat_admin(chat, user_id, lookups))

    async def decide(update: dict) -> Decision:
        message = await incoming(update)
        return await permissions.decide(message, parse_command(message.text))

    group = dict(chat_id=-100, chat_type="supergroup")
    assert await decide(api.new_update("/autosummary off", user_id=7, **group)) is Decision.ALLOWED
    assert await decide(api.new_update("/autosummary off", user_id=8, **group)) is Decision.NOT_ADMIN
    assert await decide(api.new_update("/subscribe 08:00", user_id=7, **group)) is Decision.ALLOWED
    assert await decide(api.new_update("/summary https://a.example", user_id=8, **group)) is Decision.ALLOWED
    assert await decide(api.new_update("/autosummary off", chat_id=5)) is Decision.ALLOWED  # own private chat
    assert lookups.asked == [(-100, 7), (-100, 8), (-100, 7)]
    anonymous = api.new_update("/autosummary on", user_id=8, **group)
    anonymous["message"]["sender_chat"] = anonymous["message"]["chat"]  # an admin posting as the group
    assert await decide(anonymous) is Decision.ALLOWED
    as_own_channel = api.new_update("/autosummary on", user_id=7, **group)
    as_own_channel["message"]["sender_chat"] = {"id": -300, "type": "channel", "title": "Mine"}  # not the group
    assert await decide(as_own_channel) is Decision.NOT_ADMIN
    channel_post = api.new_update("/subscribe 08:00", chat_id=-200, chat_type="channel")
    assert await decide(channel_post) is Decision.ALLOWED  # only a channel's admins can post in it
    assert len(lookups.asked) == 3
