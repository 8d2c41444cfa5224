"""What was shared in each chat: the raw material of its daily digest.

Keys, all expiring `history_days` after the chat's last share:
  digest:shares:{chat.key}            sorted set: one member per share ("{article id}:{n}"),
                                      scored by the time of the share
  digest:article:{chat.key}:{id}      the shared article as JSON (canonical URL, title,
                                      source, summary points, title+lead vector and the
                                      encoder that made it); id = hash of the canonical URL
The vector is computed when the article is shared, so composing a digest of many articles
needs no model work for them.
Shares older than `history_days` are trimmed from the sorted set on every write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from bot.digest.similarity import pack_vector, story_text, unpack_vector
from bot.related.vectors import ArticleVectors
from bot.links import canonicalize
from bot.models import ChatRef, Digest
from bot.store import Store, keys

log = logging.getLogger(__name__)
DAY = 86_400.0


def url_id(canonical_url: str) -> str:
    return hashlib.sha256(canonical_url.encode()).hexdigest()[:24]


@dataclass
class SharedArticle:
    """One article as shared in a chat during a period."""

    canonical_url: str
    url: str
    title: str
    source: str
    points: list[str]
    shares: int  # during the period
    last_shared: float  # unix time
    vector: np.ndarray | None = None  # title+lead, by the configured encoder

    @property
    def lead(self) -> str:
        return self.points[0] if self.points else ""


class ShareHistory:
    def __init__(self, store: Store, history_days: int, vectors: ArticleVectors):
        self.store = store
        self.retention = history_days * DAY
        self.vectors = vectors  # cached by content: one story shared in many chats is embedded once
        self.encoder = vectors.inference.encoder_identity

    async def record(self, chat: ChatRef, digests: list[Digest], at: datetime, *, only_new: bool = False) -> None:
        """Remember that `digests` were shared in `chat` at `at`. Never raises: a digest of
        the day is worth less than the summary the user is waiting for. `only_new`: a
        length variant ("/summary long <link>" of a link already shared here) is no new
        share; only links this chat's history does not hold yet are recorded."""
        try:
            linked = [(digest, _canonical(digest.url)) for digest in digests]
            linked = [(digest, canonical) for digest, canonical in linked if canonical]
            if only_new:
                linked = [
                    (digest, canonical) for digest, canonical in linked
                    if await self.store.get(keys.digest_article(chat.key, url_id(canonical))) is None
                ]  # fmt: skip
            if not linked:
                return
            vectors = await self._vectors(chat, linked)
            for (digest, canonical), vector in zip(linked, vectors):
                await self._record_one(chat, digest, canonical, vector, at.timestamp())
        except Exception:
            log.exception("could not record shared articles in %s", chat.key)

    async def _vectors(self, chat: ChatRef, linked: list[tuple[Digest, str]]) -> list[np.ndarray]:
        """Title+lead vectors, reusing the one stored when the story was shared here before:
        a repeat share (a cache hit) then costs no model work."""
        vectors: list[np.ndarray | None] = []
        for digest, canonical in linked:
            raw = await self.store.get(keys.digest_article(chat.key, url_id(canonical)))
            known = json.loads(raw) if raw else {}
            same = known.get("encoder") == self.encoder and known.get("title") == digest.title
            same = same and known.get("points", [None])[:1] == digest.points[:1]
            vectors.append(unpack_vector(known["vector"]) if same and known.get("vector") else None)
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        if missing:
            texts = [story_text(linked[i][0].title, (linked[i][0].points or [""])[0]) for i in missing]
            for i, vector in zip(missing, await self.vectors.vectors_for(texts)):
                vectors[i] = vector
        return vectors

    async def _record_one(self, chat: ChatRef, digest: Digest, canonical: str, vector: np.ndarray, when: float) -> None:
        article_id = url_id(canonical)
        article = {
            "canonical_url": canonical,
            "url": digest.url,
            "title": digest.title,
            "source": digest.source,
            "points": list(digest.points),
            "vector": pack_vector(vector),
            "encoder": self.encoder,
        }
        await self.store.set(
            keys.digest_article(chat.key, article_id), json.dumps(article).encode(), ttl=self.retention
        )
        shares_key = keys.digest_shares(chat.key)
        # A random suffix keeps two shares of one article distinct members of the set.
        await self.store.zadd(shares_key, {f"{article_id}:{uuid.uuid4().hex[:12]}": when})
        await self.store.zremrangebyscore(shares_key, float("-inf"), when - self.retention)
        await self.store.expire(shares_key, self.retention)

    async def shared_between(self, chat: ChatRef, since: datetime, until: datetime) -> list[SharedArticle]:
        """Articles shared in `chat` with since < time <= until, once each with their count
        of shares, most recently shared first."""
        rows = await self.store.zrangebyscore(
            keys.digest_shares(chat.key), since.timestamp(), until.timestamp()
        )
        counts: dict[str, tuple[int, float]] = {}
        for member, when in rows:
            if when <= since.timestamp():  # the range is inclusive; the period is not
                continue
            article_id = member.split(":", 1)[0]
            count, _ = counts.get(article_id, (0, 0.0))
            counts[article_id] = (count + 1, when)  # rows ascend, so `when` ends at the latest
        articles = []
        for article_id, (count, last_shared) in counts.items():
            raw = await self.store.get(keys.digest_article(chat.key, article_id))
            if raw is None:  # expired between the two reads
                continue
            data = json.loads(raw)
            vector, encoder = data.pop("vector", None), data.pop("encoder", None)
            usable = unpack_vector(vector) if vector and encoder == self.encoder else None
            articles.append(SharedArticle(shares=count, last_shared=last_shared, vector=usable, **data))
        articles.sort(key=lambda article: article.last_shared, reverse=True)
        return articles


def _canonical(url: str | None) -> str | None:
    """The canonical form of an http(s) link; None for anything else (a local file)."""
    try:
        return canonicalize(url) if url else None
    except ValueError:
        return None
