"""The storage protocol every backend implements (Redis in production, SQLite embedded).

Deliberately small: strings with expiry, an atomic claim, counters, hashes and sorted
sets. Every feature (caches, dedupe, rate limits, subscriptions, digests, vectors) is built
from these, so both backends behave the same and pass one contract suite
(tests/test_store_contract.py). Values are bytes; callers encode.
Expiry (`ttl`, seconds) applies to the whole key, as in Redis.
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

    # -- lifecycle --------------------------------------------------------------
    async def close(self) -> None: ...
