"""/subscribe and /unsubscribe through the bot's entry point, on both store backends: the
defaults, the chat's time zone, who may change them, and bad input that changes nothing."""

from __future__ import annotations

import pytest

from bot.core import SummaryBot
from bot.models import ChatRef, Incoming
from digest_support import GROUP, FakeClock, digest_settings, utc

CHANNEL = ChatRef(platform="telegram", chat_id="-100777", kind="channel")
PRIVATE = ChatRef(platform="slack", chat_id="D0123", kind="private")


@pytest.fixture
async def bot(store, tmp_path):
    summary_bot = SummaryBot(digest_settings(tmp_path), store)
    summary_bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))  # a Monday
    yield summary_bot
    await summary_bot.close()


async def say(bot: SummaryBot, text: str, chat: ChatRef = GROUP, is_admin: bool = True):
    (reply,) = await bot.handle(Incoming(chat=chat, text=text, user_id="u1", addressed_to_bot=True, is_admin=is_admin))
    return reply


async def stored_state(bot: SummaryBot, chat: ChatRef = GROUP) -> tuple:
    store = bot.store
    return (
        await store.hgetall(f"digest:subscription:{chat.key}"),
        await store.zrangebyscore("digest:due", float("-inf"), float("inf")),
        await store.hgetall(f"chat:{chat.key}"),
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
