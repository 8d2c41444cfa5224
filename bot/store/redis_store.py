"""Production backend: Redis, shared by every bot process.

Each protocol method is one Redis command, or one Lua script where a read and a write must be
atomic together (`delete_if_equals`, `incr` with a ttl). Expiries are sent in milliseconds.
Using a key as the wrong type raises `redis.exceptions.ResponseError` (WRONGTYPE), as does
`incr` on a value that is not an integer. A write that Redis refuses because it is out of
memory (maxmemory reached, maxmemory-policy noeviction) raises `StoreFull`, which says so.

Owner index (see bot/store/keys.py): a write to an `OwnedKey` runs, in the same MULTI, a
script that brings the owner's index up to date with the key: `owner:{owner}`, a sorted set
of key name -> when that key expires (ms; +inf for none), expiring itself with its last
member, pruned of expired members and of two random members whose key is gone on each write
(keys emptied by HDEL/ZREM leave no trace otherwise). A Slack chat's index is entered the
same way in its workspace's `owners:{workspace}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as redis
from redis.exceptions import OutOfMemoryError, ResponseError

from bot.store import keys as _keys

log = logging.getLogger(__name__)

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


# KEYS[1]: an owned key just written; KEYS[2]: its owner's index; KEYS[3] (optional): the
# workspace's list of owners. ARGV[1]: the owner; ARGV[2]: the prefix of an owner's index.
_TRACK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function expiry_of(key)
    local ttl = redis.call('PTTL', key)
    if ttl == -2 then return nil end
    if ttl == -1 then return '+inf' end
    return now + ttl
end
local function settle(index, member, expires, prefix)
    if expires then
        redis.call('ZADD', index, expires, member)
    else
        redis.call('ZREM', index, member)
    end
    redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. now)
    for _, other in ipairs(redis.call('ZRANDMEMBER', index, 2)) do
        if redis.call('EXISTS', prefix .. other) == 0 then
            redis.call('ZREM', index, other)
        end
    end
    local last = redis.call('ZREVRANGE', index, 0, 0, 'WITHSCORES')
    if #last == 0 then
        return
    end
    if last[2] == 'inf' then
        redis.call('PERSIST', index)
    else
        redis.call('PEXPIREAT', index, math.ceil(tonumber(last[2])))
    end
end
settle(KEYS[2], KEYS[1], expiry_of(KEYS[1]), '')
if #KEYS == 3 then
    settle(KEYS[3], ARGV[1], expiry_of(KEYS[2]), ARGV[2])
end
return 1
"""

