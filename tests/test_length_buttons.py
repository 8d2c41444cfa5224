"""Shorter / Longer under a link's digest (issue 20, items 2 and 6), through the real
python-telegram-bot and Bolt clients against the stand-ins, with real stores: the buttons
under a digest (never under a daily digest), a press edits that message in place to the
other length (editMessageText / chat.update) from the cache once computed, every Telegram
press is answered, and forged, expired, too long or URL-carrying data changes nothing."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from slack_support import running_slack, signed_headers
from slack_support import sqlite_store, standin  # noqa: F401 - fixtures (Slack)

from adapters.seed_site import SeedSite
from benchmarks.standins.slack_api import block_actions, event_callback
from benchmarks.standins.telegram_api import BotApiStandIn
from bot.models import ChatRef
from bot.store import keys
from bot.store.sqlite_store import SQLiteStore
from telegram_support import running_telegram

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PAGE = "news/google-nest-hub-matter-update.html"
USER, OTHER = 4242, 5151
GROUP = -1004242424242
PRESS = re.compile(r"/length ([A-Za-z0-9_-]{8,22}) (short|medium|long)")


@pytest_asyncio.fixture
async def site():
    async with SeedSite(SEEDS) as seeded:
        yield seeded


@pytest_asyncio.fixture
async def api():
    async with BotApiStandIn() as standin:
        yield standin


@asynccontextmanager
async def telegram(api: BotApiStandIn, store, tmp_path: Path, **settings):
    async with running_telegram(api, store, tmp_path, **settings) as (_, bot):
        yield bot


async def say(api: BotApiStandIn, text: str, chat_id: int, **options) -> dict:
    """`text` sent in a chat; the message the bot answered with, as the stand-in holds it."""
    before = len(api.calls_to("sendMessage"))
    api.queue_message(text, chat_id=chat_id, **options)
    await api.wait_for("sendMessage", before + 1, timeout=60)
    return api.sent_messages[-1]


def buttons_of(message: dict) -> dict[str, str]:
    """label -> callback data of the inline keyboard under `message`."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


def points_of(text: str) -> list[str]:
    """The key points of a digest's visible text (the bullets before "Related")."""
    head = text.split("\nRelated\n")[0]
    return [line for line in head.splitlines() if line.startswith("• ")]


async def press(api: BotApiStandIn, message: dict, data: str, user_id: int = USER) -> dict:
    """A press of `data` on `message`; the answerCallbackQuery it got (every press gets one)."""
    before = len(api.calls_to("answerCallbackQuery"))
    update = api.queue(api.press_update(message, data, user_id=user_id))
    answers = await api.wait_for("answerCallbackQuery", before + 1, timeout=60)
    answer = answers[-1].params
    assert answer["callback_query_id"] == update["callback_query"]["id"]
    return answer


async def settle(api: BotApiStandIn) -> None:
    """Let a press's edit (if any) reach the stand-in: the edit follows the answer."""
    for _ in range(20):
        await asyncio.sleep(0.05)


# -- Telegram -------------------------------------------------------------------------------


async def test_a_press_edits_that_digest_to_the_other_length_and_the_cache_serves_it_again(api, site, store, tmp_path):
    url = f"{site.base_url}/{PAGE}"
    async with telegram(api, store, tmp_path) as bot:
        digest = await say(api, url, USER)
        assert len(points_of(digest["text"])) == 3  # medium, the default
        buttons = buttons_of(digest)
        assert list(buttons) == ["Shorter", "Longer"]
        assert all(len(data.encode()) <= 64 and "http" not in data and PRESS.fullmatch(data) for data in buttons.values())
        [button_id] = {PRESS.fullmatch(data)[1] for data in buttons.values()}
        assert buttons == {"Shorter": f"/length {button_id} short", "Longer": f"/length {button_id} long"}
        chat = ChatRef("telegram", str(USER))
        assert keys.length_button(chat.key, button_id) in await store.keys_of(chat.key)
        shares = (await bot.privacy.inventory(chat)).shares
        sent, runs = len(api.calls_to("sendMessage")), bot.pipeline.model_runs

        answer = await press(api, digest, buttons["Shorter"])
        assert "text" not in answer  # nothing to say: the edit is the answer
        [edit] = await api.wait_for("editMessageText", 1)
        assert (edit.params["chat_id"], edit.params["message_id"]) == (USER, digest["message_id"])
        assert edit.params["parse_mode"] == "HTML"
        assert edit.params["reply_markup"] == {"inline_keyboard": [[{"text": "Longer", "callback_data": f"/length {button_id} medium"}]]}
        assert len(points_of(digest["text"])) == 1  # the stand-in's copy of the message, edited
        print("\neditMessageText received:", json.dumps(edit.params, ensure_ascii=False, indent=1))
        assert bot.pipeline.model_runs == runs + 1  # the short summary, written once

        await press(api, digest, f"/length {button_id} medium")  # Longer, back to medium: cached
        await api.wait_for("editMessageText", 2)
        assert len(points_of(digest["text"])) == 3 and list(buttons_of(digest)) == ["Shorter", "Longer"]
        await press(api, digest, f"/length {button_id} long", user_id=OTHER)  # anyone in the chat
        await api.wait_for("editMessageText", 3)
        assert list(buttons_of(digest)) == ["Shorter"] and len(points_of(digest["text"])) > 3
        await press(api, digest, f"/length {button_id} medium")
        await api.wait_for("editMessageText", 4)  # its keyboard, with Shorter, is on the message now
        await press(api, digest, f"/length {button_id} short")  # short again: from the cache
        await api.wait_for("editMessageText", 5)
        assert len(points_of(digest["text"])) == 1
        assert bot.pipeline.model_runs == runs + 2  # short and long, each written once
        assert len(api.calls_to("sendMessage")) == sent  # edits only, no new message
        assert (await bot.privacy.inventory(chat)).shares == shares  # a press is not a share


