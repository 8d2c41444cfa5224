"""`summary-bot run` as a separate process, for tests: its environment, the process itself
(output to a log file, stopped with SIGTERM), and /healthz polled while it comes up."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import aiohttp
import pytest

from benchmarks.deployment import free_port  # noqa: F401  (the tests take it from here)

ROOT = Path(__file__).resolve().parents[1]


def run_environment(*, strip: tuple[str, ...] = ("SUMMARY_BOT_",), **settings: str) -> dict:
    """This process's environment without the variables starting with `strip`, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(strip)}
    env.update(settings)
    return env


def telegram_run_environment(api, tmp_path: Path, **settings: str) -> dict:
    """The environment of a `summary-bot run` process that talks to the Telegram stand-in."""
    return run_environment(
        SUMMARY_BOT_TELEGRAM_TOKEN=api.token,
        SUMMARY_BOT_TELEGRAM_API_URL=api.base_url,
        SUMMARY_BOT_FETCH_ALLOW_PRIVATE="127.0.0.0/8",
        SUMMARY_BOT_SQLITE_PATH=str(tmp_path / "run.sqlite3"),
        **settings,
    )


def slack_run_environment(standin, tmp_path: Path, port: int, *, bot_token: str, signing_secret: str) -> dict:
    """The environment of a `summary-bot run` process that talks to the Slack stand-in (token
    mode) and listens on 127.0.0.1:`port`."""
    return run_environment(
        strip=("SUMMARY_BOT_", "SLACK_"),
        SUMMARY_BOT_SLACK_BOT_TOKEN=bot_token, SUMMARY_BOT_SLACK_SIGNING_SECRET=signing_secret,
        SUMMARY_BOT_SLACK_API_URL=standin.api_url, SUMMARY_BOT_HTTP_HOST="127.0.0.1",
        SUMMARY_BOT_HTTP_PORT=str(port), SUMMARY_BOT_FETCH_ALLOW_PRIVATE="127.0.0.0/8",
        SUMMARY_BOT_SQLITE_PATH=str(tmp_path / "run.sqlite3"),
    )  # fmt: skip


@asynccontextmanager
async def summary_bot_run(
    env: dict, log_path: Path, *args: str, stop_timeout: float = 30
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`summary-bot run [args]` as its own process, its output in `log_path` (a file, not a
    pipe: a full pipe would stall the bot). On leaving: SIGTERM and its exit awaited; still
    running after `stop_timeout` seconds, it is killed. A failed assertion or a timeout inside
    (or at the stop) fails the test with the log's tail."""
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", *args, cwd=ROOT, env=env, stdout=log_file, stderr=log_file
        )
    try:
        try:
            yield process
        finally:
            with suppress(ProcessLookupError):  # it may have exited on its own
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), stop_timeout)
    except (AssertionError, asyncio.TimeoutError) as exc:
        pytest.fail(f"{exc!r}\n--- summary-bot run's log ---\n{log_path.read_text()[-4000:]}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def health(port: int) -> tuple[int, str] | None:
    """/healthz on 127.0.0.1:`port`: its status and body, or None while nothing answers."""
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                return response.status, await response.text()
    except aiohttp.ClientError:
        return None


async def health_answers(
    process: asyncio.subprocess.Process, port: int, log_path: Path, *, tries: int = 600
) -> AsyncIterator[tuple[int, str] | None]:
    """/healthz's answer (None while nothing listens) every 0.1 s, `tries` times at most;
    the process exiting meanwhile fails the test with its log. Break out when it is ready."""
    for _ in range(tries):
        assert process.returncode is None, log_path.read_text()
        yield await health(port)
        await asyncio.sleep(0.1)
