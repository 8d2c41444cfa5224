"""The daily digest end to end: links shared in a chat through the bot's one entry point
(fetched from the sample site on 127.0.0.1, summarized by the real model), the scheduler on
a real Redis, and what the platform receives; plus the operators' preview command."""

from __future__ import annotations

import asyncio
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters import cli
from adapters.console import render_reply
from adapters.seed_site import SeedSite
from bot.digest.scheduler import DigestScheduler
from bot.models import Incoming, Reply
from bot.store.sqlite_store import SQLiteStore
from digest_support import GROUP, FakeClock, RecordingSender, digest_settings, fresh_redis_store, utc
from model_support import make_summary_bot

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PRISONER_SWAP = "Russia and the US pursue private prisoner-exchange talks amid G20 discussions"
NEST_HUB = "Google Nest Hub Update Adds Matter Controls and a Redesigned Home Panel"


@pytest.fixture
async def site():
    async with SeedSite(SEEDS) as served:
        yield served


def shared(text: str, number: int) -> Incoming:
    """A message in a group, not addressed to the bot (autosummary is on by default)."""
    return Incoming(chat=GROUP, text=text, user_id=f"u{number}", message_id=str(number))


async def test_subscribe_share_three_links_and_one_digest_with_two_entries_arrives(redis_url, site, tmp_path):
    store = await fresh_redis_store(redis_url)
    bot = make_summary_bot(digest_settings(tmp_path), store)
    clock = bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))
    sender = RecordingSender(clock)
    scheduler = DigestScheduler(bot.digests, {"telegram": sender})
    try:
        bot.permissions.register(GROUP.platform, lambda chat, user_id, message: asyncio.sleep(0, result=True))  # all admins
        (confirmation,) = await bot.handle(
            Incoming(chat=GROUP, text="/subscribe 08:00 Europe/Berlin", user_id="u1", addressed_to_bot=True)
        )
        assert "08:00 (Europe/Berlin)" in confirmation.text and "Tuesday 7 May" in confirmation.text

        swap = f"{site.base_url}/news/russia-us-prisoner-exchange-talks-g20.html"
        messages = [
            f"Have you seen this? {swap}?utm_source=newsletter&utm_medium=email",
            f"{site.base_url}/news/google-nest-hub-matter-update.html",
            f"Same story, shared again: {swap}?fbclid=abc123&utm_campaign=x",
        ]
        for number, text in enumerate(messages):
            clock.advance(minutes=20)
            (reply,) = await bot.handle(shared(text, number))
            assert reply.digest is not None, reply.error

        assert (await scheduler.tick()).due == 0  # not yet: due at 08:00 Berlin time tomorrow
        clock.now = utc(2024, 5, 7, 6, 0, 20)
        assert (await scheduler.tick()).sent == 1
        clock.advance(minutes=1)
        assert (await scheduler.tick()).due == 0
    finally:
        await bot.close()
        await store.close()

    ((chat, daily, _),) = sender.accepted
    assert chat == GROUP
    assert daily.title == "Your daily digest – Tuesday 7 May"
    assert [(entry.title, entry.shares) for entry in daily.entries] == [(PRISONER_SWAP, 2), (NEST_HUB, 1)]
    swap_entry = daily.entries[0]
    assert swap_entry.url.startswith(swap) and swap_entry.source == "Northline News"
    assert 20 < len(swap_entry.summary) <= 280
    text = render_reply(Reply(daily=daily))
    assert "(shared 2×)" in text and NEST_HUB in text


async def test_digest_command_shows_the_period_so_far_and_marks_nothing_sent(redis_url, site, tmp_path):
    store = await fresh_redis_store(redis_url)
    bot = make_summary_bot(digest_settings(tmp_path), store)
    clock = bot.digests.clock = FakeClock(utc(2024, 5, 6, 12, 0))
    try:
        (nothing,) = await bot.handle(Incoming(chat=GROUP, text="/digest", addressed_to_bot=True))
        assert nothing.text.startswith("Nothing new")
        await bot.handle(shared(f"{site.base_url}/news/google-nest-hub-matter-update.html", 1))
        clock.advance(hours=1)
        (reply,) = await bot.handle(Incoming(chat=GROUP, text="/digest", addressed_to_bot=True))
        assert reply.daily.title.startswith("Your digest so far")
        assert [entry.title for entry in reply.daily.entries] == [NEST_HUB]
        (again,) = await bot.handle(Incoming(chat=GROUP, text="/digest", addressed_to_bot=True))
        assert [entry.title for entry in again.daily.entries] == [NEST_HUB]
    finally:
        await bot.close()
        await store.close()


async def test_a_summary_asked_for_privately_stays_out_of_the_chats_digest(redis_url, site, tmp_path):
    store = await fresh_redis_store(redis_url)
    bot = make_summary_bot(digest_settings(tmp_path), store)
    try:
        url = f"{site.base_url}/news/google-nest-hub-matter-update.html"
        (reply,) = await bot.handle(Incoming(chat=GROUP, text=f"/summary private {url}", addressed_to_bot=True))
        assert reply.private and reply.digest is not None
        (digest,) = await bot.handle(Incoming(chat=GROUP, text="/digest", addressed_to_bot=True))
        assert digest.text.startswith("Nothing new")
    finally:
        await bot.close()
        await store.close()


def test_digest_preview_prints_a_chats_digest_as_it_would_be_sent_now(tmp_path, monkeypatch, capsys):
    database = tmp_path / "bot.sqlite3"

    async def share_two_articles() -> None:
        async with SeedSite(SEEDS) as served:
            store = await SQLiteStore.open(database)
            bot = make_summary_bot(digest_settings(tmp_path, sqlite_path=database), store)
            try:
                await bot.digests.subscriptions.subscribe(GROUP, time(8, 0), ZoneInfo("UTC"), bot.digests.clock())
                for number, page in enumerate(["google-nest-hub-matter-update", "russia-us-prisoner-exchange-talks-g20"]):
                    await bot.handle(shared(f"{served.base_url}/news/{page}.html", number))
            finally:
                await bot.close()
                await store.close()

    asyncio.run(share_two_articles())
    monkeypatch.setenv("SUMMARY_BOT_SQLITE_PATH", str(database))
    monkeypatch.delenv("SUMMARY_BOT_REDIS_URL", raising=False)
    assert cli.main(["digest", "preview", GROUP.key]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Your daily digest – ")
    assert PRISONER_SWAP in printed and NEST_HUB in printed

    assert cli.main(["digest", "preview", "slack:C999"]) == 0
    assert "slack:C999 is not subscribed" in capsys.readouterr().out
    assert cli.main(["digest", "preview", "telegram"]) == 2