async def test_a_daily_digest_and_a_private_request_carry_no_buttons(api, site, store, tmp_path):
    async with telegram(api, store, tmp_path) as bot:
        assert buttons_of(await say(api, f"{site.base_url}/{PAGE}", USER))
        daily = await say(api, "/digest", USER)
        assert "reply_markup" not in daily
        private = await say(api, f"/summary private {f'{site.base_url}/{PAGE}'}", OTHER)
        assert points_of(private["text"]) and "reply_markup" not in private
        assert await store.keys_of(ChatRef("telegram", str(OTHER)).key) == [] or not any(
            name.startswith("length-button:") for name in await store.keys_of(ChatRef("telegram", str(OTHER)).key)
        )


async def test_forged_expired_long_or_url_data_is_answered_expired_and_changes_nothing(api, site, store, tmp_path):
    async with telegram(api, store, tmp_path) as bot:
        digest = await say(api, f"{site.base_url}/{PAGE}", USER)
        shorter = buttons_of(digest)["Shorter"]
        button_id = PRESS.fullmatch(shorter)[1]
        before = copy.deepcopy(digest)
        forged = [
            "/length AAAAAAAAAAAA short",  # the pattern, but not a button of this message
            "/length " + "A" * 60 + " short",  # over 64 bytes
            f"/length {site.base_url + '/' + PAGE} short",  # a URL
            shorter + " ",
            "/summary " + f"{site.base_url}/{PAGE}",
        ]
        for data in forged:
            assert (await press(api, digest, data))["text"] == "That button has expired."
        # A keyboard Telegram never sent: an id of the right shape that the store does not hold.
        fake = copy.deepcopy(digest)
        fake["reply_markup"] = {"inline_keyboard": [[{"text": "Shorter", "callback_data": "/length ZZZZZZZZZZZZ short"}]]}
        assert (await press(api, fake, "/length ZZZZZZZZZZZZ short"))["text"] == "That button has expired."
        # An id from another chat is not this chat's.
        other = await say(api, f"{site.base_url}/{PAGE}", OTHER)
        stolen = copy.deepcopy(digest)
        stolen["reply_markup"] = other["reply_markup"]
        assert (await press(api, stolen, buttons_of(other)["Shorter"]))["text"] == "That button has expired."
        # Expired: the id gone from the store (its time to live ran out).
        await store.delete(keys.length_button(ChatRef("telegram", str(USER)).key, button_id))
        assert (await press(api, digest, shorter))["text"] == "That button has expired."
        await settle(api)
        assert api.calls_to("editMessageText") == [] and digest == before
        # Typed rather than pressed, the command is unknown.
        typed = await say(api, shorter, USER)
        assert "I don't know /length" in typed["text"] and api.calls_to("editMessageText") == []
        assert "length" not in [command["command"] for command in api.commands or []]
        assert "/length" not in (await say(api, "/help", USER))["text"]


async def test_an_id_runs_out_after_its_time_to_live(api, site, tmp_path):
    store = await SQLiteStore.open(tmp_path / "ttl.sqlite3")
    try:
        async with telegram(api, store, tmp_path, length_button_days=1 / 86400) as bot:  # one second
            digest = await say(api, f"{site.base_url}/{PAGE}", USER)
            await asyncio.sleep(1.5)
            assert (await press(api, digest, buttons_of(digest)["Shorter"]))["text"] == "That button has expired."
            await settle(api)
            assert api.calls_to("editMessageText") == []
            assert bot is not None
    finally:
        await store.close()


