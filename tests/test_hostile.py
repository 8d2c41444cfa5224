"""Hostile pages and requests: none may stall other users, flood a chat, crash a handler or
keep the process from stopping. Outcomes only, no timings: "the other user's reply
arrived", "the process exited after SIGTERM", "at most one message was sent"."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest

from benchmarks.standins.slack_api import SlackStandIn, event_callback
from benchmarks.standins.telegram_api import BotApiStandIn
from bot.config import Settings
from model_support import make_summary_bot
from slack_support import running_slack, signed_headers
from tests.local_site import raw_post, serve_site

ROOT = Path(__file__).resolve().parents[1]

ORDINARY = (
    "<html><head><title>Ferry timetable changes</title></head><body><article><h1>Ferry timetable changes</h1>"
    + "".join(
        f"<p>From June the ferry to island {n} will leave {n + 1} times a day, the harbour office said, "
        f"after complaints that the old timetable left commuters waiting for {n + 20} minutes.</p>"
        for n in range(10)
    )
    + "</article></body></html>"
)


def hostile_pages() -> dict[str, str]:
    """Pages that once stalled or flooded the bot: a text that made the sentence splitter
    quadratic, two that kept trafilatura busy for minutes, and one huge unbroken word."""
    return {
        "/abbreviations": "<html><body><article><p>" + "Mr. " * 150_000 + "</p></article></body></html>",
        "/unclosed": "<html><body>" + "<p>x " * 250_000 + "</body></html>",
        "/attributes": "<html><body><div " + " ".join(f'a{n}="{n}"' for n in range(100_000)) + ">text</div></body></html>",
        "/one-word": "<html><body><article><p>" + "A" * 1_000_000 + "</p></article></body></html>",
    }


async def test_hostile_pages_in_flight_do_not_stop_others_and_sigterm_still_ends_the_process(tmp_path):
    routes = {path: (200, {"Content-Type": "text/html"}, body) for path, body in hostile_pages().items()}
    routes["/ordinary"] = (200, {"Content-Type": "text/html"}, ORDINARY)
    async with serve_site(routes) as site, BotApiStandIn() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUMMARY_BOT_")}
        env.update(
            SUMMARY_BOT_TELEGRAM_TOKEN=api.token, SUMMARY_BOT_TELEGRAM_API_URL=api.base_url,
            SUMMARY_BOT_FETCH_ALLOW_PRIVATE="127.0.0.0/8", SUMMARY_BOT_SQLITE_PATH=str(tmp_path / "s.sqlite3"),
            SUMMARY_BOT_HTTP_PORT="0", SUMMARY_BOT_EXTRACT_TIMEOUT="3",
        )  # fmt: skip
        log_path = tmp_path / "run.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            hostile = list(hostile_pages())
            for n, path in enumerate(hostile):
                api.queue_message(site.url(path), chat_id=3000 + n)
            await asyncio.sleep(1)  # the hostile pages go first
            api.queue_message(site.url("/ordinary"), chat_id=3100)
            api.queue_message("/help", chat_id=3101)

            def replied_to(chat_id: int) -> list[str]:
                return [c.params["text"] for c in api.calls_to("sendMessage") if c.params["chat_id"] == chat_id]

            deadline = asyncio.get_running_loop().time() + 120
            while not (replied_to(3100) and replied_to(3101)):
                assert process.poll() is None, log_path.read_text()[-4000:]
                assert asyncio.get_running_loop().time() < deadline, log_path.read_text()[-4000:]
                await asyncio.sleep(0.2)
            assert "Ferry timetable changes" in replied_to(3100)[0]
            assert "/summary" in replied_to(3101)[0]
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.to_thread(process.wait, 10)  # within 10 s, or TimeoutExpired
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert returncode == 0, log_path.read_text()[-4000:]
        per_chat = Counter(call.params["chat_id"] for call in api.calls_to("sendMessage"))
        assert all(per_chat[3000 + n] <= 1 for n in range(len(hostile)))  # no flood, whatever the page


async def test_a_page_that_keeps_extraction_busy_is_stopped_and_the_next_page_is_read(store, tmp_path):
    settings = Settings(
        sqlite_path=tmp_path / "s.sqlite3", fetch_allow_private=["127.0.0.0/8"], user_rate_limit=0,
        extract_timeout=2, extract_workers=1,
    )  # fmt: skip
    pages = {"/unclosed": hostile_pages()["/unclosed"], "/ordinary": ORDINARY}
    routes = {path: (200, {"Content-Type": "text/html"}, body) for path, body in pages.items()}
    bot = make_summary_bot(settings, store)
    try:
        async with serve_site(routes) as site:
            stuck, ordinary = await asyncio.gather(
                bot.pipeline.digest_link(site.url("/unclosed")), bot.pipeline.digest_link(site.url("/ordinary")),
                return_exceptions=True,
            )
    finally:
        await bot.close()
    assert "took too long" in str(stuck)
    assert bot.pipeline.extractor.pages_killed == 1  # its process was stopped, not left running
    assert not isinstance(ordinary, Exception) and ordinary.title == "Ferry timetable changes"



def _forkserver_children() -> set[int]:
    """Extraction processes: children of multiprocessing's fork server, a child of this process."""
    from benchmarks.deployment import process_tree

    def parent(folder: Path) -> int:
        return int((folder / "stat").read_text().rsplit(")", 1)[1].split()[1])

    servers = [f for f in process_tree(os.getpid()) if b"forkserver" in (f / "cmdline").read_bytes()]
    return {int(f.name) for f in process_tree(os.getpid()) if any(parent(f) == int(s.name) for s in servers)}


