"""Pulling the article out of a fetched page (trafilatura), off the event loop."""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import trafilatura

from bot.links import host_of
from bot.models import RelatedLink
from bot.related.page_links import find_page_related
from bot.sentences import word_count
from bot.text import clean_body, clean_line

log = logging.getLogger(__name__)

WORDS_PER_MINUTE = 230

# trafilatura has no timeout of its own and a thread cannot be killed, so extraction gets
# a small pool of its own: a pathological page can tie up a worker, never the event loop
# or the pool that runs the model.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="extract")


class ExtractionError(Exception):
    """No article could be read; str(exc) is a friendly sentence for the chat."""


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

    @property
    def reading_minutes(self) -> int:
        return max(1, round(word_count(self.text) / WORDS_PER_MINUTE))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Article:
        data = dict(data)
        data["related"] = [RelatedLink(**r) for r in data.get("related", [])]
        return cls(**data)


async def extract_article(html: str, url: str, *, timeout: float, min_chars: int) -> Article:
    loop = asyncio.get_running_loop()
    job = loop.run_in_executor(_pool, _extract, html, url, min_chars)
    try:
        return await asyncio.wait_for(job, timeout)
    except asyncio.TimeoutError:
        log.warning("extraction of %s took longer than %ss", url, timeout)
        raise ExtractionError("Reading that page took too long, so I gave up on it.") from None


def _extract(html: str, url: str, min_chars: int) -> Article:
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, favor_precision=True
        )
    except Exception:  # trafilatura raises assorted errors on broken markup
        log.exception("trafilatura failed on %s", url)
        doc = None
    text = (doc.text if doc else "") or ""
    if len(text.strip()) < min_chars:
        raise ExtractionError("I couldn't find an article on that page (it may need JavaScript or a login).")
    title = _clean(doc.title) or _first_line(text)
    shown_url = _display_url(doc.url, url)
    return Article(
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
            RelatedLink(title=_clean(link.title), url=link.url)
            for link in find_page_related(html, shown_url, page_urls=(url,))
        ],
    )


def article_from_text(text: str, *, url: str = "", title: str | None = None) -> Article:
    """A plain-text page or pasted text, taken as it is."""
    text = clean_body(text).strip()
    if not text:
        raise ExtractionError("There is no text there to summarize.")
    return Article(url=url, title=_clean(title) or _first_line(text), text=text, site_name=host_of(url) if url else "")


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
