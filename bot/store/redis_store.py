"""Production backend: Redis, shared by every bot process.

Each protocol method is one Redis command, or one Lua script where a read and a write must be
atomic together (`delete_if_equals`, `incr` with a ttl). Expiries are sent in milliseconds.
Using a key as the wrong type raises `redis.exceptions.ResponseError` (WRONGTYPE), as does
`incr` on a value that is not an integer. A write that Redis refuses because it is out of
memory (maxmemory reached, maxmemory-policy noeviction) raises `StoreFull`, which says so.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as redis
from redis.exceptions import OutOfMemoryError, ResponseError

T = TypeVar("T")

STORE_FULL = (
    "Redis is full: its memory reached maxmemory and it refuses writes (nothing was evicted); "
    "give it more memory (maxmemory) or free some"
)


class StoreFull(ResponseError):
    """Redis refused a write for memory (an OOM error). A ResponseError still, for whoever
    catches those; its text says what to do."""

    def __init__(self) -> None:
        super().__init__(STORE_FULL)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether Redis refused a command because it is out of memory ("OOM command not
    allowed when used memory > 'maxmemory'"), in a pipeline or a script too."""
    return isinstance(exc, (OutOfMemoryError, StoreFull)) or (
        isinstance(exc, ResponseError) and ("OOM command not allowed" in str(exc) or str(exc).startswith("OOM"))
    )


async def _write(command: Awaitable[T]) -> T:
    try:
        return await command
    except ResponseError as exc:
        if is_out_of_memory(exc):
            raise StoreFull() from exc
        raise

# KEYS[1]: the key; ARGV[1]: the value the caller expects it to hold.
_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1]: the counter; ARGV[1]: the amount; ARGV[2]: its time to live in ms.
# EXISTS rather than "result == amount": a counter that held 0 was not created.
_INCR_WITH_TTL_ON_CREATE = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local result = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return result
"""


def _milliseconds(ttl: float) -> int:
    """A ttl for PX/PEXPIRE; a tiny positive one rounds up to 1 ms, not to 0 (an error)."""
    if not ttl > 0:
        raise ValueError(f"ttl must be positive seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


class RedisStore:
    """The `Store` protocol on a Redis server."""

    def __init__(self, client: redis.Redis) -> None:
        # Use `connect`, which checks that the server answers.
        self._redis = client
        self._delete_if_equals = client.register_script(_DELETE_IF_EQUALS)
        self._incr_with_ttl = client.register_script(_INCR_WITH_TTL_ON_CREATE)

    @classmethod
    async def connect(
        cls, url: str, *, connect_timeout: float | None = 5.0, socket_timeout: float | None = 10.0
    ) -> RedisStore:
        """Connect to `url` (redis://, rediss:// or unix://) and PING, so a bad URL fails now.

        No call waits for ever: opening a connection gives up after `connect_timeout`
        seconds and a command after `socket_timeout` (redis.exceptions.TimeoutError)."""
        client = redis.from_url(
            url, decode_responses=False, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        return cls(client)

    async def close(self) -> None:
        await self._redis.aclose()  # closes the pool `from_url` made, too

    # -- plain keys -------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        return await self._redis.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await _write(self._redis.set(key, value, px=None if ttl is None else _milliseconds(ttl)))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        px = None if ttl is None else _milliseconds(ttl)
        return bool(await _write(self._redis.set(key, value, nx=True, px=px)))

    async def delete(self, *keys: str) -> int:
        if not keys:  # DEL with no key is a syntax error
            return 0
        return await self._redis.delete(*keys)

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return bool(await self._delete_if_equals(keys=[key], args=[value]))

    async def expire(self, key: str, ttl: float) -> bool:
        if ttl <= 0:  # as EXPIRE does with a time in the past
            return bool(await self._redis.delete(key))
        return bool(await self._redis.pexpire(key, _milliseconds(ttl)))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if ttl is None:
            return await _write(self._redis.incrby(key, amount))
        return await _write(self._incr_with_ttl(keys=[key], args=[amount, _milliseconds(ttl)]))

    # -- hashes -----------------------------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None:
        await _write(self._redis.hset(key, field, value))

    async def hget(self, key: str, field: str) -> bytes | None:
        return await self._redis.hget(key, field)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        raw = await self._redis.hgetall(key)
        return {field.decode(): value for field, value in raw.items()}

    async def hdel(self, key: str, *fields: str) -> int:
        if not fields:
            return 0
        return await self._redis.hdel(key, *fields)

    # -- sorted sets ------------------------------------------------------------
    async def zadd(self, key: str, mapping: dict[str, float]) -> None:
        if mapping:  # ZADD with no member is a syntax error
            await _write(self._redis.zadd(key, mapping))

    async def zscore(self, key: str, member: str) -> float | None:
        return await self._redis.zscore(key, member)

    async def zrangebyscore(
        self, key: str, min_score: float, max_score: float, limit: int | None = None
    ) -> list[tuple[str, float]]:
        page = {} if limit is None else {"start": 0, "num": limit}
        rows = await self._redis.zrangebyscore(
            key, min_score, max_score, withscores=True, **page
        )
        return [(member.decode(), score) for member, score in rows]

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return await self._redis.zrem(key, *members)

    async def zremrangebyscore(self, key: str, min_score: float, max_score: float) -> int:
        return await self._redis.zremrangebyscore(key, min_score, max_score)

    async def zcard(self, key: str) -> int:
        return await self._redis.zcard(key)
