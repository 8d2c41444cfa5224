"""Embedded backend: one SQLite file, the default when no Redis is configured.

Layout: `keys` holds every key with its type and expiry; `strings`, `hashes` and `zsets` hold
the values and cascade-delete with their key, so dropping a key (or its expiry) is one row.

Expiry is lazy, as in Redis: every query ignores keys whose `expires_at` has passed, creating
a key first clears any expired predecessor, and all expired rows are purged on open, at most
once a minute on a write, and whenever `sweep_expired` is called (bot.retention, hourly), so
that expired data leaves the file even when nothing is written.

sqlite3 blocks, so the connection lives on one dedicated worker thread and each operation runs
there as one whole transaction. That thread serializes the operations of this process, those
of the oldest piece of work first (bot/store/priority.py); writes take `BEGIN IMMEDIATE` so
that other processes on the same file are serialized too (a deferred transaction that reads
and then writes could fail on lock upgrade instead of waiting).

Like Redis, using a key as the wrong type raises (`WrongTypeError`), and `incr` on a value
that is not a canonical 64-bit integer raises `ValueError`.

Owner index (see bot/store/keys.py): `owners` holds (owner, key, workspace) for every key
written as an `OwnedKey`, in the write's transaction; it cascades with `keys`, so it never
names a key that is gone. Erased rows must not survive in the file: `secure_delete` makes
SQLite overwrite deleted content with zeros, and `purge_deleted` (after an erasure) rebuilds
the file (VACUUM: copies of moved cells can linger in a page's free space) and checkpoints the
WAL (TRUNCATE), where older versions of the pages still are, retrying while another connection
still reads from it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from bot.store import keys as _keys
from bot.store.priority import rank

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 5_000
_PURGE_INTERVAL_S = 60.0
_CHECKPOINT_TRIES = 200  # purge_deleted: a checkpoint blocked by a reader is tried again...
_CHECKPOINT_PAUSE_S = 0.05  # ...this long after the last try, on the event loop
_CHECKPOINT_BUSY_MS = 20  # how long one try waits for readers, holding the store's thread
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key        TEXT PRIMARY KEY,
    type       TEXT NOT NULL CHECK (type IN ('string', 'hash', 'zset')),
    expires_at REAL  -- unix time; NULL: never
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_expiry ON keys (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS strings (
    key   TEXT PRIMARY KEY REFERENCES keys (key) ON DELETE CASCADE,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS hashes (
    key   TEXT NOT NULL REFERENCES keys (key) ON DELETE CASCADE,
    field TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (key, field)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS zsets (
    key    TEXT NOT NULL REFERENCES keys (key) ON DELETE CASCADE,
    member TEXT NOT NULL,
    score  REAL NOT NULL,
    PRIMARY KEY (key, member)
) WITHOUT ROWID;
-- Ties order by member, byte-wise (BINARY collation on UTF-8), as Redis does.
CREATE INDEX IF NOT EXISTS zsets_by_score ON zsets (key, score, member);

CREATE TABLE IF NOT EXISTS owners (
    owner     TEXT NOT NULL,
    key       TEXT NOT NULL REFERENCES keys (key) ON DELETE CASCADE,
    workspace TEXT,  -- bot.store.keys.workspace_of(owner)
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owners_by_key ON owners (key);
CREATE INDEX IF NOT EXISTS owners_by_workspace ON owners (workspace) WHERE workspace IS NOT NULL;
"""

# The value table of each key type (a fixed set, so safe to format into SQL).
_TABLES = {"string": "strings", "hash": "hashes", "zset": "zsets"}


class WrongTypeError(TypeError):
    """The key holds another type (Redis answers such commands with WRONGTYPE)."""


