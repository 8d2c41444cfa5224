"""Erasure, export and migration of what the bot stores about a chat or a workspace.

The core service behind /privacy and /forget, the platforms' lifecycle events (a bot removed
from a group, a Slack app uninstalled, a Telegram group migrated to a supergroup) and the
operators' `summary-bot forget|export`. Platform-free: adapters translate events into calls of
one method per scope (`erase_chat`, `erase_workspace`, `move_chat`).

What a chat leaves, and how each part is found:
  * keys of its own (settings, subscription, shares and shared articles, feeds followed and
    items seen, sent/claim/pending/part records of its digests, rate-limit decisions, the
    related memory of a scope that is the chat itself): every one is written as an OwnedKey,
    so the store's owner index lists them (Store.keys_of / erase_owner);
  * its entries in keys shared with other chats, removed member by member here: the due set
    (`digest:due`), the followers of each feed it follows (a feed's state goes with its last
    follower), and its contributions to shared related-memory scopes (a Slack workspace,
    "global"): the entries only it shared go, its name leaves the others;
  * in a private chat, the sender's rate-limit counters of the last minutes (the user is the
    chat); groups keep no per-user data beyond those 120-second counters.
Not here: the caches of public pages (article, summary and vectors by URL or content hash)
name no chat. Delivery records of queued jobs (`delivery:{job}:…`) hold only hashes.

"Nothing written after an erasure may name the erased chat": callers erase last, after
sending their reply (or write such records without the chat id). Work for the chat that was
already running when it was erased (a link being summarized when /forget is pressed, or the
bot removed) writes its share and memory afterwards: `Privacy.fenced` wraps a message's work
and erases the chat again when an erasure happened meanwhile. An erasure counts itself first
(`erasures:{hash of the chat key}`, and its time in `erased-at:{hash}`, kept
ERASURE_COUNT_SECONDS, naming no chat), so a write that lands after its deletions is seen by
the fence's closing read. A message that waited in the job queue (`message_arrived`) counts
from its arrival: an erasure since then is one during its work. SQLite: the erasure ends with
a WAL checkpoint (Store.purge_deleted) so that the database files' bytes hold nothing of it;
Redis: its persistence files keep erased bytes until the next rewrite (`rewrite_persistence`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from bot.digest.feeds import feed_state_key, followers_key
from bot.digest.subscriptions import chat_from_json, chat_to_json
from bot.models import ChatRef
from bot.related.memory import RelatedMemory, unpack_entry
from bot.store import Store, keys

log = logging.getLogger(__name__)

GLOBAL_SCOPE = "global"  # bot.related.finder.memory_scope's scope of a whole deployment
RATE_LIMIT_MINUTES = 3  # the rate-limit counters live 120 s: this minute and the two before
# An erasure's count outlives any message's work begun before it (the model budget, a queued
# job's retries: minutes).
ERASURE_COUNT_SECONDS = 3600


@dataclass
class _Fence:
    """The message's work in progress (see Privacy.fenced)."""

    erased_here: set[str] = field(default_factory=set)  # chats this work erased itself (/forget)


_fence: ContextVar[_Fence | None] = ContextVar("summary_bot_privacy_fence", default=None)
_arrived: ContextVar[float | None] = ContextVar("summary_bot_message_arrived", default=None)


@contextmanager
def message_arrived(at: float) -> Iterator[None]:
    """Work inside answers a message that arrived at `at` (time.time()) and waited before
    its work began (in a job queue): an erasure of its chat since `at` is one during it."""
    token = _arrived.set(at)
    try:
        yield
    finally:
        _arrived.reset(token)


