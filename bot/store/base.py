"""The storage protocol every backend implements (Redis in production, SQLite embedded).

Deliberately small: strings with expiry, an atomic claim, counters, hashes and sorted
sets. Every feature (caches, dedupe, rate limits, subscriptions, digests, vectors) is built
from these, so both backends behave the same and pass one contract suite
(tests/test_store_contract.py). Values are bytes; callers encode.
Expiry (`ttl`, seconds) applies to the whole key, as in Redis.

Owners: a key built as an `OwnedKey` (bot/store/keys.py: every key of a chat's data) is
entered in its owner's index by the write itself, so that a chat's keys can be listed, moved
and erased (bot/privacy.py) without scanning the keyspace.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    # -- plain keys -------------------------------------------------------------
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Atomically create `key` unless it exists (and has not expired). True if created."""
        ...

    async def delete(self, *keys: str) -> int: ...

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        """Delete `key` only if it still holds `value` (releasing a lease we own)."""
        ...

    async def expire(self, key: str, ttl: float) -> bool:
        """Set a new time to live on an existing key. False if the key does not exist."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add to an integer counter; `ttl` is applied only when the counter is created."""
        ...

    # -- hashes -----------------------------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None: ...

    async def hget(self, key: str, field: str) -> bytes | None: ...

    async def hgetall(self, key: str) -> dict[str, bytes]: ...

    async def hdel(self, key: str, *fields: str) -> int: ...

    # -- sorted sets (member -> float score) ------------------------------------
    async def zadd(self, key: str, mapping: dict[str, float]) -> None: ...

    async def zscore(self, key: str, member: str) -> float | None: ...

    async def zrangebyscore(
        self, key: str, min_score: float, max_score: float, limit: int | None = None
    ) -> list[tuple[str, float]]:
        """Members with min <= score <= max, ascending by score."""
        ...

    async def zrem(self, key: str, *members: str) -> int: ...

    async def zremrangebyscore(self, key: str, min_score: float, max_score: float) -> int: ...

    async def zcard(self, key: str) -> int: ...

    # -- owners (the keys written as a keys.OwnedKey) --------------------------------
    async def keys_of(self, owner: str) -> list[str]:
        """The live keys written for `owner`, sorted."""
        ...

    async def owners_in(self, workspace: str) -> list[str]:
        """The owners with live keys whose `keys.workspace_of` is `workspace`, sorted."""
        ...

    async def owners(self) -> list[str]:
        """Every owner with live keys, sorted (bot.retention's sweep walks them)."""
        ...

    async def sweep_expired(self) -> int:
        """Delete the keys whose time to live has passed, now (SQLite: they stay in the file
        until then; Redis expires keys itself); the number deleted, as far as known."""
        ...

    async def erase_owner(self, owner: str) -> int:
        """Delete every key of `owner` and its index; the number of live keys deleted."""
        ...

    async def rename(self, source: str, destination: str) -> bool:
        """Move `source`'s value and expiry to `destination` (replacing what it held), the
        owner indexes following; False if `source` does not exist."""
        ...

    async def purge_deleted(self, *, rewrite_persistence: bool = False) -> bool:
        """Make what was deleted unrecoverable from the store's files, as far as the backend
        can (SQLite: WAL checkpoint, retried while readers hold it; Redis, when asked: a
        rewrite of its persistence files). True once done (or started, for Redis)."""
        ...

    # -- lifecycle --------------------------------------------------------------
    async def close(self) -> None: ...
