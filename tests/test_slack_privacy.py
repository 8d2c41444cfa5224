"""Slack's side of privacy (issue 18), through the real Bolt app: signed requests into the
running aiohttp app, the real slack-sdk client talking to the stand-in Web API on 127.0.0.1,
real stores. The app removed from a workspace (`app_uninstalled`, `tokens_revoked`), tokens
encrypted at rest, Enterprise Grid installations, a channel shared between organisations,
the /forget button, and chats stored before their key named the team."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_support import BOT_TOKEN, SECRET, SECRET_KEY, running_slack, signed_headers, trigger_id
from slack_support import site, sqlite_store, standin  # noqa: F401 - fixtures
from test_privacy import allow_all, dump

from adapters.slack import SlackService
from adapters.slack.incoming import incoming_from_command, slack_chat
from adapters.slack.installation_store import StoreInstallationStore, TokenCipher
from adapters.slack.settings import SlackSettings
from benchmarks.standins.slack_api import block_actions, event_callback
from bot.config import ConfigError, Settings
from bot.models import ChatRef, Incoming
from bot.store import keys
from model_support import make_summary_bot

VICTIM, OTHER = "TZQVICTIM1", "TOTHERTEAM2"
VICTIM_CHANNEL, OTHER_CHANNEL = "CZQVICTIMCHAN", "COTHERCHAN"
OAUTH = {"slack_client_id": "111.222", "slack_client_secret": "client-secret", "slack_bot_token": None, "secret_key": SECRET_KEY}


async def post_event(slack, event: dict, *, event_id: str, team_id: str, **options):
    body = event_callback(event, event_id=event_id, team_id=team_id, **options)
    return await slack.http.post("/slack/events", data=body, headers=signed_headers(body))


async def post_slash(slack, command: str, text: str, *, team_id: str, user_id: str, channel_id: str, name: str):
    body = urlencode({
        "token": "unused", "team_id": team_id, "team_domain": "test", "channel_id": channel_id, "channel_name": "general",
        "user_id": user_id, "user_name": user_id.lower(), "command": command, "text": text,
        "response_url": slack.standin.response_url(name), "trigger_id": trigger_id(),
    })  # fmt: skip
    return await slack.http.post("/slack/events", data=body, headers=signed_headers(body, content_type="application/x-www-form-urlencoded"))


async def press(slack, *, team_id: str, user_id: str, channel_id: str, value: str, name: str, **options):
    body = block_actions(team_id=team_id, user_id=user_id, channel_id=channel_id, value=value,
                         response_url=slack.standin.response_url(name), **options)  # fmt: skip
    return await slack.http.post("/slack/events", data=body, headers=signed_headers(body, content_type="application/x-www-form-urlencoded"))


async def install(slack, code: str) -> None:
    page = await slack.http.get("/slack/install")
    state = re.search(r"state=([\w-]+)", await page.text()).group(1)
    done = await slack.http.get(f"/slack/oauth_redirect?code={code}&state={state}", headers={"Cookie": f"slack-app-oauth-state={state}"})
    assert done.status == 200, await done.text()


async def use_workspace(slack, team: str, channel: str, site: str, number: int) -> None:
    """What a workspace does with the bot: settings and a subscription, and a link shared."""
    bot = slack.service.bot
    for text in ("/autosummary on", "/subscribe 08:00 Europe/Berlin"):
        (reply,) = await bot.handle(Incoming(chat=slack_chat(team, channel, kind="group"), text=text, user_id="UADMIN", addressed_to_bot=True))
        assert reply.error is None, reply.error
    event = {"type": "message", "channel": channel, "user": "USHARER", "text": f"<{site}/article.html>",
             "ts": f"170000000{number}.000100", "channel_type": "channel"}  # fmt: skip
    assert (await post_event(slack, event, event_id=f"EvShare{number}", team_id=team)).status == 200
    await slack.standin.wait_for("chat.postMessage", count=number)


# -- the app removed from a workspace -------------------------------------------------------


@pytest.mark.parametrize("mode", ["token", "oauth"])
async def test_app_uninstalled_erases_the_workspace_and_its_installation(mode, standin, store, site, tmp_path):
    """Fails before the change: app_uninstalled was answered 404 and everything stayed."""
    async with running_slack(standin, store, **(OAUTH if mode == "oauth" else {})) as slack:
        allow_all(slack.service.bot)
        if mode == "oauth":
            await install(slack, f"code-{VICTIM}")
            await install(slack, f"code-{OTHER}")
        await use_workspace(slack, VICTIM, VICTIM_CHANNEL, site, 1)
        await use_workspace(slack, OTHER, OTHER_CHANNEL, site, 2)
        before = await dump(store, tmp_path)
        assert VICTIM.encode() in before and VICTIM_CHANNEL.encode() in before

        uninstalled = {"type": "app_uninstalled"}
        response = await post_event(slack, uninstalled, event_id="EvUninstall", team_id=VICTIM)
        assert response.status == 200
        everything = await dump(store, tmp_path)
        assert VICTIM.encode() not in everything and VICTIM_CHANNEL.encode() not in everything
        assert OTHER.encode() in everything and OTHER_CHANNEL.encode() in everything
        other = slack_chat(OTHER, OTHER_CHANNEL, kind="group")
        assert await store.hget(keys.digest_subscription(other.key), "chat") is not None
        assert await store.zscore(keys.DIGEST_DUE, other.key) is not None
        if mode == "oauth":
            installations = slack.service.sender.installation_store
            assert await installations.async_find_bot(enterprise_id=None, team_id=VICTIM) is None
            assert await installations.async_find_installation(enterprise_id=None, team_id=VICTIM) is None
            assert (await installations.async_find_bot(enterprise_id=None, team_id=OTHER)).bot_token == f"xoxb-{OTHER}"


async def test_tokens_revoked_deletes_those_tokens(standin, sqlite_store):
    async with running_slack(standin, sqlite_store, **OAUTH) as slack:
        await install(slack, "code-T5")
        installations = slack.service.sender.installation_store
        assert (await installations.async_find_installation(enterprise_id=None, team_id="T5")).user_token == "xoxp-T5-UINSTALLER"

        revoked = {"type": "tokens_revoked", "tokens": {"oauth": ["UINSTALLER"], "bot": []}}
        assert (await post_event(slack, revoked, event_id="EvRevokeUser", team_id="T5")).status == 200
        assert await installations.async_find_installation(enterprise_id=None, team_id="T5", user_id="UINSTALLER") is None
        latest = await installations.async_find_installation(enterprise_id=None, team_id="T5")
        assert latest.user_token is None and latest.bot_token == "xoxb-T5"  # the bot still works

        revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOTSTANDIN"]}}
        assert (await post_event(slack, revoked, event_id="EvRevokeBot", team_id="T5")).status == 200
        assert await installations.async_find_bot(enterprise_id=None, team_id="T5") is None
        latest = await installations.async_find_installation(enterprise_id=None, team_id="T5")
        assert latest is None or latest.bot_token is None


async def test_tokens_revoked_is_answered_in_token_mode(standin, sqlite_store):
    async with running_slack(standin, sqlite_store) as slack:
        revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOTSTANDIN"]}}
        assert (await post_event(slack, revoked, event_id="EvRevoke", team_id="T1")).status == 200


# -- tokens at rest -------------------------------------------------------------------------


async def test_tokens_are_encrypted_at_rest_and_a_key_can_be_rotated(standin, store, tmp_path):
    async with running_slack(standin, store, **OAUTH) as slack:
        await install(slack, "code-T42")
    everything = await dump(store, tmp_path)
    assert b"xoxb-" not in everything and b"xoxp-" not in everything and b"fernet:" in everything

    new_key = Fernet.generate_key().decode()
    rotated = StoreInstallationStore(store, TokenCipher(f"{new_key},{SECRET_KEY}"))  # the new key first
    assert (await rotated.async_find_bot(enterprise_id=None, team_id="T42")).bot_token == "xoxb-T42"
    # read once under the new list, the token was written again under the new key alone
    only_new = StoreInstallationStore(store, TokenCipher(new_key))
    assert (await only_new.async_find_bot(enterprise_id=None, team_id="T42")).bot_token == "xoxb-T42"

    # a plain token stored before encryption was on is read, then rewritten encrypted
    plain = StoreInstallationStore(store)
    await plain.async_save(Installation(app_id="A1", team_id="T77", bot_token="xoxb-T77-plain", bot_id="B", bot_user_id="U", user_id="UI"))
    stored = lambda: store.hgetall(keys.slack_installation("-", "T77"))  # noqa: E731
    assert b"xoxb-T77-plain" in b"".join((await stored()).values())
    assert (await only_new.async_find_bot(enterprise_id=None, team_id="T77")).bot_token == "xoxb-T77-plain"
    records = await stored()
    assert set(records) == {"bot", "installer", "installer:UI"} and b"xoxb-" not in b"".join(records.values())
    assert (await only_new.async_find_installation(enterprise_id=None, team_id="T77", user_id="UI")).bot_token == "xoxb-T77-plain"


@pytest.mark.parametrize("key", [None, "", "not-a-fernet-key"])
def test_oauth_without_a_secret_key_stops_start_up_with_one_line(key, tmp_path):
    options = {**OAUTH, "secret_key": key, "slack_signing_secret": SECRET}
    bot = make_summary_bot(Settings(sqlite_path=tmp_path / "s.sqlite3"), None)
    with pytest.raises(ConfigError) as refused:
        SlackService(SlackSettings(**options), bot)
    message = str(refused.value)
    assert "\n" not in message and "SUMMARY_BOT_SECRET_KEY" in message and "Fernet.generate_key()" in message


# -- Enterprise Grid ------------------------------------------------------------------------


async def test_enterprise_grid_installations_are_found(standin, sqlite_store, site):
    async with running_slack(standin, sqlite_store, **OAUTH) as slack:
        await install(slack, "code-E1-T5")  # one workspace of org E1
        installations = slack.service.sender.installation_store
        for enterprise in ("E1", None):  # Bolt knows the org; a digest knows only the team
            assert (await installations.async_find_bot(enterprise_id=enterprise, team_id="T5")).bot_token == "xoxb-T5"
            assert (await installations.async_find_installation(enterprise_id=enterprise, team_id="T5")).bot_token == "xoxb-T5"
        event = {"type": "message", "channel": "C5", "user": "U5", "text": f"<{site}/article.html>", "ts": "1700000005.000100",
                 "channel_type": "channel"}  # fmt: skip
        await post_event(slack, event, event_id="EvGrid", team_id="T5", enterprise_id="E1")
        [post] = await standin.wait_for("chat.postMessage")
        assert post.token == "xoxb-T5"

        await install(slack, "code-E2-org")  # org-wide: one installation for every workspace of E2
        assert (await installations.async_find_bot(enterprise_id="E2", team_id="T8", is_enterprise_install=True)).bot_token == "xoxb-E2"
        assert (await installations.async_find_bot(enterprise_id=None, team_id="T8")).bot_token == "xoxb-E2"  # learned
        uninstalled = {"type": "app_uninstalled"}
        assert (await post_event(slack, uninstalled, event_id="EvOrgGone", team_id="T8", enterprise_id="E2", is_enterprise_install=True)).status == 200
        assert await installations.async_find_bot(enterprise_id=None, team_id="T8") is None
        assert await installations.async_find_bot(enterprise_id="E2", team_id=None, is_enterprise_install=True) is None
        assert (await installations.async_find_bot(enterprise_id=None, team_id="T5")).bot_token == "xoxb-T5"


# -- Slack Connect: a channel shared between organisations ----------------------------------


async def test_a_shared_channel_is_one_chat_per_organisation(standin, sqlite_store):
    async with running_slack(standin, sqlite_store) as slack:
        standin.add_user("UADMINA", team_id="TA", admin=True)
        standin.add_user("UADMINB", team_id="TB", admin=True)
        standin.add_channel("CSHARED", creator="UADMINA")
        answers = 0

        async def slash(command, text, team, user):
            nonlocal answers
            answers += 1
            assert (await post_slash(slack, command, text, team_id=team, user_id=user, channel_id="CSHARED", name=f"r{answers}")).status == 200
            return (await standin.wait_for("response_url", count=answers))[-1].params["text"]

        assert "09:00" in await slash("/subscribe", "09:00", "TA", "UADMINA")
        # Org B's admin acts on org B's chat of the channel: org A's subscription stays.
        assert "Only chat admins" in await slash("/unsubscribe", "", "TA", "UADMINB")  # not an admin of org A
        await slash("/unsubscribe", "", "TB", "UADMINB")
        await slash("/forget", "confirm", "TB", "UADMINB")
        a, b = slack_chat("TA", "CSHARED"), slack_chat("TB", "CSHARED")
        assert await sqlite_store.hget(keys.digest_subscription(a.key), "chat") is not None
        assert await sqlite_store.zscore(keys.DIGEST_DUE, a.key) is not None
        assert await sqlite_store.hget(keys.digest_subscription(b.key), "chat") is None


# -- the /forget button ---------------------------------------------------------------------


async def test_forget_button_erases_for_an_admin_and_a_forged_press_changes_nothing(standin, sqlite_store):
    async with running_slack(standin, sqlite_store) as slack:
        standin.add_user("UADMIN", team_id="T1", admin=True)
        standin.add_user("UMEMBER", team_id="T1")
        standin.add_channel("C1", creator="UADMIN")
        chat = slack_chat("T1", "C1", kind="group")
        assert (await post_slash(slack, "/subscribe", "08:00", team_id="T1", user_id="UADMIN", channel_id="C1", name="sub")).status == 200
        await standin.wait_for("response_url")
        # /forget (a Slack command named like the bot's command) offers the button
        assert "forget" in slack.service.bot.commands and "privacy" in slack.service.bot.commands
        await post_slash(slack, "/forget", "", team_id="T1", user_id="UADMIN", channel_id="C1", name="ask")
        [_, asked] = await standin.wait_for("response_url", count=2)
        [actions] = [block for block in asked.params["blocks"] if block["type"] == "actions"]
        [button] = actions["elements"]
        assert (button["type"], button["action_id"], button["value"]) == ("button", "summary_bot_command", "/forget confirm")

        subscribed = lambda: sqlite_store.hget(keys.digest_subscription(chat.key), "chat")  # noqa: E731
        for forged in ("/subscribe 09:00", "/forget confirm " + "x" * 80, "/forget  confirm", "/unsubscribe"):
            assert (await press(slack, team_id="T1", user_id="UADMIN", channel_id="C1", value=forged, name="forged")).status == 200
        expired = await standin.wait_for("response_url", count=6)
        assert all(call.params["text"] == "That button has expired." and call.params["response_type"] == "ephemeral"
                   for call in expired[2:])  # fmt: skip
        assert await subscribed() is not None

        assert (await press(slack, team_id="T1", user_id="UMEMBER", channel_id="C1", value="/forget confirm", name="m")).status == 200
        [refused] = await standin.wait_for("chat.postMessage")
        assert "Only chat admins" in refused.params["text"] and refused.params["channel"] == "C1"
        assert await subscribed() is not None

        assert (await press(slack, team_id="T1", user_id="UADMIN", channel_id="C1", value="/forget confirm", name="a")).status == 200
        [_, done] = await standin.wait_for("chat.postMessage", count=2)
        await slack.finish()
        assert done.params["channel"] == "C1" and done.params["thread_ts"] == "1700000000.000900"
        assert "erased" in done.params["text"]
        assert await subscribed() is None and await sqlite_store.keys_of(chat.key) == []


def test_slack_commands_named_privacy_and_forget_run_those_commands(tmp_path):
    bot = make_summary_bot(Settings(sqlite_path=tmp_path / "s.sqlite3"), None)
    for name, text, expected in (("/privacy", "", "/privacy"), ("/forget", "confirm", "/forget confirm"),
                                 ("/summary", "privacy", "/summary privacy")):  # fmt: skip
        payload = {"command": name, "text": text, "channel_id": "C1", "team_id": "T1", "user_id": "U1"}
        message = incoming_from_command(payload, bot.commands)
        assert message.text == expected and message.chat.key == "slack:T1:C1"


# -- chats stored before their key named the team --------------------------------------------


async def test_legacy_chat_keys_are_moved_to_keys_that_name_the_team(standin, store, site):
    legacy = ChatRef("slack", "CLEGACY", scope_id="T1", kind="group")  # how a chat was keyed before
    settings_only = ChatRef("slack", "CQUIET", scope_id="T1", kind="group")
    before = make_summary_bot(Settings(slack_bot_token=BOT_TOKEN), store)
    allow_all(before)
    for chat, text in ((legacy, "/subscribe 08:00 Europe/Berlin"), (legacy, "/autosummary on"), (settings_only, "/autosummary on")):
        (reply,) = await before.handle(Incoming(chat=chat, text=text, user_id="UADMIN", addressed_to_bot=True))
        assert reply.error is None, reply.error
    await before.close()
    assert await store.hget("digest:subscription:slack:CLEGACY", "chat") is not None

    async with running_slack(standin, store) as slack:  # start moves subscribed chats
        new = slack_chat("T1", "CLEGACY", kind="group")
        assert await store.hget("digest:subscription:slack:CLEGACY", "chat") is None
        assert json.loads(await store.hget(keys.digest_subscription(new.key), "chat"))["chat_id"] == "T1:CLEGACY"
        assert await store.zscore(keys.DIGEST_DUE, new.key) is not None and await store.zscore(keys.DIGEST_DUE, "slack:CLEGACY") is None
        assert await store.hget(keys.chat_settings(new.key), "autosummary") == b"on"
        # the others when they next speak: autosummary still on there
        event = {"type": "message", "channel": "CQUIET", "user": "U1", "text": f"<{site}/article.html>",
                 "ts": "1700000007.000100", "channel_type": "channel"}  # fmt: skip
        await post_event(slack, event, event_id="EvQuiet", team_id="T1")
        await standin.wait_for("chat.postMessage")
        assert await store.hget(keys.chat_settings("slack:T1:CQUIET"), "autosummary") == b"on"
        assert await store.hget(keys.chat_settings("slack:CQUIET"), "autosummary") is None


# -- summary-bot run, as a separate process -----------------------------------------------


async def test_summary_bot_run_privacy_forget_and_uninstall_leave_nothing_of_the_workspace(standin, site, tmp_path):
    """Token mode, `summary-bot run` as its own process: channel CZQSHARED1 of workspace
    TZQGONE1 is also shared with workspace TZQKEPT2 (Slack Connect: one chat per org), and
    TZQGONE1 has a second channel. /summary privacy, /summary forget, /summary forget confirm
    in TZQGONE1's CZQSHARED1, then app_uninstalled for TZQGONE1: after shutdown the database
    files (WAL included) hold nothing of TZQGONE1, of its channel CZQONLY1 or of the feeds only
    its chats followed; TZQKEPT2's chat of the shared channel is intact."""
    import asyncio

    import aiohttp

    from local_site import serve_site
    from run_support import free_port, health_answers, slack_run_environment, summary_bot_run
    from test_privacy import feed

    gone, kept = "TZQGONE1", "TZQKEPT2"
    shared, only = "CZQSHARED1", "CZQONLY1"
    chats = [(gone, shared, "zqgonefeedone"), (gone, only, "zqgonefeedtwo"), (kept, shared, "zqkeptfeed")]
    admins = {gone: "UZQADMIN1", kept: "UZQADMIN2"}
    standin.add_user(admins[gone], team_id=gone, admin=True)
    standin.add_user(admins[kept], team_id=kept, admin=True)
    standin.add_channel(shared, creator=admins[gone])
    standin.add_channel(only, creator=admins[gone])
    feeds = {f"/{name}/feed.xml": (200, {"Content-Type": "application/rss+xml"}, feed(name)) for _, _, name in chats}

    port = free_port()
    env = slack_run_environment(standin, tmp_path, port, bot_token=BOT_TOKEN, signing_secret=SECRET)
    base = f"http://127.0.0.1:{port}"

    def scan() -> bytes:
        return b"".join(path.read_bytes() for path in sorted(tmp_path.glob("run.sqlite3*")))

    log_path = tmp_path / "run.log"
    replies = 0

    async def signed_post(http, body: str, content_type: str = "application/json") -> None:
        async with http.post(f"{base}/slack/events", data=body, headers=signed_headers(body, content_type=content_type)) as response:
            assert response.status == 200, await response.text()

    async def slash(http, command: str, text: str, team: str, channel: str, user: str) -> dict:
        """A slash command as Slack POSTs it; what the bot answered at its response_url."""
        nonlocal replies
        replies += 1
        body = urlencode({
            "token": "unused", "team_id": team, "team_domain": team.lower(), "channel_id": channel, "channel_name": "general",
            "user_id": user, "user_name": user.lower(), "command": command, "text": text,
            "api_app_id": "A1", "is_enterprise_install": "false",
            "response_url": standin.response_url(f"r{replies}"), "trigger_id": trigger_id(),
        })  # fmt: skip
        await signed_post(http, body, "application/x-www-form-urlencoded")
        answer = (await standin.wait_for("response_url", count=replies, timeout=60))[-1]
        assert answer.path == f"/response/r{replies}", answer
        return answer.params

    def around(data: bytes, marker: str) -> bytes:
        at = data.find(marker.encode())
        return data[max(0, at - 60) : at + 120]

    async def until(condition, what: str) -> None:
        for _ in range(600):
            if condition():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"not within 60 s: {what}; the files hold {around(scan(), gone)!r}")

    async with summary_bot_run(env, log_path) as process, serve_site(feeds) as feed_site, aiohttp.ClientSession() as http:
        async for health in health_answers(process, port, log_path):
            if health is not None and health[0] == 200:
                break
        else:
            raise AssertionError("summary-bot run did not come up")

        for number, (team, channel, feed_name) in enumerate(chats, start=1):
            answer = await slash(http, "/subscribe", "08:00 Europe/Berlin", team, channel, admins[team])
            assert "08:00" in answer["text"], answer
            answer = await slash(http, "/feeds", f"add {feed_site.url(f'/{feed_name}/feed.xml')}", team, channel, admins[team])
            assert "Only chat admins" not in answer["text"], answer
            event = {"type": "message", "channel": channel, "user": "UZQSHARER", "text": f"<{site}/article.html>",
                     "ts": f"170000010{number}.000100", "channel_type": "channel", "team": team}  # fmt: skip
            await signed_post(http, event_callback(event, event_id=f"EvRunShare{number}", team_id=team))
            [*_, post] = await standin.wait_for("chat.postMessage", count=number, timeout=120)
            assert post.params["channel"] == channel and post.params["thread_ts"] == event["ts"]
        before = scan()
        for marker in (gone, kept, shared, only, "zqgonefeedone", "zqgonefeedtwo", "zqkeptfeed"):
            assert marker.encode() in before, marker

        notice = await slash(http, "/summary", "privacy", gone, shared, "UZQMEMBER")
        assert notice["text"].startswith("What I store about this chat"), notice
        assert "1 share of 1 article" in notice["text"] and "A daily digest subscription and 1 feed" in notice["text"], notice["text"]
        offer = await slash(http, "/summary", "forget", gone, shared, admins[gone])
        assert "1 shared link (1 article), 1 feed, the daily digest subscription" in offer["text"], offer
        [actions] = [block for block in offer["blocks"] if block["type"] == "actions"]
        assert [(b["type"], b["value"]) for b in actions["elements"]] == [("button", "/forget confirm")]
        confirmed = await slash(http, "/summary", "forget confirm", gone, shared, admins[gone])
        assert confirmed["text"].startswith("Done: I erased everything"), confirmed
        after_forget = scan()
        assert f"{gone}:{shared}".encode() not in after_forget and b"zqgonefeedone" not in after_forget
        assert f"{gone}:{only}".encode() in after_forget and f"{kept}:{shared}".encode() in after_forget

        await signed_post(http, event_callback({"type": "app_uninstalled"}, event_id="EvRunUninstall", team_id=gone))
        await until(lambda: gone.encode() not in scan(), "the uninstalled workspace erased from the database files")
    returncode = process.returncode
    output = log_path.read_text()
    assert returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    everything = scan()
    for erased in (gone, only, "zqgonefeedone", "zqgonefeedtwo"):
        assert erased.encode() not in everything, (erased, around(everything, erased))
    for intact in (kept, shared, f"{kept}:{shared}", "zqkeptfeed"):
        assert intact.encode() in everything, intact
    assert admins[gone].encode() not in everything