@dataclass
class Inventory:
    """What the store holds about one chat, by kind (what /forget says it will erase)."""

    shares: int = 0  # links shared, counted once per share, within the history period
    articles: int = 0  # distinct articles in the chat's digest history
    feeds: int = 0
    subscription: bool = False
    settings: int = 0  # settings changed from their default (autosummary, time zone)
    related: int = 0  # related-memory entries of the chat's own scope, or only it contributed
    keys: int = 0  # keys of its own in the store, all kinds together

    @property
    def empty(self) -> bool:
        return not (self.keys or self.related or self.feeds or self.subscription)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_chat(text: str) -> ChatRef:
    """A chat named as operators write it: "telegram:<id>", "slack:<team>:<channel>" (or
    "slack:<channel>"), "<platform>:<id>". Raises ValueError otherwise."""
    platform, _, rest = text.strip().partition(":")
    if not platform or not rest or any(c.isspace() for c in text.strip()):
        raise ValueError(f"a chat is platform:chat_id (telegram:-1001234, slack:T0123:C0123), not {text!r}")
    if platform == "slack" and ":" in rest:
        team, _, channel = rest.partition(":")
        if not team or not channel:
            raise ValueError(f"a Slack chat is slack:<team>:<channel>, not {text!r}")
        # as the Slack adapter keys a chat: by the team whose installation saw it ("slack:T1:C1")
        return ChatRef(platform="slack", chat_id=f"{team}:{channel}", scope_id=team, kind="group")
    # A Telegram private chat's id is its user's, positive; groups' are negative.
    kind = "private" if platform == "telegram" and rest.isdigit() else "group"
    return ChatRef(platform=platform, chat_id=rest, kind=kind)


