"""RSS and Atom feeds a chat follows, and which of their items it has not seen yet.

A feed is fetched through the guarded fetcher (a feed URL is a stranger's link like any
other) with If-None-Match / If-Modified-Since, so an unchanged feed costs a 304. Its parsed
items are kept once per feed, shared by every chat that follows it; what each chat has
already been sent is kept per chat, so an item never appears in a chat's digest twice.
Items already in a feed when a chat adds it count as seen: a digest brings what is new.

Keys:
  digest:feeds:{chat.key}        hash: canonical feed URL -> {"url", "title"} (JSON)
  digest:feed:{feed id}          the feed's state: URL, title, ETag, Last-Modified, time
                                 fetched and its latest items (JSON; expires if unused)
  digest:feed-seen:{chat.key}    sorted set: item id -> when the chat saw or was sent it
  digest:feed-followers:{feed id}  sorted set: chat key -> when it added the feed, so that
                                 erasing a chat (bot.privacy) erases a feed's state with its
                                 last follower
"""

from __future__ import annotations

import asyncio
import calendar
import html
import io
import itertools
import json
import logging
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from urllib.parse import urljoin

import feedparser

from bot.digest.history import DAY, url_id
from bot.extract import Extractor, Overran
from bot.fetch import FetchError, Fetcher
from bot.i18n import Msg
from bot.limits import MAX_TITLE_CHARS, MAX_URL_CHARS, shorten
from bot.links import canonicalize, host_of
from bot.models import ChatRef, RelatedLink
from bot.sentences import split_sentences
from bot.singleflight import SingleFlight
from bot.store import Store, keys

log = logging.getLogger(__name__)

MAX_FEEDS_PER_CHAT = 20
MAX_ITEMS_PER_FEED = 50
REFRESH_AFTER = 15 * 60.0  # seconds: many chats due at 08:00 share one fetch of a feed
FEED_STATE_TTL = 30 * DAY
SEEN_RETENTION = 120 * DAY  # longer than an item stays in any sane feed
SUMMARY_CHARS = 280
_TAG_RE = re.compile(r"<[^>]+>")


class FeedError(Exception):
    """A feed could not be added; str(exc) can go to the chat."""


@dataclass
class FeedItem:
    item_id: str  # hash of the entry's id (or link): stable across fetches
    url: str
    title: str
    summary: str  # plain text, at most two sentences
    source: str  # the feed's title
    published: float | None = None  # unix time, when the feed says


@dataclass
class FeedState:
    url: str
    title: str = ""
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: float = 0.0
    items: list[FeedItem] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> FeedState:
        data = json.loads(raw)
        data["items"] = [FeedItem(**item) for item in data.get("items", [])]
        return cls(**data)


def feed_state_key(canonical_url: str) -> str:
    return keys.digest_feed(url_id(canonical_url))


def followers_key(canonical_url: str) -> str:
    return keys.digest_feed_followers(url_id(canonical_url))


def _feeds_key(chat: ChatRef) -> str:
    return keys.digest_feeds(chat.key)


def _seen_key(chat: ChatRef) -> str:
    return keys.digest_feed_seen(chat.key)


