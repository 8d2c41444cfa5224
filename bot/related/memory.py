"""What a scope (a chat, or a Slack workspace / Telegram group) has already had summarized,
searched by embedding similarity for "related articles".

Store layout, per scope (every key starts `related:{scope}:`, so scopes never mix):

  articles  hash    canonical URL -> entry: float16 vector, then JSON {title, url}
  recent    zset    canonical URL -> sequence number of its latest remembering (recency)
  seq       counter hands out those sequence numbers
  version   counter bumped after each change has landed, so other processes notice it
  trimmed   the highest sequence number dropped by the cap, for other processes' caches
  contributors  hash  canonical URL -> JSON list of the chat keys that shared it, kept only
            in a scope shared by several chats, so that erasing one chat (bot.privacy) drops
            the entries only it contributed and nothing another chat shared
  shared    zset    canonical URL -> when it was last shared in the scope (unix time): an entry
            not shared again for SUMMARY_BOT_RELATED_RETENTION_DAYS is dropped (`prune`, run
            by bot.retention's sweep); entries from before this was kept start their clock
            at the first sweep

Searching reads nothing but `version` when nothing changed: each process keeps the scope's
vectors as one float32 matrix and, when `version` moves, reads only the entries remembered
since (those with a sequence number above what it holds, less a window for writes that
landed out of order) and drops the rows the cap removed. Sequence numbers come from the
store, not from clocks, so processes on different machines agree on the order.

The views a process keeps are bounded by bytes across all scopes (`cache_bytes`, counting
each matrix as allocated plus an estimate for the Python objects of its rows) and in number
(`max_views`): the least recently used are dropped and read again from the store when next
needed. Every private chat is a scope of its own, so most views hold a handful of rows; a
matrix is allocated for the rows it holds (plus headroom once it grows), not a fixed block.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from bot.links import canonicalize
from bot.models import RelatedLink
from bot.related.vectors import DTYPE
from bot.store.keys import RELATED_PARTS
from bot.store.keys import related as _k

DEFAULT_MAX_PER_SCOPE = 10_000
CACHE_BYTES = 300 * 1024 * 1024  # all scopes' views a process keeps, together
MAX_VIEWS = 20_000  # scopes a process keeps a view of (most are small private chats)
ROW_OVERHEAD = 700  # bytes per row besides its vector: canonical URL, title, link, seq, index
ROW_TEXT = 300  # characters of URL, canonical URL and title that ROW_OVERHEAD allows for; longer rows count extra
VIEW_OVERHEAD = 2_048  # bytes of an empty view: the object, its lists and dict, the array header
LANDING_WINDOW = 64  # writes that may land out of order: more concurrent writers than this in one scope is unlikely
TRIM_EVERY = 32  # check the cap every this many rememberings, not on each
REFRESH_RECENCY = 0.5  # an article re-shared this far down the recency order is remembered again

_HEADER = struct.Struct("<H")  # vector length, before the float16 values


@dataclass(frozen=True)
class ScoredLink:
    link: RelatedLink
    score: float  # cosine similarity to the query


def _extra_text(key: str, link: RelatedLink) -> int:
    return max(0, len(key) + len(link.url) + len(link.title) - ROW_TEXT)


def pack_entry(vector: np.ndarray, title: str, url: str) -> bytes:
    values = np.asarray(vector, dtype=DTYPE)
    meta = json.dumps({"title": title, "url": url}, ensure_ascii=False).encode()
    return _HEADER.pack(len(values)) + values.tobytes() + meta


def unpack_entry(data: bytes) -> tuple[np.ndarray, RelatedLink]:
    (length,) = _HEADER.unpack_from(data)
    end = _HEADER.size + length * DTYPE.itemsize
    vector = np.frombuffer(data[_HEADER.size : end], dtype=DTYPE).astype(np.float32)
    meta = json.loads(data[end:])
    return vector, RelatedLink(meta["title"], meta["url"])


class ScopeView:
    """One scope's remembered articles as a matrix, for fast search; refreshed in place."""

    def __init__(self):
        self.version = 0
        self.keys: list[str] = []  # canonical URLs, one per row
        self.rows: dict[str, int] = {}
        self.links: list[RelatedLink] = []
        self.seqs: list[float] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)  # rows beyond len(keys) are headroom
        self.max_seq = 0.0
        self.floor = float("-inf")  # rows at or below this sequence number are gone
        self._extra_text = 0  # characters of long rows beyond ROW_TEXT (a page's URL may be 2 kB)

    @classmethod
    def of(cls, keys: list[str], vectors: list[np.ndarray], links: list[RelatedLink], seqs: list[float]) -> ScopeView:
        """A view of these rows, built in one go (a cold load of a large scope)."""
        view = cls()
        if keys:
            # Headroom, so the next few additions don't copy the whole matrix to grow it; none
            # for a small scope (most are one person's private chat), where copying is cheap.
            headroom = len(keys) // 8 if len(keys) >= 64 else 0
            view._matrix = np.zeros((len(keys) + headroom, len(vectors[0])), dtype=np.float32)
            view._matrix[: len(keys)] = np.stack(vectors)
            view.keys, view.links, view.seqs = list(keys), list(links), list(seqs)
            view.rows = {key: i for i, key in enumerate(keys)}
            view.max_seq = max(seqs)
            view._extra_text = sum(_extra_text(key, link) for key, link in zip(keys, links))
        return view

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """About how much memory the view holds: the matrix as allocated, headroom included,
        and an estimate for each row's Python objects (more for rows with long text)."""
        return self._matrix.nbytes + len(self.keys) * ROW_OVERHEAD + self._extra_text + VIEW_OVERHEAD

    def vector_of(self, url: str) -> np.ndarray | None:
        row = self.rows.get(_key(url))
        return None if row is None else self._matrix[row].copy()

    def seq_of(self, url: str) -> float | None:
        row = self.rows.get(_key(url))
        return None if row is None else self.seqs[row]

    def title_of(self, url: str) -> str | None:
        row = self.rows.get(_key(url))
        return None if row is None else self.links[row].title

    def search(self, vector: np.ndarray, *, limit: int, threshold: float, exclude=()) -> list[ScoredLink]:
        """The `limit` most similar articles scoring at least `threshold`, best first."""
        count = len(self.keys)
        if not count or limit <= 0:
            return []
        # einsum runs on this thread: no BLAS thread hand-offs for a memory-bound pass,
        # which measured steadier and faster here than `@` from 10k to 100k rows.
        scores = np.einsum("ij,j->i", self._matrix[:count], np.asarray(vector, dtype=np.float32))
        for url in exclude:
            row = self.rows.get(_key(url))
            if row is not None:
                scores[row] = -np.inf
        wanted = min(limit, count)
        top = np.argpartition(-scores, wanted - 1)[:wanted]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [ScoredLink(self.links[i], float(scores[i])) for i in top if scores[i] >= threshold]

    # -- keeping it current -------------------------------------------------------------------
    def upsert(self, key: str, vector: np.ndarray, link: RelatedLink, seq: float) -> None:
        row = self.rows.get(key)
        if row is None:
            row = len(self.keys)
            self._grow(row + 1, len(vector))
            self.keys.append(key)
            self.links.append(link)
            self.seqs.append(seq)
            self.rows[key] = row
        else:
            self._extra_text -= _extra_text(key, self.links[row])
            self.links[row] = link
            self.seqs[row] = seq
        self._extra_text += _extra_text(key, link)
        self._matrix[row] = vector
        self.max_seq = max(self.max_seq, seq)

    def drop_up_to(self, floor: float) -> None:
        """Forget rows whose sequence number is at most `floor` (removed by the cap)."""
        if floor <= self.floor:
            return  # nothing trimmed since last time: no pass over every row
        self.floor = floor
        keep = [i for i, seq in enumerate(self.seqs) if seq > floor]
        if len(keep) == len(self.keys):
            return
        self._matrix = self._matrix[keep].copy()
        self.keys = [self.keys[i] for i in keep]
        self.links = [self.links[i] for i in keep]
        self.seqs = [self.seqs[i] for i in keep]
        self.rows = {key: i for i, key in enumerate(self.keys)}
        self._extra_text = sum(_extra_text(key, link) for key, link in zip(self.keys, self.links))

    def _grow(self, rows: int, dimension: int) -> None:
        if self._matrix.shape[1] != dimension:
            if len(self.keys):
                raise ValueError(f"vector of {dimension} values in a scope of {self._matrix.shape[1]}")
            self._matrix = np.zeros((0, dimension), dtype=np.float32)
        if rows > self._matrix.shape[0]:
            # Doubling keeps appends amortised O(1) as a scope grows one article at a time;
            # it starts from the rows needed, so a one-article scope holds one row.
            bigger = np.zeros((max(rows, 2 * self._matrix.shape[0]), dimension), dtype=np.float32)
            bigger[: len(self.keys)] = self._matrix[: len(self.keys)]
            self._matrix = bigger


