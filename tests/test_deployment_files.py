"""The deployment as shipped: docker-compose.yml, .env.example and the Dockerfile, and the
`summary-bot run` behaviour they rely on. (No Docker engine runs here: the files are read as
text, and the process is run as the container would run it.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from run_support import ROOT, free_port, health_answers, run_environment, summary_bot_run


def unconfigured_environment(tmp_path: Path, port: int) -> dict:
    """What the shipped .env.example gives a container: no platform credentials at all."""
    return run_environment(SUMMARY_BOT_SQLITE_PATH=str(tmp_path / "store.sqlite3"), SUMMARY_BOT_HTTP_PORT=str(port))


async def test_unconfigured_front_stays_up_unhealthy_instead_of_crash_looping(tmp_path):
    """Fails before the fix: `summary-bot run` with no platform could only exit 2, and the
    compose file restarts whatever exits, for ever. With `--unconfigured wait` (what the
    compose file runs) it says so once, answers /healthz 503 with the reason, and exits 0 on
    SIGTERM."""
    port = free_port()
    log_path = tmp_path / "front.log"
    env = unconfigured_environment(tmp_path, port)
    async with summary_bot_run(env, log_path, "--unconfigured", "wait", stop_timeout=60) as process:
        health = None
        async for health in health_answers(process, port, log_path, tries=300):  # until it listens (or exits, which is the fault)
            if health is not None:
                break
        assert process.returncode is None, log_path.read_text()
        assert health is not None and health[0] == 503 and "no chat platform is configured" in health[1]
    code = process.returncode
    assert code == 0
    log = log_path.read_text()
    assert log.count("no chat platform is configured") == 1


async def test_unconfigured_run_still_exits_with_a_reason_by_default(tmp_path):
    """In a terminal, `summary-bot run` with nothing configured keeps saying what to do and exits 2."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=unconfigured_environment(tmp_path, free_port()), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2
    assert b"summary-bot chat" in err


def test_compose_runs_the_front_so_that_an_empty_env_file_does_not_crash_loop():
    """Fails before the fix: the front ran plain `summary-bot run` under `restart: unless-stopped`."""
    compose = (ROOT / "docker-compose.yml").read_text()
    run_commands = [line for line in compose.splitlines() if '"summary-bot", "run"' in line]
    assert run_commands, "the compose file runs no front"
    assert all('"--unconfigured", "wait"' in line for line in run_commands)


def test_env_example_marks_the_webhook_secret_required_with_a_webhook():
    """Fails before the fix: the example set a webhook URL and left the secret blank with no word."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    secret = next(i for i, line in enumerate(lines) if line.lstrip("#").startswith("SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET="))
    comment = lines[secret - 1].lower()
    assert comment.startswith("#") and "required" in comment and "webhook" in comment
    # A webhook URL is not switched on by default: with it set, an empty secret stops the front.
    assert not any(line.startswith("SUMMARY_BOT_TELEGRAM_WEBHOOK_URL=http") for line in lines)


def test_dockerfile_declares_no_anonymous_volume():
    """Fails before the fix: `VOLUME ["/data"]` made an anonymous volume for every front and
    worker of the compose deployment, which keeps its state in Redis and never reads /data."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not any(line.strip().upper().startswith("VOLUME") for line in dockerfile.splitlines())
