"""The Slack adapter end to end: signed requests into the running aiohttp app, the real
slack-sdk client talking to a stand-in Web API on 127.0.0.1, pages from a local site,
the real model and real stores."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote
import re
import time
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio

from adapters.slack import SlackService
from adapters.slack.settings import SlackSettings
from adapters.slack.incoming import chat_kind, incoming_from_command, plain_text
from adapters.slack.installation_store import StoreInstallationStore, StoreOAuthStateStore
from adapters.slack.render import MAX_BLOCKS, MAX_HEADER_CHARS, MAX_SECTION_CHARS, render_reply
from benchmarks.standins.slack_api import BOT_ID, BOT_USER_ID
from bot.config import ConfigError, Settings
from bot.inference import ModelBusy
from bot.models import ChatRef, DailyDigest, Digest, DigestEntry, Incoming, RelatedLink, Reply
from slack_sdk.oauth.installation_store.models.installation import Installation
from model_support import make_summary_bot
from run_support import free_port, health_answers, slack_run_environment, summary_bot_run
from slack_support import (
    BOT_TOKEN,
    SECRET,
    SECRET_KEY,
    SEED_PAGE,
    SEED_TITLE,
    RunningSlack,
    event_body,
    message_event,
    running_slack,
    seed_site,
    signed_headers,
    sqlite_store,  # noqa: F401 - a fixture
    standin,  # noqa: F401 - a fixture
    trigger_id,
)
INJECTION_TITLE = "<!channel> <https://evil|bank>"

INJECTION_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<meta property="og:site_name" content="&lt;!here&gt; News"></head>
<body><article><h1>{title}</h1>{paragraphs}</article></body></html>""".format(
    title="&lt;!channel&gt; &lt;https://evil|bank&gt;",
    paragraphs="".join(
        f"<p>Paragraph {i} explains how the harbour authority counted {i * 7} ships in the bay, "
        f"and why the new pilots' schedule cut waiting times by {i} hours last winter.</p>"
        for i in range(12)
    ),
)


@pytest_asyncio.fixture
async def site(tmp_path):
    """The seed article and an article whose title tries to ping the channel."""
    async with seed_site(tmp_path, {"injection.html": INJECTION_PAGE}) as base_url:
        yield base_url


@pytest_asyncio.fixture
async def slack(standin, sqlite_store):
    async with running_slack(standin, sqlite_store) as running:
        yield running


def header_of(call) -> str:
    return next(b["text"]["text"] for b in call.params["blocks"] if b["type"] == "header")


# -- events ---------------------------------------------------------------------------------


async def test_link_message_gets_one_digest_in_its_thread(slack, site):
    response = await slack.post_event(message_event(f"worth a read: <{site}/article.html>", ts="1700000000.000100"))
    assert response.status == 200 and slack.standin.calls_to("chat.postMessage") == []  # acked before the work

    [post] = await slack.standin.wait_for("chat.postMessage")
    await slack.finish()
    assert len(slack.standin.calls_to("chat.postMessage")) == 1
    assert post.token == BOT_TOKEN
    assert post.params["channel"] == "C1" and post.params["thread_ts"] == "1700000000.000100"
    assert post.params["unfurl_links"] is False and post.params["unfurl_media"] is False
    assert header_of(post) == SEED_TITLE
    assert SEED_TITLE in post.params["text"]  # the plain fallback
    assert any("min read" in json.dumps(b) for b in post.params["blocks"] if b["type"] == "context")


async def test_reply_in_a_thread_goes_to_that_thread(slack, site):
    event = message_event(f"<{site}/article.html|the article>", ts="1700000000.000200", thread_ts="1700000000.000001")
    await slack.post_event(event)
    [post] = await slack.standin.wait_for("chat.postMessage")
    assert post.params["thread_ts"] == "1700000000.000001"


async def test_the_same_event_delivered_three_times_gets_one_reply(standin, store, site):
    async with running_slack(standin, store) as slack:
        event = message_event(f"{site}/article.html")
        first = await slack.post_event(event, event_id="EvRetry")
        retries = [await slack.post_event(event, event_id="EvRetry", headers={"X-Slack-Retry-Num": str(n),
                   "X-Slack-Retry-Reason": "http_timeout"}) for n in (1, 2)]  # fmt: skip
        assert [r.status for r in (first, *retries)] == [200, 200, 200]
        await standin.wait_for("chat.postMessage")
        await slack.finish()
        assert len(standin.calls_to("chat.postMessage")) == 1