async def test_presses_count_against_the_presser_s_rate_limit(api, site, tmp_path):
    store = await SQLiteStore.open(tmp_path / "rate.sqlite3")
    try:
        async with telegram(api, store, tmp_path, user_rate_limit=1):
            digest = await say(api, f"{site.base_url}/{PAGE}", USER)
            shorter, longer = buttons_of(digest)["Shorter"], buttons_of(digest)["Longer"]
            # The share used this minute's one summary; a press in the same minute is refused
            # (a new minute may begin between two presses: then the next one is).
            for data in (shorter, longer, shorter):
                edits = len(api.calls_to("editMessageText"))
                answer = await press(api, digest, data)
                if "this minute" in answer.get("text", ""):
                    await settle(api)
                    assert len(api.calls_to("editMessageText")) == edits  # refused: nothing changed
                    break
                await api.wait_for("editMessageText", edits + 1)
            else:
                pytest.fail("no press was refused by a limit of one summary a minute")
    finally:
        await store.close()


async def test_forget_erases_the_button_ids(api, site, store, tmp_path):
    async with telegram(api, store, tmp_path) as bot:
        digest = await say(api, f"{site.base_url}/{PAGE}", USER)
        chat = ChatRef("telegram", str(USER))
        assert any(name.startswith("length-button:") for name in await store.keys_of(chat.key))
        offer = await say(api, "/forget", USER)
        await press(api, offer, "/forget confirm")
        await api.wait_for("sendMessage", len(api.calls_to("sendMessage")) + 1, timeout=30)
        assert await store.keys_of(chat.key) == []
        assert (await press(api, digest, buttons_of(digest)["Shorter"]))["text"] == "That button has expired."
        await settle(api)
        assert api.calls_to("editMessageText") == []
        assert bot is not None


# -- Slack ----------------------------------------------------------------------------------


async def slack_press(slack, value: str, ts: str, blocks: list, name: str, user_id: str = "U2"):
    body = block_actions(team_id="T1", user_id=user_id, channel_id="C1", value=value, message_ts=ts, blocks=blocks,
                         response_url=slack.standin.response_url(name))  # fmt: skip
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
    return await slack.http.post("/slack/events", data=body, headers=headers)


def slack_buttons(blocks: list) -> dict[str, str]:
    return {e["text"]["text"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


def slack_points(blocks: list) -> list[str]:
    return [line for b in blocks if b["type"] == "section" for line in b["text"]["text"].splitlines()
            if line.startswith("• ") and "<http" not in line]  # fmt: skip


async def test_slack_a_press_updates_the_digest_in_place(standin, sqlite_store, site):
    async with running_slack(standin, sqlite_store) as slack:
        bot = slack.service.bot
        event = {"type": "message", "channel": "C1", "user": "U1", "text": f"<{site.base_url + '/' + PAGE}>",
                 "ts": "1700000000.000100", "channel_type": "channel"}  # fmt: skip
        body = event_callback(event, event_id="Ev1", team_id="T1")
        assert (await slack.http.post("/slack/events", data=body, headers=signed_headers(body))).status == 200
        [posted] = await standin.wait_for("chat.postMessage")
        ts = next(ts for (channel, ts), params in standin.posted.items() if params is posted.params)
        buttons = slack_buttons(posted.params["blocks"])
        assert list(buttons) == ["Shorter", "Longer"] and len(slack_points(posted.params["blocks"])) == 3
        assert all(len(value) <= 64 and PRESS.fullmatch(value) for value in buttons.values())
        runs = bot.pipeline.model_runs

        assert (await slack_press(slack, buttons["Shorter"], ts, posted.params["blocks"], "p1")).status == 200
        [update] = await standin.wait_for("chat.update")
        assert (update.params["channel"], update.params["ts"]) == ("C1", ts)
        assert len(slack_points(update.params["blocks"])) == 1
        assert list(slack_buttons(update.params["blocks"])) == ["Longer"]
        print("\nchat.update received:", json.dumps(update.params, ensure_ascii=False, indent=1))
        assert bot.pipeline.model_runs == runs + 1

        shown = standin.posted[("C1", ts)]["blocks"]
        assert (await slack_press(slack, slack_buttons(shown)["Longer"], ts, shown, "p2")).status == 200
        await standin.wait_for("chat.update", 2)
        assert len(slack_points(standin.posted[("C1", ts)]["blocks"])) == 3
        assert bot.pipeline.model_runs == runs + 1  # medium: from the cache

        # Forged: a value that is not a button of that message, or one whose id is not stored.
        assert (await slack_press(slack, "/length AAAAAAAAAAAA short", ts, shown, "f1")).status == 200
        [expired] = await standin.wait_for("response_url")
        assert expired.params["text"] == "That button has expired." and expired.params["response_type"] == "ephemeral"
        fake = [{"type": "actions", "elements": [{"type": "button", "value": "/length ZZZZZZZZZZZZ short"}]}]
        assert (await slack_press(slack, "/length ZZZZZZZZZZZZ short", ts, fake, "f2")).status == 200
        [told] = await standin.wait_for("chat.postEphemeral")
        assert "expired" in told.params["text"] and told.params["user"] == "U2"
        await slack.finish()
        assert len(standin.calls_to("chat.update")) == 2 and len(standin.calls_to("chat.postMessage")) == 1