class Feeds:
    def __init__(self, store: Store, fetcher: Fetcher, extractor: Extractor):
        self.store = store
        self.fetcher = fetcher
        self.extractor = extractor  # its processes parse feeds: feedparser can't be stopped in a thread
        self._refreshing = SingleFlight()  # many chats' /digest at once fetch a stale feed once

    # -- what a chat follows --------------------------------------------------------------
    async def add(self, chat: ChatRef, url: str, now: datetime) -> FeedState:
        """Follow the feed at `url` in `chat`. Raises FeedError with a friendly text and
        then changes nothing."""
        try:
            canonical = canonicalize(url)
        except ValueError:
            raise FeedError(Msg("{url} is not a web address. Usage: /feeds add <feed URL>", url=url)) from None
        followed = await self.store.hgetall(_feeds_key(chat))
        if canonical in followed:
            raise FeedError(Msg("This chat already follows that feed."))
        if len(followed) >= MAX_FEEDS_PER_CHAT:
            raise FeedError(Msg("A chat can follow at most {count} feeds. Remove one first.", count=MAX_FEEDS_PER_CHAT))
        state = await self.refresh(canonical, url, now, force=True)
        await self._mark_seen(chat, [item.item_id for item in state.items], now)
        entry = {"url": url, "title": state.title}
        await self.store.hset(_feeds_key(chat), canonical, json.dumps(entry).encode())
        await self.store.zadd(followers_key(canonical), {chat.key: now.timestamp()})
        return state

    async def remove(self, chat: ChatRef, url: str) -> bool:
        try:
            canonical = canonicalize(url)
        except ValueError:
            return False
        await self.store.zrem(followers_key(canonical), chat.key)
        return bool(await self.store.hdel(_feeds_key(chat), canonical))

    async def followed(self, chat: ChatRef) -> dict[str, dict]:
        """Canonical feed URL -> {"url", "title"} for each feed the chat follows."""
        raw = await self.store.hgetall(_feeds_key(chat))
        return {canonical: json.loads(value) for canonical, value in sorted(raw.items())}

    # -- new items ------------------------------------------------------------------------
    async def unseen_items(self, chat: ChatRef, now: datetime) -> list[FeedItem]:
        """Items of the chat's feeds it has not been sent: each feed's newest first, the
        feeds taking turns, so that one feed posting a hundred items (or dating them in
        2099: no item is newer than its feed's fetch) cannot crowd the others out. Feeds
        are refreshed when stale; one that fails to load contributes the items it had."""
        followed = await self.followed(chat)
        if not followed:
            return []
        states = await asyncio.gather(
            *(self._refresh_quietly(canonical, entry["url"], now) for canonical, entry in followed.items())
        )
        seen = {member for member, _ in await self.store.zrangebyscore(_seen_key(chat), float("-inf"), float("inf"))}
        per_feed: list[list[FeedItem]] = []
        for state in states:
            if not state:
                continue
            items = [
                replace(item, published=min(item.published, state.fetched_at or now.timestamp()))
                if item.published else item
                for item in state.items
                if item.item_id not in seen
            ]  # fmt: skip
            per_feed.append(sorted(items, key=lambda item: item.published or 0.0, reverse=True))
        unseen: dict[str, FeedItem] = {}
        for turn in itertools.zip_longest(*per_feed):
            for item in turn:
                if item is not None:
                    unseen.setdefault(item.item_id, item)
        return list(unseen.values())

    async def mark_sent(self, chat: ChatRef, item_ids: list[str], now: datetime) -> None:
        await self._mark_seen(chat, item_ids, now)

    async def _mark_seen(self, chat: ChatRef, item_ids: list[str], now: datetime) -> None:
        if not item_ids:
            return
        key = _seen_key(chat)
        await self.store.zadd(key, {item_id: now.timestamp() for item_id in item_ids})
        await self.store.zremrangebyscore(key, float("-inf"), now.timestamp() - SEEN_RETENTION)

    # -- fetching -------------------------------------------------------------------------
    async def _refresh_quietly(self, canonical: str, url: str, now: datetime) -> FeedState | None:
        try:
            return await self.refresh(canonical, url, now)
        except FeedError as exc:
            log.warning("feed %s could not be refreshed: %s", url, exc)
            return await self.cached(canonical)

    async def cached(self, canonical: str) -> FeedState | None:
        raw = await self.store.get(feed_state_key(canonical))
        return FeedState.from_json(raw) if raw else None

    async def refresh(self, canonical: str, url: str, now: datetime, *, force: bool = False) -> FeedState:
        """The feed's state, fetched again unless fetched less than REFRESH_AFTER ago; one
        fetch for all who ask at once."""
        return await self._refreshing.run(f"{canonical} {force}", lambda: self._refresh(canonical, url, now, force))

    async def _refresh(self, canonical: str, url: str, now: datetime, force: bool) -> FeedState:
        state = await self.cached(canonical) or FeedState(url=url)
        if not force and now.timestamp() - state.fetched_at < REFRESH_AFTER:
            return state
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        try:
            page = await self.fetcher.fetch(url, headers=headers, accept_feeds=True)
        except FetchError as exc:
            raise FeedError(Msg("I couldn't load that feed: {reason}", reason=exc.args[0] if exc.args else str(exc))) from None
        if page.status != 304:
            try:
                state.title, state.items = await self.extractor.run(parse_feed, page.text, page.url)
            except Overran:
                log.warning("parsing feed %s took longer than %ss; its process was stopped", url, self.extractor.timeout)
                raise FeedError(Msg("Reading that feed took too long, so I gave up on it.")) from None
            except FeedError:
                raise
            except Exception as exc:  # its process died, or feedparser met something new
                log.error("parsing feed %s failed: %r", url, exc)
                raise FeedError(Msg("I couldn't read that feed.")) from None
        state.etag = page.etag or state.etag
        state.last_modified = page.last_modified or state.last_modified
        state.fetched_at = now.timestamp()
        await self.store.set(feed_state_key(canonical), state.to_json(), ttl=FEED_STATE_TTL)
        return state


