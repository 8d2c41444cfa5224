"""The content of a chat's digest: what was shared there in a period, plus new feed items.

One story counts once: first by canonical URL, then by the similarity of title and lead
(the shared sentence encoder), so the same story shared under two addresses, or shared and
also in a feed, is one entry whose share counts add up. Entries are ranked by shares, then
recency; when there are many, related ones are grouped under a common label.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo

import numpy as np

from bot.config import Settings
from bot.digest.feeds import Feeds
from bot.digest.history import ShareHistory
from bot.digest.similarity import story_text
from bot.i18n import Translator, english
from bot.related.vectors import ArticleVectors
from bot.models import ChatRef, DailyDigest, DigestEntry

MAX_ENTRIES = 20
MAX_SHARED_CANDIDATES = 100  # a busy chat's week: the most shared, then the newest
MAX_FEED_CANDIDATES = 40  # unseen items considered (the feeds taking turns); the rest wait for a later digest
SAME_STORY_SIMILARITY = 0.72  # title+lead cosine: one story retold (measured on MiniLM)
RELATED_SIMILARITY = 0.35  # title+lead cosine to a group's mean: same topic, another story
GROUP_WHEN_MORE_THAN = 6
SUMMARY_CHARS = 280
_WORD_RE = re.compile(r"[^\W\d_][\w'’]*")  # words; "New-Car" is two, "Russia’s" one
_STOPWORDS = frozenset(
    """the a an and or of in on at to for from with by about after over into as is are was
    were be been its it this that these those what how why who new says said will would
    could can may more most than their they them his her our your not but has have had
    amid up out""".split()
)


@dataclass
class Candidate:
    """A story on its way into a digest."""

    key: str  # canonical URL
    url: str
    title: str
    summary: str
    source: str
    shares: int
    when: float  # last shared, or published (unix time)
    lead: str = ""  # for similarity: title plus lead
    vector: np.ndarray | None = None  # of title plus lead, when already known
    feed_item_ids: list[str] = field(default_factory=list)

    @property
    def rank(self) -> tuple[int, float]:
        return (self.shares, self.when)


@dataclass
class PendingDigest:
    """A digest ready to send, and what to record once the platform has accepted it."""

    daily: DailyDigest
    period_end: datetime
    feed_item_ids: list[str]  # every feed item this digest accounts for
    language: str = "en"  # what its title is in, and the adapter's words around it

    def to_json(self) -> str:
        return json.dumps({
            "title": self.daily.title, "period": self.daily.period,
            "entries": [asdict(entry) for entry in self.daily.entries],
            "period_end": self.period_end.isoformat(), "feed_item_ids": self.feed_item_ids,
            "language": self.language,
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str | bytes) -> PendingDigest:
        """Raises ValueError (or KeyError, TypeError) for what `to_json` did not write."""
        data = json.loads(text)
        return cls(
            daily=DailyDigest(data["title"], [DigestEntry(**entry) for entry in data["entries"]], data["period"]),
            period_end=datetime.fromisoformat(data["period_end"]),
            feed_item_ids=[str(item) for item in data["feed_item_ids"]],
            language=str(data.get("language") or "en"),  # composed before languages: English
        )


class DigestComposer:
    def __init__(self, settings: Settings, history: ShareHistory, feeds: Feeds, vectors: ArticleVectors):
        self.settings = settings
        self.vectors = vectors
        self.history = history
        self.feeds = feeds

    async def compose(
        self, chat: ChatRef, since: datetime, until: datetime, zone: tzinfo, *, daily: bool = True,
        t: Translator | None = None,
    ) -> PendingDigest | None:
        """The digest of (since, until] for `chat`; None when nothing is new (unless
        settings.digest_send_empty). `daily` False: a digest of the day so far (/digest)."""
        shared = await self.history.shared_between(chat, since, until)
        unseen = await self.feeds.unseen_items(chat, until)
        candidates = sorted(
            (
                Candidate(
                    key=article.canonical_url,
                    url=article.url,
                    title=article.title,
                    summary=_shorten(" ".join(article.points[:2])),
                    source=article.source,
                    shares=article.shares,
                    when=article.last_shared,
                    lead=article.lead,
                    vector=article.vector,
                )
                for article in shared
            ),
            key=lambda candidate: candidate.rank,
            reverse=True,
        )[:MAX_SHARED_CANDIDATES]
        candidates += [
            Candidate(
                key=item.url,
                url=item.url,
                title=item.title,
                summary=item.summary,
                source=item.source,
                shares=0,
                when=item.published or until.timestamp(),
                lead=item.summary,
                feed_item_ids=[item.item_id],
            )
            for item in unseen[:MAX_FEED_CANDIDATES]
        ]
        entries = await self.entries(candidates)
        feed_item_ids = [item.item_id for item in unseen[:MAX_FEED_CANDIDATES]]  # what was considered
        if not entries and not self.settings.digest_send_empty:
            return None
        t = t or english()
        local_end = until.astimezone(zone)
        title = (
            t._("Your daily digest – {date}", date=t.date(local_end))
            if daily
            else t._("Your digest so far – {date}", date=t.date(local_end))
        )
        period = f"{_short_moment(since.astimezone(zone), t)} – {_short_moment(local_end, t)} ({zone})"
        if not entries:
            period = t._("Nothing new was shared here, {period}", period=period)
        return PendingDigest(
            daily=DailyDigest(title=title, entries=entries, period=period),
            period_end=until,
            feed_item_ids=feed_item_ids,
            language=t.code,
        )

    async def entries(self, candidates: list[Candidate]) -> list[DigestEntry]:
        """Stories counted once, ranked, capped, and grouped when there are many."""
        candidates = _merge_same_url(candidates)
        if len(candidates) < 2:
            return [_entry(candidate) for candidate in candidates]
        unknown = [c for c in candidates if c.vector is None]  # feed items, mostly
        if unknown:
            texts = [story_text(c.title, c.lead) for c in unknown]
            for candidate, vector in zip(unknown, await self.vectors.vectors_for(texts)):
                candidate.vector = vector
        vectors = np.stack([c.vector for c in candidates])
        kept, vectors = merge_same_story(candidates, vectors, SAME_STORY_SIMILARITY)
        order = sorted(range(len(kept)), key=lambda i: kept[i].rank, reverse=True)[:MAX_ENTRIES]
        kept, vectors = [kept[i] for i in order], vectors[order]
        if len(kept) <= GROUP_WHEN_MORE_THAN:
            return [_entry(candidate) for candidate in kept]
        return group_related(kept, vectors, RELATED_SIMILARITY)


def _merge_same_url(candidates: list[Candidate]) -> list[Candidate]:
    by_key: dict[str, Candidate] = {}
    for candidate in candidates:
        if candidate.key in by_key:
            _absorb(by_key[candidate.key], candidate)
        else:
            by_key[candidate.key] = candidate
    return list(by_key.values())


def _absorb(kept: Candidate, duplicate: Candidate) -> None:
    kept.shares += duplicate.shares
    kept.when = max(kept.when, duplicate.when)
    kept.feed_item_ids += duplicate.feed_item_ids


def merge_same_story(
    candidates: list[Candidate], vectors: np.ndarray, threshold: float
) -> tuple[list[Candidate], np.ndarray]:
    """Fold each candidate into a better-ranked one it retells (cosine >= threshold)."""
    order = sorted(range(len(candidates)), key=lambda i: candidates[i].rank, reverse=True)
    kept: list[int] = []
    for i in order:
        twin = next((k for k in kept if float(vectors[i] @ vectors[k]) >= threshold), None)
        if twin is None:
            kept.append(i)
        else:
            _absorb(candidates[twin], candidates[i])
    return [candidates[i] for i in kept], vectors[kept]


def group_related(ranked: list[Candidate], vectors: np.ndarray, threshold: float) -> list[DigestEntry]:
    """Entries with related stories next to each other under a label; a story related to
    no other stays ungrouped. In rank order, each story joins the group whose mean vector
    it resembles most, if cosine >= threshold, else starts one."""
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for i in range(len(ranked)):
        similarities = [float(vectors[i] @ centroid) for centroid in centroids]
        best = max(range(len(groups)), key=similarities.__getitem__, default=None)
        if best is not None and similarities[best] >= threshold:
            groups[best].append(i)
            total = vectors[groups[best]].sum(axis=0)
            centroids[best] = total / np.linalg.norm(total)
        else:
            groups.append([i])
            centroids.append(vectors[i])
    entries: list[DigestEntry] = []
    for group in groups:
        label = group_label([ranked[i].title for i in group]) if len(group) > 1 else None
        entries += [_entry(ranked[i], group=label) for i in group]
    return entries


def group_label(titles: list[str]) -> str:
    """Words the titles share (at least two titles), else the leading story's title."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for title in titles:
        words = {}
        for word in _WORD_RE.findall(title):
            stem = _stem(word)
            if stem not in _STOPWORDS and len(stem) > 2:
                words.setdefault(stem, word)
        counts.update(words.keys())
        for stem, word in words.items():
            spelling.setdefault(stem, word)
    shared = [stem for stem, count in counts.most_common() if count >= 2][:3]
    if not shared:
        return _shorten(titles[0], 60)
    return ", ".join(_capitalised(_stem_spelling(spelling[stem])) for stem in shared)


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'")
    for suffix in ("'s", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    return word


def _stem_spelling(word: str) -> str:
    """The word as written, without a possessive."""
    return re.sub(r"['’]s$", "", word)


def _capitalised(word: str) -> str:
    return word if word[:1].isupper() else word[:1].upper() + word[1:]


def _entry(candidate: Candidate, group: str | None = None) -> DigestEntry:
    return DigestEntry(
        title=candidate.title,
        url=candidate.url,
        summary=candidate.summary,
        source=candidate.source,
        shares=candidate.shares,
        group=group,
    )


def _shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _short_moment(moment: datetime, t: Translator) -> str:
    return f"{t.short_date(moment)} {moment:%H:%M}"