class RelatedMemory:
    """Articles remembered per scope, in the store; searched through in-process views."""

    def __init__(
        self,
        store,
        *,
        max_per_scope: int = DEFAULT_MAX_PER_SCOPE,
        cache_bytes: int = CACHE_BYTES,
        max_views: int = MAX_VIEWS,
        clock=time.time,
    ):
        self.store = store
        self.clock = clock  # unix time: when entries were last shared, for the retention
        self.max_per_scope = max_per_scope
        self.cache_bytes = cache_bytes
        self.max_views = max_views
        self._views: OrderedDict[str, ScopeView] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # scope -> its view's nbytes when last counted
        self.cached_bytes = 0  # sum of _sizes
        # Only while a scope is being refreshed: (lock, tasks using it); gone when none is.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def view(self, scope: str) -> ScopeView:
        """The scope's articles, brought up to date with the store (one read if unchanged)."""
        version = int(await self.store.get(_k(scope, "version")) or 0)
        view = self._views.get(scope)
        if view is None or view.version != version:
            lock, users = self._locks.get(scope) or (asyncio.Lock(), 0)
            self._locks[scope] = (lock, users + 1)
            try:
                async with lock:
                    view = self._views.get(scope)
                    if view is None or view.version != version:
                        view = await self._refresh(scope, view, version)
                        self._keep(scope, view)
            finally:
                lock, users = self._locks[scope]
                if users == 1:
                    del self._locks[scope]
                else:
                    self._locks[scope] = (lock, users - 1)
        if scope in self._views:
            self._views.move_to_end(scope)
        else:  # evicted while others used it: keep it again, it is in use
            self._keep(scope, view)
        self._evict(keep=scope)
        return view

    async def search(
        self, scope: str, vector: np.ndarray, *, limit: int, threshold: float, exclude=()
    ) -> list[ScoredLink]:
        view = await self.view(scope)
        return view.search(vector, limit=limit, threshold=threshold, exclude=exclude)

    async def remember(
        self, scope: str, url: str, title: str, vector: np.ndarray, *, contributor: str | None = None
    ) -> None:
        """Add (or refresh the recency of) an article in `scope`, shared in chat `contributor`."""
        key = _key(url)
        seq = await self.store.incr(_k(scope, "seq"))
        await self.store.hset(_k(scope, "articles"), key, pack_entry(vector, title, url))
        await self.add_contributor(scope, url, contributor)
        await self.store.zadd(_k(scope, "shared"), {key: self.clock()})
        await self.store.zadd(_k(scope, "recent"), {key: float(seq)})
        if seq % TRIM_EVERY == 0:
            await self._trim(scope)
        await self.store.incr(_k(scope, "version"))

    async def shared_again(self, scope: str, url: str, contributor: str | None) -> None:
        """An article the scope remembers was shared again (in chat `contributor`): its
        retention starts over, and the chat counts among those who shared it."""
        await self.store.zadd(_k(scope, "shared"), {_key(url): self.clock()})
        await self.add_contributor(scope, url, contributor)

    async def prune(self, scope: str, max_age: float) -> int:
        """Drop the entries of `scope` not shared for `max_age` seconds; the number dropped.
        A scope left with no entry is deleted whole (its counters too)."""
        remembered = await self.store.zcard(_k(scope, "recent"))
        if await self.store.zcard(_k(scope, "shared")) < remembered:  # entries older than `shared`
            timed = dict(await self.store.zrangebyscore(_k(scope, "shared"), float("-inf"), float("inf")))
            untimed = [key for key, _ in await self.store.zrangebyscore(_k(scope, "recent"), float("-inf"), float("inf"))
                       if key not in timed]  # fmt: skip
            now = self.clock()
            await self.store.zadd(_k(scope, "shared"), {key: now for key in untimed})
        expired = [key for key, _ in await self.store.zrangebyscore(_k(scope, "shared"), float("-inf"), self.clock() - max_age)]
        if expired:
            await self.store.hdel(_k(scope, "articles"), *expired)
            await self.store.zrem(_k(scope, "recent"), *expired)
            await self.store.hdel(_k(scope, "contributors"), *expired)
            await self.store.zrem(_k(scope, "shared"), *expired)
            await self.store.incr(_k(scope, "version"))  # views reload: rows went without a trim
        if not await self.store.zcard(_k(scope, "recent")) and await self.store.get(_k(scope, "seq")) is not None:
            # Nothing left: the counters go too. `version` only after another period, so
            # that a process's view of the scope still sees it move (and drops its rows)
            # rather than finding it back at a number it already holds.
            await self.store.delete(*(_k(scope, part) for part in RELATED_PARTS if part != "version"))
            await self.store.expire(_k(scope, "version"), max_age)
        return len(expired)

    async def add_contributor(self, scope: str, url: str, contributor: str | None) -> None:
        """Record that chat `contributor` shared `url` in `scope`, when the scope is not the
        chat's own (a read and maybe a write; two chats adding themselves to one entry at the
        same instant can lose one of them, which then survives the other's erasure)."""
        if contributor is None or contributor == scope:
            return
        key = _key(url)
        raw = await self.store.hget(_k(scope, "contributors"), key)
        chats = json.loads(raw) if raw else []
        if contributor not in chats:
            chats.append(contributor)
            await self.store.hset(_k(scope, "contributors"), key, json.dumps(chats).encode())

    async def contributions(self, scope: str, contributor: str) -> list[str]:
        """The canonical URLs of `scope` that chat `contributor` shared."""
        recorded = await self.store.hgetall(_k(scope, "contributors"))
        return sorted(key for key, raw in recorded.items() if contributor in json.loads(raw))

    async def forget_contributor(self, scope: str, contributor: str) -> int:
        """Erase chat `contributor` from a shared scope: the entries only it shared go, and
        its name leaves the others. The number of entries dropped."""
        dropped = []
        for key, raw in (await self.store.hgetall(_k(scope, "contributors"))).items():
            chats = json.loads(raw)
            if contributor not in chats:
                continue
            chats.remove(contributor)
            if chats:
                await self.store.hset(_k(scope, "contributors"), key, json.dumps(chats).encode())
            else:
                dropped.append(key)
        if dropped:
            await self.store.hdel(_k(scope, "articles"), *dropped)
            await self.store.zrem(_k(scope, "recent"), *dropped)
            await self.store.hdel(_k(scope, "contributors"), *dropped)
            await self.store.zrem(_k(scope, "shared"), *dropped)
            await self.store.incr(_k(scope, "version"))  # views reload: rows went without a trim
        return len(dropped)

    async def rename_contributor(self, scope: str, old: str, new: str) -> None:
        """A chat moved to a new key (bot.privacy.move_chat): its contributions follow it."""
        for key, raw in (await self.store.hgetall(_k(scope, "contributors"))).items():
            chats = json.loads(raw)
            if old in chats:
                chats = [new if chat == old else chat for chat in chats]
                await self.store.hset(_k(scope, "contributors"), key, json.dumps(list(dict.fromkeys(chats))).encode())

    def needs_remembering(self, view: ScopeView, url: str) -> bool:
        """Whether `url` is new to the scope, or old enough in it that the cap may soon drop
        it: re-sharing a recent article costs no writes."""
        seq = view.seq_of(url)
        return seq is None or view.max_seq - seq > self.max_per_scope * REFRESH_RECENCY

    # -- store side ---------------------------------------------------------------------------
    async def _trim(self, scope: str) -> None:
        """Drop the least recently remembered articles beyond the cap."""
        excess = await self.store.zcard(_k(scope, "recent")) - self.max_per_scope
        if excess <= 0:
            return
        oldest = await self.store.zrangebyscore(_k(scope, "recent"), float("-inf"), float("inf"), limit=excess)
        keys = [key for key, _ in oldest]
        await self.store.zrem(_k(scope, "recent"), *keys)
        await self.store.hdel(_k(scope, "articles"), *keys)
        await self.store.hdel(_k(scope, "contributors"), *keys)
        await self.store.zrem(_k(scope, "shared"), *keys)
        await self.store.set(_k(scope, "trimmed"), str(oldest[-1][1]).encode())

    async def _refresh(self, scope: str, view: ScopeView | None, version: int) -> ScopeView:
        if view is None or version < view.version:  # new here, or the scope was reset
            return await self._load(scope, version)
        floor = float(await self.store.get(_k(scope, "trimmed")) or "-inf")
        since = max(view.max_seq - LANDING_WINDOW, floor)
        changed = await self.store.zrangebyscore(_k(scope, "recent"), since, float("inf"))
        for key, seq in changed:
            row = view.rows.get(key)
            if row is not None and view.seqs[row] == seq:
                continue
            entry = await self.store.hget(_k(scope, "articles"), key)
            if entry is not None:
                vector, link = unpack_entry(entry)
                view.upsert(key, vector, link, seq)
        view.drop_up_to(floor)
        if len(view) != await self.store.zcard(_k(scope, "recent")):
            return await self._load(scope, version)  # something we can't follow: read it all
        view.version = version
        return view

    async def _load(self, scope: str, version: int) -> ScopeView:
        entries = await self.store.hgetall(_k(scope, "articles"))
        keys, vectors, links, seqs = [], [], [], []
        # In order of `recent`: an entry not in it yet is still landing, and comes with the
        # next version; one missing from `articles` was trimmed meanwhile.
        for key, seq in await self.store.zrangebyscore(_k(scope, "recent"), float("-inf"), float("inf")):
            if key in entries:
                vector, link = unpack_entry(entries[key])
                keys.append(key)
                vectors.append(vector)
                links.append(link)
                seqs.append(seq)
        view = ScopeView.of(keys, vectors, links, seqs)
        view.version = version
        return view

    # -- the in-process cache ------------------------------------------------------------------
    @property
    def cached_scopes(self) -> int:
        return len(self._views)

    @property
    def refreshing_scopes(self) -> int:
        return len(self._locks)

    def _keep(self, scope: str, view: ScopeView) -> None:
        """Hold `scope`'s view (new, or refreshed in place) as the most recently used."""
        self._views[scope] = view
        self._views.move_to_end(scope)
        size = view.nbytes
        self.cached_bytes += size - self._sizes.get(scope, 0)
        self._sizes[scope] = size

    def _evict(self, keep: str) -> None:
        """Drop the least recently used views until the rest fit `cache_bytes` and
        `max_views`; `keep` (the view just asked for) stays even if it alone is too big."""
        while self._views and (self.cached_bytes > self.cache_bytes or len(self._views) > self.max_views):
            scope = next(iter(self._views))
            if scope == keep:
                if len(self._views) == 1:
                    break
                self._views.move_to_end(scope)
                continue
            del self._views[scope]
            self.cached_bytes -= self._sizes.pop(scope)


def _key(url: str) -> str:
    try:
        return canonicalize(url)
    except ValueError:
        return url
