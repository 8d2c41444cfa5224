"""/subscribe and /unsubscribe through the bot's entry point, on both store backends: the
defaults, the chat's time zone, who may change them, and bad input that changes nothing."""

from __future__ import annotations

import pytest

from bot.commands import parse_command
from bot.core import SummaryBot
from bot.models import ChatRef, Incoming
from bot.store import keys
from digest_support import GROUP, FakeClock, digest_settings, utc
from model_support import make_summary_bot

CHANNEL = ChatRef(platform="telegram", chat_id="-100777", kind="channel")
PRIVATE = ChatRef(platform="slack", chat_id="D0123", kind="private")


@pytest.fixture
async def bot(store, tmp_path):
    summary_bot = make_summary_bot(digest_settings(tmp_path), store)
    summary_bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))  # a Monday
    yield summary_bot
    await summary_bot.close()


async def only_u1_is_an_admin(chat: ChatRef, user_id: str, message: Incoming) -> bool:
    return user_id == "u1"


async def say(bot: SummaryBot, text: str, chat: ChatRef = GROUP, is_admin: bool = True):
    """`text` from u1, the chat's admin (as the bot's Telegram admin check answers), or u2."""
    bot.permissions.register("telegram", only_u1_is_an_admin)
    (reply,) = await bot.handle(Incoming(chat=chat, text=text, user_id="u1" if is_admin else "u2", addressed_to_bot=True))
    return reply


async def stored_state(bot: SummaryBot, chat: ChatRef = GROUP) -> tuple:
    store = bot.store
    return (
        await store.hgetall(keys.digest_subscription(chat.key)),
        await store.zrangebyscore("digest:due", float("-inf"), float("inf")),
        await store.hgetall(keys.chat_settings(chat.key)),
    )


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("/subscribe 25:00", "25:00 is not a time of day"),
        ("/subscribe 08:00 Mars/Olympus", "I don't know the time zone Mars/Olympus"),
        ("/subscribe Mars/Olympus 08:00", "I don't know the time zone Mars/Olympus"),
        ("/subscribe 8:61 Europe/Berlin", "8:61 is not a time of day"),
        ("/subscribe 08:00 09:00", "Usage: /subscribe"),
    ],
)
async def test_bad_time_or_zone_answers_clearly_and_changes_nothing(bot, text, complaint):
    before_anything = await stored_state(bot)
    reply = await say(bot, text)
    assert complaint in reply.error and "/subscribe [HH:MM] [Area/City]" in reply.error
    assert await stored_state(bot) == before_anything

    await say(bot, "/subscribe 07:15 America/New_York")
    subscribed = await stored_state(bot)
    reply = await say(bot, text)
    assert complaint in reply.error
    assert await stored_state(bot) == subscribed  # an existing subscription is untouched


async def test_defaults_are_eight_oclock_in_the_chats_zone_else_utc(bot):
    reply = await say(bot, "/subscribe")
    assert "every day at 08:00 (UTC)" in reply.text and "Tuesday 7 May at 08:00" in reply.text

    reply = await say(bot, "/subscribe 18:30 europe/berlin")  # zone names are case-insensitive
    assert "18:30 (Europe/Berlin)" in reply.text and "Monday 6 May at 18:30" in reply.text
    reply = await say(bot, "/subscribe 07:00")  # the zone given before is remembered
    assert "07:00 (Europe/Berlin)" in reply.text
    reply = await say(bot, "/subscribe Asia/Tokyo")  # the time chosen before is kept
    assert "07:00 (Asia/Tokyo)" in reply.text

    subscription = await bot.digests.subscriptions.get(GROUP.key)
    assert (subscription.chat, subscription.zone.key, f"{subscription.at:%H:%M}") == (GROUP, "Asia/Tokyo", "07:00")
    (due,) = await bot.store.zrangebyscore("digest:due", float("-inf"), float("inf"))
    assert due == (GROUP.key, utc(2024, 5, 6, 22, 0).timestamp())  # 07:00 on Tuesday in Tokyo


