"""A Telegram chat's lifecycle (issue 18), through the real python-telegram-bot client and
the stand-in Bot API: the bot removed from a group or blocked by a user erases that chat
(a refused digest is never retried), a group's upgrade to a supergroup moves its data,
setMyCommands lists /privacy and /forget, and /forget's inline button erases when an admin
presses it and nothing otherwise. A chat's data is made by the real features (commands and
a shared link sent as Telegram messages); after an erasure every Redis key and value, or
every byte of the SQLite files, is searched for the chat's id and its feed's name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.seed_site import SeedSite
from adapters.telegram import TelegramService
from adapters.telegram.settings import TelegramSettings
from benchmarks.standins.telegram_api import BotApiStandIn
from bot.digest.scheduler import DigestScheduler
from bot.models import Button, ChatRef, Reply
from digest_support import FakeClock
from local_site import serve_site
from telegram_support import running_telegram as running
from test_privacy import dump, feed
from run_support import summary_bot_run, telegram_run_environment

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PAGE = "google-nest-hub-matter-update"
ADMIN, MEMBER = 11, 12


@pytest.fixture
async def sites():
    feeds = {f"/{name}/feed.xml": (200, {"Content-Type": "application/rss+xml"}, feed(name)) for name in ("zqxvictimfeed", "otherfeed")}
    async with SeedSite(SEEDS) as seeded, serve_site(feeds) as feed_site:
        yield seeded, feed_site


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as standin:
        yield standin


async def say(api: BotApiStandIn, text: str, chat_id: int, **options) -> dict:
    """`text` sent in a chat; returns the bot's answer (the next message it sends)."""
    before = len(api.calls_to("sendMessage"))
    api.queue_message(text, chat_id=chat_id, **options)
    calls = await api.wait_for("sendMessage", before + 1, timeout=60)
    return calls[-1].params


async def use_group(api: BotApiStandIn, chat_id: int, sites, feed_name: str) -> None:
    """What a group does with the bot, as Telegram messages from its admin."""
    site, feed_site = sites
    api.set_member_status(chat_id, ADMIN, "administrator")
    group = dict(chat_type="supergroup" if chat_id < -10**12 else "group", user_id=ADMIN)
    assert "OK" in (await say(api, "/autosummary@summary_test_bot on", chat_id, **group))["text"]
    assert "08:00" in (await say(api, "/subscribe@summary_test_bot 08:00 Europe/Berlin", chat_id, **group))["text"]
    added = await say(api, f"/feeds@summary_test_bot add {feed_site.url(f'/{feed_name}/feed.xml')}", chat_id, **group)
    assert "⚠️" not in added["text"], added["text"]
    shared = await say(api, f"{site.base_url}/news/{PAGE}.html", chat_id, **group)
    assert "<b>" in shared["text"]  # a digest of the link: the share is recorded


async def until(condition, what: str, timeout: float = 30.0) -> None:
    async def poll():
        while not await condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        pytest.fail(f"not within {timeout}s: {what}")


async def test_the_bot_kicked_from_a_group_erases_it_and_not_another(api, sites, store, tmp_path):
    victim, other = -1009876543217, -1002222333444
    async with running(api, store, tmp_path) as (service, bot):
        await use_group(api, victim, sites, "zqxvictimfeed")
        await use_group(api, other, sites, "otherfeed")
        victim_chat, other_chat = (ChatRef("telegram", str(c), kind="group") for c in (victim, other))
        other_before = await bot.privacy.inventory(other_chat)
        assert not (await bot.privacy.inventory(victim_chat)).empty
        assert b"9876543217" in await dump(store, tmp_path)
        assert "my_chat_member" in api.calls_to("getUpdates")[-1].params["allowed_updates"]

        api.queue(api.member_update(other, "member", old_status="administrator"))  # not a removal
        api.queue(api.member_update(victim, "kicked", by=ADMIN))

        async def erased():
            return (await bot.privacy.inventory(victim_chat)).empty

        await until(erased, "the kicked group erased")
    everything = await dump(store, tmp_path)
    assert b"9876543217" not in everything and b"zqxvictimfeed" not in everything
    assert await bot.privacy.inventory(other_chat) == other_before
    assert b"otherfeed" in everything