# The body is already decoded (the fetcher honoured its charset and XML declaration), so it
# reaches feedparser as UTF-8 and is declared so: the HTTP charset outranks the declaration.
_DECODED_FEED_HEADERS = {"content-type": "application/xml; charset=utf-8"}


def parse_feed(text: str, base_url: str) -> tuple[str, list[FeedItem]]:
    """The title and the first MAX_ITEMS_PER_FEED linked items of an RSS or Atom document,
    every field capped (entities can blow a small document up to megabytes of title).
    Runs in the Extractor's processes: feedparser's time grows with what a stranger wrote.

    Only ever give feedparser a stream: given a str or bytes that looks like a URL or a
    file path it opens it itself (urllib, open()), outside the fetcher's address policy,
    so a feed whose body is `http://10.0.0.1/...` or `/etc/...` would be an SSRF."""
    parsed = feedparser.parse(
        io.BytesIO(text.encode("utf-8", "replace")),
        response_headers=_DECODED_FEED_HEADERS,
        sanitize_html=False,  # its HTML is reduced to plain text here (_plain), never shown as HTML
        resolve_relative_uris=False,  # only links are used, resolved against the feed by urljoin
    )
    if not parsed.version:
        raise FeedError(
            Msg("That isn't an RSS or Atom feed. Send the feed's own address (it often ends in /feed, /rss or .xml).")
        )
    title = shorten(_plain(parsed.feed.get("title", "")), MAX_TITLE_CHARS) or host_of(base_url)
    items: list[FeedItem] = []
    for entry in parsed.entries:
        try:
            link = urljoin(base_url, entry.get("link", ""))
        except ValueError:  # "http://[::1": one broken item, not a broken feed
            continue
        if not link.startswith(("http://", "https://")) or len(link) > MAX_URL_CHARS:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(
            FeedItem(
                item_id=url_id(entry.get("id") or link),
                url=link,
                title=shorten(_plain(entry.get("title", "")), MAX_TITLE_CHARS) or link,
                summary=_two_sentences(_plain(entry.get("summary", ""))),
                source=title,
                published=float(calendar.timegm(stamp)) if stamp else None,
            )
        )
        if len(items) == MAX_ITEMS_PER_FEED:
            break
    return title, items


def _plain(markup: str) -> str:
    return " ".join(html.unescape(_TAG_RE.sub(" ", markup)).split())


def _two_sentences(text: str) -> str:
    summary = " ".join(split_sentences(text[: 8 * SUMMARY_CHARS])[:2])  # two sentences are near the start
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return summary


async def recent_feed_items(store: Store, chat: ChatRef, limit: int) -> list[RelatedLink]:
    """The newest items of the feeds `chat` follows, from what is stored (no fetching), for
    related-article suggestions."""
    followed = await store.hgetall(_feeds_key(chat))
    items: list[FeedItem] = []
    for canonical in followed:
        raw = await store.get(feed_state_key(canonical))
        if raw:
            items += FeedState.from_json(raw).items
    items.sort(key=lambda item: item.published or 0.0, reverse=True)
    return [RelatedLink(title=item.title, url=item.url) for item in items[:limit]]
