"""From a link or a text to a `Digest`: fetch, extract, summarize, with caches.

Articles are cached by canonical URL and summaries by a hash of text, summarizer and
length, both in the store, so any bot process sharing the store reuses them. Pasted text is
not a public page but the chat's data: its summary is kept under the chat (erased with it,
bot/privacy.py) and for PASTED_SECONDS at most, never in the shared summary cache. Concurrent
requests for the same article or summary in one process share one piece of work
(`SingleFlight`). Extraction runs in the `Extractor`'s processes and model work in the
injected `InferenceService`, never on the event loop.

Summaries are written by the inference service's summarizer, or, when the program was
assembled with one, by the LLM summarizer (bot/summarize/llm.py), which talks to its server
from here, on the event loop, and uses the inference service only to check its points and
to fall back; its cache key names its model and prompt version.

A link's content (article and key points) can also come from elsewhere: with workers on a
job queue, `content` is a `ContentRunner` that hands the work to whichever worker runs the
job for that URL, so one URL shared in many chats at once is fetched and summarized once in
the whole deployment.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Protocol

from bot.config import Settings
from bot.extract import Article, Extractor, article_from_text
from bot.fetch import Fetcher
from bot.inference import InferenceService
from bot.limits import cap_digest
from bot.links import canonicalize
from bot.metrics import Metrics
from bot.models import ChatRef, Digest, RelatedLink
from bot.related.finder import RelatedFinder
from bot.singleflight import SingleFlight
from bot.store import Store, keys
from bot.summarize import Summary, summarizer_label

log = logging.getLogger(__name__)

PASTED_SECONDS = 24 * 3600  # a pasted text's summary is kept at most this long (and no longer than an article)


class ContentRunner(Protocol):
    async def __call__(self, url: str, length: str) -> tuple[Article, Summary, bool]:
        """The article at `url`, its key points, and whether the points were cached."""
        ...


def _sha256(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def article_key(url: str) -> str:
    """The article cache's key: the canonical URL (raises ValueError for a non-http URL)."""
    return keys.article(_sha256(canonicalize(url)))


class SummaryPipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        inference: InferenceService,
        *,
        fetcher: Fetcher | None = None,
        extractor: Extractor | None = None,
        content: ContentRunner | None = None,
        metrics: Metrics | None = None,
        llm=None,
    ):
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.store = store
        self.inference = inference
        self.llm = llm  # bot.summarize.llm.LLMSummarizer, when the program was assembled with one
        # what keys the summary cache: the summarizer that writes the points, and its model
        self.summarizer_identity = llm.identity if llm is not None else inference.summarizer_identity
        self._local_label = summarizer_label(settings)
        self.fetcher = fetcher or Fetcher(settings)
        self._owns_extractor = extractor is None  # one passed in is closed by whoever built it
        self.extractor = extractor or Extractor(
            workers=settings.extract_workers, timeout=settings.extract_timeout, min_chars=settings.min_article_chars,
            max_waiting=settings.extract_queue_size,
        )
        self.content = content or self.compute_content
        self._flight = SingleFlight()
        self.model_runs = 0  # summaries computed (not served from cache) by this process
        self.related = RelatedFinder(settings, store, inference, title_lookup=self.cached_title)

    async def close(self) -> None:
        await self._flight.close()
        await self.fetcher.close()
        if self._owns_extractor:
            self.extractor.close()

    # -- public entry points ----------------------------------------------------------
    async def digest_link(
        self, url: str, length: str | None = None, chat: ChatRef | None = None, *, remember: bool = True
    ) -> Digest:
        """The digest of the article at `url`; with a `chat`, its related articles include
        what the chat's scope has seen, and (if `remember`) the article is remembered there."""
        length = length or self.settings.summary_length
        article, summary, cached = await self.content(url, length)
        return await self._digest(article, summary, cached, chat, remember)

    async def compute_content(self, url: str, length: str) -> tuple[Article, Summary, bool]:
        """The article at `url` and its key points, computed here (from the caches when
        they have them)."""
        article = await self.get_article(url)
        summary, cached = await self.summarize(article.text, title=article.title, length=length)
        return article, summary, cached

    async def digest_text(self, text: str, length: str | None = None, chat: ChatRef | None = None) -> Digest:
        return await self.digest_article(article_from_text(text), length, chat)

    async def digest_article(self, article: Article, length: str | None = None, chat: ChatRef | None = None) -> Digest:
        """The digest of `article`; with a `chat`, its related articles include what the
        chat's scope has seen, and the article is remembered there."""
        pasted = not article.url  # text, not a page: see the module
        summary, cached = await self.summarize(
            article.text, title=article.title, length=length, pasted_in=chat.key if chat and pasted else None,
            pasted=pasted,
        )  # fmt: skip
        return await self._digest(article, summary, cached, chat)

    async def _digest(
        self, article: Article, summary: Summary, cached: bool, chat: ChatRef | None, remember: bool = True
    ) -> Digest:
        related = await self._related(article, chat, remember)
        return cap_digest(Digest(
            title=article.title,
            points=summary.points,
            sources=summary.sources,
            summarizer=summary.summarizer,
            source=article.site_name,
            url=article.url or None,
            date=article.date,
            author=article.author,
            reading_minutes=article.reading_minutes,
            related=related,
            cached=cached,
        ))  # fmt: skip

    async def _related(self, article: Article, chat: ChatRef | None, remember: bool) -> list[RelatedLink]:
        # Related links are an extra: failing to find them must not cost the summary.
        try:
            return await self.related.find(
                url=article.url,
                title=article.title,
                text=article.text,
                page_links=article.related,
                chat=chat,
                remember=remember,
            )
        except Exception:
            log.exception("finding related articles for %s failed", article.url or "pasted text")
            return [link for link in article.related if link.title][:3]

    async def cached_digest(self, url: str, length: str | None = None) -> Digest | None:
        """The digest of `url` if its article and key points are both cached, else None:
        no fetch and no model (a front of a scaled-out deployment answers from it). No chat:
        its related articles are the page's own."""
        length = length or self.settings.summary_length
        try:
            stored = await self.store.get(article_key(url))
        except ValueError:
            return None
        if stored is None:
            return None
        article = Article.from_dict(json.loads(stored))
        # the key `summarize` reads for this article
        points = await self.store.get(keys.summary(_sha256(self.summarizer_identity, length, article.title or "", article.text)))
        if points is None:
            return None
        summary = Summary.from_json(json.loads(points), summarizer=self._local_label)
        return await self._digest(article, summary, True, None, remember=False)

    async def cached_title(self, url: str) -> str | None:
        """The title of the article at `url` if it is in the article cache."""
        try:
            cached = await self.store.get(article_key(url))
        except ValueError:
            return None
        return json.loads(cached).get("title") if cached is not None else None

    # -- articles -----------------------------------------------------------------------
    async def get_article(self, url: str) -> Article:
        """The article at `url`, from the cache when fresh. Raises FetchError or
        ExtractionError with a user-facing message."""
        key = article_key(url)
        return await self._flight.run(key, lambda: self._load_article(key, url))

    async def _load_article(self, key: str, url: str) -> Article:
        cached = await self.store.get(key)
        if cached is not None:
            return Article.from_dict(json.loads(cached))
        with self.metrics.stage_seconds.labels("fetch").time():
            page = await self.fetcher.fetch(url)
        if page.is_html:
            with self.metrics.stage_seconds.labels("extract").time():
                article = await self.extractor.extract(page.text, page.url)
        else:
            article = await self.extractor.read_text(page.text, page.url)
        await self.store.set(key, json.dumps(article.to_dict()).encode(), ttl=self.settings.article_cache_ttl)
        return article

    # -- summaries ----------------------------------------------------------------------
    async def summarize(
        self, text: str, *, title: str | None, length: str | None, pasted: bool = False, pasted_in: str | None = None
    ) -> tuple[Summary, bool]:
        """Key points of `text` and whether they came from the cache. `pasted`: text a user
        gave, not a page, cached for PASTED_SECONDS at most, under chat `pasted_in` if given."""
        length = length or self.settings.summary_length
        content = _sha256(self.summarizer_identity, length, title or "", text)
        key = keys.pasted_summary(pasted_in, content) if pasted_in else keys.summary(content)
        ttl = self.settings.summary_cache_ttl
        if pasted or pasted_in:
            ttl = min(ttl, self.settings.article_cache_ttl, PASTED_SECONDS)
        cached = await self.store.get(key)
        if cached is not None:
            self.metrics.summaries.labels("cached").inc()
            # entries from before sources were kept are plain lists, written by the local summarizer
            return Summary.from_json(json.loads(cached), summarizer=self._local_label), True
        summary = await self._flight.run(key, lambda: self._compute_summary(key, text, title, length, ttl))
        return summary, False

    async def _compute_summary(self, key: str, text: str, title: str | None, length: str, ttl: float) -> Summary:
        with self.metrics.stage_seconds.labels("summarize").time():
            if self.llm is not None:
                summary = await self.llm.summarize(text, title=title, length=length)
            else:
                points = await self.inference.summarize(text, title=title, length=length)
                summary = Summary(points, summarizer=self._local_label)
        self.model_runs += 1
        self.metrics.summaries.labels("computed").inc()
        # A fallback written because the LLM server failed is kept briefly, so the server
        # gets another chance at the article soon.
        if summary.fallback:
            from bot.summarize.llm import FALLBACK_CACHE_SECONDS

            ttl = min(ttl, FALLBACK_CACHE_SECONDS)
        # The local summarizer's entries stay plain lists of points, as every version reads them.
        plain = summary.summarizer == self._local_label and not any(summary.sources)
        stored = summary.points if plain else summary.to_json()
        await self.store.set(key, json.dumps(stored).encode(), ttl=ttl)
        return summary