async def test_an_extraction_process_that_dies_while_idle_does_not_break_extraction():
    # pebble gives up on a pool whose process dies while not known to be on a page (the OOM
    # killer picking an idle one); every later page then failed until the bot was restarted.
    from bot.extract import Extractor

    extractor = Extractor(workers=2, timeout=20, min_chars=200)
    try:
        before = _forkserver_children()
        assert (await extractor.extract(ORDINARY, "https://example.org/first")).title == "Ferry timetable changes"
        ours = _forkserver_children() - before
        assert len(ours) == 2
        os.kill(min(ours), signal.SIGKILL)
        await asyncio.sleep(0.5)  # pebble notices the death
        pages = [extractor.extract(ORDINARY, f"https://example.org/{n}") for n in range(5)]
        articles = await asyncio.wait_for(asyncio.gather(*pages), 60)
        assert [a.title for a in articles] == ["Ferry timetable changes"] * 5
        assert extractor.pools_replaced == 1
    finally:
        extractor.close()


# -- Slack requests that are not what Slack sends --------------------------------------------

@pytest.fixture
async def slack(store):
    async with SlackStandIn() as standin, running_slack(standin, store, user_rate_limit=0) as running:
        yield running.http, running.service, standin


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-5"])
async def test_a_bad_slack_timestamp_is_401_not_a_crash(slack, timestamp):
    client, _, _ = slack
    body = event_callback({"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.2"}, event_id="Ev1")
    headers = signed_headers(body) | {"X-Slack-Request-Timestamp": timestamp}
    response = await client.post("/slack/events", data=body, headers=headers)
    assert response.status == 401


async def test_a_replayed_slash_command_is_answered_once_and_only_on_slack(slack):
    client, service, standin = slack

    async def command(response_url: str, trigger_id: str):
        body = urlencode({"team_id": "T1", "channel_id": "C1", "channel_name": "general", "user_id": "U1",
                          "command": "/summary", "text": "help", "response_url": response_url, "trigger_id": trigger_id})  # fmt: skip
        headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
        return (await client.post("/slack/events", data=body, headers=headers)).status

    async with serve_site({"/hook": (200, {}, "ok")}) as elsewhere:
        statuses = [await command(standin.response_url("once"), "7.7.7") for _ in range(3)]
        statuses.append(await command(elsewhere.url("/hook"), "8.8.8"))  # a response_url off Slack
        await service.stop()  # the answers in progress finish
        assert statuses == [200] * 4
        assert len(standin.calls_to("response_url")) == 1
        assert elsewhere.hits["/hook"] == 0


