"""Sending one message's replies at most once each, even when its job runs again.

The mechanism lives in the core (`bot.delivery`, which the digest scheduler uses too):
each platform call is recorded once the platform accepted it, keyed by its target and a
hash of its content, so a re-run skips what was sent and sends what was not, whatever
order its replies come in. Adapters pass each call's target and content to
`Delivery.once`; a worker builds `Delivery(store, job_id)` for each job.
"""

from __future__ import annotations

from bot.delivery import SENT_TTL, Delivery, PermanentSendError, untracked

__all__ = ["SENT_TTL", "Delivery", "PermanentSendError", "untracked"]