async def until(condition) -> None:
    """Wait for `condition()` to hold (30 s at most: a hang fails the test, not the run)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 30)


async def test_in_process_answers_are_bounded_and_past_the_bound_a_channel_hears_busy_once(standin, sqlite_store):
    """In-process, at most SUMMARY_BOT_SLACK_CONCURRENCY answers run at once and as many
    again wait their turn; an event past that is answered at once with the model queue's
    busy sentence (once per channel; a command's only to its sender; chatter not at all)
    and counted. Once the pages answer, every admitted event is answered and the bound
    frees up. Fails before the fix: every event started its own task at once, so all
    the pages were fetched together and nobody was told busy."""
    from tests.local_site import HeldPages, serve_site

    bound = 2
    held = HeldPages(SEED_PAGE.read_text(encoding="utf-8"))

    async with (
        serve_site(held.routes(10)) as site,
        running_slack(standin, sqlite_store, slack_concurrency=bound) as slack,
    ):
        def post(n: int, channel: str, text: str | None = None):
            event = message_event(text or f"<{site.url(f'/story{n}')}>", ts=f"1700000000.{n:06d}", channel=channel)
            return slack.post_event(event, event_id=f"EvBusy{n}")

        admitted = {0: "C1", 1: "C2", 2: "C3", 3: "C4"}  # two in progress, two waiting
        for n, channel in admitted.items():
            assert (await post(n, channel)).status == 200
        await until(lambda: held.fetching >= bound)
        refused = {4: "C5", 5: "C5", 6: "C5", 7: "C6"}
        for n, channel in refused.items():
            assert (await post(n, channel)).status == 200
        assert (await post(8, "C7", text="nice weather today")).status == 200  # chatter: no reply either way
        assert (await slack.post_command(site.url("/story9"), response_name="busy")).status == 200

        told = await standin.wait_for("chat.postMessage", count=2)
        assert {(call.params["channel"], call.params["thread_ts"]) for call in told} == {
            ("C5", "1700000000.000004"), ("C6", "1700000000.000007")
        }  # fmt: skip
        assert all(str(ModelBusy()) in call.params["text"] for call in told)
        [command_told] = await standin.wait_for("response_url")
        assert command_told.params["response_type"] == "ephemeral" and str(ModelBusy()) in command_told.params["text"]
        assert held.most == bound  # the waiting two have not started

        held.release.set()
        answered = await standin.wait_for("chat.postMessage", count=2 + len(admitted))
        assert sorted(call.params["channel"] for call in answered[2:]) == sorted(admitted.values())
        assert all(header_of(call) == SEED_TITLE for call in answered[2:])
        # The bound is free again: C5, told busy a moment ago, is answered now.
        assert (await post(10, "C5", text=f"<{site.url('/story4')}>")).status == 200
        [*_, later] = await standin.wait_for("chat.postMessage", count=3 + len(admitted))
        await slack.finish()
    assert (later.params["channel"], header_of(later)) == ("C5", SEED_TITLE)
    assert held.most == bound
    assert slack.service.bot.metrics.errors.labels("busy")._value.get() == len(refused) + 1  # and the command
    assert len(standin.calls_to("chat.postMessage")) == 3 + len(admitted)  # nothing to the chatter


async def test_busy_is_told_to_a_channel_once_a_minute_and_to_few_channels_at_once():
    from adapters.inprocess import BUSY_NOTICE_SECONDS, BUSY_NOTICES_AT_ONCE, BusyNotices

    now = 1000.0
    notices = BusyNotices(clock=lambda: now)
    assert notices.may_tell("T1:C1") and not notices.may_tell("T1:C1")
    await notices.tell(asyncio.sleep(0))
    now += BUSY_NOTICE_SECONDS - 1
    assert not notices.may_tell("T1:C1") and notices.may_tell("T2:C1")  # another workspace's C1
    await notices.tell(asyncio.sleep(0))
    now += 1
    assert notices.may_tell("T1:C1")
    await notices.tell(asyncio.sleep(0))
    # Replies still being posted hold their places: a flood of channels is not a flood of posts.
    assert all(notices.may_tell(f"T1:C{n}") for n in range(2, 2 + BUSY_NOTICES_AT_ONCE))
    assert not notices.may_tell("T1:C99")
    await notices.tell(asyncio.sleep(0))
    assert notices.may_tell("T1:C99")


async def test_bad_signature_and_stale_timestamp_get_401(slack, site):
    body = event_body(message_event(f"{site}/article.html"))
    forged = {**signed_headers(body, secret="not-the-secret")}
    stale = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    assert (await slack.http.post("/slack/events", data=body, headers=forged)).status == 401
    assert (await slack.http.post("/slack/events", data=body, headers=stale)).status == 401
    unsigned = {"Content-Type": "application/json"}
    assert (await slack.http.post("/slack/events", data=body, headers=unsigned)).status == 401
    await slack.finish()
    assert slack.standin.calls == []


async def test_url_verification_returns_the_challenge(slack):
    body = json.dumps({"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})  # fmt: skip
    response = await slack.http.post("/slack/events", data=body, headers=signed_headers(body))
    assert response.status == 200
    assert (await response.json()) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_the_stand_ins_signatures_match_slacks_documented_example():
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    # the stand-in's signing helper, which every signed request in these tests goes through
    assert signed_headers(body, timestamp=1531420618, secret="8f742231b10e8888abcd99yyyzzz85a5")["X-Slack-Signature"] == signature


async def test_signed_requests_that_slack_would_not_send_are_refused_before_bolt(slack):
    async def status(body: str, headers: dict) -> int:
        response = await slack.http.post("/slack/events", data=body.encode(), headers=headers)
        return response.status

    event = event_body(message_event("hello"))
    command = "command=%2Fsummary&text=help&trigger_id=1.2.3&response_url=" + quote(slack.standin.response_url("c"), safe="")
    assert await status(event, signed_headers(event)) == 200
    assert await status(command, signed_headers(command, content_type="application/x-www-form-urlencoded")) == 200
    # Bodies Bolt's own parsing would raise on (a 500 and a traceback), whatever the Content-Type says.
    malformed = [json.dumps({"type": "event_callback", "event": "a string"}), json.dumps({"event": "a string"}),
                 "payload=%7Bnot-json", "payload=%5B1%5D", "{not json",
                 event_body({"type": "message", "text": "no channel", "ts": "1.2"})]  # fmt: skip
    for body in malformed:
        for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
            assert await status(body, signed_headers(body, content_type=content_type)) == 400, (body, content_type)
    for body in ("not json", "[1, 2]"):
        assert await status(body, signed_headers(body, content_type="application/json")) == 400
        assert await status(body, signed_headers(body, content_type="text/plain")) == 404  # a form naming nothing
    headers = signed_headers(event)
    for timestamp in ("soon", "²", "１２３"):  # only ASCII digits are a timestamp
        assert await status(event, {**headers, "X-Slack-Request-Timestamp": timestamp}) == 401
    assert await status(event, {k: v for k, v in headers.items() if k != "X-Slack-Request-Timestamp"}) == 401
    assert await status(event + " ", headers) == 401  # the body is not the one signed
    assert await status(event, {**headers, "Content-Type": "application/json; charset=nope"}) == 200
    response = await slack.http.post("/slack/events", data=b"\xff\xfe" + event.encode(), headers=headers)
    assert response.status == 401  # not UTF-8: not from Slack, and no traceback


async def test_own_and_other_bots_messages_edits_and_deletions_are_ignored(slack, site):
    link = f"<{site}/article.html>"
    ignored = [
        message_event(link, user=BOT_USER_ID, bot_id=BOT_ID),  # our own
        message_event(link, bot_id="BOTHER", subtype="bot_message"),  # another bot
        message_event(link, bot_id="BOTHER2"),  # another bot's app message (no subtype)
        {**message_event(link), "subtype": "message_changed", "message": message_event(link)},
        {"type": "message", "subtype": "message_deleted", "channel": "C1", "ts": "1.2", "deleted_ts": "1.1"},
        message_event(link, subtype="channel_join"),
    ]
    for number, event in enumerate(ignored):
        assert (await slack.post_event(event, event_id=f"EvIgnored{number}")).status == 200
    await slack.finish()
    assert slack.standin.calls_to("chat.postMessage") == []


async def test_mention_is_answered_once_and_dm_in_its_thread(slack, site):
    mention = f"<@{BOT_USER_ID}> summarize <{site}/article.html>"
    # Slack sends both a `message` and an `app_mention` event for a mention; one reply.
    await slack.post_event(message_event(mention, ts="1700000001.000001"), event_id="EvMsg")
    await slack.post_event({**message_event(mention, ts="1700000001.000001"), "type": "app_mention"}, event_id="EvMention")
    dm = message_event(f"{site}/article.html", ts="1700000002.000001", channel="D1", channel_type="im")
    await slack.post_event(dm, event_id="EvDm")
    await slack.finish()
    posts = slack.standin.calls_to("chat.postMessage")
    assert sorted((p.params["channel"], p.params["thread_ts"]) for p in posts) == [
        ("C1", "1700000001.000001"), ("D1", "1700000002.000001")]  # fmt: skip


async def test_private_summary_asked_in_a_mention_is_ephemeral(slack, site):
    text = f"<@{BOT_USER_ID}> /summary private <{site}/article.html>"
    await slack.post_event({**message_event(text, ts="1700000004.000001"), "type": "app_mention"})
    [post] = await slack.standin.wait_for("chat.postEphemeral")
    await slack.finish()
    assert slack.standin.calls_to("chat.postMessage") == []
    assert (post.params["channel"], post.params["user"], post.params["thread_ts"]) == ("C1", "U1", "1700000004.000001")
    assert header_of(post) == SEED_TITLE


async def test_mention_without_link_gets_friendly_help(slack):
    await slack.post_event({**message_event(f"<@{BOT_USER_ID}> hi"), "type": "app_mention"})
    [post] = await slack.standin.wait_for("chat.postMessage")
    assert "Send me a link" in post.params["text"]


async def test_injection_title_arrives_escaped(slack, site):
    await slack.post_event(message_event(f"{site}/injection.html"))
    [post] = await slack.standin.wait_for("chat.postMessage")
    payload = json.dumps(post.params)
    assert "<!" not in payload and "<https://evil" not in payload
    assert header_of(post) == "&lt;!channel&gt; &lt;https://evil|bank&gt;"
    assert "&lt;!channel&gt; &lt;https://evil|bank&gt;" in post.params["text"]
    assert "&lt;!here&gt; news" in payload.lower()  # the site name, in the context block


async def test_rate_limited_post_waits_retry_after_then_delivers(slack, site):
    slack.standin.rate_limit_next("chat.postMessage", retry_after=1)
    await slack.post_event(message_event(f"{site}/article.html"))
    await slack.standin.wait_for("chat.postMessage")
    limited, delivered = slack.standin.calls_to("chat.postMessage", status=None)
    assert (limited.status, delivered.status) == (429, 200)
    assert delivered.at - limited.at >= 1.0
    assert header_of(delivered) == SEED_TITLE


# -- slash commands -------------------------------------------------------------------------


async def test_slash_command_is_acked_in_the_request_and_answered_after(slack, site):
    response = await slack.post_command(f"{site}/article.html", response_name="public")
    assert response.status == 200
    assert slack.standin.calls_to("response_url") == []  # the digest comes after the ack

    [answer] = await slack.standin.wait_for("response_url")
    assert answer.path == "/response/public"
    assert answer.params["response_type"] == "in_channel"
    assert header_of(answer) == SEED_TITLE
    assert answer.params["unfurl_links"] is False


async def test_private_slash_command_is_ephemeral(slack, site):
    await slack.post_command(f"private {site}/article.html", response_name="private")
    [answer] = await slack.standin.wait_for("response_url")
    assert answer.params["response_type"] == "ephemeral"
    assert header_of(answer) == SEED_TITLE


async def test_slash_command_without_argument_explains_usage(slack):
    await slack.post_command("")
    [answer] = await slack.standin.wait_for("response_url")
    assert "Usage: /summary" in answer.params["text"]


def test_slash_command_names_map_to_core_commands():
    def text(command, words):
        payload = {"command": command, "text": words, "channel_id": "C1", "team_id": "T1", "user_id": "U1"}
        return incoming_from_command(payload, {"summary", "help", "autosummary"}).text

    assert text("/summary", "https://a.example/x") == "/summary https://a.example/x"
    assert text("/tldr", "private <https://a.example/x>") == "/summary private https://a.example/x"
    assert text("/autosummary", "off") == "/autosummary off"


# -- unfurls --------------------------------------------------------------------------------


async def test_link_shared_in_unfurl_domains_is_unfurled(standin, sqlite_store, site):
    async with running_slack(standin, sqlite_store, slack_unfurl_domains=["127.0.0.1"]) as slack:
        ours, other = f"{site}/article.html", "https://elsewhere.example/page"
        await slack.post_event({
            "type": "link_shared", "channel": "C1", "user": "U1", "message_ts": "1700000003.000001",
            "unfurl_id": "Uf1", "source": "conversations_history",
            "links": [{"domain": "127.0.0.1", "url": ours}, {"domain": "elsewhere.example", "url": other}],
        }, event_id="EvUnfurl")  # fmt: skip
        # the message itself carries only unfurlable links: the unfurl answers it, not a thread reply
        await slack.post_event(message_event(f"<{ours}>", ts="1700000003.000001"), event_id="EvUnfurlMsg")
        [unfurl] = await standin.wait_for("chat.unfurl")
        await slack.finish()
        assert standin.calls_to("chat.postMessage") == []
        assert unfurl.params["unfurl_id"] == "Uf1" and unfurl.params["source"] == "conversations_history"
        assert list(unfurl.params["unfurls"]) == [ours]
        assert SEED_TITLE in json.dumps(unfurl.params["unfurls"][ours]["blocks"])



async def test_a_message_with_an_unfurled_link_and_another_answers_each_link_once(standin, sqlite_store, site):
    async with running_slack(standin, sqlite_store, slack_unfurl_domains=["127.0.0.1"]) as slack:
        ours = f"{site}/article.html"  # 127.0.0.1: an unfurl domain
        other = ours.replace("127.0.0.1", "localhost").replace("article.html", "injection.html")  # not one
        await slack.post_event({
            "type": "link_shared", "channel": "C1", "user": "U1", "message_ts": "1700000004.000001",
            "unfurl_id": "Uf2", "source": "conversations_history",
            "links": [{"domain": "127.0.0.1", "url": ours}],
        }, event_id="EvUnfurl2")  # fmt: skip
        await slack.post_event(message_event(f"<{ours}> and <{other}>", ts="1700000004.000001"), event_id="EvMixed")
        [unfurl] = await standin.wait_for("chat.unfurl")
        [reply] = await standin.wait_for("chat.postMessage")
        await slack.finish()
        assert list(unfurl.params["unfurls"]) == [ours]
        assert SEED_TITLE not in json.dumps(reply.params)  # the thread reply holds the other link alone
        [digest] = await slack.service.bot.handle(
            Incoming(chat=ChatRef("slack", "T1:C1", scope_id="T1", kind="group"), text="/digest", user_id="U1")
        )
        assert sorted(entry.shares for entry in digest.daily.entries) == [1, 1]  # each link shared once


def test_only_a_d_channel_is_a_direct_message_whatever_a_channel_is_named():
    # In a DM anyone may change settings, so a public channel named "directmessage" must not pass for one.
    assert chat_kind("D024BE91L", channel_name="directmessage") == "private"
    assert chat_kind("C024BE91L", channel_name="directmessage") == "group"
    assert chat_kind("D024BE91L", "im") == "private"


# -- daily digests through send() -----------------------------------------------------------


async def test_send_posts_a_long_daily_digest_in_several_messages(slack):
    entries = [DigestEntry(title=f"Story {i} <!here>", url=f"https://news.example/{i}", summary="Things happened. " * 20,
                           source="News", shares=i % 3) for i in range(70)]  # fmt: skip
    daily = DailyDigest(title="Your daily digest", entries=entries, period="Friday 3 March")
    # subscribed from a message in a thread; the digest still goes to the channel itself
    chat = ChatRef(platform="slack", chat_id="C9", thread_id="1700000000.000100", scope_id="T1", kind="group")
    await slack.service.send(chat, [Reply(daily=daily)])
    posts = slack.standin.calls_to("chat.postMessage")
    assert len(posts) == 2 and all(len(p.params["blocks"]) <= MAX_BLOCKS for p in posts)
    assert {p.params["channel"] for p in posts} == {"C9"}
    assert all("thread_ts" not in p.params for p in posts)
    assert sum(json.dumps(p.params).count("news.example/") for p in posts) >= 70
    assert "<!here>" not in json.dumps([p.params for p in posts])


# -- rendering limits -----------------------------------------------------------------------


def test_rendering_respects_slack_limits():
    long_title = "A & B <tag> " * 30
    digest = Digest(
        title=long_title, points=["word " * 900, "x" * 7000 + " & <b>"], source="Site <x>", reading_minutes=4,
        url="https://site.example/a|b>c", related=[RelatedLink(title="Next <!channel>", url="https://site.example/n")],
    )  # fmt: skip
    [message] = render_reply(Reply(digest=digest))
    header = message.blocks[0]["text"]["text"]
    assert len(header) <= MAX_HEADER_CHARS and "<" not in header
    for block in message.blocks:
        if block["type"] == "section":
            text = block["text"]["text"]
            assert len(text) <= MAX_SECTION_CHARS and block["text"]["verbatim"] is True
            assert not re.search(r"&(?!amp;|lt;|gt;)", text)  # no entity cut in half
    rendered = json.dumps(message.blocks)
    assert "<https://site.example/n|Next &lt;!channel&gt;>" in rendered
    assert "https://site.example/a%7Cb%3Ec" in rendered  # `|` and `>` cannot end the link early
    [error] = render_reply(Reply(error="Could not read <that> page & more"))
    assert error.blocks == [{"type": "section", "text": {"type": "mrkdwn", "verbatim": True,
                             "text": ":warning: Could not read &lt;that&gt; page &amp; more"}}]  # fmt: skip


def test_plain_text_undoes_slack_markup():
    assert plain_text(f"<@{BOT_USER_ID}> read <https://a.example/x?a=1&amp;b=2|this> &amp; <#C1|general>", BOT_USER_ID) == (
        "read https://a.example/x?a=1&b=2 & #general"
    )
    assert plain_text("<@U2> said &lt;hi&gt; <!here>") == "@U2 said <hi> @here"


# -- multi-workspace OAuth ------------------------------------------------------------------


def installation(team: str, user: str = "UINSTALLER", token: str | None = None) -> Installation:
    return Installation(app_id="A1", team_id=team, team_name=f"Team {team}", bot_token=token or f"xoxb-{team}",
                        bot_id=f"B{team}", bot_user_id="UBOT", bot_scopes=["chat:write"], user_id=user)  # fmt: skip


async def test_installation_store_keeps_workspaces_apart(store):
    installations = StoreInstallationStore(store)
    await installations.async_save(installation("T1"))
    await installations.async_save(installation("T2", user="U2"))

    bot = await installations.async_find_bot(enterprise_id=None, team_id="T1")
    assert (bot.team_id, bot.bot_token, bot.bot_scopes) == ("T1", "xoxb-T1", ["chat:write"])
    found = await installations.async_find_installation(enterprise_id=None, team_id="T2", user_id="U2")
    assert (found.team_id, found.user_id, found.bot_token) == ("T2", "U2", "xoxb-T2")
    assert await installations.async_find_installation(enterprise_id=None, team_id="T1", user_id="U2") is None
    assert await installations.async_find_bot(enterprise_id=None, team_id="T3") is None

    # a newer bot token for T1 is what a user's older installation now reports
    await installations.async_save(installation("T1", user="ULATER", token="xoxb-T1-new"))
    older = await installations.async_find_installation(enterprise_id=None, team_id="T1", user_id="UINSTALLER")
    assert older.bot_token == "xoxb-T1-new"

    await installations.async_delete_installation(enterprise_id=None, team_id="T1", user_id="ULATER")
    assert await installations.async_find_installation(enterprise_id=None, team_id="T1", user_id="ULATER") is None
    await installations.async_delete_bot(enterprise_id=None, team_id="T1")
    assert await installations.async_find_bot(enterprise_id=None, team_id="T1") is None
    await installations.async_delete_all(enterprise_id=None, team_id="T1")
    assert await installations.async_find_installation(enterprise_id=None, team_id="T1") is None
    assert (await installations.async_find_bot(enterprise_id=None, team_id="T2")).bot_token == "xoxb-T2"


async def test_oauth_state_is_consumed_once_and_expires(store):
    states = StoreOAuthStateStore(store, expiration_seconds=1)
    state = await states.async_issue()
    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False
    assert await states.async_consume("never-issued") is False
    expired = await states.async_issue()
    await asyncio.sleep(1.2)
    assert await states.async_consume(expired) is False


async def test_oauth_install_then_events_use_that_workspaces_token(standin, sqlite_store, site):
    oauth = {"slack_client_id": "111.222", "slack_client_secret": "client-secret", "slack_bot_token": None,
             "secret_key": SECRET_KEY}  # fmt: skip
    async with running_slack(standin, sqlite_store, **oauth) as slack:
        page = await slack.http.get("/slack/install")
        assert page.status == 200
        state = re.search(r"state=([\w-]+)", await page.text()).group(1)
        cookie = f"slack-app-oauth-state={state}"
        done = await slack.http.get(f"/slack/oauth_redirect?code=code-T42&state={state}", headers={"Cookie": cookie})
        assert done.status == 200, await done.text()
        replayed = await slack.http.get(f"/slack/oauth_redirect?code=code-T42&state={state}", headers={"Cookie": cookie})
        assert replayed.status != 200  # a state works once

        await slack.post_event(message_event(f"{site}/article.html"), team_id="T42")
        [post] = await standin.wait_for("chat.postMessage")
        assert post.token == "xoxb-T42"
        await slack.post_event(message_event(f"{site}/article.html"), team_id="T99", event_id="EvUnknownTeam")
        await slack.finish()
        assert len(standin.calls_to("chat.postMessage")) == 1  # a workspace that never installed gets nothing
        with pytest.raises(LookupError):
            await slack.service.send(ChatRef(platform="slack", chat_id="C1", scope_id="T99"), [Reply(text="hi")])


def test_http_mode_without_signing_secret_refuses_to_start(tmp_path):
    settings = Settings(sqlite_path=tmp_path / "s.sqlite3")
    with pytest.raises(ConfigError, match="SIGNING_SECRET"):
        SlackService(SlackSettings(slack_bot_token=BOT_TOKEN), make_summary_bot(settings, None))


# -- `summary-bot run` as a separate process -------------------------------------------------


async def test_summary_bot_run_answers_a_signed_link_event(standin, site, tmp_path):
    port = free_port()
    env = slack_run_environment(standin, tmp_path, port, bot_token=BOT_TOKEN, signing_secret=SECRET)
    log_path = tmp_path / "run.log"
    base = f"http://127.0.0.1:{port}"
    async with summary_bot_run(env, log_path) as process:
        async for health in health_answers(process, port, log_path):  # 60 s at most
            if health is not None and health[0] == 200:
                break
        else:
            raise AssertionError("summary-bot run did not come up")
        async with aiohttp.ClientSession() as http:
            body = event_body(message_event(f"<{site}/article.html>", ts="1700000009.000001"), event_id="EvProcess")
            async with http.post(f"{base}/slack/events", data=body, headers=signed_headers(body)) as response:
                assert response.status == 200
        [post] = await standin.wait_for("chat.postMessage", timeout=60)
        assert post.params["thread_ts"] == "1700000009.000001" and header_of(post) == SEED_TITLE
    returncode = process.returncode
    output = log_path.read_text()
    assert returncode == 0, output
    assert "Traceback" not in output, output


# -- the benchmark stays runnable -----------------------------------------------------------


async def test_bench_measures_cached_and_uncached_rounds():
    from adapters.seed_site import find_seeds_dir
    from benchmarks.slack_bench import measure

    results = await measure(Settings(), find_seeds_dir(), events=2)
    # each round returns only once every event got its post (the stand-in counts them)
    assert results["events"] == 2 and set(results["uncached"]) == set(results["cached"]) >= {"ack_ms_p50"}
    assert results["model_runs"] == 3  # the warm-up and two new pages; the cached round runs no model


# -- who may change a channel's settings --------------------------------------------------------
async def post_slash(slack: RunningSlack, command: str, text: str, *, user_id: str, response_name: str,
                     channel_id: str = "C1", channel_name: str = "general"):  # fmt: skip
    body = urlencode({
        "token": "unused", "team_id": "T1", "team_domain": "test", "channel_id": channel_id,
        "channel_name": channel_name, "user_id": user_id, "user_name": user_id.lower(), "command": command,
        "text": text, "response_url": slack.standin.response_url(response_name), "trigger_id": trigger_id(),
    })  # fmt: skip
    return await slack.http.post("/slack/events", data=body, headers=signed_headers(body, content_type="application/x-www-form-urlencoded"))


async def test_only_workspace_admins_and_the_channels_creator_change_its_settings(slack):
    standin = slack.standin
    standin.add_user("UMEMBER", team_id="T1")
    standin.add_user("UADMIN", team_id="T1", admin=True)
    standin.add_user("UOTHERORG", team_id="T9", admin=True)  # an admin elsewhere, in a shared channel
    standin.add_user("UCREATOR", team_id="T1")
    standin.add_channel("C1", creator="UCREATOR")
    attempts = [
        ("UMEMBER", "/autosummary", "off", "Only chat admins can change that."),
        ("UMEMBER", "/subscribe", "09:00", "Only chat admins can change that."),
        ("UOTHERORG", "/autosummary", "off", "Only chat admins can change that."),
        ("UNKNOWN", "/unsubscribe", "", "I couldn't check that you're an admin"),  # users.info fails: denied
        ("UMEMBER", "/feeds", "list", "This chat follows no feeds"),  # reading is open to all
        ("UADMIN", "/autosummary", "off", "OK, I won't summarize"),
        ("UCREATOR", "/subscribe", "09:00", "OK, every day at 09:00"),
    ]
    for number, (user, command, text, expected) in enumerate(attempts, start=1):
        response = await post_slash(slack, command, text, user_id=user, response_name=f"r{number}")
        assert response.status == 200
        answers = await standin.wait_for("response_url", count=number)
        assert expected in answers[-1].params["text"], (user, command, answers[-1].params["text"])
    assert await slack.store.hget("chat:slack:T1:C1", "autosummary") == b"off"  # the key names the team  # set by the admin only
    # Slack is asked only for settings changes (not /feeds list), and the channel only when
    # the user is no workspace admin.
    asked = [  # the admin checks (each message's locale is asked for apart, once per user)
        call.params["user"] for call in standin.calls_to("users.info", status=None) if not call.params.get("include_locale")
    ]
    # A user's flags are remembered a while and a channel's creator longer (adapters/slack/admins.py).
    assert asked == ["UMEMBER", "UOTHERORG", "UNKNOWN", "UADMIN", "UCREATOR"]
    assert len(standin.calls_to("conversations.info")) == 1


# -- what is shared in private conversations stays there ------------------------------------
BEE_ARTICLES = {
    "/bees/winter-losses": ("Beekeepers report heavy winter losses in honeybee colonies", [
        "Beekeepers across the region lost nearly half of their honeybee colonies over the winter, according to a survey of hive owners.",
        "Many blamed the varroa mite, a parasite that weakens bees and spreads viruses through the hive.",
        "Commercial beekeepers said they would split surviving colonies and buy new queens to rebuild before the almond pollination season.",
        "Researchers at the state university urged hobbyists to test their hives for mites every month."]),
    "/bees/new-treatment": ("New treatment protects honeybee hives from varroa mites", [
        "Beekeepers testing a new treatment against varroa mites lost far fewer honeybee colonies this winter.",
        "The treatment, made from a natural acid, is applied to the hive in late summer when the mites are most numerous.",
        "Bee researchers say healthy colonies going into winter are the best defence against colony collapse.",
        "The product still needs approval before beekeepers can buy it."]),
}  # fmt: skip


@pytest.mark.parametrize("channel, channel_type", [("C0PRIVATE", "group"), ("G0GROUPDM", "mpim"), ("G0LEGACY", None)])
async def test_articles_shared_in_private_channels_and_group_dms_are_not_related_in_public_ones(
    slack, channel, channel_type
):
    from tests.local_site import page, serve_site

    routes = {
        path: page(f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
                   + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article></body></html>")
        for path, (title, paragraphs) in BEE_ARTICLES.items()
    }  # fmt: skip
    async with serve_site(routes) as bees:
        losses, treatment = bees.url("/bees/winter-losses"), bees.url("/bees/new-treatment")
        shares = [
            (channel, channel_type, losses),  # private: must stay there
            ("C0PUBLIC1", "channel", treatment),  # public: nothing related may come from the private share
            ("C0PUBLIC2", "channel", losses),  # public: shared with the workspace...
            ("C0PUBLIC3", "channel", treatment),  # ...so related here (the memory does work)
        ]
        for number, (where, kind, url) in enumerate(shares, start=1):
            event = {**message_event(f"<{url}>", ts=f"1700000{number}00.000001", channel=where), "channel_type": kind}
            if kind is None:
                del event["channel_type"]
            await slack.post_event(event, event_id=f"EvShare{number}")
            await slack.standin.wait_for("chat.postMessage", count=number)
        await slack.finish()
    posts = {call.params["channel"]: json.dumps(call.params["blocks"]) for call in slack.standin.calls_to("chat.postMessage")}
    assert "Related" not in posts["C0PUBLIC1"] and losses not in posts["C0PUBLIC1"]
    assert losses in posts["C0PUBLIC3"]
