"""Shared pytest fixtures. Add new ones under a section header of their own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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


# -- the model cache: the ONNX encoder's graph, built at most once per session, in a temp dir --

_MODEL_CACHE = pytest.StashKey[tuple]()  # (the temporary folder, the variable's value before)


_CACHE_VARIABLES = ("SUMMARY_BOT_MODEL_CACHE_DIR", "XDG_CACHE_HOME")


def pytest_configure(config) -> None:
    """Point the model cache at a fresh temporary folder before any test module is imported
    (a module may build Settings at import), so the tests, and the commands they start,
    never write to the user's cache. XDG_CACHE_HOME too: a test that starts a command with
    the SUMMARY_BOT_* variables stripped then finds the same folder as its default
    (platformdirs), and the graph is built once per session, on the first model load."""
    folder = tempfile.mkdtemp(prefix="summary-bot-test-cache-")
    config.stash[_MODEL_CACHE] = (folder, {name: os.environ.get(name) for name in _CACHE_VARIABLES})
    os.environ["XDG_CACHE_HOME"] = folder
    os.environ["SUMMARY_BOT_MODEL_CACHE_DIR"] = os.path.join(folder, "summary-bot")


def pytest_unconfigure(config) -> None:
    folder, previous = config.stash.get(_MODEL_CACHE, (None, {}))
    if folder is None:
        return
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The session's model cache folder with the ONNX graph built (once) and verified."""
    from bot.config import Settings
    from bot.encoder import prepare_graph

    settings = Settings()
    prepare_graph(settings)
    return Path(settings.model_cache_dir)


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
