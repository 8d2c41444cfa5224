"""Slack's own gestures (issue 20), through the real Bolt app: signed requests into the running
aiohttp app, the real slack-sdk client talking to the stand-in Web API on 127.0.0.1, pages
from a local site, the real model and a real store. The App Home tab and its Stop buttons,
the "Summarize" message shortcut and its Share button, and the reaction trigger."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import pytest_asyncio
from slack_support import SEED_TITLE, running_slack, signed_headers, trigger_id
from slack_support import site, sqlite_store  # noqa: F401 - fixtures

from adapters.slack.home import HOME_STOP_ACTION_ID
from adapters.slack.incoming import slack_chat
from adapters.slack.shortcut import NOTHING_TO_SUMMARIZE, SHARE_ACTION_ID
from benchmarks.standins.slack_api import (
    SlackStandIn,
    ephemeral_block_actions,
    event_callback,
    message_action,
    view_block_actions,
)
from bot.models import Incoming
from bot.store import keys

FORM = "application/x-www-form-urlencoded"


@pytest_asyncio.fixture
async def standin():
    async with SlackStandIn() as server:
        server.add_user("UADMIN", team_id="T1", admin=True)
        server.add_user("UMEMBER", team_id="T1")
        server.add_user("UCREATOR", team_id="T1")
        server.add_user("UOTHERADMIN", team_id="T9", admin=True)
        server.add_channel("C1", creator="UADMIN")
        server.add_channel("C2", creator="UCREATOR")
        server.add_channel("C9", creator="UOTHERADMIN")
        yield server


async def post_form(slack, body: str):
    response = await slack.http.post("/slack/events", data=body, headers=signed_headers(body, content_type=FORM))
    assert response.status == 200, await response.text()
    return response


async def post_event(slack, event: dict, *, event_id: str, team_id: str = "T1"):
    body = event_callback(event, event_id=event_id, team_id=team_id)
    response = await slack.http.post("/slack/events", data=body, headers=signed_headers(body))
    assert response.status == 200
    return response


async def as_admin(slack, team: str, channel: str, text: str, user: str = "UADMIN"):
    (reply,) = await slack.service.bot.handle(
        Incoming(chat=slack_chat(team, channel, kind="group"), text=text, user_id=user, addressed_to_bot=True)
    )
    assert reply.error is None, reply.error


def stop_buttons(view: dict) -> dict[str, dict]:
    """Channel id -> the Stop button of each channel listed in a published Home view."""
    return {
        block["block_id"].removeprefix("home_stop:"): block["accessory"]
        for block in view["blocks"]
        if block.get("block_id", "").startswith("home_stop:")
    }


# -- App Home -------------------------------------------------------------------------------


def home_opened(user: str) -> dict:
    return {"type": "app_home_opened", "user": user, "channel": "DHOME", "tab": "home", "event_ts": "1700000000.000001"}


async def test_home_lists_the_digests_each_user_may_stop(standin, sqlite_store):
    """Fails before the change: app_home_opened was not listened to and nothing was published."""
    async with running_slack(standin, sqlite_store) as slack:
        await as_admin(slack, "T1", "C1", "/subscribe 08:00 Europe/Berlin")
        await as_admin(slack, "T1", "C2", "/subscribe 18:30")
        await as_admin(slack, "T9", "C9", "/subscribe 07:00", user="UOTHERADMIN")  # another workspace
        await as_admin(slack, "T1", "DME", "/subscribe 09:00")  # someone's DM: never listed

        for number, user in enumerate(("UADMIN", "UCREATOR", "UMEMBER"), start=1):
            await post_event(slack, home_opened(user), event_id=f"EvHome{number}")
            published = await standin.wait_for("views.publish", count=number)
        await post_event(slack, {**home_opened("UADMIN"), "tab": "messages"}, event_id="EvMessagesTab")
        await slack.finish()

    views = {call.params["user_id"]: call.params["view"] for call in standin.calls_to("views.publish")}
    assert len(published) == 3 and all(view["type"] == "home" for view in views.values())
    admin_view = views["UADMIN"]
    print("\nThe published Home view (views.publish) for a workspace admin:\n" + json.dumps(admin_view, indent=1, ensure_ascii=False))
    assert set(stop_buttons(admin_view)) == {"C1", "C2"}  # not T9's C9, not the DM
    assert set(stop_buttons(views["UCREATOR"])) == {"C2"}  # the creator of C2 only
    assert stop_buttons(views["UMEMBER"]) == {}  # a member manages none
    for button in stop_buttons(admin_view).values():
        assert button["action_id"] == HOME_STOP_ACTION_ID and button["value"] == "/unsubscribe" and "confirm" in button
    text = json.dumps(admin_view)
    assert "08:00 (Europe/Berlin)" in text and "18:30 (UTC)" in text and "Privacy" in text and "Summarize" in text


async def test_opening_the_home_tab_again_and_again_asks_slack_nothing_more(standin, sqlite_store):
    """Each Home tab visit asked users.info and conversations.info for every channel with a
    digest (the same user's flags again for each): one member clicking the tab could spend the
    workspace's Web API rate limits, and admin checks then fail (closed) for everyone. A user's
    flags are asked once in a while, a channel's creator once."""
    async with running_slack(standin, sqlite_store) as slack:
        for channel in ("C1", "C2"):
            await as_admin(slack, "T1", channel, "/subscribe 08:00")

        def asked() -> int:
            users = [c for c in standin.calls_to("users.info") if str(c.params.get("include_locale")).lower() not in ("true", "1")]
            return len(users) + len(standin.calls_to("conversations.info"))

        before = asked()
        await post_event(slack, home_opened("UMEMBER"), event_id="EvHomeFirst")
        await standin.wait_for("views.publish", count=1)
        first = asked() - before
        for number in range(2, 6):
            await post_event(slack, home_opened("UMEMBER"), event_id=f"EvHomeAgain{number}")
            await standin.wait_for("views.publish", count=number)
        await slack.finish()
    assert 0 < first <= 3  # the member's flags once, each channel's creator once
    assert asked() - before == first


async def test_stop_in_the_home_tab_unsubscribes_only_for_a_channel_admin(standin, sqlite_store):
    async with running_slack(standin, sqlite_store) as slack:
        await as_admin(slack, "T1", "C1", "/subscribe 08:00")
        await as_admin(slack, "T1", "C2", "/subscribe 09:00")
        await as_admin(slack, "T9", "C9", "/subscribe 07:00", user="UOTHERADMIN")
        subscriptions = slack.service.bot.digests.subscriptions

        def stop(user: str, channel: str, value: str = "/unsubscribe", team: str = "T1"):
            return post_form(slack, view_block_actions(team_id=team, user_id=user, action_id=HOME_STOP_ACTION_ID,
                                                       value=value, block_id=f"home_stop:{channel}"))  # fmt: skip

        await stop("UADMIN", "C2", value="/forget confirm")  # a forged value: dropped, nothing published
        await stop("UADMIN", "C9")  # another workspace's channel, named from T1: not one the view lists
        await stop("UMEMBER", "C2")  # not an admin of C2: the core refuses
        await stop("UCREATOR", "C1")  # an admin of C2, not of C1
        await standin.wait_for("views.publish", count=3)
        await stop("UADMIN", "C1")
        calls = await standin.wait_for("views.publish", count=4)
        await slack.finish()

        assert len(standin.calls_to("views.publish")) == 4
        assert await subscriptions.get(slack_chat("T1", "C1").key) is None  # the admin's press stopped it
        assert await subscriptions.get(slack_chat("T1", "C2").key) is not None
        assert await subscriptions.get(slack_chat("T9", "C9").key) is not None
        refused = {call.params["user_id"]: json.dumps(call.params["view"]) for call in calls[:3]}
        assert "Only chat admins can change that." in refused["UMEMBER"] and "Only chat admins" in refused["UCREATOR"]
        after = calls[-1].params["view"]
        assert calls[-1].params["user_id"] == "UADMIN" and set(stop_buttons(after)) == {"C2"}  # republished without C1
        assert "no more daily digests" in json.dumps(after)


# -- the "Summarize" message shortcut ----------------------------------------------------------


async def test_summarize_shortcut_answers_privately_and_share_posts_it_in_the_thread_once(standin, sqlite_store, site):
    """Fails before the change: the message_action was answered 404 and nothing was said."""
    async with running_slack(standin, sqlite_store) as slack:
        message = {"type": "message", "user": "UMEMBER", "ts": "1700000000.000300", "text": f"worth it: <{site}/article.html>"}
        await post_form(slack, message_action(team_id="T1", user_id="UADMIN", channel_id="C1", message=message,
                                              response_url=standin.response_url("shortcut"), trigger_id=trigger_id()))  # fmt: skip
        [answer] = await standin.wait_for("response_url")
        assert answer.path == "/response/shortcut" and answer.params["response_type"] == "ephemeral"
        assert any(b["type"] == "header" and b["text"]["text"] == SEED_TITLE for b in answer.params["blocks"])
        [share] = [e for b in answer.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert share["action_id"] == SHARE_ACTION_ID and "http" not in share["value"] and len(share["value"]) <= 32
        assert standin.calls_to("chat.postMessage") == []  # only its asker saw it

        def press(user: str, value: str, name: str):
            return post_form(slack, ephemeral_block_actions(team_id="T1", user_id=user, channel_id="C1", action_id=SHARE_ACTION_ID,
                                                            value=value, response_url=standin.response_url(name)))  # fmt: skip

        await press("UMEMBER", share["value"], "someone-else")  # not the asker's press
        await press("UADMIN", "A" * 22, "forged")  # an id never given
        await standin.wait_for("response_url", count=3)
        await press("UADMIN", share["value"], "share")
        [post] = await standin.wait_for("chat.postMessage")
        await standin.wait_for("response_url", count=4)
        await press("UADMIN", share["value"], "again")  # shared once
        await standin.wait_for("response_url", count=5)
        await slack.finish()

    assert len(standin.calls_to("chat.postMessage")) == 1
    assert post.params["channel"] == "C1" and post.params["thread_ts"] == "1700000000.000300"
    assert any(b["type"] == "header" and b["text"]["text"] == SEED_TITLE for b in post.params["blocks"])
    said = {call.path.rpartition("/")[2]: call.params for call in standin.calls_to("response_url")}
    assert "expired" in said["someone-else"]["text"] and "expired" in said["forged"]["text"] and "expired" in said["again"]["text"]
    assert said["share"]["text"] == "Shared in the thread." and said["share"]["replace_original"] is True


async def test_summarize_shortcut_on_a_short_message_without_a_link_says_so(standin, sqlite_store):
    async with running_slack(standin, sqlite_store) as slack:
        message = {"type": "message", "user": "UMEMBER", "ts": "1700000000.000400", "text": "lunch at noon?"}
        await post_form(slack, message_action(team_id="T1", user_id="UADMIN", channel_id="C1", message=message,
                                              response_url=standin.response_url("short"), trigger_id=trigger_id()))  # fmt: skip
        [answer] = await standin.wait_for("response_url")
        await slack.finish()
    assert answer.params["response_type"] == "ephemeral" and NOTHING_TO_SUMMARIZE in answer.params["text"]
    assert "actions" not in json.dumps(answer.params.get("blocks"))


# -- the reaction trigger ---------------------------------------------------------------------


def reaction(user: str, ts: str, emoji: str = "memo", channel: str = "C1") -> dict:
    return {"type": "reaction_added", "user": user, "reaction": emoji, "item_user": "UMEMBER",
            "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": "1700000001.000100"}  # fmt: skip


async def test_a_reaction_posts_the_digest_in_the_thread_once_whoever_reacts(standin, store, site):
    """Fails before the change: reaction_added was not listened to."""
    standin.add_message("C1", "1700000000.000500", f"read <{site}/article.html|this>")
    standin.add_message("C1", "1700000000.000600", "no link here, just words")
    standin.add_message("C1", "1700000000.000700", "a thread")
    standin.add_message("C1", "1700000000.000710", f"in the thread: <{site}/article.html>", thread_ts="1700000000.000700")
    standin.add_message("C1", "1700000000.000720", f"/unsubscribe <{site}/article.html>")  # a command, by the admin's reaction?
    async with running_slack(standin, store) as slack:
        await as_admin(slack, "T1", "C1", "/subscribe 08:00")
        await post_event(slack, reaction("UMEMBER", "1700000000.000500", emoji="eyes"), event_id="EvWrongEmoji")
        await post_event(slack, reaction("UMEMBER", "1700000000.000600"), event_id="EvNoLink")
        await post_event(slack, reaction("UMEMBER", "1700000000.000500"), event_id="EvR1")
        await post_event(slack, reaction("UMEMBER", "1700000000.000500"), event_id="EvR1")  # delivered again
        await post_event(slack, reaction("UADMIN", "1700000000.000500", emoji="memo::skin-tone-2"), event_id="EvR2")
        await post_event(slack, reaction("UADMIN", "1700000000.000710"), event_id="EvR3")  # a thread's reply
        await post_event(slack, reaction("UADMIN", "1700000000.000720"), event_id="EvR4")
        await post_event(slack, {**reaction("UADMIN", "1700000000.000500"), "item": {"type": "file", "file": "F1"}}, event_id="EvFile")
        await standin.wait_for("chat.postMessage", count=3)
        await slack.finish()
        # only the links of the message reach the core: the admin's reaction ran no command
        assert await slack.service.bot.digests.subscriptions.get("slack:T1:C1") is not None

    posts = standin.calls_to("chat.postMessage")
    assert sorted(post.params["thread_ts"] for post in posts) == ["1700000000.000500", "1700000000.000700", "1700000000.000720"]
    assert all(post.params["channel"] == "C1" and SEED_TITLE in post.params["text"] for post in posts)
    [history, *_] = [call.params for call in standin.calls_to("conversations.history") if call.params["latest"] == "1700000000.000500"]
    assert history["channel"] == "C1" and history["inclusive"] in ("1", "true") and history["limit"] == "1"
    # the claim is the chat's own data: /forget erases it with the chat
    assert keys.slack_reaction_claim("slack:T1:C1", "1700000000.000500") in await store.keys_of("slack:T1:C1")


async def test_a_reaction_is_answered_in_the_reacting_users_language(standin, sqlite_store, site):
    """The reactor's Slack locale picks the digest's words, as it does for the message
    shortcut (a channel's own /language would still come first). Fails before the fix:
    a Russian user's reaction got an English digest."""
    standin.add_user("URUSSIAN", team_id="T1", locale="ru-RU")
    standin.add_message("C1", "1700000000.000500", f"read <{site}/article.html|this>")
    async with running_slack(standin, sqlite_store) as slack:
        await post_event(slack, reaction("URUSSIAN", "1700000000.000500"), event_id="EvRu")
        [post] = await standin.wait_for("chat.postMessage", count=1)
        await slack.finish()
    text = json.dumps(post.params.get("blocks"), ensure_ascii=False) + post.params["text"]
    assert "мин чтения" in text and "min read" not in text, text


async def test_reacting_again_to_a_summarized_message_asks_slack_nothing(standin, store, site):
    """Fails before the fix: every reaction with the emoji read the message again with
    conversations.history before finding it already summarized, so adding and removing 📝
    over and over cost a Slack call each time."""
    standin.add_message("C1", "1700000000.000500", f"read <{site}/article.html|this>")
    async with running_slack(standin, store) as slack:
        await post_event(slack, reaction("UMEMBER", "1700000000.000500"), event_id="EvFirst")
        await standin.wait_for("chat.postMessage", count=1)
        for n in range(3):
            await post_event(slack, reaction("UADMIN", "1700000000.000500"), event_id=f"EvAgain{n}")
        await slack.finish()
    reads = [call for call in standin.calls_to("conversations.history") if call.params["latest"] == "1700000000.000500"]
    assert len(reads) == 1 and len(standin.calls_to("chat.postMessage")) == 1


async def test_summary_reaction_chooses_the_emoji_or_turns_it_off_admins_only(standin, sqlite_store, site):
    standin.add_message("C1", "1700000000.000800", f"<{site}/article.html>")
    standin.add_message("C2", "1700000000.000900", f"<{site}/article.html>")
    async with running_slack(standin, sqlite_store) as slack:

        async def slash(user: str, channel: str, text: str, number: int) -> str:
            await post_form(slack, _slash_body(slack, user, channel, text, f"cmd{number}"))
            return (await standin.wait_for("response_url", count=number))[-1].params["text"]

        assert "Only chat admins can change that." in await slash("UMEMBER", "C1", "reaction :eyes:", 1)
        assert "now :memo:" in await slash("UMEMBER", "C1", "reaction", 2)  # looking is open to all
        assert ":eyes:" in await slash("UADMIN", "C1", "reaction :eyes:", 3)
        assert "no reaction" in await slash("UCREATOR", "C2", "reaction off", 4)
        assert "Usage" in await slash("UADMIN", "C1", "reaction <!channel>", 5)

        await post_event(slack, reaction("UMEMBER", "1700000000.000800"), event_id="EvMemoNoMore")  # C1 wants :eyes:
        await post_event(slack, reaction("UMEMBER", "1700000000.000900", emoji="eyes", channel="C2"), event_id="EvOff")
        await post_event(slack, reaction("UMEMBER", "1700000000.000900", channel="C2"), event_id="EvOff2")
        await post_event(slack, reaction("UMEMBER", "1700000000.000800", emoji="eyes"), event_id="EvEyes")
        [post] = await standin.wait_for("chat.postMessage")
        await slack.finish()

    assert len(standin.calls_to("chat.postMessage")) == 1
    assert post.params["channel"] == "C1" and post.params["thread_ts"] == "1700000000.000800"
    assert await sqlite_store.hget(keys.chat_settings("slack:T1:C1"), "reaction") == b"eyes"
    assert await sqlite_store.hget(keys.chat_settings("slack:T1:C2"), "reaction") == b"off"
    # the ignored reactions read no message
    assert {call.params["channel"] for call in standin.calls_to("conversations.history", status=None)} == {"C1"}


def _slash_body(slack, user: str, channel: str, text: str, name: str) -> str:
    from urllib.parse import urlencode

    return urlencode({
        "token": "unused", "team_id": "T1", "team_domain": "test", "channel_id": channel, "channel_name": "general",
        "user_id": user, "user_name": user.lower(), "command": "/summary", "text": text,
        "response_url": slack.standin.response_url(name), "trigger_id": trigger_id(),
    })  # fmt: skip


@pytest.mark.parametrize("text", ["reaction", "reaction :eyes:", "reaction off"])
def test_summary_reaction_needs_an_admin_only_to_change_it(text):
    from bot.acl import Permissions
    from bot.commands import parse_command

    assert Permissions().needs_admin(parse_command(f"/summary {text}")) is (text != "reaction")


async def test_scaled_out_a_reaction_and_a_home_tab_are_answered_by_a_worker(standin, sqlite_store, site, redis_url):
    """SUMMARY_BOT_WORKERS=external: the front only checks and enqueues; a worker answers the
    gesture's job through the same `answer_job` (the payload crosses Redis as JSON)."""
    import asyncio
    import time
    from contextlib import suppress

    import redis
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from model_support import make_summary_bot
    from slack_support import BOT_TOKEN, SECRET

    from adapters.queue import MessageQueue, open_queue_pool, redis_settings
    from adapters.slack import SlackService
    from adapters.slack.settings import SlackSettings
    from adapters.worker import ForeignMessages, message_worker
    from bot.config import Settings
    from bot.metrics import Metrics

    with redis.Redis.from_url(redis_url) as admin:
        admin.flushdb()
    standin.add_message("C1", "1700000000.001000", f"<{site}/article.html>")
    options = {"slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET, "slack_api_url": standin.api_url,
               "fetch_allow_private": ["127.0.0.0/8"]}  # fmt: skip
    bot = make_summary_bot(Settings(**options), sqlite_store)
    pool = await open_queue_pool(redis_url)
    front = SlackService(SlackSettings(**options), bot, queue=MessageQueue(pool))
    worker_side = SlackService(SlackSettings(**options), bot)
    app = web.Application()
    front.add_routes(app)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    await front.start()
    await worker_side.start_sending()
    ctx = {"services": {"slack": worker_side}, "store": sqlite_store, "foreign": ForeignMessages(["slack"], Metrics())}
    worker = message_worker(ctx, redis_settings(redis_url), job_timeout=30, concurrency=2)
    running = asyncio.create_task(worker.async_run())
    try:
        slack = SimpleNamespace(http=http, service=front)
        await as_admin(slack, "T1", "C1", "/subscribe 08:00")
        await post_event(slack, reaction("UMEMBER", "1700000000.001000"), event_id="EvQueuedR1")
        await post_event(slack, reaction("UADMIN", "1700000000.001000"), event_id="EvQueuedR2")
        await post_event(slack, home_opened("UADMIN"), event_id="EvQueuedHome")
        [post] = await standin.wait_for("chat.postMessage")
        [home] = await standin.wait_for("views.publish")
        deadline = time.monotonic() + 30
        while worker.jobs_complete < 3:
            assert time.monotonic() < deadline, "the worker never ran the jobs"
            await asyncio.sleep(0.05)
        assert len(standin.calls_to("chat.postMessage")) == 1 and post.params["thread_ts"] == "1700000000.001000"
        assert set(stop_buttons(home.params["view"])) == {"C1"}
    finally:
        await worker.close()
        running.cancel()
        with suppress(asyncio.CancelledError):
            await running
        await front.stop()
        await worker_side.stop()
        await http.close()
        await pool.aclose()
        await bot.close()
