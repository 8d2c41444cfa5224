"""Shared pytest fixtures. Add new ones under a section header of their own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis

from bot.store import Store
from bot.store.redis_store import RedisStore
from bot.store.sqlite_store import SQLiteStore

# -- storage: a throwaway redis-server, and `store` run against every backend ----------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for this test session, with no persistence. Skipped without
    one, except in CI (CI=true), where Redis tests must run."""
    server = shutil.which("redis-server")
    if server is None:
        message = "redis-server is not on PATH (Debian/Ubuntu: apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; in CI the Redis backend must be tested", pytrace=False)
        pytest.skip(message)

    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    log = workdir / "redis.log"
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log)],
    )  # fmt: skip
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start; see {log}", pytrace=False)
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