async def test_a_user_who_blocked_the_bot_gets_no_digest_retry_and_their_data_goes(api, sites, store, tmp_path):
    user = 9876543217  # a private chat's id is its user's
    site, _ = sites
    async with running(api, store, tmp_path) as (service, bot):
        assert "08:00" in (await say(api, "/subscribe 08:00 UTC", user))["text"]
        assert "<b>" in (await say(api, f"{site.base_url}/news/{PAGE}.html", user))["text"]
        chat = ChatRef("telegram", str(user), kind="private")
        assert (await bot.privacy.inventory(chat)).subscription

        api.block(user)  # Telegram refuses with 403 "bot was blocked by the user" from now on
        tomorrow = datetime.now(timezone.utc).replace(hour=8, minute=0, second=20, microsecond=0) + timedelta(days=1)
        clock = bot.digests.clock = FakeClock(tomorrow)
        scheduler = DigestScheduler(bot.digests, {"telegram": service.send}, on_chat_gone=bot.privacy.erase_chat)
        sends = len(api.calls_to("sendMessage"))
        report = await scheduler.tick()
        assert (report.gone, report.failed) == (1, 0)
        assert len(api.calls_to("sendMessage")) == sends + 1  # the one refused
        for minutes in (2, 30, 24 * 60):  # never retried: not the next minute, not the next day
            clock.now = tomorrow + timedelta(minutes=minutes)
            assert (await scheduler.tick()).due == 0
        assert len(api.calls_to("sendMessage")) == sends + 1
        assert (await bot.privacy.inventory(chat)).empty
    assert b"9876543217" not in await dump(store, tmp_path)


async def test_a_group_become_a_supergroup_keeps_everything_under_its_new_id(api, sites, store, tmp_path):
    old, new = -4455667788, -1004455667788
    async with running(api, store, tmp_path) as (service, bot):
        await use_group(api, old, sites, "zqxvictimfeed")
        group, supergroup = ChatRef("telegram", str(old), kind="group"), ChatRef("telegram", str(new), kind="group")
        before = await bot.privacy.inventory(group)
        for update in api.migration_updates(old, new):  # the old group's message and the new one's
            api.queue(update)

        async def moved():
            return (await bot.privacy.inventory(group)).empty

        await until(moved, "the group's data moved")
        assert await bot.privacy.inventory(supergroup) == before
        subscription = await bot.digests.subscriptions.get(supergroup.key)
        assert subscription.chat == supergroup and subscription.describe() == "08:00 (Europe/Berlin)"
    assert b"telegram:-4455667788" not in await dump(store, tmp_path)


async def test_a_digest_refused_as_migrated_moves_the_chat_and_goes_to_the_supergroup(api, sites, store, tmp_path):
    old, new = -4455667788, -1004455667788
    async with running(api, store, tmp_path) as (service, bot):
        await use_group(api, old, sites, "zqxvictimfeed")
        group, supergroup = ChatRef("telegram", str(old), kind="group"), ChatRef("telegram", str(new), kind="group")
        before = await bot.privacy.inventory(group)
        api.migrate(old, new)  # no service message seen: the send finds out
        day = datetime.now(timezone.utc).date() + timedelta(days=1)
        bot.digests.clock = FakeClock(datetime.combine(day, time(8, 0, 20), ZoneInfo("Europe/Berlin")))
        scheduler = DigestScheduler(
            bot.digests, {"telegram": service.send}, on_chat_gone=bot.privacy.erase_chat, on_chat_moved=bot.privacy.move_chat
        )
        first = await scheduler.tick()
        assert (first.gave_up, first.failed, first.sent) == (0, 0, 0)
        assert (await bot.privacy.inventory(group)).empty
        assert (await bot.privacy.inventory(supergroup)).shares == before.shares
        second = await scheduler.tick()
        assert second.sent == 1
        daily = api.calls_to("sendMessage")[-1].params
        assert daily["chat_id"] == new and "reply_parameters" not in daily
        assert (await scheduler.tick()).due == 0  # sent once
    assert b"telegram:-4455667788" not in await dump(store, tmp_path)


async def test_a_reply_refused_as_migrated_goes_to_the_supergroup_once(api, tmp_path):
    from bot.store.sqlite_store import SQLiteStore

    old, new = -4455667788, -1004455667788
    store = await SQLiteStore.open(tmp_path / "store.sqlite3")
    try:
        async with running(api, store, tmp_path) as (service, bot):
            api.set_member_status(old, ADMIN, "administrator")
            await say(api, "/autosummary@summary_test_bot off", old, chat_type="group", user_id=ADMIN)
            api.migrate(old, new)
            api.queue_message("/help@summary_test_bot", chat_id=old, chat_type="group", user_id=MEMBER)
            refused, sent = (await api.wait_for("sendMessage", 3))[1:]
            assert (refused.params["chat_id"], sent.params["chat_id"]) == (old, new)
            assert "reply_parameters" not in sent.params  # the message it answered stayed behind
            assert await store.hget(f"chat:telegram:{new}", "autosummary") == b"off"
    finally:
        await store.close()


