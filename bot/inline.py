"""Digests for inline queries: a link typed after the bot's name in any chat (Telegram's
`@bot <link>`), where the bot need not be a member.

An inline query belongs to no chat, so it is answered as a private request: nothing is
stored under a chat (no share, no related memory, no button ids), and the related articles
are the page's own. The platform waits only a few seconds for an answer, so a link not in
the caches is summarized within a budget (`InlineDigests.answer`); past it the work goes on
(a single flight per link) and the asker gets a random id for the link, kept
INLINE_LINK_SECONDS, that a private chat with the bot redeems (`link_of`: Telegram's
`/start <id>`) for the digest, by then from the cache. The id names no one and carries no URL.

The query text is hostile input: only its first INLINE_QUERY_CHARS are read, only its first
http(s) link is used, and the link is fetched through the fetch guard like any other. Each
inline query with a link counts against its sender's per-minute limit, the counter /summary
uses.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from bot.config import Settings
from bot.handlers.summarizing import FRIENDLY_ERRORS  # their message is written for the reader
from bot.i18n import Msg
from bot.links import canonicalize, find_urls
from bot.metrics import Metrics
from bot.models import Digest
from bot.pipeline import SummaryPipeline
from bot.singleflight import SingleFlight
from bot.store import Store, keys

INLINE_QUERY_CHARS = 256  # Telegram's own limit on an inline query's text; anything longer is not Telegram's
INLINE_LINK_SECONDS = 3600  # how long the button's id stands for its link
INLINE_ID = r"[A-Za-z0-9_-]{16}"  # the id's form (secrets.token_urlsafe(12)): a start parameter Telegram accepts
# The notices are `Msg`s (English as str): the adapter says them in the asker's language.
RATE_LIMITED = Msg("Too many summaries this minute: try again shortly")
FAILED = Msg("Sorry, I couldn't summarize that link because of an error on my side.")
NOT_A_LINK = Msg("That doesn't look like a web link I can open.")

log = logging.getLogger(__name__)


@dataclass
class InlineResult:
    """What to answer an inline query with: a `digest`; or, past the budget, `start_id`,
    the id a private chat with the bot redeems for it; or a `notice` (the rate limit, a
    link that cannot be summarized); or, with `url` None, nothing (no link in the query).
    With `cache_only` and the link not cached: only `url`."""

    url: str | None = None
    digest: Digest | None = None
    start_id: str | None = None
    notice: str | None = None  # English; a `Msg` (bot.i18n) that `Translator.text` says in any language
    personal: bool = False  # the answer depends on who asked (the rate limit, a button for them)


class InlineDigests:
    def __init__(self, settings: Settings, store: Store, pipeline: SummaryPipeline, metrics: Metrics):
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.metrics = metrics
        self._flight = SingleFlight()  # one digest per link, going on after the asker's budget

    async def close(self) -> None:
        await self._flight.close()

    @staticmethod
    def link(query: str) -> str | None:
        """The first http(s) link in the first INLINE_QUERY_CHARS of `query`, or None."""
        urls = find_urls((query or "")[:INLINE_QUERY_CHARS])
        return urls[0] if urls else None

    async def answer(
        self, platform: str, user_id: str, query: str, *, budget: float, counted: bool = False, cache_only: bool = False
    ) -> InlineResult:
        """The answer to `user_id`'s inline query `query`, within `budget` seconds.
        `counted`: its rate-limit count was taken already (by the front that queued it).
        `cache_only`: from the caches or not at all (a front, which has no model)."""
        url = self.link(query)
        if url is None:
            return InlineResult()
        self.metrics.messages.labels(platform, "inline").inc()
        if not counted and not await self._allowed(platform, user_id):
            return InlineResult(url=url, notice=RATE_LIMITED, personal=True)
        try:
            if cache_only:
                return InlineResult(url=url, digest=await self.pipeline.cached_digest(url))
            digest = await self._digest_within(url, budget)
        except FRIENDLY_ERRORS as exc:
            reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            return InlineResult(url=url, notice=reason)  # a Msg where the error wrote one
        except ValueError:  # not a URL canonicalize accepts (a bad port)
            return InlineResult(url=url, notice=NOT_A_LINK)
        except Exception:  # still answered: the asker sees why nothing came
            log.exception("an inline query's digest failed")
            self.metrics.errors.labels("internal").inc()
            return InlineResult(url=url, notice=FAILED)
        if digest is None:
            return InlineResult(url=url, start_id=await self.new_start_id(url), personal=True)
        return InlineResult(url=url, digest=digest)

    async def _digest_within(self, url: str, budget: float) -> Digest | None:
        """The digest of `url`, or None when it takes longer than `budget` (it goes on)."""
        task = self._flight.start(canonicalize(url), lambda: self.pipeline.digest_link(url, remember=False))
        try:
            return await asyncio.wait_for(asyncio.shield(task), max(budget, 0.0))
        except asyncio.TimeoutError:
            return None

    async def new_start_id(self, url: str) -> str:
        """A new id standing for `url` for INLINE_LINK_SECONDS (no owner: it names no chat)."""
        start_id = secrets.token_urlsafe(12)
        await self.store.set(keys.inline_link(start_id), url.encode(), ttl=INLINE_LINK_SECONDS)
        return start_id

    async def link_of(self, start_id: str) -> str | None:
        """The link `start_id` stands for, or None (expired, or never given)."""
        stored = await self.store.get(keys.inline_link(start_id))
        return stored.decode("utf-8", "replace") if stored is not None else None

    async def _allowed(self, platform: str, user_id: str) -> bool:
        """One more summary for `user_id` this minute? The counter /summary uses (bot.core)."""
        limit = self.settings.user_rate_limit
        if not limit or not user_id:
            return True
        minute = int(time.time() // 60)
        used = await self.store.incr(keys.rate_limit(platform, user_id, minute), 1, ttl=120)
        return used <= limit
