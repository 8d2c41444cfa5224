"""Each platform call made once, keyed by what it sends, even when the work runs again.

A queued job whose worker dies is run again by another; a digest whose part failed is
retried. `Delivery` records each call the platform accepted under its target and a hash of
its content, on both store backends, and the adapters send through it: the Telegram
adapter against the stand-in Bot API, the Slack adapter against the stand-in Web API.
"""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from telegram.error import NetworkError

from adapters.telegram import TelegramService
from adapters.telegram.settings import TelegramSettings
from benchmarks.standins.slack_api import SlackStandIn
from benchmarks.standins.telegram_api import BotApiStandIn
from bot.config import Settings
from bot.delivery import Delivery, PermanentSendError, call_hash
from bot.models import ChatRef, DailyDigest, DigestEntry, Reply
from bot.store.sqlite_store import SQLiteStore
from model_support import make_summary_bot
from slack_support import running_slack


class Platform:
    """Records what it accepted; `refuse` names contents it fails on (a worker killed there)."""

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.refuse = set(refuse)
        self.accepted: list[tuple[str, str]] = []

    def send(self, target: str, text: str):
        async def call() -> str:
            if text in self.refuse:
                raise ConnectionError(f"killed while sending {text!r}")
            self.accepted.append((target, text))
            return text

        return call

    async def run_job(self, store, job_id: str, replies: list[tuple[str, str]]) -> Delivery:
        """A job's replies sent in order, as an adapter sends them."""
        delivery = Delivery(store, job_id)
        for target, text in replies:
            await delivery.once(target, text, self.send(target, text))
        return delivery


# -- the mechanism, on both backends --------------------------------------------------------
async def test_a_rerun_after_a_kill_skips_the_first_of_two_sends_and_makes_the_second(store):
    """Fails before the fix: `once` took no target or content (a TypeError); it numbered
    calls by position instead."""
    killed = Platform(refuse=("second",))
    replies = [("chat-1", "first"), ("chat-1", "second")]
    with pytest.raises(ConnectionError):
        await killed.run_job(store, "job-1", replies)

    rerun = Platform()
    delivery = await rerun.run_job(store, "job-1", replies)
    assert killed.accepted + rerun.accepted == [("chat-1", "first"), ("chat-1", "second")]
    assert (delivery.skipped, delivery.sent) == (1, 1)


async def test_a_rerun_whose_replies_differ_sends_the_changed_one_instead_of_skipping_it(store):
    """The re-run composed its first reply differently (a page that changed, a cache that
    expired). Fails before the fix: the record said "call 0 was made", so the new first
    reply was skipped, never to be sent."""
    killed = Platform(refuse=("second",))
    with pytest.raises(ConnectionError):
        await killed.run_job(store, "job-2", [("chat-1", "first"), ("chat-1", "second")])

    rerun = Platform()
    delivery = await rerun.run_job(store, "job-2", [("chat-1", "first, revised"), ("chat-1", "second")])
    assert rerun.accepted == [("chat-1", "first, revised"), ("chat-1", "second")]
    assert (delivery.skipped, delivery.sent) == (0, 2)


async def test_the_same_content_to_another_target_or_twice_in_one_job_is_sent_each_time(store):
    killed = Platform(refuse=())
    replies = [("chat-1", "Done."), ("chat-1", "Done."), ("chat-2", "Done.")]
    first = await killed.run_job(store, "job-3", replies)
    assert (first.sent, len(killed.accepted)) == (3, 3)
    again = Platform()
    rerun = await again.run_job(store, "job-3", replies)  # the whole job ran already
    assert (rerun.skipped, again.accepted) == (3, [])
    other_job = Platform()
    await other_job.run_job(store, "job-4", replies)  # records are per job
    assert len(other_job.accepted) == 3


def test_a_call_is_named_by_its_target_and_content_only():
    assert call_hash("chat-1", ["text", None]) == call_hash("chat-1", ["text", None])
    assert call_hash("chat-1", "text") != call_hash("chat-2", "text")
    assert call_hash("chat-1", {"b": 1, "a": 2}) == call_hash("chat-1", {"a": 2, "b": 1})
    assert len(call_hash("c", "x" * 1_000_000)) == 32  # a fixed-size key, whatever the content


async def test_without_a_store_or_job_every_call_is_made(store):
    platform = Platform()
    for delivery in (Delivery(), Delivery(store, None)):
        await delivery.once("c", "x", platform.send("c", "x"))
        await delivery.once("c", "x", platform.send("c", "x"))
    assert len(platform.accepted) == 4


# -- through the Telegram adapter ----------------------------------------------------------
@pytest.fixture
async def telegram(tmp_path):
    """A TelegramService set up as a worker sets it up (to send, not to receive), talking
    to the stand-in Bot API, with a SQLite store."""
    async with BotApiStandIn() as api:
        options = dict(telegram_token=api.token, telegram_api_url=api.base_url, sqlite_path=tmp_path / "s.sqlite3")
        store = await SQLiteStore.open(tmp_path / "s.sqlite3")
        bot = make_summary_bot(Settings(**options), store)
        service = TelegramService(TelegramSettings(**options), bot)
        await service.start_sending()
        try:
            yield service, api, store
        finally:
            await service.stop()
            await bot.close()
            await store.close()