async def test_channels_and_private_chats_subscribe_too_and_only_admins_change_groups(bot):
    assert (await say(bot, "/subscribe 09:00", chat=CHANNEL)).error is None
    assert (await say(bot, "/subscribe 09:00", chat=PRIVATE, is_admin=False)).error is None
    refused = await say(bot, "/subscribe 09:00", is_admin=False)
    assert "Only chat admins" in refused.error
    assert await bot.digests.subscriptions.get(GROUP.key) is None
    assert (await bot.digests.subscriptions.get(CHANNEL.key)).chat == CHANNEL


async def test_unsubscribe(bot):
    not_subscribed = await say(bot, "/unsubscribe")
    assert "no daily digest to stop" in not_subscribed.error
    await say(bot, "/subscribe 09:00")
    assert "Only chat admins" in (await say(bot, "/unsubscribe", is_admin=False)).error
    assert (await say(bot, "/unsubscribe")).text.startswith("OK, no more daily digests")
    assert await stored_state(bot) == ({}, [], {})


async def test_help_lists_the_digest_commands(bot):
    help_text = (await say(bot, "/help")).text
    for command in ("/subscribe [HH:MM] [Area/City]", "/unsubscribe", "/digest", "/feeds add|remove|list"):
        assert command in help_text


# -- who may change settings: the core asks the platform, and fails closed ------------------
SLACK_CHANNEL = ChatRef(platform="slack", chat_id="C0456", scope_id="T1", kind="group")
SLACK_PRIVATE_CHANNEL = ChatRef(platform="slack", chat_id="C0789", scope_id="T1", kind="private_group")


async def from_member(bot: SummaryBot, text: str, chat: ChatRef):
    (reply,) = await bot.handle(Incoming(chat=chat, text=text, user_id="U2", addressed_to_bot=True))
    return reply


@pytest.mark.parametrize("chat", [SLACK_CHANNEL, SLACK_PRIVATE_CHANNEL, GROUP])
async def test_without_an_admin_check_for_the_platform_no_settings_change_is_accepted(bot, chat):
    """No checker registered for the chat's platform: every settings command is refused."""
    for text in ("/autosummary off", "/subscribe 09:00", "/unsubscribe", "/feeds add https://feeds.example/rss"):
        reply = await from_member(bot, text, chat)
        assert reply.error and "couldn't check that you're an admin" in reply.error, text
    assert await stored_state(bot, chat) == ({}, [], {})
    assert await bot.digests.feeds.followed(chat) == {}


async def test_an_admin_check_that_fails_or_does_not_say_yes_refuses(bot):
    async def broken(chat, user_id, message):
        raise ConnectionError("the platform is down")

    async def vague(chat, user_id, message):
        return "yes"  # anything but True is a no

    bot.permissions.register("slack", broken)
    assert "couldn't check" in (await from_member(bot, "/subscribe 09:00", SLACK_CHANNEL)).error
    bot.permissions.register("slack", vague)
    assert "Only chat admins" in (await from_member(bot, "/subscribe 09:00", SLACK_CHANNEL)).error
    assert await stored_state(bot, SLACK_CHANNEL) == ({}, [], {})


async def test_a_group_member_may_read_but_not_change_and_is_asked_about_only_for_changes(bot):
    asked = []

    async def nobody_is_an_admin(chat, user_id, message):
        asked.append(message.text)
        return False

    bot.permissions.register("slack", nobody_is_an_admin)
    assert (await from_member(bot, "/feeds list", SLACK_CHANNEL)).text.startswith("This chat follows no feeds")
    assert (await from_member(bot, "/digest", SLACK_CHANNEL)).text.startswith("Nothing new")
    assert "Usage: /autosummary on|off (now on)" in (await from_member(bot, "/autosummary", SLACK_CHANNEL)).error
    assert "/unsubscribe" in (await from_member(bot, "/help", SLACK_CHANNEL)).text
    assert asked == []
    assert "Only chat admins" in (await from_member(bot, "/autosummary off", SLACK_PRIVATE_CHANNEL)).error
    assert "Only chat admins" in (await from_member(bot, "/feeds remove https://feeds.example/rss", SLACK_CHANNEL)).error
    assert asked == ["/autosummary off", "/feeds remove https://feeds.example/rss"]


def test_every_command_has_an_access_rule(bot):
    assert bot.permissions.unruled(bot.commands) == []
    assert bot.permissions.needs_admin(parse_command("/somethingnew"))  # none given: admins only