async def test_set_my_commands_lists_privacy_and_forget_and_a_failure_is_not_fatal(api, tmp_path, caplog):
    from bot.store.sqlite_store import SQLiteStore

    store = await SQLiteStore.open(tmp_path / "store.sqlite3")
    try:
        async with running(api, store, tmp_path) as (service, bot):
            names = [command["command"] for command in api.commands]
            assert {"privacy", "forget", "subscribe", "help"} <= set(names)
            assert names == [name for name, _ in bot.menu()]
        api.fail_next("setMyCommands", status=400, description="Bad Request: BOT_COMMAND_INVALID")
        async with running(api, store, tmp_path):
            assert len(api.calls_to("setMyCommands")) == 2 * len(bot.languages.codes)  # once per language, each start
        assert "could not register the command menu" in caplog.text
    finally:
        await store.close()


async def test_forget_offers_a_button_that_erases_only_for_an_admin_and_forged_presses_do_nothing(api, sites, store, tmp_path):
    group = -1009876543217
    async with running(api, store, tmp_path) as (service, bot):
        await use_group(api, group, sites, "zqxvictimfeed")
        chat = ChatRef("telegram", str(group), kind="group")
        before = await bot.privacy.inventory(chat)
        asked = await say(api, "/forget@summary_test_bot", group, chat_type="supergroup", user_id=ADMIN)
        assert asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/forget confirm"
        offer = api.sent_messages[-1]
        assert offer["reply_markup"] == asked["reply_markup"]

        # Forged, stale or foreign data, and a member's press: answered, and nothing changes.
        sends = len(api.calls_to("sendMessage"))
        for data, presser in [("/forget confirmx", ADMIN), ("/unsubscribe", ADMIN), ("x" * 300, ADMIN), ("/forget confirm", MEMBER)]:
            answers = len(api.calls_to("answerCallbackQuery"))
            api.queue(api.press_update(offer, data, user_id=presser))
            answer = (await api.wait_for("answerCallbackQuery", answers + 1))[-1]
            expected = None if presser == MEMBER else "That button has expired."
            assert answer.params.get("text") == expected, data
        (refused,) = (await api.wait_for("sendMessage", sends + 1))[sends:]
        assert refused.params["text"] == "⚠️ Only chat admins can change that."
        assert refused.params["reply_parameters"]["message_id"] == offer["message_id"]
        assert await bot.privacy.inventory(chat) == before

        sends = len(api.calls_to("sendMessage"))
        api.queue(api.press_update(offer, "/forget confirm", user_id=ADMIN))
        done = (await api.wait_for("sendMessage", sends + 1))[-1].params
        assert done["text"].startswith("Done: I erased everything")
        assert done["reply_parameters"]["message_id"] == offer["message_id"]
        assert (await bot.privacy.inventory(chat)).empty
    everything = await dump(store, tmp_path)
    assert b"9876543217" not in everything and b"zqxvictimfeed" not in everything


async def test_a_reply_button_is_an_inline_keyboard_and_a_long_or_unknown_command_is_left_out(api, tmp_path):
    from bot.store.sqlite_store import SQLiteStore

    store = await SQLiteStore.open(tmp_path / "store.sqlite3")
    try:
        async with running(api, store, tmp_path) as (service, bot):
            chat = ChatRef("telegram", "42")
            buttons = (Button("Erase", "/forget confirm"), Button("Other", "/unsubscribe"), Button("Long", "/forget " + "x" * 70))
            await service.send_reply(chat, Reply(text="line\n" * 1000, buttons=buttons))
        first, last = api.calls_to("sendMessage")
        assert "reply_markup" not in first.params  # under the reply: its last message only
        assert last.params["reply_markup"] == {"inline_keyboard": [[{"text": "Erase", "callback_data": "/forget confirm"}]]}
    finally:
        await store.close()


# -- summary-bot run, as a separate process -----------------------------------------------