GROUP = ChatRef(platform="telegram", chat_id="-1007", kind="group")


async def test_a_telegram_job_killed_after_its_first_reply_sends_the_rest_and_what_changed(telegram):
    """Fails before the fix: the re-run's changed first reply was skipped as "call 0"."""
    service, api, store = telegram
    killed = Delivery(store, "job-t")
    await service.send_reply(GROUP, Reply(text="first"), killed)
    api.fail_next("sendMessage", status=500, description="Internal Server Error")
    with pytest.raises(NetworkError):
        await service.send_reply(GROUP, Reply(text="second"), killed)  # the worker dies here

    rerun = Delivery(store, "job-t")
    for text in ("first, revised", "second"):
        await service.send_reply(GROUP, Reply(text=text), rerun)
    sent = [call.params["text"] for call in api.calls_to("sendMessage")]
    assert sent == ["first", "second", "first, revised", "second"]  # the 2nd "second" was refused
    assert len(api.sent_messages) == 3


async def test_a_telegram_digest_part_refused_as_a_bad_request_is_a_permanent_failure(telegram):
    """Fails before the fix: `send` let telegram's BadRequest out, which the core cannot
    tell from a failure worth retrying."""
    service, api, store = telegram
    api.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    with pytest.raises(PermanentSendError, match="(?i)message is too long"):
        await service.send(GROUP, [Reply(text="hello")], Delivery())
    api.fail_next("sendMessage", status=500, description="Internal Server Error")
    with pytest.raises(NetworkError) as raised:  # may pass later: retried
        await service.send(GROUP, [Reply(text="hello")], Delivery())
    assert not isinstance(raised.value, PermanentSendError)


async def test_a_telegram_digest_retried_after_its_second_part_failed_sends_only_the_rest(telegram):
    """The adapter's half of the scheduler's part records: parts go through the Delivery
    the scheduler passes. Fails before the fix: `send` took no Delivery."""
    service, api, store = telegram
    entries = [DigestEntry(f"Story {i}", f"https://a.example/{i}", "One sentence. " * 15, "Site") for i in range(40)]
    digest = [Reply(daily=DailyDigest("Your daily digest", entries))]

    class FailSecond(Delivery):
        async def once(self, target, content, send):
            if self.sent == 1:
                api.fail_next("sendMessage", status=500, description="Internal Server Error")
            return await super().once(target, content, send)

    with pytest.raises(NetworkError):
        await service.send(GROUP, digest, FailSecond(store, "digest-day"))
    await service.send(GROUP, digest, Delivery(store, "digest-day"))
    texts = [message["text"] for message in api.sent_messages]
    assert len(texts) == 3 and len(set(texts)) == 3  # three parts, each once
    assert len(api.calls_to("sendMessage")) == 4  # one refused, retried once


# -- through the Slack adapter ---------------------------------------------------------------
class RefusingSlack(SlackStandIn):
    """The stand-in Web API, answering chat.postMessage with the errors queued in `refusals`
    (None: accept that one)."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals: list[str | None] = []

    def _answer(self, method: str, params: dict, token: str | None) -> dict:
        if method == "chat.postMessage" and self.refusals:
            error = self.refusals.pop(0)
            if error is not None:
                return {"ok": False, "error": error}
        return super()._answer(method, params, token)


async def test_slack_digest_parts_are_sent_once_and_a_refusal_for_good_is_permanent(tmp_path):
    """Fails before the fix: `send` took no Delivery, and let SlackApiError out for every
    refusal (the core retried a `msg_too_long` every minute)."""
    entries = [DigestEntry(f"Story {i}", f"https://news.example/{i}", "Things happened. " * 20, "News") for i in range(70)]
    digest = [Reply(daily=DailyDigest("Your daily digest", entries, "Friday 3 March"))]
    chat = ChatRef(platform="slack", chat_id="C9", scope_id="T1", kind="group")
    store = await SQLiteStore.open(tmp_path / "slack.sqlite3")
    try:
        async with RefusingSlack() as standin, running_slack(standin, store) as slack:
            standin.refusals = [None, "internal_error"]  # part 2 fails; Slack may take it later
            with pytest.raises(SlackApiError) as raised:
                await slack.service.send(chat, digest, Delivery(store, "digest-day"))
            assert not isinstance(raised.value, PermanentSendError)
            await slack.service.send(chat, digest, Delivery(store, "digest-day"))
            posts = [call.params["blocks"] for call in standin.calls_to("chat.postMessage")]
            assert len(posts) == 3 and posts[1] == posts[2] != posts[0]  # part 1 once, part 2 retried

            standin.refusals = ["msg_too_long"]
            with pytest.raises(PermanentSendError, match="msg_too_long"):
                await slack.service.send(chat, [Reply(text="hello")], Delivery())
    finally:
        await store.close()
