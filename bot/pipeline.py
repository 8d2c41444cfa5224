"""From a link or a text to a `Digest`: fetch, extract, summarize, with caches.

Articles are cached by canonical URL and summaries by a hash of text, summarizer and
length, both in the store, so any bot process sharing the store reuses them. Concurrent
requests for the same article or summary in one process share one piece of work.
Blocking work (extraction, inference) runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable, TypeVar

from bot.config import Settings
from bot.extract import Article, article_from_text, extract_article
from bot.fetch import Fetcher
from bot.links import canonicalize
from bot.models import ChatRef, Digest, RelatedLink
from bot.related.finder import RelatedFinder
from bot.store import Store
from bot.summarize import get_summarizer, summarizer_identity

log = logging.getLogger(__name__)
T = TypeVar("T")

# One thread runs the model: torch parallelises inside each call already, and queuing
# calls keeps memory flat under load.
_model_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")


def _sha256(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _article_key(url: str) -> str:
    """The article cache's key: the canonical URL (raises ValueError for a non-http URL)."""
    return "article:" + _sha256(canonicalize(url))


class SummaryPipeline:
    def __init__(self, settings: Settings, store: Store, fetcher: Fetcher | None = None):
        self.settings = settings
        self.store = store
        self.fetcher = fetcher or Fetcher(settings)
        self._in_flight: dict[str, asyncio.Future] = {}
        self.model_runs = 0  # summaries computed (not served from cache) by this process
        self.related = RelatedFinder(settings, store, self._run_model, title_lookup=self.cached_title)

    async def close(self) -> None:
        await self.fetcher.close()

    # -- public entry points ----------------------------------------------------------
    async def digest_link(self, url: str, length: str | None = None, chat: ChatRef | None = None) -> Digest:
        article = await self.get_article(url)
        return await self.digest_article(article, length, chat)

    async def digest_text(self, text: str, length: str | None = None, chat: ChatRef | None = None) -> Digest:
        return await self.digest_article(article_from_text(text), length, chat)

    async def digest_article(self, article: Article, length: str | None = None, chat: ChatRef | None = None) -> Digest:
        """The digest of `article`; with a `chat`, its related articles include what the
        chat's scope has seen, and the article is remembered there."""
        points, cached = await self.summarize(article.text, title=article.title, length=length)
        related = await self._related(article, chat)
        return Digest(
            title=article.title,
            points=points,
            source=article.site_name,
            url=article.url or None,
            date=article.date,
            author=article.author,
            reading_minutes=article.reading_minutes,
            related=related,
            cached=cached,
        )

    async def _related(self, article: Article, chat: ChatRef | None) -> list[RelatedLink]:
        # Related links are an extra: failing to find them must not cost the summary.
        try:
            return await self.related.find(
                url=article.url,
                title=article.title,
                text=article.text,
                page_links=article.related,
                chat=chat,
            )
        except Exception:
            log.exception("finding related articles for %s failed", article.url or "pasted text")
            return [link for link in article.related if link.title][:3]

    async def cached_title(self, url: str) -> str | None:
        """The title of the article at `url` if it is in the article cache."""
        try:
            cached = await self.store.get(_article_key(url))
        except ValueError:
            return None
        return json.loads(cached).get("title") if cached is not None else None

    # -- articles -----------------------------------------------------------------------
    async def get_article(self, url: str) -> Article:
        """The article at `url`, from the cache when fresh. Raises FetchError or
        ExtractionError with a user-facing message."""
        key = _article_key(url)
        return await self._once(key, lambda: self._load_article(key, url))

    async def _load_article(self, key: str, url: str) -> Article:
        cached = await self.store.get(key)
        if cached is not None:
            return Article.from_dict(json.loads(cached))
        page = await self.fetcher.fetch(url)
        if page.is_html:
            article = await extract_article(
                page.text,
                page.url,
                timeout=self.settings.extract_timeout,
                min_chars=self.settings.min_article_chars,
            )
        else:
            article = article_from_text(page.text, url=page.url)
        await self.store.set(key, json.dumps(article.to_dict()).encode(), ttl=self.settings.article_cache_ttl)
        return article

    # -- summaries ----------------------------------------------------------------------
    async def summarize(self, text: str, *, title: str | None, length: str | None) -> tuple[list[str], bool]:
        """Key points of `text` and whether they came from the cache."""
        length = length or self.settings.summary_length
        key = "summary:" + _sha256(summarizer_identity(self.settings), length, title or "", text)
        cached = await self.store.get(key)
        if cached is not None:
            return json.loads(cached), True
        points = await self._once(key, lambda: self._compute_summary(key, text, title, length))
        return points, False

    async def _compute_summary(self, key: str, text: str, title: str | None, length: str) -> list[str]:
        def run() -> list[str]:
            summarizer = get_summarizer(self.settings)  # loads the model on first use
            return summarizer.summarize(text, title=title, length=length)

        points = await self._run_model(run)
        self.model_runs += 1
        await self.store.set(key, json.dumps(points).encode(), ttl=self.settings.summary_cache_ttl)
        return points

    async def _run_model(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(_model_pool, work)

    # -- single flight ------------------------------------------------------------------
    async def _once(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` once for concurrent callers with the same key; all get its result."""
        if key in self._in_flight:
            return await asyncio.shield(self._in_flight[key])
        future = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await work()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, this caller too
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._in_flight[key]