async def test_a_slack_body_that_never_finishes_is_dropped(slack, monkeypatch):
    import adapters.request_body as request_body

    client, _, _ = slack
    monkeypatch.setattr(request_body, "BODY_READ_SECONDS", 0.5)
    body = event_callback({"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.2"}, event_id="Ev9")
    headers = "".join(f"{name}: {value}\r\n" for name, value in signed_headers(body).items()).encode()
    assert await raw_post(client.port, "/slack/events", headers, body.encode()[:20], length=len(body)) == 408


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"type": "event_callback", "event_id": "Ev2", "event": {"type": "message", "user": "U1", "text": "x", "ts": "1.1"}}',
        '{"type": "event_callback", "event_id": "Ev3", "event": "a string"}',
        '{"type": "event_callback", "event_id": "Ev4", "event": {"type": "link_shared", "channel": "C1", "links": "x"}}',
    ],
    ids=["non-json", "array", "no-channel", "event-not-object", "links-not-list"],
)
async def test_a_signed_but_malformed_slack_body_is_400(slack, body):
    client, _, standin = slack
    response = await client.post("/slack/events", data=body, headers=signed_headers(body))
    assert response.status == 400
    assert not standin.calls_to("chat.postMessage")


async def test_a_slack_event_whose_answer_failed_is_answered_on_slacks_retry(slack, store, monkeypatch):
    """The claim on an event is a lease: an answer that never got out (here Slack refuses
    every try; a process that dies mid-reply is the same) does not swallow Slack's retry."""
    import adapters.slack.service as slack_service

    client, service, standin = slack
    monkeypatch.setattr(slack_service, "EVENT_CLAIM_LEASE", 1)
    for _ in range(slack_service.RATE_LIMIT_RETRIES + 1):
        standin.rate_limit_next("chat.postMessage", retry_after=0)
    body = event_callback(
        {"type": "message", "channel": "C9", "channel_type": "channel", "user": "U1", "text": "/help", "ts": "1.5"},
        event_id="EvLost",
    )
    assert (await client.post("/slack/events", data=body, headers=signed_headers(body))).status == 200
    await service.stop()  # the answer has failed by now
    assert not standin.calls_to("chat.postMessage")
    assert await store.get("slack:event:EvLost") != b"done"  # pending until its lease runs out
    await asyncio.sleep(1.5)
    retry = signed_headers(body) | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await client.post("/slack/events", data=body, headers=retry)).status == 200
    await service.stop()
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert await store.get("slack:event:EvLost") == b"done"
    # Once answered, a further delivery is not answered again.
    assert (await client.post("/slack/events", data=body, headers=retry)).status == 200
    await service.stop()
    assert len(standin.calls_to("chat.postMessage")) == 1


async def test_a_telegram_update_without_a_chat_is_dropped_quietly(store, tmp_path):
    from adapters.delivery import untracked
    from adapters.telegram import TelegramService
    from adapters.telegram.settings import TelegramSettings

    async with BotApiStandIn() as api:
        bot = make_summary_bot(Settings(sqlite_path=tmp_path / "s.sqlite3"), store)
        service = TelegramService(TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url), bot)
        await service.start_sending()
        try:
            for update in (
                {"update_id": 9, "message": {"message_id": 1, "date": 0, "text": "https://example.org/a"}},
                {"update_id": 10, "channel_post": {"message_id": 2, "date": 0, "text": "/help"}},
            ):
                await service.answer_job({"update": update}, untracked())  # must not raise
        finally:
            await service.stop()
            await bot.close()
    assert not api.calls_to("sendMessage")
