"""`summary-bot` as a user runs it: separate processes, real model, SQLite store."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
SEED_PAGE = ROOT / "seeds" / "news" / "russia-us-prisoner-exchange-talks-g20.html"


def run_cli(*args: str, env_extra: dict | None = None, tmp_path: Path, code: str | None = None, stdin: str = ""):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUMMARY_BOT_")}
    env.update({"SUMMARY_BOT_SQLITE_PATH": str(tmp_path / "store.sqlite3"), **(env_extra or {})})
    command = [sys.executable, "-m", "bot", *args] if code is None else [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, input=stdin, timeout=120)


def test_summarize_seed_page_as_json(tmp_path):
    result = run_cli("summarize", str(SEED_PAGE), "--format", "json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)
    assert digest["title"] == "Russia and the US pursue private prisoner-exchange talks amid G20 discussions"
    assert digest["source"] == "Northline News"
    assert len(digest["points"]) >= 3
    page_text = " ".join(SEED_PAGE.read_text(encoding="utf-8").split())
    for point in digest["points"]:
        assert point in page_text and point.endswith((".", "!", "?", "”", '"'))
    assert set(digest) == {
        "title", "source", "url", "date", "reading_minutes", "points", "sources", "summarizer", "related", "cached"
    }  # fmt: skip
    assert digest["summarizer"] == "extractive" and digest["sources"] == [None] * len(digest["points"])
    assert digest["cached"] is False


# Run the CLI in-process and report whether torch was ever imported: a cache hit must not
# load (or even import) the model.
CHECK_NO_MODEL = (
    "import sys; from adapters.cli import main; rc = main(sys.argv[1:]); "
    # a model runtime imported means the model was loaded (ONNX Runtime by default, torch for the torch backend)
    "loaded = 'onnxruntime' in sys.modules or 'torch' in sys.modules; "
    "print('MODEL-LOADED' if loaded else 'MODEL-NOT-LOADED', file=sys.stderr); sys.exit(rc)"
)


def test_second_summary_is_cached_and_does_not_run_the_model(tmp_path):
    first = run_cli("summarize", str(SEED_PAGE), "--format", "json", tmp_path=tmp_path, code=CHECK_NO_MODEL)
    second = run_cli("summarize", str(SEED_PAGE), "--format", "json", tmp_path=tmp_path, code=CHECK_NO_MODEL)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert json.loads(first.stdout)["cached"] is False and "MODEL-LOADED" in first.stderr
    assert json.loads(second.stdout)["cached"] is True and "MODEL-NOT-LOADED" in second.stderr
    assert json.loads(second.stdout)["points"] == json.loads(first.stdout)["points"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://[::1]/", "http://localhost:9/", "http://10.1.2.3/"])
def test_private_addresses_are_refused_as_not_allowed(tmp_path, url):
    result = run_cli("summarize", url, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "not allowed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def redirect_to_metadata():
    """A server on 127.0.0.1 (allowed in this test) whose page redirects to the cloud
    metadata address, in a thread so the CLI subprocess can reach it."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    async def start():
        app = web.Application()

        async def handler(request):
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

        app.router.add_get("/article", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        state["runner"], state["port"] = runner, runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{state['port']}/article"
    asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_redirect_into_link_local_is_refused(tmp_path, redirect_to_metadata):
    result = run_cli(
        "summarize", redirect_to_metadata, tmp_path=tmp_path,
        env_extra={"SUMMARY_BOT_FETCH_ALLOW_PRIVATE": "127.0.0.1/32"},
    )
    assert result.returncode == 1
    assert "not allowed" in result.stderr and "169.254.169.254" in result.stderr


def test_invalid_setting_stops_with_one_line_naming_it(tmp_path):
    result = run_cli("summarize", str(SEED_PAGE), tmp_path=tmp_path, env_extra={"SUMMARY_BOT_FETCH_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SUMMARY_BOT_FETCH_TIMEOUT" in result.stderr


def test_stdin_text_and_missing_file(tmp_path):
    text = (ROOT / "seeds" / "pasted-text.txt").read_text(encoding="utf-8")
    result = run_cli("summarize", "-", "--length", "short", "--format", "json", tmp_path=tmp_path, stdin=text)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["points"]) == 1
    missing = run_cli("summarize", "no/such/file.html", tmp_path=tmp_path)
    assert missing.returncode == 1 and missing.stderr.startswith("summary-bot:")


def test_chat_answers_a_seed_link_through_the_console(tmp_path):
    """The embedded default: console chat with the sample site, driven through a pipe."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat"], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SUMMARY_BOT_")},
             "SUMMARY_BOT_SQLITE_PATH": str(tmp_path / "chat.sqlite3"), "LC_ALL": "C.UTF-8"},  # the console speaks the locale's language
    )
    banner = [proc.stdout.readline() for _ in range(3)]
    seed_link = next(line.strip() for line in iter(proc.stdout.readline, "") if "russia-us" in line)
    out, err = proc.communicate(f"{seed_link}\n/help\n", timeout=120)
    assert proc.returncode == 0, err
    assert "Sample articles" in "".join(banner)
    assert "Russia and the US pursue private prisoner-exchange talks" in out
    assert "Northline News" in out and "min read" in out
    assert "privacy mode" in out  # /help


def chat_env(tmp_path: Path, **extra: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SUMMARY_BOT_")},
            "SUMMARY_BOT_SQLITE_PATH": str(tmp_path / "chat.sqlite3"), "LC_ALL": "C.UTF-8", **extra}  # fmt: skip


def test_chat_in_a_terminal_shows_no_paste_markers(tmp_path):
    """`summary-bot chat` on a pseudo-terminal, a two-line bracketed paste sent with Enter.
    Fails before the fix: the terminal echoed the markers, ^[[200~ and ^[[201~, on screen."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "chat"], cwd=ROOT, env=chat_env(tmp_path, TERM="xterm"),
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)  # fmt: skip
    os.close(slave)
    screen = b""

    def read_until(text: bytes) -> None:
        nonlocal screen
        give_up = time.monotonic() + 120  # a fail-safe, not a limit under test
        while text not in screen and time.monotonic() < give_up:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen += os.read(master, 65536)
                except OSError:  # the process has gone
                    break

    try:
        read_until(b"you> ")
        os.write(master, b"\x1b[200~hello\rworld\x1b[201~")
        read_until(b"world")
        os.write(master, b"\r")
        read_until(b"paste a longer text")  # the answer to a two-line chat message
        os.write(master, b"\x04")  # Ctrl-D
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(master)
    shown = screen.decode(errors="replace")
    assert "paste a longer text" in shown
    assert "200~" not in shown and "201~" not in shown and "^[" not in shown


def test_chat_allows_the_sample_site_but_no_other_local_port(tmp_path):
    """The sample site's exception in the address policy is its own port: a link to
    another service on 127.0.0.1 (Redis on 6379, say) is refused, and nothing connects to it.
    Fails before the fix: `chat` allowed 127.0.0.1/32, every port, and fetched it."""
    import socket

    with socket.socket() as service:
        service.bind(("127.0.0.1", 0))
        service.listen()
        service.setblocking(False)
        port = service.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "chat"], cwd=ROOT, text=True, capture_output=True, timeout=120,
            input=f"http://127.0.0.1:{port}/\n", env=chat_env(tmp_path, SUMMARY_BOT_FETCH_TIMEOUT="3"),
        )  # fmt: skip
        with pytest.raises(BlockingIOError):  # no connection is waiting
            service.accept()
    assert proc.returncode == 0, proc.stderr
    assert "That address is not allowed: 127.0.0.1 is a loopback address" in proc.stdout


# -- start-up errors: one line naming the setting or server, exit status 2 --------------
@pytest.mark.parametrize(
    "env, named",
    [
        ({"SUMMARY_BOT_REDIS_URL": "notaurl"}, "SUMMARY_BOT_REDIS_URL"),
        ({"SUMMARY_BOT_REDIS_URL": "redis://127.0.0.1:1/0"}, "127.0.0.1:1"),  # nothing listens there
        ({"SUMMARY_BOT_LOG_LEVEL": "bogus"}, "SUMMARY_BOT_LOG_LEVEL"),
        ({"SUMMARY_BOT_REDIS_CONNECT_TIMEOUT": "0"}, "SUMMARY_BOT_REDIS_CONNECT_TIMEOUT"),
    ],
)
@pytest.mark.parametrize("command", [["summarize", "-"], ["run"]])
def test_bad_storage_or_logging_settings_stop_with_one_line(tmp_path, env, named, command):
    result = run_cli(*command, tmp_path=tmp_path, env_extra=env, stdin="Some pasted text.")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert named in result.stderr and result.stderr.startswith("summary-bot:")


def test_a_redis_password_is_not_shown_when_the_server_does_not_answer(tmp_path):
    result = run_cli("summarize", "-", tmp_path=tmp_path, env_extra={"SUMMARY_BOT_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"})
    assert result.returncode == 2 and "127.0.0.1:1" in result.stderr and "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "broken",
    [
        b"\xed\xa0\x80",  # a lone surrogate, UTF-8 encoded (not valid UTF-8)
        b"caf\xe9 cr\xe8me br\xfbl\xe9e",  # Latin-1
    ],
)
def test_stdin_that_is_not_utf8_is_summarized_not_a_traceback(tmp_path, broken):
    text = (ROOT / "seeds" / "pasted-text.txt").read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUMMARY_BOT_")}
    env["SUMMARY_BOT_SQLITE_PATH"] = str(tmp_path / "store.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "summarize", "-", "--length", "short", "--format", "json"],
        input=broken + b" " + text, capture_output=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    assert len(json.loads(result.stdout)["points"]) == 1


def test_a_redis_server_that_never_answers_stops_start_up_after_the_socket_timeout(tmp_path):
    import socket

    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        env = {"SUMMARY_BOT_REDIS_URL": f"redis://127.0.0.1:{port}/0", "SUMMARY_BOT_REDIS_SOCKET_TIMEOUT": "0.5"}
        result = run_cli("summarize", "-", tmp_path=tmp_path, env_extra=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and f"127.0.0.1:{port}" in result.stderr


def assert_one_line_error(result, *named: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("summary-bot:"), result.stderr
    for name in named:
        assert name in result.stderr, result.stderr


@pytest.mark.parametrize(
    "command, env, named",
    [
        (["chat"], {"SUMMARY_BOT_REDIS_URL": "redis://127.0.0.1:1/0"}, ["127.0.0.1:1", "SUMMARY_BOT_REDIS_URL"]),
        (["worker"], {}, ["SUMMARY_BOT_REDIS_URL"]),
        (["run"], {"SUMMARY_BOT_WORKERS": "external"}, ["SUMMARY_BOT_REDIS_URL"]),
        (["run"], {"SUMMARY_BOT_WORKERS": "sometimes"}, ["SUMMARY_BOT_WORKERS"]),
        (["summarize", "-"], {"SUMMARY_BOT_LOG_FORMAT": "xml"}, ["SUMMARY_BOT_LOG_FORMAT"]),
        (["chat"], {"SUMMARY_BOT_SEEDS_DIR": "/no/such/folder"}, ["SUMMARY_BOT_SEEDS_DIR"]),
        (["bench", "related-pages", "--pages", "seeds/news"], {}, ["--truth"]),
        (["bench", "digest-tick", "--redis-url", "redis://127.0.0.1:1/0"], {}, ["127.0.0.1:1"]),
        (["bench", "digest-tick", "--redis-url", "notaurl"], {}, ["SUMMARY_BOT_REDIS_URL"]),
    ],
)
def test_configuration_and_connection_errors_are_one_line(tmp_path, command, env, named):
    assert_one_line_error(run_cli(*command, tmp_path=tmp_path, env_extra=env, stdin="Some pasted text."), *named)


def test_bench_without_the_bench_extra_says_how_to_install_it(tmp_path):
    # rouge_score stands for the bench extra: a None in sys.modules makes it not importable
    code = "import sys; sys.modules['rouge_score'] = None; from adapters.cli import main; sys.exit(main(sys.argv[1:]))"
    result = run_cli("bench", "rouge", "--data", "x.jsonl", tmp_path=tmp_path, code=code)
    assert_one_line_error(result, "rouge_score", "pip install", "[bench]")


# Which of the heavy libraries a command line imports, by running it in a fresh interpreter.
CHECK_IMPORTS = (
    "import sys; from adapters.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "heavy = ('telegram', 'slack_bolt', 'slack_sdk', 'rouge_score', 'torch', 'transformers', 'aiohttp', 'benchmarks')\n"
    "print(' '.join(sorted(m for m in heavy if m in sys.modules)) or 'none', file=sys.stderr)"
)


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["summarize", "--help"], ["--version"]])
def test_help_and_version_import_no_platform_model_or_benchmark_library(tmp_path, args):
    result = run_cli(*args, tmp_path=tmp_path, code=CHECK_IMPORTS)
    assert result.stderr.strip().splitlines()[-1] == "none", result.stderr
    assert result.stdout.startswith("usage: summary-bot") or result.stdout.startswith("summary-bot 0.")


def test_help_says_what_each_command_does_and_what_enables_each_platform(tmp_path):
    top = run_cli("--help", tmp_path=tmp_path).stdout
    for command in ("summarize", "chat", "run", "worker", "digest", "bench"):
        assert f"    {command}" in top
    run_help = run_cli("run", "--help", tmp_path=tmp_path).stdout
    for setting in ("SUMMARY_BOT_TELEGRAM_TOKEN", "SUMMARY_BOT_SLACK_BOT_TOKEN", "SUMMARY_BOT_SLACK_SIGNING_SECRET"):
        assert setting in run_help
    length_help = " ".join(run_cli("summarize", "--help", tmp_path=tmp_path).stdout.split())
    assert "short 1, medium 3, long 5" in length_help
    version = run_cli("--version", tmp_path=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "summary-bot 0.1.0"


def test_json_log_lines_are_one_object_each():
    import logging

    from adapters.logs import JsonFormatter

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("bot.core", logging.ERROR, __file__, 1, "failed for %s", ("chat:1",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "bot.core" and entry["message"] == "failed for chat:1"
    assert "ValueError: boom" in entry["exception"] and entry["time"].endswith("+00:00")