async def test_summary_bot_run_privacy_forget_and_removal_leave_nothing_in_the_database(api, tmp_path):
    group, kicked, kept = -1009876543217, -1005555666777, -1003333444555
    for chat in (group, kicked, kept):
        api.set_member_status(chat, ADMIN, "administrator")
    env = telegram_run_environment(api, tmp_path, SUMMARY_BOT_HTTP_PORT="0")
    database = tmp_path / "run.sqlite3"

    def scan() -> bytes:
        return b"".join(path.read_bytes() for path in sorted(tmp_path.glob("run.sqlite3*")))

    log_path = tmp_path / "run.log"
    async with summary_bot_run(env, log_path) as process:
        for chat in (group, kicked, kept):
            reply = await say(api, "/subscribe@summary_test_bot 08:00 UTC", chat, chat_type="supergroup", user_id=ADMIN)
            assert "08:00" in reply["text"]
        assert {"privacy", "forget"} <= {command["command"] for command in api.commands}
        notice = await say(api, "/privacy@summary_test_bot", group, chat_type="supergroup", user_id=MEMBER)
        assert notice["text"].startswith("What I store about this chat")
        offer = await say(api, "/forget@summary_test_bot", group, chat_type="supergroup", user_id=ADMIN)
        assert offer["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/forget confirm"
        confirmed = await say(api, "/forget@summary_test_bot confirm", group, chat_type="supergroup", user_id=ADMIN)
        assert confirmed["text"].startswith("Done: I erased everything")
        assert b"9876543217" not in scan()
        assert b"5555666777" in scan()
        api.queue(api.member_update(kicked, "kicked", by=ADMIN))

        async def kicked_gone():
            return b"5555666777" not in scan()

        await until(kicked_gone, "the kicked group erased from the database files", timeout=60)
    assert process.returncode == 0, log_path.read_text()[-3000:]
    after = scan()
    assert b"9876543217" not in after and b"5555666777" not in after
    assert b"3333444555" in after  # the third group's subscription is intact
    assert database.exists()


async def test_on_a_worker_queued_removals_and_presses_are_handled_as_polled_ones(api, sites, tmp_path):
    """Scaled out, a front queues every update as it came (webhook JSON) and a worker runs
    `answer_job`: a my_chat_member removal erases, a forged press is answered and ignored."""
    from adapters.delivery import untracked
    from bot.store.sqlite_store import SQLiteStore

    group = -1009876543217
    store = await SQLiteStore.open(tmp_path / "store.sqlite3")
    try:
        async with running(api, store, tmp_path) as (_, bot):
            await use_group(api, group, sites, "zqxvictimfeed")
        worker = TelegramService(TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url), bot)
        await worker.start_sending()
        try:
            offer = {"message_id": 5, "date": 1700000000, "chat": api.chat(group, "supergroup"), "text": "x"}
            await worker.answer_job({"update": api.press_update(offer, "/unsubscribe", user_id=ADMIN)}, untracked())
            (answer,) = api.calls_to("answerCallbackQuery")
            assert answer.params["text"] == "That button has expired."
            chat = ChatRef("telegram", str(group), kind="group")
            assert (await bot.privacy.inventory(chat)).subscription
            await worker.answer_job({"update": api.member_update(group, "left", by=ADMIN)}, untracked())
            assert (await bot.privacy.inventory(chat)).empty
        finally:
            await worker.stop()
        assert b"9876543217" not in await dump(store, tmp_path)
    finally:
        await store.close()


async def test_in_a_channel_only_an_admin_press_of_forget_erases_not_any_subscriber(api, sites, store, tmp_path):
    """A channel's posts come from its admins alone, but the buttons under them are pressed by
    any subscriber: a press in a channel is checked with getChatMember like a group's."""
    channel = -1005550001234
    site, _ = sites
    async with running(api, store, tmp_path) as (service, bot):
        chat = ChatRef("telegram", str(channel), kind="channel")
        await say(api, "/autosummary off", channel, chat_type="channel")  # a setting: something to erase
        before = await bot.privacy.inventory(chat)
        assert not before.empty
        asked = await say(api, "/forget", channel, chat_type="channel")
        assert asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/forget confirm"
        offer = api.sent_messages[-1]

        sends = len(api.calls_to("sendMessage"))
        api.queue(api.press_update(offer, "/forget confirm", user_id=MEMBER))  # a subscriber
        (refused,) = (await api.wait_for("sendMessage", sends + 1))[sends:]
        assert refused.params["text"] == "⚠️ Only chat admins can change that."
        assert await bot.privacy.inventory(chat) == before

        api.set_member_status(channel, ADMIN, "administrator")
        api.queue(api.press_update(offer, "/forget confirm", user_id=ADMIN))
        done = (await api.wait_for("sendMessage", sends + 2))[-1].params
        assert done["text"].startswith("Done: I erased everything")
        assert (await bot.privacy.inventory(chat)).empty
