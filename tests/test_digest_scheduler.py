"""The digest scheduler on a real Redis: one digest per chat and local date, whatever the
daylight-saving changes, the number of scheduler processes, crashes and downtime.

The clock is a `FakeClock`; only the claim's lease (a Redis expiry) runs in real time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.localtime import due_instant
from bot.models import ChatRef
from bot.store import keys
from bot.store.redis_store import RedisStore
from bot.delivery import PermanentSendError
from digest_support import (
    GROUP,
    FakeClock,
    PartsSender,
    RecordingSender,
    digest_settings,
    fresh_redis_store,
    scheduler_for,
    utc,
)


@pytest.fixture
async def store(redis_url):
    opened = await fresh_redis_store(redis_url)
    yield opened
    await opened.close()


async def subscribe(scheduler, at: time, zone: str, now) -> None:
    await scheduler.digests.subscriptions.subscribe(GROUP, at, ZoneInfo(zone), now)


# -- time: daylight-saving changes ------------------------------------------------------
@pytest.mark.parametrize(
    "zone, at, transition_day, expected_local_sends",
    [
        # spring forward: 02:30 does not exist that night, so it goes at 03:00, once
        ("Europe/Berlin", time(2, 30), (2024, 3, 31), ["2024-03-30 02:30 +0100", "2024-03-31 03:00 +0200", "2024-04-01 02:30 +0200"]),
        ("America/New_York", time(2, 30), (2024, 3, 10), ["2024-03-09 02:30 -0500", "2024-03-10 03:00 -0400", "2024-03-11 02:30 -0400"]),
        # fall back: 02:30 (Berlin) and 01:30 (New York) happen twice; sent at the first, once
        ("Europe/Berlin", time(2, 30), (2024, 10, 27), ["2024-10-26 02:30 +0200", "2024-10-27 02:30 +0200", "2024-10-28 02:30 +0100"]),
        ("America/New_York", time(1, 30), (2024, 11, 3), ["2024-11-02 01:30 -0400", "2024-11-03 01:30 -0400", "2024-11-04 01:30 -0500"]),
    ],
)
async def test_one_digest_per_local_date_across_dst_changes(store, tmp_path, zone, at, transition_day, expected_local_sends):
    tz = ZoneInfo(zone)
    start = due_instant(date(*transition_day) - timedelta(days=1), time(0, 0), tz)  # midnight the day before
    clock = FakeClock(start)
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, at, zone, clock.now)

    while clock.now < start + timedelta(days=3):  # a tick every 10 minutes for three days
        await scheduler.tick()
        clock.advance(minutes=10)

    sent_at = [when.astimezone(tz).strftime("%Y-%m-%d %H:%M %z") for _, _, when in sender.accepted]
    assert sent_at == expected_local_sends


# -- exactly once across processes and crashes -----------------------------------------
async def test_two_schedulers_on_one_redis_send_one_digest(store, redis_url, tmp_path):
    settings = digest_settings(tmp_path, digest_send_empty=True)
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender_a, sender_b = RecordingSender(clock, delay=0.05), RecordingSender(clock, delay=0.05)
    other_store = await RedisStore.connect(redis_url)  # a second process's connection
    try:
        a = scheduler_for(store, settings, clock, sender_a)
        b = scheduler_for(other_store, settings, clock, sender_b)
        await subscribe(a, time(8, 0), "UTC", clock.now)
        clock.now = utc(2024, 5, 7, 8, 0, 30)
        reports = []
        for _ in range(5):  # both tick at the same moments, again and again
            reports += await asyncio.gather(a.tick(), b.tick())
            clock.advance(seconds=30)
    finally:
        await other_store.close()
    assert len(sender_a.accepted) + len(sender_b.accepted) == 1
    assert sum(report.sent for report in reports) == 1


async def test_a_sender_that_raises_releases_the_claim_and_the_digest_goes_out_once_later(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock, failures=1)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)

    clock.now = utc(2024, 5, 7, 8, 0, 10)
    failed = await scheduler.tick()
    assert (failed.failed, sender.accepted) == (1, [])
    assert await store.get("digest:claim:telegram:-1001234:2024-05-07") is None  # released

    for _ in range(6):
        clock.advance(seconds=30)
        await scheduler.tick()
    assert len(sender.accepted) == 1


async def test_a_process_killed_after_claiming_leaves_the_digest_to_another_once_the_lease_expires(store, redis_url, tmp_path):
    settings = digest_settings(tmp_path, digest_send_empty=True)
    clock = FakeClock(utc(2024, 5, 6, 12))
    stuck, healthy = RecordingSender(clock, hang=True), RecordingSender(clock)
    other_store = await RedisStore.connect(redis_url)  # a second process's connection
    try:
        dying = scheduler_for(store, settings, clock, stuck, lease_seconds=0.5)
        survivor = scheduler_for(other_store, settings, clock, healthy, lease_seconds=0.5)
        await subscribe(dying, time(8, 0), "UTC", clock.now)
        clock.now = utc(2024, 5, 7, 8, 0, 10)

        tick = asyncio.create_task(dying.tick())
        await asyncio.wait_for(stuck.called.wait(), 5)  # it has claimed and is sending...
        tick.cancel()  # ...when its process dies
        with pytest.raises(asyncio.CancelledError):
            await tick

        assert (await survivor.tick()).busy == 1  # the claim is still held
        assert healthy.accepted == []
        await asyncio.sleep(0.6)  # the lease runs out
        clock.advance(seconds=30)
        assert (await survivor.tick()).sent == 1
        for _ in range(3):
            clock.advance(seconds=30)
            await survivor.tick()
    finally:
        await other_store.close()
    assert len(healthy.accepted) == 1 and stuck.accepted == []


async def test_a_process_without_that_platform_leaves_the_digest_to_one_that_has_it(store, redis_url, tmp_path):
    settings = digest_settings(tmp_path, digest_send_empty=True)
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    slack_only = scheduler_for(store, settings, clock, sender)
    slack_only.senders = {"slack": sender}
    telegram = scheduler_for(store, settings, clock, sender)
    await subscribe(telegram, time(8, 0), "UTC", clock.now)
    clock.now = utc(2024, 5, 7, 8, 1)
    assert (await slack_only.tick()).sent == 0
    assert (await telegram.tick()).sent == 1
    assert len(sender.accepted) == 1


# -- digests in several parts ------------------------------------------------------------
async def test_a_retry_after_a_later_part_failed_sends_only_the_parts_not_yet_accepted(store, tmp_path):
    """Part 3 of 3 fails three times; each retry a minute later sends part 3 alone, and
    parts 1 and 2 reach the chat once. Fails before the fix: every retry sent the digest
    whole again (parts 1 and 2 four times), and a fresh composition each minute gave part 2
    (the period, which ends at the moment composed) another content."""
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = PartsSender(fail_part=3, failures=3)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)

    clock.now = utc(2024, 5, 7, 8, 0, 10)
    reports = [await scheduler.tick()]
    for _ in range(5):
        clock.advance(seconds=60)
        reports.append(await scheduler.tick())

    assert [(r.failed, r.sent) for r in reports[:4]] == [(1, 0), (1, 0), (1, 0), (0, 1)]
    title, period, count = sender.accepted
    assert (title, count) == ("Your daily digest – Tuesday 7 May", "0 stories")
    assert period.endswith("Tue 7 May 08:00 (UTC)")  # the moment of the first try
    assert sender.attempts == [title, period, count, count, count, count]
    assert await store.get(keys.digest_pending(GROUP.key, date(2024, 5, 7))) is None  # sent: composition dropped


async def test_a_part_refused_for_good_ends_that_days_attempt_but_not_the_subscription(store, tmp_path, caplog):
    """A part the platform refuses for a reason that retrying cannot fix (a 400) is not
    sent again that day: one line in the log, and the next day's digest goes out. Fails
    before the fix: it was retried every minute of the grace period (six hours: ~360 tries)."""
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = PartsSender(fail_part=2, failures=1_000, error=lambda: PermanentSendError("Bad Request: message is too long"))
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)

    clock.now = utc(2024, 5, 7, 8, 0, 10)
    with caplog.at_level(logging.WARNING, logger="bot.digest.scheduler"):
        report = await scheduler.tick()
        for _ in range(5):
            clock.advance(seconds=60)
            await scheduler.tick()
    assert len(sender.attempts) == 2  # part 1, then part 2 once: no retry that day
    assert (report.gave_up, report.failed) == (1, 0)
    (line,) = [r for r in caplog.records if r.name == "bot.digest.scheduler"]
    assert "2024-05-07" in line.getMessage() and "message is too long" in line.getMessage() and line.exc_info is None
    assert await scheduler.digests.subscriptions.get(GROUP.key) is not None  # still subscribed

    sender.failures = 0
    clock.now = utc(2024, 5, 8, 8, 0, 10)
    assert (await scheduler.tick()).sent == 1
    assert sender.accepted[-3] == "Your daily digest – Wednesday 8 May"


# -- downtime ----------------------------------------------------------------------------
async def test_a_missed_digest_within_the_grace_period_is_sent_late_once(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "Europe/Berlin", clock.now)

    clock.now = utc(2024, 5, 7, 11, 30)  # due at 06:00 UTC; the bot was down until 11:30
    for _ in range(4):
        await scheduler.tick()
        clock.advance(minutes=1)
    assert [when for _, _, when in sender.accepted] == [utc(2024, 5, 7, 11, 30)]


async def test_a_digest_missed_by_more_than_the_grace_period_is_skipped_and_logged(store, tmp_path, caplog):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "Europe/Berlin", clock.now)

    clock.now = utc(2024, 5, 7, 12, 30)  # six and a half hours late
    with caplog.at_level(logging.WARNING, logger="bot.digest.scheduler"):
        report = await scheduler.tick()
    assert (report.skipped, sender.accepted) == (1, [])
    assert "skipped" in caplog.text and "2024-05-07" in caplog.text
    await scheduler.tick()
    assert sender.accepted == []

    clock.now = utc(2024, 5, 8, 6, 0)  # the next day's goes out as usual
    assert (await scheduler.tick()).sent == 1


async def test_after_days_of_downtime_only_the_latest_digest_can_go_out(store, tmp_path, caplog):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)
    clock.now = utc(2024, 5, 10, 9, 0)
    with caplog.at_level(logging.WARNING, logger="bot.digest.scheduler"):
        await scheduler.tick()
        await scheduler.tick()
    assert [when for _, _, when in sender.accepted] == [utc(2024, 5, 10, 9, 0)]
    assert "missed while no scheduler ran" in caplog.text


# -- what is (not) due --------------------------------------------------------------------
async def test_a_day_with_nothing_new_sends_nothing_and_is_not_composed_again(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path), clock, sender)  # digest_send_empty off
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)
    clock.now = utc(2024, 5, 7, 8, 0)
    assert (await scheduler.tick()).empty == 1
    assert (await scheduler.tick()).due == 0  # rescheduled for tomorrow
    assert sender.accepted == []


async def test_unsubscribing_stops_the_digest(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)
    assert await scheduler.digests.subscriptions.unsubscribe(GROUP)
    clock.now = utc(2024, 5, 7, 8, 0)
    assert (await scheduler.tick()).due == 0
    assert sender.accepted == []


async def test_a_tick_reads_only_the_chats_that_are_due(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    zone = ZoneInfo("UTC")
    for minute in range(60):  # 60 chats, one due each minute from 13:00
        chat = ChatRef(platform="telegram", chat_id=f"-{minute}", kind="group")
        await scheduler.digests.subscriptions.subscribe(chat, time(13, minute), zone, clock.now)
    clock.now = utc(2024, 5, 6, 13, 4, 30)
    report = await scheduler.tick()
    assert (report.due, report.sent) == (5, 5)


# -- platforms this process does not serve ------------------------------------------------
async def test_chats_of_an_unserved_platform_neither_crowd_out_served_ones_nor_make_it_spin(store, tmp_path):
    """Five Telegram chats fill a batch of five in a Slack-only process; the Slack chat due
    the same minute still goes out, at the first tick, and the loop then waits."""
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender, batch_size=5,
                              poll_seconds=3600)  # fmt: skip
    scheduler.senders = {"slack": sender}
    zone = ZoneInfo("UTC")
    for number in range(5):
        chat = ChatRef(platform="telegram", chat_id=f"-{number}", kind="group")
        await scheduler.digests.subscriptions.subscribe(chat, time(8, 0), zone, clock.now)
    slack_chat = ChatRef(platform="slack", chat_id="C1", scope_id="T1", kind="group")
    await scheduler.digests.subscriptions.subscribe(slack_chat, time(8, 0), zone, clock.now)
    clock.now = utc(2024, 5, 7, 8, 0, 30)

    stop = asyncio.Event()
    ticks = []
    tick = scheduler.tick

    async def counted_tick(now=None):
        report = await tick(now)
        ticks.append(report)
        if report.sent or len(ticks) >= 50:  # stop after the send, or when it spins
            stop.set()
        return report

    scheduler.tick = counted_tick
    await scheduler.run(stop)

    assert [chat for chat, _, _ in sender.accepted] == [slack_chat]
    assert len(ticks) == 1
    assert (ticks[0].due, ticks[0].elsewhere, ticks[0].sent) == (1, 5, 1)
    # The Telegram chats are still due, for a process that serves Telegram.
    due = await scheduler.digests.subscriptions.due(clock.now, 10)
    assert sorted(chat_key for chat_key, _ in due) == [f"telegram:-{number}" for number in range(5)]


async def test_a_full_batch_that_only_waits_on_other_processes_does_not_make_it_tick_at_once(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender, batch_size=2,
                              poll_seconds=3600)  # fmt: skip
    zone = ZoneInfo("UTC")
    for number in range(2):
        chat = ChatRef(platform="telegram", chat_id=f"-{number}", kind="group")
        await scheduler.digests.subscriptions.subscribe(chat, time(8, 0), zone, clock.now)
        await store.set(keys.digest_claim(chat.key, date(2024, 5, 7)), b"another process", ttl=300)
    clock.now = utc(2024, 5, 7, 8, 0, 30)
    stop = StopWhenWaitedFor()
    ticks = []
    tick = scheduler.tick

    async def counted_tick(now=None):
        ticks.append(await tick(now))
        if len(ticks) >= 50:  # it spins
            stop.set()
        return ticks[-1]

    scheduler.tick = counted_tick
    await scheduler.run(stop)
    assert len(ticks) == 1 and ticks[0].busy == 2
    assert stop.waited  # it went to wait for the next poll


class StopWhenWaitedFor(asyncio.Event):
    """A stop event that is set as soon as the scheduler waits on it between ticks."""

    waited = False

    async def wait(self) -> bool:
        self.waited = True
        self.set()
        return await super().wait()


async def test_chats_of_a_platform_no_process_serves_are_skipped_once_past_the_grace_period(store, tmp_path):
    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender)
    scheduler.senders = {"slack": sender}
    await subscribe(scheduler, time(8, 0), "UTC", clock.now)  # a Telegram chat
    clock.now = utc(2024, 5, 7, 8, 1)
    assert (await scheduler.tick()).elsewhere == 1  # left to a Telegram process
    clock.now = utc(2024, 5, 7, 20, 0)  # none came
    report = await scheduler.tick()
    assert (report.skipped, report.moved) == (1, 1)
    assert await scheduler.digests.subscriptions.due(clock.now, 10) == []


async def test_a_chat_whose_zone_vanished_gets_its_digest_in_utc_and_a_broken_one_steps_aside(store, tmp_path):
    # A zone this system no longer knows must not stop the chat's digest, and a chat whose
    # subscription cannot be read at all must not stay at the head of the due set, read
    # first by every tick while the chats due after it wait.
    from bot.digest.subscriptions import subscription_key

    clock = FakeClock(utc(2024, 5, 6, 12))
    sender = RecordingSender(clock)
    scheduler = scheduler_for(store, digest_settings(tmp_path, digest_send_empty=True), clock, sender, batch_size=1)
    vanished = ChatRef(platform="telegram", chat_id="-1", kind="group")
    broken = ChatRef(platform="telegram", chat_id="-2", kind="group")
    for chat, minute in ((broken, 0), (vanished, 1), (GROUP, 2)):
        await scheduler.digests.subscriptions.subscribe(chat, time(8, minute), ZoneInfo("Europe/Berlin"), clock.now)
    await store.hset(subscription_key(vanished.key), "tz", b"Atlantis/Lost_City")
    await store.hset(subscription_key(broken.key), "at", b"not a time")

    clock.now = utc(2024, 5, 7, 8, 5)
    for _ in range(4):
        await scheduler.tick()
    assert sorted(chat.chat_id for chat, _, _ in sender.accepted) == sorted([vanished.chat_id, GROUP.chat_id])