class SQLiteStore:
    """The `Store` protocol on one SQLite file (or ":memory:")."""

    def __init__(self, conn: sqlite3.Connection, worker: _OldestFirstThread) -> None:
        # Use `open`: the connection must have been made on the worker's thread.
        self._conn = conn
        self._worker = worker
        self._closed = False
        self._next_purge = time.time() + _PURGE_INTERVAL_S  # `_connect` has just purged

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteStore:
        """Open (creating it and its parent folders if need be) the store at `path`."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        worker = _OldestFirstThread("sqlite-store")
        try:
            conn = await asyncio.wrap_future(worker.submit(rank(), _connect, path))
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(conn, worker)

    async def close(self) -> None:
        """Close the connection after the operations already queued; later calls raise."""
        if self._closed:
            return
        self._closed = True
        await asyncio.wrap_future(self._worker.submit(float("inf"), self._conn.close))  # after all queued
        await asyncio.to_thread(self._worker.shutdown, wait=True)

    # -- plain keys -------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        return await self._read(_get, key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        await self._write(_set, key, value, ttl)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        _check_ttl(ttl)
        return await self._write(_set_if_absent, key, value, ttl)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return await self._write(_delete, keys)

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return await self._write(_delete_if_equals, key, value)

    async def expire(self, key: str, ttl: float) -> bool:
        return await self._write(_expire, key, ttl)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        _check_ttl(ttl)
        return await self._write(_incr, key, amount, ttl)

    # -- hashes -----------------------------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None:
        await self._write(_hset, key, field, value)

    async def hget(self, key: str, field: str) -> bytes | None:
        return await self._read(_hget, key, field)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        return await self._read(_hgetall, key)

    async def hdel(self, key: str, *fields: str) -> int:
        if not fields:
            return 0
        return await self._write(_hdel, key, fields)

    # -- sorted sets ------------------------------------------------------------
    async def zadd(self, key: str, mapping: dict[str, float]) -> None:
        if mapping:
            await self._write(_zadd, key, mapping)

    async def zscore(self, key: str, member: str) -> float | None:
        return await self._read(_zscore, key, member)

    async def zrangebyscore(
        self, key: str, min_score: float, max_score: float, limit: int | None = None
    ) -> list[tuple[str, float]]:
        return await self._read(_zrangebyscore, key, min_score, max_score, limit)

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return await self._write(_zrem, key, members)

    async def zremrangebyscore(self, key: str, min_score: float, max_score: float) -> int:
        return await self._write(_zremrangebyscore, key, min_score, max_score)

    async def zcard(self, key: str) -> int:
        return await self._read(_zcard, key)

    # -- running on the worker thread -------------------------------------------
    async def _read(self, operation: Callable[..., T], *args: Any) -> T:
        return await self._run(operation, args, write=False)

    async def _write(self, operation: Callable[..., T], *args: Any) -> T:
        return await self._run(operation, args, write=True)

    async def _run(self, operation: Callable[..., T], args: tuple, write: bool) -> T:
        if self._closed:
            raise RuntimeError("SQLiteStore is closed")
        return await asyncio.wrap_future(self._worker.submit(rank(), self._transaction, operation, args, write))

    # -- owners -----------------------------------------------------------------
    async def keys_of(self, owner: str) -> list[str]:
        return await self._read(_keys_of, owner)

    async def owners_in(self, workspace: str) -> list[str]:
        return await self._read(_owners_in, workspace)

    async def owners(self) -> list[str]:
        return await self._read(_all_owners)

    async def sweep_expired(self) -> int:
        """Delete every expired key (their owner rows cascade), then checkpoint the WAL so
        that their bytes leave it too (no VACUUM: that is for erasures)."""
        swept = await self._write(_purge_expired)
        await self._until_done(_checkpoint)
        return swept

    async def erase_owner(self, owner: str) -> int:
        return await self._write(_erase_owner, owner)

    async def rename(self, source: str, destination: str) -> bool:
        return await self._write(_rename, source, destination)

    async def purge_deleted(self, *, rewrite_persistence: bool = False) -> bool:
        """After an erasure: leave no copy of deleted rows in the database files.
        secure_delete zeroes a row where it lay, but a copy SQLite made while moving cells
        between pages can survive in a page's free space (seen after a workspace's erasure),
        so the file is rebuilt from the live rows (VACUUM: a rewrite of the whole file on the
        store's thread; erasures are rare), and the WAL, which holds older page versions, is
        checkpointed and truncated before and after. Another connection reading blocks that:
        each step is tried again every _CHECKPOINT_PAUSE_S, _CHECKPOINT_TRIES times; False if
        one never completed."""
        for step in (_checkpoint, _vacuum, _checkpoint):
            if not await self._until_done(step):
                return False
        return True

    async def _until_done(self, step: Callable[[sqlite3.Connection], bool]) -> bool:
        for attempt in range(_CHECKPOINT_TRIES):
            if self._closed:
                raise RuntimeError("SQLiteStore is closed")
            if await asyncio.wrap_future(self._worker.submit(rank(), step, self._conn)):
                return True
            await asyncio.sleep(_CHECKPOINT_PAUSE_S)
        return False

    def _transaction(self, operation: Callable[..., T], args: tuple, write: bool) -> T:
        """Run `operation(conn, now, *args)` as one transaction (on the worker thread)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            now = time.time()  # after BEGIN: waiting for the lock must not age it
            if write and now >= self._next_purge:
                _purge_expired(conn, now)
                self._next_purge = now + _PURGE_INTERVAL_S
            result = operation(conn, now, *args)
            if write and args and _keys.owner_of(args[0]) is not None:
                _track(conn, args[0])
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself on some errors
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result


class _OldestFirstThread:
    """One thread running the calls submitted to it, lowest rank first (then in order of
    submission); a call whose future was cancelled before it started is skipped."""

    def __init__(self, name: str) -> None:
        self._queue: list[tuple[float, int, Future, Callable, tuple]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, rank_: float, call: Callable[..., T], *args: Any) -> Future:
        future: Future = Future()
        with self._ready:
            if self._closing:
                raise RuntimeError("SQLiteStore is closed")
            heapq.heappush(self._queue, (rank_, next(self._order), future, call, args))
            self._ready.notify()
        return future

    def shutdown(self, wait: bool = True) -> None:
        """No new calls; the queued ones still run."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        if wait:
            self._thread.join()

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._ready.wait()
                if not self._queue:
                    return
                _, _, future, call, args = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; `_transaction` issues BEGIN itself.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
        conn.execute("PRAGMA foreign_keys = ON")  # per connection; the cascades need it
        conn.execute("PRAGMA secure_delete = ON")  # deleted content is zeroed, not left in free space
        conn.executescript(_SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        _purge_expired(conn, time.time())
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


def _check_ttl(ttl: float | None) -> None:
    # Redis rejects a non-positive expiry on SET; refuse it here too, for the same behaviour.
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be positive seconds, got {ttl!r}")


def _expires_at(now: float, ttl: float | None) -> float | None:
    return None if ttl is None else now + ttl


# -- owners ----------------------------------------------------------------------
def _track(conn: sqlite3.Connection, key: str) -> None:
    """Enter an owned key just written in its owner's index (nothing if the write removed it;
    a key removed later takes its row with it, by the cascade)."""
    owner = _keys.owner_of(key)
    conn.execute(
        "INSERT OR IGNORE INTO owners (owner, key, workspace) SELECT ?, key, ? FROM keys WHERE key = ?",
        (owner, _keys.workspace_of(owner), str(key)),
    )


def _keys_of(conn: sqlite3.Connection, now: float, owner: str) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT owners.key FROM owners JOIN keys ON keys.key = owners.key WHERE owner = ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY owners.key",
        (owner, now),
    )]  # fmt: skip


def _owners_in(conn: sqlite3.Connection, now: float, workspace: str) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT owner FROM owners JOIN keys ON keys.key = owners.key WHERE workspace = ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY owner",
        (workspace, now),
    )]  # fmt: skip


def _all_owners(conn: sqlite3.Connection, now: float) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT owner FROM owners JOIN keys ON keys.key = owners.key"
        " WHERE expires_at IS NULL OR expires_at > ? ORDER BY owner",
        (now,),
    )]  # fmt: skip


def _erase_owner(conn: sqlite3.Connection, now: float, owner: str) -> int:
    erased = len(_keys_of(conn, now, owner))
    conn.execute("DELETE FROM keys WHERE key IN (SELECT key FROM owners WHERE owner = ?)", (owner,))
    return erased


def _rename(conn: sqlite3.Connection, now: float, source: str, destination: str) -> bool:
    # Like Redis RENAME: the value and its expiry move; whatever `destination` held is replaced.
    source, destination_name = str(source), str(destination)
    row = conn.execute(
        "SELECT type, expires_at FROM keys WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        (source, now),
    ).fetchone()
    if row is None or source == destination_name:
        return row is not None
    conn.execute("DELETE FROM keys WHERE key = ?", (destination_name,))
    conn.execute("INSERT INTO keys (key, type, expires_at) VALUES (?, ?, ?)", (destination_name, *row))
    conn.execute(f"UPDATE {_TABLES[row[0]]} SET key = ? WHERE key = ?", (destination_name, source))
    conn.execute("DELETE FROM keys WHERE key = ?", (source,))  # and its owner rows
    if _keys.owner_of(destination) is not None:
        _track(conn, destination)
    return True


def _checkpoint(conn: sqlite3.Connection) -> bool:
    """One try at checkpointing and truncating the WAL (on the worker thread), waiting only
    briefly for readers: the store's other operations wait behind it."""
    conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_BUSY_MS}")
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return busy == 0


