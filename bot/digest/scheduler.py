"""Sending each chat's daily digest exactly once, from any number of bot processes.

Every process runs a scheduler; the store decides who sends. For one (chat, local date):
  1. a process claims it: `set_if_absent(claim key, token, ttl=lease)`; others back off;
  2. it composes the digest (once per date: kept in the store, so that every try sends the
     same parts) and hands it to the platform's `Sender` with a `Delivery`, through which
     the sender records each part (message) as the platform accepts it;
  3. only once the sender returned does it write the "sent" marker (a separate key), then
     releases the claim and schedules the chat's next date.
A sender that raises releases the claim and the chat is retried shortly; the retry sends only
the parts not yet recorded. A `PermanentSendError` (the platform refused a part for a reason
that retrying cannot fix) ends that date's attempt: logged, and the chat scheduled for its
next date, still subscribed. Two refusals say more: `ChatGone` (the bot was blocked, kicked
or removed) stops the chat's digest at once, never retried, and hands the chat to
`on_chat_gone` (the privacy service's erasure) once nothing more will be written under it;
`ChatMoved` (a Telegram group become a supergroup) hands old and new chat to `on_chat_moved`
(which moves subscription, due time, the composed digest and its parts) and the new chat is
sent the digest on the next tick. A process that dies (or is cancelled) holding a claim leaves it
to expire, and then another process sends. A claimant re-reads the "sent" marker after
claiming, so a digest finished in between is not sent again.

Each tick reads only the chats that are due (`digest:due`, by time), so its cost does not
grow with the number of subscriptions. The due set is shared by all platforms: a process
passes over the chats of platforms it does not serve (a chat key starts with its platform)
and reads further, so they never crowd its own chats out of a batch, and it ticks again at
once only when a full batch moved on (was sent, skipped or rescheduled), never for chats it
can only leave to others. A digest missed during downtime is sent late if
still within `digest_grace_hours` of its time, else skipped and logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Awaitable, Callable

from bot.delivery import ChatGone, ChatMoved, Delivery, PermanentSendError
from bot.digest.compose import PendingDigest
from bot.digest.localtime import Clock, latest_occurrence
from bot.digest.service import DigestService
from bot.models import ChatRef, Reply, Sender
from bot.store import keys

log = logging.getLogger(__name__)

SENT_MARKER_TTL = 4 * 86_400.0  # longer than a local date stays the latest occurrence
PART_TTL = 2 * 86_400.0  # a date's parts and composed digest: retries end with its grace period
RETRY_AFTER = timedelta(seconds=60)
EARLIER_DATE = timedelta(hours=12)  # due dates are ~a day apart (23 to 25 h across DST)


@dataclass
class TickReport:
    due: int = 0  # chats read from the due set
    sent: int = 0
    empty: int = 0  # nothing new that day: nothing sent (digest_send_empty off)
    skipped: int = 0  # missed by more than the grace period
    failed: int = 0  # the sender (or composing) failed; retried later
    gave_up: int = 0  # the platform refused a part for good: nothing more that date
    gone: int = 0  # of those, chats gone for the bot (blocked, removed): digest stopped, erased
    busy: int = 0  # another process holds the claim
    elsewhere: int = 0  # due chats of platforms this process does not serve, left to others
    moved: int = 0  # chats rescheduled or dropped: no longer due now


class DigestScheduler:
    def __init__(
        self,
        digests: DigestService,
        senders: dict[str, Sender],
        *,
        clock: Clock | None = None,
        lease_seconds: float = 300.0,
        poll_seconds: float = 30.0,
        batch_size: int = 500,
        concurrency: int = 8,
        metrics=None,
        on_chat_gone: Callable[[ChatRef], Awaitable[object]] | None = None,
        on_chat_moved: Callable[[ChatRef, ChatRef], Awaitable[object]] | None = None,
        fenced: Callable[[ChatRef], AbstractAsyncContextManager] | None = None,
    ):
        self.digests = digests
        self.metrics = metrics  # bot.metrics.Metrics, if the program keeps them
        self.on_chat_gone = on_chat_gone  # e.g. Privacy.erase_chat; without it only the digest stops
        self.on_chat_moved = on_chat_moved  # e.g. Privacy.move_chat; without it a move is a refusal
        # e.g. Privacy.fenced: a chat erased while its digest goes out keeps none of what the send wrote
        self.fenced = fenced or (lambda chat: nullcontext())
        self.store = digests.store
        self.senders = senders
        self.clock = clock or digests.clock
        self.lease_seconds = lease_seconds
        # A send must end well inside the lease, or a second process could claim and send.
        self.send_timeout = lease_seconds / 2
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._concurrency = asyncio.Semaphore(concurrency)
        self.grace = timedelta(hours=digests.settings.digest_grace_hours)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `poll_seconds` (at once again while a tick moves a full batch on) until
        `stop` is set."""
        log.info("digest scheduler started")
        while not stop.is_set():
            try:
                report = await self.tick()
            except Exception:  # e.g. the store briefly unreachable: try again next time
                log.exception("digest scheduler tick failed")
                report = TickReport()
            if self.metrics is not None:
                for outcome in ("sent", "empty", "skipped", "failed", "gave_up"):
                    self.metrics.digests.labels(outcome).inc(getattr(report, outcome))
            if report.moved >= self.batch_size:  # maybe more are waiting; each retick makes progress
                continue
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except asyncio.TimeoutError:
                pass

    async def tick(self, now: datetime | None = None) -> TickReport:
        """One pass over the chats that are due at `now` (default: the clock)."""
        now = now or self.clock()
        report = TickReport()
        ours, theirs = await self._due_batch(now)
        report.due, report.elsewhere = len(ours), len(theirs)
        # Chats of other platforms are looked at only once overdue by more than the grace
        # period, to be skipped to their next date like ours (so none stays due for ever
        # when no process serves its platform); until then a process that serves it sends.
        overdue = (now - self.grace).timestamp()
        abandoned = [(chat_key, score) for chat_key, score in theirs if score < overdue][: self.batch_size]
        await asyncio.gather(*(self._look_at(chat_key, score, now, report) for chat_key, score in ours + abandoned))
        return report

    async def _due_batch(self, now: datetime) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """Up to `batch_size` due chats of the platforms served here, earliest first, and the
        due chats of other platforms read on the way to them."""
        limit = self.batch_size
        while True:
            due = await self.digests.subscriptions.due(now, limit)
            ours = [(chat_key, score) for chat_key, score in due if self._serves(chat_key)]
            if len(ours) >= self.batch_size or len(due) < limit:  # a full batch, or all that is due
                theirs = [(chat_key, score) for chat_key, score in due if not self._serves(chat_key)]
                return ours[: self.batch_size], theirs
            limit *= 2

    def _serves(self, chat_key: str) -> bool:
        platform, _, _ = chat_key.partition(":")  # ChatRef.key is "{platform}:{chat_id}"
        return platform in self.senders

    async def _look_at(self, chat_key: str, score: float, now: datetime, report: TickReport) -> None:
        async with self._concurrency:
            try:
                await self._handle(chat_key, score, now, report)
            except Exception:
                log.exception("digest for %s: scheduling failed; retrying in %s", chat_key, RETRY_AFTER)
                report.failed += 1
                # Out of the way of the chats due after it: left at the head of the due set,
                # a chat that fails every time would be read first by every tick for ever.
                try:
                    await self.digests.subscriptions.schedule(chat_key, now + RETRY_AFTER)
                except Exception:
                    log.exception("digest for %s: could not reschedule", chat_key)

    async def _handle(self, chat_key: str, score: float, now: datetime, report: TickReport) -> None:
        subscriptions = self.digests.subscriptions
        subscription = await subscriptions.get(chat_key)
        if subscription is None:  # unsubscribed since it was scheduled
            await subscriptions.drop_from_schedule(chat_key)
            report.moved += 1
            return
        day, due_at = latest_occurrence(now, subscription.at, subscription.zone)
        _, next_due = subscription.next_due(now)
        sender = self.senders.get(subscription.chat.platform)
        if sender is not None and score < (due_at - EARLIER_DATE).timestamp():  # due for an earlier date
            log.warning("digest for %s due at %s was missed while no scheduler ran; skipped",
                        chat_key, datetime.fromtimestamp(score, now.tzinfo).isoformat())  # fmt: skip
        sent_key = keys.digest_sent(chat_key, day)
        if due_at < subscription.since or await self.store.get(sent_key) is not None:
            await subscriptions.schedule(chat_key, next_due)
            report.moved += 1
            return
        if now - due_at > self.grace:
            log.warning("digest for %s of %s skipped: due at %s, now %s is past the %s grace",
                        chat_key, day, due_at.isoformat(), now.isoformat(), self.grace)  # fmt: skip
            report.skipped += 1
            await subscriptions.schedule(chat_key, next_due)
            report.moved += 1
            return
        if sender is None:
            return  # a process that runs that platform sends it (not within the grace period yet)
        claim_key = keys.digest_claim(chat_key, day)
        token = uuid.uuid4().hex.encode()
        if not await self.store.set_if_absent(claim_key, token, ttl=self.lease_seconds):
            report.busy += 1
            return
        async with self.fenced(subscription.chat):
            # Not in a `finally`: when cancelled (the process stopping) we cannot know whether the
            # platform took the digest, so the claim is left to expire instead of being released.
            gone: ChatRef | None = None
            moved: ChatMoved | None = None
            try:
                if await self.store.get(sent_key) is not None:  # sent while we were claiming
                    await subscriptions.schedule(chat_key, next_due)
                else:
                    sent = await self._send(subscription.chat, day, now, sender, sent_key)
                    report.sent += sent
                    report.empty += not sent
                    await subscriptions.schedule(chat_key, next_due)
                report.moved += 1
            except ChatGone as exc:  # no id in the line: the log outlives the erasure
                log.warning("a daily digest was refused for good (%s): the chat's digest stops and its data is erased", exc)
                report.gave_up += 1
                report.gone += 1
                report.moved += 1
                gone = subscription.chat
            except ChatMoved as exc:
                if self.on_chat_moved is None:
                    log.warning("digest for %s of %s not sent: %s; trying again on its next date", chat_key, day, exc)
                    report.gave_up += 1
                    await subscriptions.schedule(chat_key, next_due)
                else:
                    moved = exc
                report.moved += 1
            except PermanentSendError as exc:  # the same part would be refused every minute
                log.warning("digest for %s of %s not sent: %s; trying again on its next date", chat_key, day, exc)
                report.gave_up += 1
                await subscriptions.schedule(chat_key, next_due)
                report.moved += 1
            except Exception:
                log.exception("digest for %s of %s failed; retrying in %s", chat_key, day, RETRY_AFTER)
                report.failed += 1
                await subscriptions.schedule(chat_key, now + RETRY_AFTER)
                report.moved += 1
            await self.store.delete_if_equals(claim_key, token)
            if gone is not None:  # last: nothing written after an erasure may name the chat
                if self.on_chat_gone is not None:
                    await self.on_chat_gone(gone)
                else:
                    await subscriptions.unsubscribe(gone)
            if moved is not None:
                # Everything of the old id (subscription, due time, the composed digest and the
                # parts sent) goes to the new one, still due: the next tick sends it there.
                log.info("digest for %s: the chat moved to %s; sending there", chat_key, moved.new_chat.key)
                await self.on_chat_moved(subscription.chat, moved.new_chat)

    async def _send(self, chat: ChatRef, day: date, now: datetime, sender: Sender, sent_key: str) -> bool:
        """Compose and send; mark sent once the platform accepted. False: nothing new."""
        pending_key = keys.digest_pending(chat.key, day)
        pending = await self._composed(chat, now, pending_key)
        if pending is not None:

            def part_key(call: str, occurrence: int) -> str:
                return keys.digest_part(chat.key, day, call, occurrence)

            parts = Delivery(self.store, key=part_key, ttl=PART_TTL)
            await asyncio.wait_for(sender(chat, [Reply(daily=pending.daily, language=pending.language)], parts), self.send_timeout)
        await self.store.set(sent_key, b"1", ttl=SENT_MARKER_TTL)
        if pending is None:
            return False
        await self.store.delete(pending_key)
        await self.digests.subscriptions.record_sent(chat.key, pending.period_end)
        await self.digests.feeds.mark_sent(chat, pending.feed_item_ids, now)
        return True

    async def _composed(self, chat: ChatRef, now: datetime, pending_key: str) -> PendingDigest | None:
        """The digest an earlier try of this date composed, else a fresh one, kept for the
        tries after this one: composed again, it would cover up to a later moment and its
        parts would differ from those already sent."""
        stored = await self.store.get(pending_key)
        if stored is not None:
            try:
                return PendingDigest.from_json(stored)
            except (ValueError, KeyError, TypeError):
                log.warning("digest for %s: the stored composition is unreadable; composing again", chat.key)
        pending = await self.digests.digest_until(chat, now, daily=True)
        if pending is not None:
            await self.store.set(pending_key, pending.to_json().encode(), ttl=PART_TTL)
        return pending
