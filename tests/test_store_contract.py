"""The storage contract: every backend (the `store` fixture runs each test on SQLite and on
Redis) must behave the same. Backend-specific guarantees are at the end.

Expiry tests use a short TTL and sleep a little longer, several keys per sleep.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest

from bot.store import Store
from bot.store.sqlite_store import SQLiteStore

TTL = 0.2
PAST_TTL = 0.3  # sleep this long for a TTL key to be gone
BINARY = b"\x00\xff\xfe\x80 not utf-8 \x00"


# -- plain keys --------------------------------------------------------------------------
async def test_set_then_get_and_overwrite(store: Store) -> None:
    await store.set("k", b"one")
    assert await store.get("k") == b"one"
    await store.set("k", b"two")
    assert await store.get("k") == b"two"


async def test_missing_keys_read_as_absent(store: Store) -> None:
    assert await store.get("nope") is None
    assert await store.delete("nope") == 0
    assert await store.delete_if_equals("nope", b"x") is False
    assert await store.expire("nope", 10) is False
    assert await store.hget("nope", "f") is None
    assert await store.hgetall("nope") == {}
    assert await store.hdel("nope", "f") == 0
    assert await store.zscore("nope", "m") is None
    assert await store.zrangebyscore("nope", float("-inf"), float("inf")) == []
    assert await store.zrem("nope", "m") == 0
    assert await store.zremrangebyscore("nope", 0, 10) == 0
    assert await store.zcard("nope") == 0


async def test_binary_values_and_unicode_names_round_trip(store: Store) -> None:
    await store.set("ключ 🔑", BINARY)
    assert await store.get("ключ 🔑") == BINARY
    await store.hset("h", "поле ✓", BINARY)
    assert await store.hget("h", "поле ✓") == BINARY
    assert await store.hgetall("h") == {"поле ✓": BINARY}
    await store.zadd("z", {"член ★": 1.5})
    assert await store.zrangebyscore("z", 0, 2) == [("член ★", 1.5)]
    assert await store.delete_if_equals("ключ 🔑", BINARY) is True


async def test_delete_counts_existing_keys_of_any_type(store: Store) -> None:
    await store.set("s", b"v")
    await store.hset("h", "f", b"v")
    await store.zadd("z", {"m": 1})
    assert await store.delete("s", "h", "z", "missing") == 3
    assert await store.get("s") is None
    assert await store.hgetall("h") == {}
    assert await store.zcard("z") == 0
    assert await store.delete() == 0


async def test_set_replaces_a_key_of_another_type(store: Store) -> None:
    await store.hset("k", "f", b"v")
    assert await store.set_if_absent("k", b"claim") is False
    await store.set("k", b"plain")
    assert await store.get("k") == b"plain"


async def test_ttl_must_be_positive(store: Store) -> None:
    for ttl in (0, -1):
        with pytest.raises(ValueError):
            await store.set("k", b"v", ttl=ttl)
        with pytest.raises(ValueError):
            await store.set_if_absent("k", b"v", ttl=ttl)
        with pytest.raises(ValueError):
            await store.incr("k", ttl=ttl)
    assert await store.get("k") is None


# -- expiry ------------------------------------------------------------------------------
async def test_set_with_ttl_expires_and_plain_set_clears_the_ttl(store: Store) -> None:
    await store.set("short", b"v", ttl=TTL)
    await store.set("made-permanent", b"v", ttl=TTL)
    await store.set("made-permanent", b"w")
    await store.set("long", b"v", ttl=60)
    assert await store.get("short") == b"v"
    await asyncio.sleep(PAST_TTL)
    assert await store.get("short") is None
    assert await store.get("made-permanent") == b"w"
    assert await store.get("long") == b"v"


async def test_expire_sets_a_new_ttl_on_existing_keys_only(store: Store) -> None:
    await store.set("k", b"v")
    assert await store.expire("k", TTL) is True
    await store.hset("h", "f", b"v")
    assert await store.expire("h", TTL) is True
    await store.zadd("z", {"m": 1})
    assert await store.expire("z", TTL) is True
    await store.set("extended", b"v", ttl=TTL)
    assert await store.expire("extended", 60) is True
    assert await store.get("k") == b"v"

    await asyncio.sleep(PAST_TTL)
    assert await store.get("k") is None
    assert await store.expire("k", 10) is False
    assert await store.hget("h", "f") is None
    assert await store.hgetall("h") == {}
    assert await store.zcard("z") == 0
    assert await store.get("extended") == b"v"


async def test_expire_with_non_positive_ttl_deletes(store: Store) -> None:
    await store.set("k", b"v")
    assert await store.expire("k", 0) is True
    assert await store.get("k") is None
    assert await store.expire("k", 0) is False


async def test_expired_keys_read_as_absent_everywhere(store: Store) -> None:
    await store.set("s", b"v", ttl=TTL)
    await store.set("lease", b"owner", ttl=TTL)
    await store.incr("counter", 5, ttl=TTL)
    await store.hset("h", "old", b"v")
    await store.expire("h", TTL)
    await store.zadd("z", {"old": 1})
    await store.expire("z", TTL)
    await store.set("retyped", b"v", ttl=TTL)
    await asyncio.sleep(PAST_TTL)

    assert await store.delete("s") == 0
    assert await store.delete_if_equals("lease", b"owner") is False
    assert await store.incr("counter") == 1
    assert await store.hget("h", "old") is None
    assert await store.hdel("h", "old") == 0
    assert await store.zscore("z", "old") is None
    assert await store.zrangebyscore("z", 0, 10) == []
    assert await store.zrem("z", "old") == 0
    assert await store.zremrangebyscore("z", 0, 10) == 0
    # Writing to an expired key starts afresh: nothing of the old value survives.
    await store.hset("h", "new", b"v")
    assert await store.hgetall("h") == {"new": b"v"}
    await store.zadd("z", {"new": 2})
    assert await store.zrangebyscore("z", 0, 10) == [("new", 2.0)]
    # ...and the expired key's type no longer matters.
    await store.hset("retyped", "f", b"v")
    assert await store.hgetall("retyped") == {"f": b"v"}


# -- set_if_absent and delete_if_equals: leases --------------------------------------------
async def test_set_if_absent_claims_once_under_concurrency(store: Store) -> None:
    results = await asyncio.gather(
        *(store.set_if_absent("lease", str(n).encode(), ttl=60) for n in range(20))
    )
    assert results.count(True) == 1
    winner = str(results.index(True)).encode()
    assert await store.get("lease") == winner


async def test_set_if_absent_is_reclaimable_after_expiry(store: Store) -> None:
    assert await store.set_if_absent("lease", b"first", ttl=TTL) is True
    assert await store.set_if_absent("lease", b"second", ttl=TTL) is False
    assert await store.get("lease") == b"first"
    await asyncio.sleep(PAST_TTL)
    assert await store.set_if_absent("lease", b"second") is True
    assert await store.get("lease") == b"second"


async def test_delete_if_equals_deletes_only_a_matching_value(store: Store) -> None:
    await store.set("lease", b"mine")
    assert await store.delete_if_equals("lease", b"theirs") is False
    assert await store.delete_if_equals("lease", b"mine\x00") is False
    assert await store.get("lease") == b"mine"
    assert await store.delete_if_equals("lease", b"mine") is True
    assert await store.get("lease") is None
    assert await store.delete_if_equals("lease", b"mine") is False


# -- counters ----------------------------------------------------------------------------
async def test_incr_counts_and_stores_decimal_text(store: Store) -> None:
    assert await store.incr("c") == 1
    assert await store.incr("c", 10) == 11
    assert await store.incr("c", -12) == -1
    assert await store.get("c") == b"-1"
    await store.set("preset", b"41")
    assert await store.incr("preset") == 42


async def test_incr_concurrent_increments_are_not_lost(store: Store) -> None:
    await asyncio.gather(*(store.incr("c", ttl=60) for _ in range(50)))
    assert await store.get("c") == b"50"


async def test_incr_applies_ttl_only_when_creating_the_counter(store: Store) -> None:
    assert await store.incr("created", ttl=TTL) == 1
    assert await store.incr("created", ttl=60) == 2  # does not extend the window
    # A counter that already exists keeps no ttl, even when its result equals the amount.
    await store.set("existing-zero", b"0")
    assert await store.incr("existing-zero", 3, ttl=TTL) == 3
    await asyncio.sleep(PAST_TTL)
    assert await store.get("created") is None
    assert await store.incr("created", ttl=TTL) == 1
    assert await store.get("existing-zero") == b"3"


# -- hashes ------------------------------------------------------------------------------
async def test_hash_set_get_overwrite_and_delete(store: Store) -> None:
    await store.hset("h", "a", b"1")
    await store.hset("h", "b", b"2")
    await store.hset("h", "a", b"3")
    assert await store.hget("h", "a") == b"3"
    assert await store.hget("h", "missing") is None
    assert await store.hgetall("h") == {"a": b"3", "b": b"2"}
    assert await store.hdel("h", "a", "missing") == 1
    assert await store.hgetall("h") == {"b": b"2"}
    assert await store.hdel("h") == 0


async def test_hash_key_keeps_its_ttl_on_hset_and_goes_with_its_last_field(
    store: Store,
) -> None:
    await store.hset("h", "a", b"1")
    assert await store.hdel("h", "a") == 1
    assert await store.expire("h", 10) is False  # an empty hash is no key at all

    await store.hset("h", "a", b"1")
    await store.expire("h", TTL)
    await store.hset("h", "b", b"2")
    await asyncio.sleep(PAST_TTL)
    assert await store.hgetall("h") == {}


# -- sorted sets -------------------------------------------------------------------------
async def test_zadd_inserts_and_updates_scores(store: Store) -> None:
    await store.zadd("z", {"a": 1, "b": 2.5})
    await store.zadd("z", {"a": 7})
    await store.zadd("z", {})
    assert await store.zscore("z", "a") == 7.0
    assert await store.zscore("z", "b") == 2.5
    assert await store.zscore("z", "missing") is None
    assert await store.zcard("z") == 2


async def test_zrangebyscore_bounds_ordering_and_limit(store: Store) -> None:
    await store.zadd("z", {"low": -5, "b": 1, "a": 1, "mid": 1.5, "c": 2, "high": 3})
    # Bounds are inclusive; ties are ordered by member.
    between_1_and_2 = [("a", 1.0), ("b", 1.0), ("mid", 1.5), ("c", 2.0)]
    assert await store.zrangebyscore("z", 1, 2) == between_1_and_2
    assert await store.zrangebyscore("z", 1, 2, limit=2) == [("a", 1.0), ("b", 1.0)]
    assert await store.zrangebyscore("z", 1, 2, limit=0) == []
    assert await store.zrangebyscore("z", float("-inf"), float("inf"), limit=100) == [
        ("low", -5.0), ("a", 1.0), ("b", 1.0), ("mid", 1.5), ("c", 2.0), ("high", 3.0),
    ]  # fmt: skip
    assert await store.zrangebyscore("z", 2.5, 2.9) == []
    assert await store.zrangebyscore("z", 3, 1) == []


async def test_zrem_and_zremrangebyscore(store: Store) -> None:
    await store.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert await store.zrem("z", "a", "missing") == 1
    assert await store.zrem("z") == 0
    assert await store.zremrangebyscore("z", 2, 3) == 2  # inclusive
    assert await store.zrangebyscore("z", float("-inf"), float("inf")) == [("d", 4.0)]
    assert await store.zcard("z") == 1
    assert await store.zremrangebyscore("z", 0, 10) == 1
    assert await store.expire("z", 10) is False  # an empty sorted set is no key at all


# -- SQLite only ---------------------------------------------------------------------------
async def test_sqlite_persists_across_close_and_reopen(tmp_path) -> None:
    path = tmp_path / "nested" / "folder" / "store.sqlite3"
    store = await SQLiteStore.open(path)
    await store.set("plain", BINARY)
    await store.set("lasting", b"v", ttl=60)
    await store.set("fleeting", b"v", ttl=TTL)
    await store.incr("counter", 3)
    await store.hset("h", "f", b"v")
    await store.zadd("z", {"m": 2.5})
    await store.close()

    await asyncio.sleep(PAST_TTL)
    store = await SQLiteStore.open(path)
    try:
        assert await store.get("plain") == BINARY
        assert await store.get("lasting") == b"v"
        assert await store.get("fleeting") is None
        assert await store.incr("counter") == 4
        assert await store.hgetall("h") == {"f": b"v"}
        assert await store.zrangebyscore("z", 0, 10) == [("m", 2.5)]
    finally:
        await store.close()


async def test_sqlite_purges_expired_rows_with_their_values(tmp_path) -> None:
    path = tmp_path / "store.sqlite3"
    store = await SQLiteStore.open(path)
    await store.set("s", b"v", ttl=TTL)
    await store.hset("h", "f", b"v")
    await store.expire("h", TTL)
    await store.zadd("z", {"m": 1})
    await store.expire("z", TTL)
    await store.close()
    await asyncio.sleep(PAST_TTL)

    await (await SQLiteStore.open(path)).close()  # opening purges
    with closing(sqlite3.connect(path)) as raw:
        for table in ("keys", "strings", "hashes", "zsets"):
            assert raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table


async def test_sqlite_claims_are_atomic_across_connections_to_one_file(tmp_path) -> None:
    # Two stores stand for two processes: each has its own connection and thread.
    path = tmp_path / "store.sqlite3"
    first, second = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        claims = [s.set_if_absent(f"lease-{n}", b"v") for n in range(20) for s in (first, second)]
        results = await asyncio.gather(*claims)
        assert [results[i : i + 2].count(True) for i in range(0, 40, 2)] == [1] * 20
        counts = await asyncio.gather(*(s.incr("c") for _ in range(25) for s in (first, second)))
        assert sorted(counts) == list(range(1, 51))
    finally:
        await first.close()
        await second.close()


async def test_sqlite_in_memory_and_closed_store() -> None:
    store = await SQLiteStore.open(":memory:")
    await store.set("k", b"v")
    assert await store.get("k") == b"v"
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("k")


async def test_sqlite_serves_the_work_that_started_first_first(tmp_path) -> None:
    # A burst of messages shares the one SQLite thread. Served in arrival order of the
    # operations, twenty messages of ten operations each all finish near the end (the first
    # after 181 of 200 operations); served oldest work first, the first finishes early.
    from bot.store.priority import work_started

    store = await SQLiteStore.open(tmp_path / "s.sqlite3")
    finished: list[int] = []

    async def message(number: int) -> None:
        with work_started():
            for _ in range(10):
                await store.incr(f"counter:{number}")
                finished.append(number)

    try:
        await asyncio.gather(*(message(n) for n in range(20)))
    finally:
        await store.close()
    first_done = max(i for i, number in enumerate(finished) if number == 0)
    assert first_done < 50, first_done
    assert sorted(finished) == sorted(n for n in range(20) for _ in range(10))


# -- owners: the index of a chat's keys (bot/store/keys.py OwnedKey) ------------------------
from bot.store import keys as store_keys  # noqa: E402


async def test_owned_keys_are_indexed_by_every_write_and_leave_it_when_gone(store: Store) -> None:
    chat = "telegram:-100*[?]\\:x"  # glob characters and colons are just characters
    settings, shares = store_keys.chat_settings(chat), store_keys.digest_shares(chat)
    await store.hset(settings, "tz", b"UTC")
    await store.zadd(shares, {"a": 1})
    await store.set(store_keys.digest_sent(chat, __import__("datetime").date(2024, 5, 6)), b"1", ttl=TTL)
    await store.incr(store_keys.rate_decision(chat, "7"), ttl=60)
    await store.set("article:cache", b"public")  # no owner
    await store.hset(store_keys.chat_settings("telegram:-1001"), "tz", b"UTC")  # another chat
    assert await store.keys_of(chat) == sorted(
        [settings, shares, f"digest:sent:{chat}:2024-05-06", f"ratelimit-decision:{chat}:7"]
    )
    await asyncio.sleep(PAST_TTL)
    await store.hdel(settings, "tz")  # emptied: gone
    await store.delete(shares)
    assert await store.keys_of(chat) == [f"ratelimit-decision:{chat}:7"]
    assert await store.keys_of("telegram:-100") == []


async def test_erase_owner_deletes_its_keys_and_nothing_else(store: Store) -> None:
    chat, other = "slack:T1:C1", "slack:T1:C2"
    for owner in (chat, other):
        await store.hset(store_keys.chat_settings(owner), "autosummary", b"off")
        await store.set(store_keys.digest_pending(owner, __import__("datetime").date(2024, 5, 6)), b"x", ttl=60)
    await store.zadd(store_keys.DIGEST_DUE, {chat: 1, other: 2})
    assert await store.owners_in("slack:T1") == [chat, other]
    assert await store.erase_owner(chat) == 2
    assert await store.keys_of(chat) == []
    assert await store.hgetall(store_keys.chat_settings(chat)) == {}
    assert await store.owners_in("slack:T1") == [other]
    assert await store.hget(store_keys.chat_settings(other), "autosummary") == b"off"
    assert await store.zcard(store_keys.DIGEST_DUE) == 2  # shared keys are the caller's to edit
    assert await store.erase_owner(chat) == 0


async def test_rename_moves_value_expiry_and_ownership(store: Store) -> None:
    old, new = "telegram:-1", "telegram:-1002"
    await store.zadd(store_keys.digest_shares(old), {"a": 1.5})
    await store.expire(store_keys.digest_shares(old), TTL)
    await store.hset(store_keys.digest_feeds(new), "x", b"replaced")
    await store.hset(store_keys.digest_feeds(old), "f", b"v")
    for name in await store.keys_of(old):
        assert await store.rename(name, store_keys.rekey(name, old, new)) is True
    assert await store.keys_of(old) == []
    assert await store.keys_of(new) == [store_keys.digest_feeds(new), store_keys.digest_shares(new)]
    assert await store.hgetall(store_keys.digest_feeds(new)) == {"f": b"v"}
    assert await store.zrangebyscore(store_keys.digest_shares(new), 0, 2) == [("a", 1.5)]
    assert await store.rename("missing", "elsewhere") is False
    await asyncio.sleep(PAST_TTL)
    assert await store.zcard(store_keys.digest_shares(new)) == 0
    assert await store.purge_deleted() is True


async def test_sqlite_checkpoint_is_retried_while_a_reader_holds_the_wal(tmp_path) -> None:
    path = tmp_path / "store.sqlite3"
    store = await SQLiteStore.open(path)
    try:
        await store.set(store_keys.chat_settings("telegram:-5"), b"secret text")
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM keys").fetchone()  # holds a snapshot in the WAL
        await store.erase_owner("telegram:-5")
        purged = asyncio.ensure_future(store.purge_deleted())
        await asyncio.sleep(0.3)
        assert not purged.done()
        assert await store.get("anything") is None  # the store still serves meanwhile
        reader.execute("COMMIT")
        reader.close()
        assert await purged is True
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert b"secret text" not in path.read_bytes()
    finally:
        await store.close()


async def test_erase_owner_erases_every_key_of_an_owner_with_more_than_its_rounds_hold(store: Store, monkeypatch) -> None:
    """However many keys a chat piled up (button ids, reaction claims...), the erasure takes all
    of them: Redis erased a bounded number of batches, then dropped the index, so what was left
    could no longer be found by any erasure. Small batches stand for a huge chat."""
    from bot.store import redis_store

    monkeypatch.setattr(redis_store, "_ERASE_BATCH", 2)
    chat = "telegram:-77"
    for number in range(260):  # more than 100 rounds of 2
        await store.set(store_keys.length_button(chat, f"b{number}"), b"x", ttl=600)
    assert await store.erase_owner(chat) == 260
    assert await store.keys_of(chat) == []
    assert all([await store.get(store_keys.length_button(chat, f"b{number}")) is None for number in range(260)])
