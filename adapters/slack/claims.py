"""One answer per Slack event or slash command, however often Slack delivers it.

Slack delivers an event again when its ack is slow or lost, and a command's request may be
replayed. In-process, the first delivery claims the event's id in the store for a lease;
the answer marks it done for an hour. A lease, not a mark for good: a process that died
mid-answer does not swallow Slack's retry. Scaled out, the job queue does this instead
(the job's id is the event's), and nothing is claimed here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.store import Store, keys

log = logging.getLogger(__name__)

EVENT_DEDUPE_TTL = 3600  # Slack retries an event for about an hour at most
EVENT_CLAIM_LEASE = 120  # an answer in progress holds its event this long; then a retry may answer

CLAIM = "event_claim"  # the Bolt context's key for the claim its answer marks done


class EventClaims:
    def __init__(self, store: Store, *, lease: Callable[[], float] = lambda: EVENT_CLAIM_LEASE):
        self.store = store
        self.lease = lease  # read at each claim, so a test can shorten it on a running service

    async def claim(self, event_id: str, context: AsyncBoltContext) -> bool:
        """Whether this delivery is the one to answer; if so, its answer marks the claim
        in `context` done (`answered`)."""
        key = keys.slack_event(event_id)
        if not await self.store.set_if_absent(key, b"pending", ttl=self.lease()):
            log.info("Slack event %s is being or was answered; skipping this delivery", event_id)
            return False
        context[CLAIM] = key
        return True

    async def answered(self, claim: str) -> None:
        """Later deliveries of the event are skipped for an hour."""
        await self.store.set(claim, b"done", ttl=EVENT_DEDUPE_TTL)

    async def claim_event(
        self, body: dict, context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Bolt middleware: an event already claimed is acked and goes no further."""
        event_id = body.get("event_id")
        if event_id and not await self.claim(event_id, context):
            return BoltResponse(status=200, body="")
        await next()
        return None
