"""Pulling the article out of a fetched page (trafilatura), in worker processes that can
really be stopped.

trafilatura has no timeout of its own, and some pages (hundreds of thousands of unclosed
tags, a tag with 100k attributes) keep it busy for minutes; a thread cannot be stopped.
So `Extractor` runs `extract_page` in a small pool of processes (pebble): a page that runs
past its time limit has its process killed and replaced, and the limit counts from when
the page's extraction starts, not while it waits for a free process. Feeds are parsed in
the same processes (`Extractor.run`), for the same reasons.

pebble gives up on a whole pool for good when a process dies while it is not known to be
working on a page (killed by the OOM killer or by hand while idle, or between taking a
page and saying so): every later page would fail. `Extractor` then stops that pool, fails
the pages still waiting in it, and starts a fresh one; a page caught in that is tried once
more on the fresh pool.

At most `max_waiting` documents wait for a free process (each may be a 5 MB page, kept in
memory until its turn); past that, `ExtractionBusy` says "busy, try again" at once, as the
model queue does.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TypeVar
from urllib.parse import urlsplit

import trafilatura

from bot.limits import (
    MAX_AUTHOR_CHARS,
    MAX_DATE_CHARS,
    MAX_POINT_CHARS,
    MAX_RELATED_TITLE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    shorten,
)
from bot.i18n import Msg
from bot.links import host_of
from bot.models import RelatedLink
from bot.related.page_links import find_page_related
from bot.sentences import word_count
from bot.text import clean_body, clean_line

log = logging.getLogger(__name__)
T = TypeVar("T")

WORDS_PER_MINUTE = 230
# Article text kept: some 50,000 words, longer than any real article; the key points come
# from its opening anyway (bot/summarize/extractive.py).
MAX_TEXT_CHARS = 300_000

class Overran(Exception):
    """The work ran past its time limit; its process was killed."""


class ProcessFailed(Exception):
    """The process doing the work died (out of memory, a crash in a C library)."""


class ExtractionError(Exception):
    """No article could be read; str(exc) is a friendly sentence for the chat."""


class ExtractionBusy(ExtractionError):
    """Too many documents wait for an extraction process. The model queue's sentence
    (bot.inference.ModelBusy): to the person waiting, both are the bot being busy."""

    def __init__(self) -> None:
        super().__init__(Msg("I'm busy with a lot of summaries right now. Please try again in a minute."))


@dataclass
class Article:
    url: str  # the URL we show: the page's canonical link when it is on the same site
    title: str
    text: str
    site_name: str = ""
    date: str | None = None
    author: str | None = None
    image: str | None = None
    description: str | None = None
    language: str | None = None
    related: list[RelatedLink] = field(default_factory=list)  # links the page declares
    words: int = 0  # of the whole text, before it was cut to MAX_TEXT_CHARS (0: count `text`)

    @property
    def reading_minutes(self) -> int:
        return max(1, round((self.words or word_count(self.text)) / WORDS_PER_MINUTE))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Article:
        data = dict(data)
        data["related"] = [RelatedLink(**r) for r in data.get("related", [])]
        return cls(**data)


class Extractor:
    """Extraction in `workers` processes, each page limited to `timeout` seconds of work.
    Built once where the program is assembled; `close()` kills the processes. At most
    `max_waiting` documents wait beyond the ones being worked on (ExtractionBusy)."""

    def __init__(self, *, workers: int, timeout: float, min_chars: int, max_waiting: int = 32):
        self.workers = workers
        self.max_waiting = max_waiting
        self.pending = 0  # documents in `run`: being worked on or waiting for a process
        self.timeout = timeout
        self.min_chars = min_chars
        self._pool = None
        self._waiting: dict[object, set] = {}  # pool -> its unfinished jobs, to fail if it breaks
        self._lock = threading.RLock()  # several event loops may share it; done-callbacks re-enter
        self.pages_killed = 0  # documents (pages, feeds) whose work ran out of time: their process was killed
        self.pools_replaced = 0  # pools pebble gave up on, replaced by fresh ones
        self.refused_busy = 0  # documents refused because too many were waiting

    def _running_pool(self):
        with self._lock:
            if self._pool is not None and not self._pool.active:
                self._discard(self._pool)
            if self._pool is None:
                from pebble import ProcessPool

                # forkserver: the processes start from a clean server that has imported
                # trafilatura once, not from a copy of this process and its threads.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["bot.extract"])
                self._pool = ProcessPool(max_workers=self.workers, context=context)
                self._waiting[self._pool] = set()
            return self._pool

    def _replace(self, pool) -> None:
        """`pool` broke: stop it and fail what still waits in it (a fresh one is started on
        the next page)."""
        with self._lock:
            if pool in self._waiting:
                self._discard(pool)

    def _discard(self, pool) -> None:  # with self._lock held
        self.pools_replaced += 1
        log.error("the extraction processes failed; starting fresh ones")
        if self._pool is pool:
            self._pool = None
        for job in self._waiting.pop(pool, ()):
            try:  # pebble would never finish a job left in a pool that gave up
                job.set_exception(BrokenProcessPool("the extraction pool was replaced"))
            except InvalidStateError:
                pass  # it finished meanwhile
        _stop_in_background(pool)

    async def extract(self, html: str, url: str) -> Article:
        """The article in `html`. Raises ExtractionError with a friendly sentence."""
        return await self._article(extract_page, html, url, self.min_chars)

    async def read_text(self, text: str, url: str) -> Article:
        """A text/plain page as an article. Raises ExtractionError with a friendly sentence."""
        return await self._article(read_text_page, text, url)

    async def _article(self, function: Callable[..., Article], page: str, url: str, *more) -> Article:
        try:
            return await self.run(function, page, url, *more)
        except Overran:
            log.warning("reading %s took longer than %ss; its process was stopped", url, self.timeout)
            raise ExtractionError(Msg("Reading that page took too long, so I gave up on it.")) from None
        except ExtractionError:
            raise
        except Exception:  # its process died (out of memory, a crash in lxml)
            log.exception("reading %s failed", url)
            raise ExtractionError(Msg("I couldn't read that page.")) from None

    async def run(self, function: Callable[..., T], *args) -> T:
        """`function(*args)` in one of the processes, stopped after `timeout` seconds of
        work (Overran). What `function` raises comes back as it is; a process that died on
        the job raises ProcessFailed. `function` must be importable by the processes and
        its arguments and result picklable. Any stranger's document is read through here:
        pages (`extract`) and feeds (bot/digest/feeds.py). ExtractionBusy, at once, when
        `max_waiting` documents already wait for a process."""
        with self._lock:  # the check and the count in one step: several loops may share it
            if self.pending >= self.workers + self.max_waiting:
                self.refused_busy += 1
                raise ExtractionBusy()
            self.pending += 1
        try:
            return await self._run(function, *args)
        finally:
            with self._lock:
                self.pending -= 1

    async def _run(self, function: Callable[..., T], *args) -> T:
        from pebble import ProcessExpired

        for last_try in (False, True):
            pool = self._running_pool()
            try:
                job = pool.schedule(function, args=args, timeout=self.timeout)
            except RuntimeError:  # it broke since _running_pool looked
                self._replace(pool)
                continue
            with self._lock:
                waiting = self._waiting.get(pool)
                if waiting is None:  # replaced meanwhile
                    job.cancel()
                    continue
                waiting.add(job)
            job.add_done_callback(lambda job, pool=pool: self._forget(pool, job))
            try:
                return await asyncio.wrap_future(job)
            except BrokenProcessPool:
                self._replace(pool)
                if last_try:
                    raise ProcessFailed("the processes failed twice") from None
            except FutureTimeout:
                self.pages_killed += 1
                raise Overran(f"ran longer than {self.timeout:g} s") from None
            except asyncio.CancelledError:
                job.cancel()  # pebble stops the process working on it
                raise
            except FutureCancelled:
                raise ProcessFailed("the job was cancelled") from None
            except ProcessExpired as exc:
                raise ProcessFailed(f"its process died ({exc})") from None
        raise ProcessFailed("the processes failed twice")

    def _forget(self, pool, job) -> None:
        with self._lock:
            self._waiting.get(pool, set()).discard(job)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._waiting.clear()  # broken pools stop in the background on their own
        if pool is not None:
            pool.stop()
            pool.join(timeout=5)


def _stop_in_background(pool) -> None:
    """Stop a broken pool without blocking the caller: its threads may be stuck writing to
    a process that is gone, and `join` waits for them."""

    def stop() -> None:
        try:
            pool.stop()
            pool.join(timeout=5)
        except Exception:
            log.debug("stopping a broken extraction pool failed", exc_info=True)

    threading.Thread(target=stop, name="extract-pool-stop", daemon=True).start()


def extract_page(html: str, url: str, min_chars: int) -> Article:
    """The article in `html` (blocking; run it through `Extractor` for untrusted pages)."""
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, favor_precision=True
        )
    except Exception:  # trafilatura raises assorted errors on broken markup
        log.exception("trafilatura failed on %s", url)
        doc = None
    text = (doc.text if doc else "") or ""
    if len(text.strip()) < min_chars:
        raise ExtractionError(Msg("I couldn't find an article on that page (it may need JavaScript or a login)."))
    title = _clean(doc.title) or _first_line(text)
    shown_url = _display_url(doc.url, url)
    return _bounded(Article(
        url=shown_url,
        title=title,
        text=clean_body(text).strip(),
        site_name=_clean(doc.sitename) or host_of(url),
        date=_clean(doc.date) or None,
        author=_clean(doc.author) or None,
        image=doc.image or None,
        description=_clean(doc.description) or None,
        language=_clean(doc.language) or None,
        related=[
            RelatedLink(title=_clean(link.title), url=link.url, kind=link.kind)
            for link in find_page_related(html, shown_url, page_urls=(url,))
        ],
    ))  # fmt: skip


def article_from_text(text: str, *, url: str = "", title: str | None = None) -> Article:
    """A plain-text page or pasted text, taken as it is."""
    text = clean_body(text).strip()
    if not text:
        raise ExtractionError(Msg("There is no text there to summarize."))
    return _bounded(Article(url=url, title=_clean(title) or _first_line(text), text=text, site_name=host_of(url) if url else ""))


def read_text_page(text: str, url: str) -> Article:
    """A text/plain page (blocking; run it through `Extractor.run`: cleaning 5 MB takes a while)."""
    return article_from_text(text, url=url)


def _bounded(article: Article) -> Article:
    """`article` as it is kept and passed on: short fields capped as a digest caps them, and
    the text cut at a paragraph near MAX_TEXT_CHARS (its word count kept for the reading
    time). A page is a stranger's: its title may be a megabyte and its text a line of five
    million characters, and all of it would be stored and looked at again and again."""
    words = word_count(article.text)
    text = article.text
    if len(text) > MAX_TEXT_CHARS:
        cut = text.rfind("\n", MAX_TEXT_CHARS // 2, MAX_TEXT_CHARS)
        text = text[: cut if cut > 0 else MAX_TEXT_CHARS].rstrip()
    return replace(
        article,
        url=article.url if len(article.url) <= MAX_URL_CHARS else "",
        title=shorten(article.title, MAX_TITLE_CHARS),
        text=text,
        site_name=shorten(article.site_name, MAX_SOURCE_CHARS),
        date=shorten(article.date, MAX_DATE_CHARS) or None,
        author=shorten(article.author, MAX_AUTHOR_CHARS) or None,
        image=article.image if article.image and len(article.image) <= MAX_URL_CHARS else None,
        description=shorten(article.description, MAX_POINT_CHARS) or None,
        language=shorten(article.language, 16) or None,
        related=[
            replace(link, title=shorten(link.title, MAX_RELATED_TITLE_CHARS))
            for link in article.related
            if len(link.url) <= MAX_URL_CHARS
        ],
        words=words,
    )


def _display_url(declared: str | None, fetched: str) -> str:
    """The page's canonical link, if it stays on the host we fetched (a page must not be
    able to pass itself off as another site's article). A local file may name any site."""
    if declared and urlsplit(declared).scheme in ("http", "https"):
        if urlsplit(fetched).scheme == "file" or host_of(declared) == host_of(fetched):
            return declared
    return fetched


def _clean(value: str | None) -> str:
    """A one-line field: no control characters or bidi overrides, whitespace collapsed."""
    return clean_line(value)


def _first_line(text: str, limit: int = 90) -> str:
    # Only the opening is looked at: the first line of a megabyte without line breaks is
    # still just the start of a title.
    line = next((ln for ln in map(clean_line, text.lstrip()[: limit * 20].splitlines()) if ln), "")
    return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"