def _vacuum(conn: sqlite3.Connection) -> bool:
    """One try at rebuilding the database file from its live rows (on the worker thread)."""
    conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_BUSY_MS}")
    try:
        conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False  # a reader or writer elsewhere: try again
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return True


# -- key bookkeeping (these and the operations below run inside `_transaction`) ----
def _purge_expired(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("DELETE FROM keys WHERE expires_at <= ?", (now,)).rowcount


def _key_type(conn: sqlite3.Connection, now: float, key: str) -> str | None:
    """The type of `key` if it exists and has not expired, else None."""
    row = conn.execute(
        "SELECT type FROM keys WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        (key, now),
    ).fetchone()
    return None if row is None else row[0]


def _holds(conn: sqlite3.Connection, now: float, key: str, type_: str) -> bool:
    """Whether `key` exists (unexpired); raises `WrongTypeError` if it is not a `type_`."""
    found = _key_type(conn, now, key)
    if found is not None and found != type_:
        raise WrongTypeError(f"key {key!r} holds a {found}, not a {type_}")
    return found is not None


def _create(conn: sqlite3.Connection, key: str, type_: str, expires_at: float | None) -> None:
    """Make `key` a new, empty `type_`, replacing whatever it held (expired or not)."""
    conn.execute("DELETE FROM keys WHERE key = ?", (key,))  # cascades to the old values
    conn.execute(
        "INSERT INTO keys (key, type, expires_at) VALUES (?, ?, ?)", (key, type_, expires_at)
    )


def _delete_if_empty(conn: sqlite3.Connection, key: str, type_: str) -> None:
    # Redis drops a hash or sorted set with its last element (and its expiry with it).
    if conn.execute(f"SELECT 1 FROM {_TABLES[type_]} WHERE key = ?", (key,)).fetchone() is None:
        conn.execute("DELETE FROM keys WHERE key = ?", (key,))


# -- plain keys ------------------------------------------------------------------
def _get(conn: sqlite3.Connection, now: float, key: str) -> bytes | None:
    if not _holds(conn, now, key, "string"):
        return None
    return conn.execute("SELECT value FROM strings WHERE key = ?", (key,)).fetchone()[0]


def _set(conn: sqlite3.Connection, now: float, key: str, value: bytes, ttl: float | None) -> None:
    # Like Redis SET: replaces a key of any type, and its expiry.
    _create(conn, key, "string", _expires_at(now, ttl))
    conn.execute("INSERT INTO strings (key, value) VALUES (?, ?)", (key, value))


def _set_if_absent(
    conn: sqlite3.Connection, now: float, key: str, value: bytes, ttl: float | None
) -> bool:
    if _key_type(conn, now, key) is not None:
        return False
    _set(conn, now, key, value, ttl)
    return True


def _delete(conn: sqlite3.Connection, now: float, keys: tuple[str, ...]) -> int:
    marks = ", ".join("?" * len(keys))
    live = conn.execute(
        f"SELECT COUNT(*) FROM keys WHERE key IN ({marks})"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (*keys, now),
    ).fetchone()[0]
    conn.execute(f"DELETE FROM keys WHERE key IN ({marks})", keys)
    return live


def _delete_if_equals(conn: sqlite3.Connection, now: float, key: str, value: bytes) -> bool:
    if _get(conn, now, key) != value:
        return False
    conn.execute("DELETE FROM keys WHERE key = ?", (key,))
    return True


def _expire(conn: sqlite3.Connection, now: float, key: str, ttl: float) -> bool:
    if _key_type(conn, now, key) is None:
        return False
    if ttl <= 0:  # as Redis EXPIRE: a time to live in the past deletes the key
        conn.execute("DELETE FROM keys WHERE key = ?", (key,))
    else:
        conn.execute("UPDATE keys SET expires_at = ? WHERE key = ?", (now + ttl, key))
    return True


def _incr(conn: sqlite3.Connection, now: float, key: str, amount: int, ttl: float | None) -> int:
    if _holds(conn, now, key, "string"):
        stored = conn.execute("SELECT value FROM strings WHERE key = ?", (key,)).fetchone()[0]
        result = _parse_int(stored) + amount
    else:
        result = amount
        _create(conn, key, "string", _expires_at(now, ttl))  # ttl only for a new counter
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise ValueError(f"incr of {key!r} by {amount} would overflow a 64-bit integer")
    # Stored as decimal text, as Redis does, so `get` returns the same bytes on both.
    conn.execute(
        "INSERT INTO strings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, str(result).encode()),
    )
    return result


def _parse_int(value: bytes) -> int:
    # Only the canonical form, as Redis: no sign "+", spaces, leading zeros or "_".
    try:
        number = int(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        number = None
    if number is None or str(number).encode() != value:
        raise ValueError(f"value is not an integer: {value[:40]!r}")
    return number


# -- hashes ----------------------------------------------------------------------
def _hset(conn: sqlite3.Connection, now: float, key: str, field: str, value: bytes) -> None:
    if not _holds(conn, now, key, "hash"):
        _create(conn, key, "hash", None)
    conn.execute(
        "INSERT INTO hashes (key, field, value) VALUES (?, ?, ?)"
        " ON CONFLICT (key, field) DO UPDATE SET value = excluded.value",
        (key, field, value),
    )


def _hget(conn: sqlite3.Connection, now: float, key: str, field: str) -> bytes | None:
    if not _holds(conn, now, key, "hash"):
        return None
    row = conn.execute(
        "SELECT value FROM hashes WHERE key = ? AND field = ?", (key, field)
    ).fetchone()
    return None if row is None else row[0]


def _hgetall(conn: sqlite3.Connection, now: float, key: str) -> dict[str, bytes]:
    if not _holds(conn, now, key, "hash"):
        return {}
    return dict(conn.execute("SELECT field, value FROM hashes WHERE key = ?", (key,)))


def _hdel(conn: sqlite3.Connection, now: float, key: str, fields: tuple[str, ...]) -> int:
    if not _holds(conn, now, key, "hash"):
        return 0
    marks = ", ".join("?" * len(fields))
    removed = conn.execute(
        f"DELETE FROM hashes WHERE key = ? AND field IN ({marks})", (key, *fields)
    ).rowcount
    _delete_if_empty(conn, key, "hash")
    return removed


# -- sorted sets -----------------------------------------------------------------
def _zadd(conn: sqlite3.Connection, now: float, key: str, mapping: dict[str, float]) -> None:
    if not _holds(conn, now, key, "zset"):
        _create(conn, key, "zset", None)
    conn.executemany(
        "INSERT INTO zsets (key, member, score) VALUES (?, ?, ?)"
        " ON CONFLICT (key, member) DO UPDATE SET score = excluded.score",
        [(key, member, float(score)) for member, score in mapping.items()],
    )


def _zscore(conn: sqlite3.Connection, now: float, key: str, member: str) -> float | None:
    if not _holds(conn, now, key, "zset"):
        return None
    row = conn.execute(
        "SELECT score FROM zsets WHERE key = ? AND member = ?", (key, member)
    ).fetchone()
    return None if row is None else row[0]


def _zrangebyscore(
    conn: sqlite3.Connection,
    now: float,
    key: str,
    min_score: float,
    max_score: float,
    limit: int | None,
) -> list[tuple[str, float]]:
    if not _holds(conn, now, key, "zset"):
        return []
    return conn.execute(
        "SELECT member, score FROM zsets WHERE key = ? AND score BETWEEN ? AND ?"
        " ORDER BY score, member LIMIT ?",
        (key, min_score, max_score, -1 if limit is None else limit),  # LIMIT -1: no limit
    ).fetchall()


def _zrem(conn: sqlite3.Connection, now: float, key: str, members: tuple[str, ...]) -> int:
    if not _holds(conn, now, key, "zset"):
        return 0
    marks = ", ".join("?" * len(members))
    removed = conn.execute(
        f"DELETE FROM zsets WHERE key = ? AND member IN ({marks})", (key, *members)
    ).rowcount
    _delete_if_empty(conn, key, "zset")
    return removed


def _zremrangebyscore(
    conn: sqlite3.Connection, now: float, key: str, min_score: float, max_score: float
) -> int:
    if not _holds(conn, now, key, "zset"):
        return 0
    removed = conn.execute(
        "DELETE FROM zsets WHERE key = ? AND score BETWEEN ? AND ?", (key, min_score, max_score)
    ).rowcount
    _delete_if_empty(conn, key, "zset")
    return removed


def _zcard(conn: sqlite3.Connection, now: float, key: str) -> int:
    if not _holds(conn, now, key, "zset"):
        return 0
    return conn.execute("SELECT COUNT(*) FROM zsets WHERE key = ?", (key,)).fetchone()[0]