class Privacy:
    def __init__(self, store: Store, *, memory: RelatedMemory | None = None):
        self.store = store
        # The bot's own RelatedMemory, when given, keeps its in-process views; any other one
        # works too: views follow the scope's version, which every change here moves.
        self.memory = memory or RelatedMemory(store)

    # -- what is stored ---------------------------------------------------------------------
    async def inventory(self, chat: ChatRef) -> Inventory:
        own = await self.store.keys_of(chat.key)
        shares = await self.store.zrangebyscore(keys.digest_shares(chat.key), float("-inf"), float("inf"))
        related = await self.store.zcard(keys.related(chat.key, "recent"))
        for scope in self._shared_scopes(chat):
            related += len(await self._only_from(scope, chat.key))
        return Inventory(
            shares=len(shares),
            articles=sum(name.startswith(f"digest:article:{chat.key}:") for name in own),
            feeds=len(await self.store.hgetall(keys.digest_feeds(chat.key))),
            subscription=bool(await self.store.hgetall(keys.digest_subscription(chat.key))),
            settings=len(await self.store.hgetall(keys.chat_settings(chat.key))),
            related=related,
            keys=len(own),
        )

    async def export_chat(self, chat: ChatRef) -> dict:
        """Everything stored about `chat`, as JSON-able data: each key of its own with its
        value, and its entries in keys shared with other chats."""
        exported: dict = {
            "chat": chat.key,
            "exported_at": datetime.now(timezone.utc).isoformat(),
            "keys": {},
            "digest_due_at": None,
            "feeds_followed_with_others": [],
            "related_contributions": {},
        }
        for name in await self.store.keys_of(chat.key):
            exported["keys"][name] = await self._value(name)
        due = await self.store.zscore(keys.DIGEST_DUE, chat.key)
        if due is not None:
            exported["digest_due_at"] = datetime.fromtimestamp(due, timezone.utc).isoformat()
        for canonical in await self.store.hgetall(keys.digest_feeds(chat.key)):
            exported["feeds_followed_with_others"].append(canonical)
        for scope in self._shared_scopes(chat):
            contributed = await self.memory.contributions(scope, chat.key)
            if contributed:
                entries = []
                for url in contributed:
                    raw = await self.store.hget(keys.related(scope, "articles"), url)
                    link = unpack_entry(raw)[1] if raw else None
                    entries.append({"url": url, "title": link.title if link else None})
                exported["related_contributions"][scope] = entries
        return exported

    # -- erasure ----------------------------------------------------------------------------
    async def erase_chat(self, chat: ChatRef, *, rewrite_persistence: bool = False) -> Inventory:
        """Erase everything of `chat`; what there was. Call it last (see the module)."""
        erased = await self.inventory(chat)
        await self._erase(chat)
        await self._purge(rewrite_persistence)
        log.info("erased a chat's data: %d keys", erased.keys)  # no chat id: the log outlives it
        return erased

    async def erase_workspace(self, platform: str, team: str, *, rewrite_persistence: bool = False) -> int:
        """Erase every chat of a workspace (a Slack team) and the workspace's own related
        memory; the number of chats erased. Chats are found by the owner index (chat keys
        that name the team) and, for keys that do not, by their subscription's team."""
        workspace = f"{platform}:{team}"
        chats = {key: parse_chat(key) for key in await self.store.owners_in(workspace)}
        for chat_key, _ in await self.store.zrangebyscore(keys.DIGEST_DUE, float("-inf"), float("inf")):
            if chat_key.startswith(f"{platform}:") and chat_key not in chats:
                raw = await self.store.hget(keys.digest_subscription(chat_key), "chat")
                chat = chat_from_json(raw) if raw else None
                if chat is not None and chat.scope == workspace:
                    chats[chat_key] = chat
        for chat in chats.values():
            await self._erase(chat)
        await self.store.erase_owner(workspace)  # its shared related memory, whoever shared in it
        await self._purge(rewrite_persistence)
        log.info("erased a workspace's data: %d chats", len(chats))
        return len(chats)

    @asynccontextmanager
    async def fenced(self, chat: ChatRef) -> AsyncIterator[None]:
        """Run a message's work for `chat` inside: if the chat is erased while it runs (by
        anyone else), what the work wrote is erased too once it ends. Nested, only the
        outermost acts. Costs two reads of one key."""
        if _fence.get() is not None:
            yield
            return
        before = await self.store.get(keys.erasures(chat.key))
        fence = _Fence()
        token = _fence.set(fence)
        try:
            yield
        finally:
            _fence.reset(token)
            if chat.key not in fence.erased_here:  # erasing was this work's own last step
                await self._erase_again_if_erased(chat, before, _arrived.get())

    async def _erase_again_if_erased(self, chat: ChatRef, before: bytes | None, arrived: float | None) -> None:
        try:
            after = await self.store.get(keys.erasures(chat.key))
            if after is None:
                return  # not erased within the last ERASURE_COUNT_SECONDS
            if after == before:  # not while it ran; and not while it waited, if it did
                erased = await self.store.get(keys.erased_at(chat.key)) if arrived is not None else None
                if erased is None or float(erased) < arrived:
                    return
            log.info("a chat was erased while a message of it was handled: erasing what that work wrote")
            await self._erase(chat)
            await self._purge(False)
        except Exception:  # never hides the work's own outcome; said loudly: data may remain
            log.exception("could not check for, or finish, an erasure that happened during a message's work")

    async def _count_erasure(self, chat_key: str) -> None:
        """Before anything is deleted: a write that lands after the deletions is then seen."""
        fence = _fence.get()
        if fence is not None:
            fence.erased_here.add(chat_key)
        await self.store.incr(keys.erasures(chat_key), ttl=ERASURE_COUNT_SECONDS)
        await self.store.set(keys.erased_at(chat_key), repr(time.time()).encode(), ttl=ERASURE_COUNT_SECONDS)

    async def _erase(self, chat: ChatRef) -> None:
        await self._count_erasure(chat.key)
        await self.store.zrem(keys.DIGEST_DUE, chat.key)
        await self.store.zrem(keys.CHATS_LAST_SEEN, chat.key)  # bot.retention's record of activity
        for canonical in await self.store.hgetall(keys.digest_feeds(chat.key)):
            await self.store.zrem(followers_key(canonical), chat.key)
            if not await self.store.zcard(followers_key(canonical)):
                await self.store.delete(feed_state_key(canonical))  # a cache: refetched by whoever else asks
        for scope in self._shared_scopes(chat):
            await self.memory.forget_contributor(scope, chat.key)
        await self.store.erase_owner(chat.key)
        if chat.kind == "private":  # the chat is its user: their counters are its data too
            minute = int(time.time() // 60)
            names = []
            for past in range(RATE_LIMIT_MINUTES):
                names += [
                    keys.rate_limit(chat.platform, chat.chat_id, minute - past),
                    keys.rate_limit_notice(chat.platform, chat.chat_id, minute - past),
                ]
            await self.store.delete(*names)

    async def _purge(self, rewrite_persistence: bool) -> None:
        if not await self.store.purge_deleted(rewrite_persistence=rewrite_persistence):
            log.warning("the store could not yet drop erased data from its files (a reader held them)")

    # -- migration --------------------------------------------------------------------------
    async def move_chat(self, old: ChatRef, new: ChatRef) -> int:
        """Move everything of `old` to `new` (a Telegram group that became a supergroup):
        subscription (now addressed to `new`), settings, feeds, history, related memory.
        What `new` already held under the same keys is replaced. The number of keys moved."""
        if old.key == new.key:
            return 0
        await self._count_erasure(old.key)  # work in flight under the old id leaves nothing there
        moved = 0
        for name in await self.store.keys_of(old.key):
            target = keys.rekey(name, old.key, new.key)
            if target is not None and await self.store.rename(keys.owned(name, old.key), target):
                moved += 1
        await self.store.erase_owner(old.key)  # its index, and anything no family names
        subscription = keys.digest_subscription(new.key)
        if await self.store.hget(subscription, "chat") is not None:
            await self.store.hset(subscription, "chat", chat_to_json(new))  # digests go to the new id
        due = await self.store.zscore(keys.DIGEST_DUE, old.key)
        if due is not None:
            await self.store.zadd(keys.DIGEST_DUE, {new.key: due})
            await self.store.zrem(keys.DIGEST_DUE, old.key)
        seen = await self.store.zscore(keys.CHATS_LAST_SEEN, old.key)
        if seen is not None:
            await self.store.zadd(keys.CHATS_LAST_SEEN, {new.key: seen})
            await self.store.zrem(keys.CHATS_LAST_SEEN, old.key)
        for canonical in await self.store.hgetall(keys.digest_feeds(new.key)):
            score = await self.store.zscore(followers_key(canonical), old.key)
            await self.store.zadd(followers_key(canonical), {new.key: score or time.time()})
            await self.store.zrem(followers_key(canonical), old.key)
        for scope in self._shared_scopes(old) | self._shared_scopes(new):
            await self.memory.rename_contributor(scope, old.key, new.key)
        await self._purge(False)
        return moved

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _shared_scopes(chat: ChatRef) -> set[str]:
        """The related-memory scopes other than its own that `chat` may have shared in, under
        any SUMMARY_BOT_RELATED_SCOPE (the setting may have changed since)."""
        return {chat.scope, GLOBAL_SCOPE} - {chat.key}

    async def _only_from(self, scope: str, chat_key: str) -> list[str]:
        recorded = await self.store.hgetall(keys.related(scope, "contributors"))
        return [url for url, raw in recorded.items() if json.loads(raw) == [chat_key]]

    async def _value(self, name: str):
        """A key's value whatever its type (the protocol reads each type with its own call)."""
        for read in (self._string, self._hash, self._zset):
            try:
                return await read(name)
            except Exception:  # noqa: BLE001 - the wrong type for this read: try the next
                continue
        return None

    async def _string(self, name: str):
        return _decoded(await self.store.get(name))

    async def _hash(self, name: str):
        fields = await self.store.hgetall(name)
        if name.startswith("related:") and name.endswith(":articles"):
            return {url: {"title": unpack_entry(raw)[1].title} for url, raw in fields.items()}
        return {field: _decoded(value) for field, value in fields.items()}

    async def _zset(self, name: str):
        rows = await self.store.zrangebyscore(name, float("-inf"), float("inf"))
        return [[member, score] for member, score in rows]


def _decoded(value: bytes | None):
    if value is None:
        return None
    text = value.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
