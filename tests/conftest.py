"""Shared pytest fixtures. Add new ones under a section header of their own."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis

from benchmarks.deployment import RedisServer
from bot.store import Store
from bot.store.redis_store import RedisStore
from bot.store.sqlite_store import SQLiteStore

# -- storage: a throwaway redis-server, and `store` run against every backend ----------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server for this test session, with no persistence. Skipped without
    one, except in CI (CI=true), where Redis tests must run."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not on PATH (Debian/Ubuntu: apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; in CI the Redis backend must be tested", pytrace=False)
        pytest.skip(message)
    with RedisServer() as server:
        yield server.url


@pytest_asyncio.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Store]:
    """An open, empty store of each backend; closed after the test."""
    if request.param == "sqlite":
        opened: Store = await SQLiteStore.open(tmp_path / "store.sqlite3")
    else:
        url = request.getfixturevalue("redis_url")
        with redis.Redis.from_url(url) as admin:
            admin.flushdb()
        opened = await RedisStore.connect(url)
    yield opened
    await opened.close()


# -- the model: one inference service (and one loaded encoder) for the whole session ------


@pytest.fixture(scope="session")
def inference():
    """The default in-process inference service, shared by every test that needs the model:
    it is thread-based, so it serves each test's event loop, and the model loads once."""
    from model_support import shared_inference

    return shared_inference()


@pytest.fixture(scope="session", autouse=True)
def _close_shared_resources():
    """At the end of the session, stop the shared extraction processes and model thread."""
    yield
    import model_support

    if model_support.shared_extractor.cache_info().currsize:
        model_support.shared_extractor().close()
    if model_support.shared_inference.cache_info().currsize:
        model_support.shared_inference().close()
