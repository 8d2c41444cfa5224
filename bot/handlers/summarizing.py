"""Summarizing the links and texts of one message: the per-person rate limit, the chat's
daily-digest history, and the failures told to the chat."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.config import Settings
from bot.digest.service import DigestService
from bot.extract import ExtractionBusy, ExtractionError
from bot.fetch import FetchError
from bot.i18n import N_, Languages, Translator
from bot.inference import ModelBusy, ModelTimeout
from bot.metrics import Metrics
from bot.models import Incoming, Reply
from bot.pipeline import SummaryPipeline
from bot.store import Store, keys

log = logging.getLogger(__name__)

# Failures whose message is written for the chat: the page, the extraction or the model queue.
FRIENDLY_ERRORS = (FetchError, ExtractionError, ModelBusy, ModelTimeout)
RATE_DECISION_SECONDS = 600  # a message's rate-limit decision is kept this long, for re-runs of its job
MIN_PASTED_WORDS = 40  # shorter plain text in a private chat is chatter, not an article
LENGTHS = ("short", "medium", "long")
ONLY_WEB_LINKS = N_("I can only open http(s) links (web pages), not {scheme} links.")


def failure_reply(metrics: Metrics, exc: Exception, t: Translator) -> Reply:
    """The chat's answer to a friendly failure, counted by kind in the errors metric."""
    # ExtractionBusy before ExtractionError: a full queue is a refusal, not a bad page
    kind = {ExtractionBusy: "busy", FetchError: "fetch", ExtractionError: "extract", ModelBusy: "busy", ModelTimeout: "timeout"}
    metrics.errors.labels(next((v for k, v in kind.items() if isinstance(exc, k)), "internal")).inc()
    return Reply(error=t.text(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc))


class Summarizer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        pipeline: SummaryPipeline,
        digests: DigestService,
        metrics: Metrics,
        languages: Languages,
    ):
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.digests = digests
        self.metrics = metrics
        self.languages = languages

    async def summarize_links(
        self, message: Incoming, urls: list[str], length: str | None = None, record_history: bool = True
    ) -> list[Reply]:
        """Digests of `urls`; each link counts as one share of this message in the chat's
        daily digest, and asking for another length of a link shared here before
        (`/summary short|long <link>`) counts as none. Without `record_history` (a private
        request) the links leave no trace in the chat: no share, and no memory that could
        show them to others as related articles."""
        urls = urls[: self.settings.max_links_per_message]
        refusal = await self.over_rate_limit(message, len(urls))
        if refusal is not None:
            return refusal
        replies = list(
            await asyncio.gather(*(self.summarize_link(url, length, message, record_history) for url in urls))
        )
        if record_history:  # what is shared in a chat makes its daily digest
            digests = [reply.digest for reply in replies if reply.digest]
            await self.digests.history.record(message.chat, digests, self.digests.clock(), only_new=length is not None)
        return replies

    async def summarize_link(self, url: str, length: str | None, message: Incoming, remember: bool) -> Reply:
        t = self.languages.get(message.language)
        try:
            return Reply(digest=await self.pipeline.digest_link(url, length, message.chat, remember=remember))
        except FRIENDLY_ERRORS as exc:
            return failure_reply(self.metrics, exc, t)
        except Exception:
            log.exception("failed to summarize %s", url)
            self.metrics.errors.labels("internal").inc()
            return Reply(error=t._("Sorry, I couldn't summarize that link because of an error on my side."))

    async def summarize_text(self, message: Incoming, text: str, length: str | None = None) -> list[Reply]:
        refusal = await self.over_rate_limit(message, 1)
        if refusal is not None:
            return refusal
        try:
            return [Reply(digest=await self.pipeline.digest_text(text, length, message.chat))]
        except FRIENDLY_ERRORS as exc:
            return [failure_reply(self.metrics, exc, self.languages.get(message.language))]

    async def over_rate_limit(self, message: Incoming, summaries: int) -> list[Reply] | None:
        """None when the user may have `summaries` more this minute. Otherwise the answer: a
        polite refusal the first time in a minute and nothing after that, so a burst of
        refused messages is not a burst of replies, each waiting its turn under the chat's
        flood limit. A message handled again (its job re-run after a worker died) gets the
        decision it got the first time and is not counted twice."""
        limit = self.settings.user_rate_limit
        if not limit or not message.user_id:
            return None
        # A press's message_id is the message carrying the button, pressed again and again:
        # its decision is not one to remember.
        decided = (
            keys.rate_decision(message.chat.key, message.message_id) if message.message_id and not message.via_button else None
        )
        earlier = await self.store.get(decided) if decided else None
        if earlier is not None:
            return None if earlier == b"allowed" else []
        minute = int(time.time() // 60)
        used = await self.store.incr(keys.rate_limit(message.chat.platform, message.user_id, minute), summaries, ttl=120)
        allowed = used - summaries < limit
        if decided:
            await self.store.set(decided, b"allowed" if allowed else b"refused", ttl=RATE_DECISION_SECONDS)
        if allowed:
            return None
        notice = keys.rate_limit_notice(message.chat.platform, message.user_id, minute)
        if not await self.store.set_if_absent(notice, b"1", ttl=120):
            return []  # told already this minute
        t = self.languages.get(message.language)
        return [Reply(error=t.ngettext(
            "You've asked for {count} summary this minute. Please wait a moment and try again.",
            "You've asked for {count} summaries this minute. Please wait a moment and try again.",
            limit,
        ))]