_ERASE_BATCH = 500  # keys per DEL while erasing an owner


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
        self._track = client.register_script(_TRACK)

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
        px = None if ttl is None else _milliseconds(ttl)
        await self._tracked(key, lambda r: r.set(key, value, px=px))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        px = None if ttl is None else _milliseconds(ttl)
        return bool(await self._tracked(key, lambda r: r.set(key, value, nx=True, px=px)))

    async def delete(self, *keys: str) -> int:
        if not keys:  # DEL with no key is a syntax error
            return 0
        owned = [key for key in keys if _keys.owner_of(key) is not None]
        if not owned:
            return await self._redis.delete(*keys)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys)
            for key in owned:
                await self._sync_owner(pipe, key)
            return (await pipe.execute())[0]

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return bool(await self._tracked(key, lambda r: self._delete_if_equals(keys=[key], args=[value], client=r)))

    async def expire(self, key: str, ttl: float) -> bool:
        if ttl <= 0:  # as EXPIRE does with a time in the past
            return bool(await self.delete(key))
        return bool(await self._tracked(key, lambda r: r.pexpire(key, _milliseconds(ttl))))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if ttl is None:
            return await self._tracked(key, lambda r: r.incrby(key, amount))
        return await self._tracked(
            key, lambda r: self._incr_with_ttl(keys=[key], args=[amount, _milliseconds(ttl)], client=r)
        )

    # -- hashes -----------------------------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None:
        await self._tracked(key, lambda r: r.hset(key, field, value))

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
            await self._tracked(key, lambda r: r.zadd(key, mapping))

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

    # -- owners -----------------------------------------------------------------
    async def keys_of(self, owner: str) -> list[str]:
        index = _keys.owner_index(owner)
        names = [name.decode() for name in await self._redis.zrange(index, 0, -1)]
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(name)
            alive = await pipe.execute()
        return sorted(name for name, exists in zip(names, alive) if exists)

    async def owners_in(self, workspace: str) -> list[str]:
        registry = _keys.workspace_owners(workspace)
        owners = [owner.decode() for owner in await self._redis.zrange(registry, 0, -1)]
        if not owners:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip, as keys_of
            for owner in owners:
                pipe.exists(_keys.owner_index(owner))
            alive = await pipe.execute()
        return sorted(owner for owner, exists in zip(owners, alive) if exists)

    async def owners(self) -> list[str]:
        # A SCAN of the keyspace: fine for an hourly sweep, not for a request (see keys.py).
        prefix = _keys.owner_index("").encode()
        found = set()
        async for name in self._redis.scan_iter(match=prefix + b"*", count=1000):
            found.add(name[len(prefix):].decode())
        return sorted(found)

    async def sweep_expired(self) -> int:
        return 0  # Redis deletes expired keys itself (and owner indexes expire with their keys)

    async def erase_owner(self, owner: str) -> int:
        index = _keys.owner_index(owner)
        erased = 0
        # Read again until empty: a write landing meanwhile enters the index too. As many
        # rounds as the index holds batches, and 100 more for such writes; the index is
        # dropped only once empty, so anything left stays findable by the next erasure.
        rounds = -(-await self._redis.zcard(index) // _ERASE_BATCH) + 100
        for _ in range(rounds):
            names = [name.decode() for name in await self._redis.zrange(index, 0, _ERASE_BATCH - 1)]
            if not names:
                break
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(*names)
                pipe.zrem(index, *names)
                erased += (await pipe.execute())[0]
        else:
            if await self._redis.zcard(index):
                log.warning("an owner's keys kept being written while it was erased; some are left for the next erasure")
                return erased
        await self._redis.delete(index)
        workspace = _keys.workspace_of(owner)
        if workspace is not None:
            await self._redis.zrem(_keys.workspace_owners(workspace), owner)
        return erased

    async def rename(self, source: str, destination: str) -> bool:
        if not await self._redis.exists(source):
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rename(source, destination)  # keeps the time to live; replaces the destination
            await self._sync_owner(pipe, source)
            await self._sync_owner(pipe, destination)
            await _write(pipe.execute())
        return True

    async def purge_deleted(self, *, rewrite_persistence: bool = False) -> bool:
        """Deleted keys leave Redis's memory at once; its files keep them until the next
        AOF rewrite or snapshot. With `rewrite_persistence`, ask for a rewrite now
        (BGREWRITEAOF, else BGSAVE when the AOF is off); False if Redis refused."""
        if not rewrite_persistence:
            return True
        try:
            info = await self._redis.info("persistence")
            if info.get("aof_enabled"):
                await self._redis.bgrewriteaof()
            elif info.get("rdb_last_save_time") is not None:
                await self._redis.bgsave()
        except ResponseError:  # one already running, or the command is disabled
            return False
        return True

    async def _tracked(self, key: str, command) -> T:
        """`command(client)`, and for an owned key its owner index brought up to date, in one
        MULTI (a key is never written without its index)."""
        if _keys.owner_of(key) is None:
            return await _write(command(self._redis))
        async with self._redis.pipeline(transaction=True) as pipe:
            queued = command(pipe)
            if hasattr(queued, "__await__") and not isinstance(queued, type(pipe)):
                await queued  # a script: queues itself on the pipeline when awaited
            await self._sync_owner(pipe, key)
            return (await _write(pipe.execute()))[0]

    async def _sync_owner(self, pipe, key: str) -> None:
        owner = _keys.owner_of(key)
        if owner is None:
            return
        workspace = _keys.workspace_of(owner)
        names = [key, _keys.owner_index(owner)]
        if workspace is not None:
            names.append(_keys.workspace_owners(workspace))
        await self._track(keys=names, args=[owner, _keys.owner_index("")], client=pipe)
