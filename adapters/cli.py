"""The `summary-bot` command line: wires settings, store, core and adapters together.

Sub-commands: `summarize` (one target, printed), `chat` (the console adapter with the
sample site), `run` (every chat platform whose credentials are set), `worker`, `digest
preview`, and `bench` (the benchmarks package, with the `bench` extra).

Only the standard library is imported up front, so `--help` is quick: each command imports
what it needs (the model, aiohttp, a platform's library) when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core import SummaryBot
    from bot.models import Digest

RUN_SETTINGS = """\
a platform runs when its settings are set (environment variables):
  Telegram  SUMMARY_BOT_TELEGRAM_TOKEN; long polling, or webhooks with
            SUMMARY_BOT_TELEGRAM_WEBHOOK_URL and SUMMARY_BOT_TELEGRAM_WEBHOOK_SECRET
  Slack     SUMMARY_BOT_SLACK_BOT_TOKEN (one workspace), or SUMMARY_BOT_SLACK_CLIENT_ID and
            SUMMARY_BOT_SLACK_CLIENT_SECRET (installs by OAuth); events over HTTP need
            SUMMARY_BOT_SLACK_SIGNING_SECRET, Socket Mode SUMMARY_BOT_SLACK_APP_TOKEN
webhooks, events, /healthz and /metrics are served on SUMMARY_BOT_HTTP_HOST:SUMMARY_BOT_HTTP_PORT
(default 0.0.0.0:8080). With SUMMARY_BOT_WORKERS=external and SUMMARY_BOT_REDIS_URL this
process only receives and enqueues; `summary-bot worker` processes do the rest.
"""
LENGTH_HELP = "key points in the digest: short 1, medium 3, long 5 (default: SUMMARY_BOT_SUMMARY_LENGTH, medium)"
BENCH_HELP = "measure summary quality, extraction and speed (needs the bench extra)"


def build_parser(*, benchmarks: bool = False) -> argparse.ArgumentParser:
    """The whole command line. `benchmarks`: register every `bench` command (imports the
    benchmarks package); without it `bench` is listed but has no sub-commands."""
    parser = argparse.ArgumentParser(
        prog="summary-bot",
        description="Article summaries for chats: share a link (or paste text) in Telegram, Slack or this terminal.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    summarize = commands.add_parser(
        "summarize", help="summarize a URL, an .html/.txt file, or stdin (-)",
        description="Summarize one article and print its digest: title, source, key points, reading time.",
    )  # fmt: skip
    summarize.add_argument("target", help="URL, path to an .html/.htm/.txt file, or - for stdin")
    summarize.add_argument("--length", choices=["short", "medium", "long"], default=None, help=LENGTH_HELP)
    summarize.add_argument("--format", choices=["text", "json"], default="text")
    summarize.set_defaults(func=cmd_summarize)

    chat = commands.add_parser(
        "chat", help="chat with the bot in this terminal (the embedded default)",
        description="The console adapter: paste links or text, use /commands. The sample pages in seeds/ "
        "(SUMMARY_BOT_SEEDS_DIR) are served on 127.0.0.1 so that there is something to share offline.",
    )  # fmt: skip
    chat.add_argument("--port", type=int, default=0, help="port for the sample site (default: any free one)")
    chat.set_defaults(func=cmd_chat)

    run = commands.add_parser(
        "run", help="run every chat platform whose credentials are set",
        description="Serve every chat platform whose settings are set, in one process, until SIGINT/SIGTERM.",
        epilog=RUN_SETTINGS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    run.add_argument(
        "--unconfigured", choices=["exit", "wait"], default="exit",
        help="with no chat platform configured: exit with status 2 (default), or stay up with /healthz "
        "answering 503 until stopped (for supervisors that restart whatever exits, e.g. docker compose)",
    )  # fmt: skip
    run.set_defaults(func=cmd_run)

    worker = commands.add_parser(
        "worker",
        help="do the work fronts enqueue (SUMMARY_BOT_WORKERS=external): fetch, summarize, reply",
        description="A worker of a scaled-out deployment: loads the model, takes chat messages and links "
        "from the job queue on SUMMARY_BOT_REDIS_URL, answers them on their platform, and sends the daily "
        "digests. Run as many as the load needs; /healthz on SUMMARY_BOT_HTTP_PORT says when the model is loaded.",
    )
    worker.set_defaults(func=cmd_worker)

    prepare = commands.add_parser(
        "prepare-model", help="build the ONNX sentence encoder into the model cache (once; the first start does it too)",
        description="Export the sentence encoder's weights to an int8 ONNX graph in the model cache "
        "(SUMMARY_BOT_MODEL_CACHE_DIR, default: the user's cache directory), or check the one there. "
        "Needs torch and transformers; serving then needs neither.",
    )  # fmt: skip
    prepare.add_argument("--force", action="store_true", help="rebuild even if the cached graph checks out")
    prepare.set_defaults(func=cmd_prepare_model)

    from adapters.digest_cli import add_digest_parser

    add_digest_parser(commands)

    from adapters.privacy_cli import add_privacy_parsers

    add_privacy_parsers(commands)

    if benchmarks:  # the benchmarks package (top level, not part of the bot) registers them
        from benchmarks import add_bench_parser

        add_bench_parser(commands)
    else:
        commands.add_parser("bench", help=BENCH_HELP, add_help=False)
    return parser


def bench_unavailable() -> str | None:
    """One line saying how to install the `bench` extra, where it is missing."""
    try:
        from benchmarks import INSTALL_HINT, missing_extra
    except ModuleNotFoundError as exc:  # an install without the benchmarks package
        missing, INSTALL_HINT = exc.name, "pip install 'summary-bot[bench]'"
    else:
        missing = missing_extra()
    if missing is None:
        return None
    return f"summary-bot: the benchmarks need the bench extra ({missing} is not installed): {INSTALL_HINT}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    wants_bench = argv[:1] == ["bench"]
    if wants_bench and (unavailable := bench_unavailable()):
        print(unavailable, file=sys.stderr)
        return 2
    args = build_parser(benchmarks=wants_bench).parse_args(argv)

    from bot.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:  # one line naming the bad variable
        print(exc, file=sys.stderr)
        return 2
    from adapters.logs import configure_logging

    configure_logging(settings.log_level if args.command in ("run", "worker") else "WARNING", settings.log_format)
    try:
        return asyncio.run(args.func(args, settings)) or 0
    except ConfigError as exc:  # found on the way up (Redis not answering, a token refused): one line
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# -- summarize ------------------------------------------------------------------------------
async def cmd_summarize(args, settings: Settings) -> int:
    import json

    from adapters.assembly import assemble_bot, close_bot
    from bot.core import FRIENDLY_ERRORS
    from bot.store import open_store

    store = await open_store(settings)
    bot = assemble_bot(settings, store)
    try:
        digest = await summarize_target(bot, args.target, args.length)
    except (*FRIENDLY_ERRORS, OSError, ValueError) as exc:
        print(f"summary-bot: {exc}", file=sys.stderr)
        return 1
    finally:
        await close_bot(bot)
        await store.close()
    if args.format == "json":
        print(json.dumps(digest.to_json(), ensure_ascii=False, indent=2))
    else:
        from adapters.console import render_digest

        print(render_digest(digest))
    return 0


async def summarize_target(bot: SummaryBot, target: str, length: str | None) -> Digest:
    from bot.extract import article_from_text

    pipeline = bot.pipeline
    if target == "-":  # bytes, decoded leniently: Latin-1 or broken UTF-8 must not end in a traceback
        return await pipeline.digest_text(sys.stdin.buffer.read().decode("utf-8", errors="replace"), length)
    if target.lower().startswith(("http://", "https://")):
        return await pipeline.digest_link(target, length)
    path = Path(target)
    if path.suffix.lower() in (".html", ".htm"):
        article = await pipeline.extractor.extract(path.read_text(encoding="utf-8", errors="replace"), path.resolve().as_uri())
        return await pipeline.digest_article(article, length)
    if path.suffix.lower() == ".txt" or path.is_file():
        return await pipeline.digest_article(article_from_text(path.read_text(encoding="utf-8", errors="replace")), length)
    raise ValueError(f"{target} is not a URL, an existing file, or -")


# -- chat -----------------------------------------------------------------------------------
async def cmd_chat(args, settings: Settings) -> int:
    from adapters.assembly import assemble_bot, close_bot
    from adapters.console import PASTE_NOTE, console_translator, environment_language, run_console
    from adapters.seed_site import SeedSite, find_seeds_dir, seed_pages
    from bot.config import ConfigError
    from bot.store import open_store

    store = await open_store(settings)  # first: a Redis that does not answer stops here, in one line
    # One local user: no per-user rate limit (that protects a chat platform from a crowd).
    settings = settings.model_copy(update={"user_rate_limit": 0})
    seeds_dir = find_seeds_dir(settings.seeds_dir)
    site = SeedSite(seeds_dir, args.port) if seeds_dir else None
    if site:
        try:
            base_url = await site.start()
        except OSError as exc:  # e.g. --port already in use
            await store.close()
            raise ConfigError(f"summary-bot: cannot serve the sample pages on port {args.port}: {exc.strerror or exc}") from None
        # The sample site is on loopback, which the fetcher refuses: its own address and port
        # are allowed, nothing else there (not Redis on 127.0.0.1:6379, say).
        endpoints = [*settings.fetch_allow_endpoints, site.endpoint]
        settings = settings.model_copy(update={"fetch_allow_endpoints": endpoints})
    bot = assemble_bot(settings, store)
    # The console's words: the chat's /language, else the terminal's locale, else English.
    language = environment_language()
    t = await console_translator(bot, language)
    banner = [t._("summary-bot: paste a link or some text, /help for commands, Ctrl-D to quit.")]
    if site:
        banner.append(t._("Sample articles, served from {folder} at {url}:", folder=seeds_dir, url=base_url))
        banner += [f"  {base_url}/{page.as_posix()}" for page in seed_pages(seeds_dir)]
    banner += [t._(PASTE_NOTE), t._("Daily digests (/subscribe) are sent by `summary-bot run`, not by this chat.")]
    # The model loads in the background, said out loud, so the first reply need not sit on a
    # silent "working…" while it loads; the console shows the line between messages.
    notices: asyncio.Queue[str] = asyncio.Queue()
    warming = asyncio.create_task(_warm_up_visibly(bot, notices.put_nowait, t))
    try:
        await run_console(bot, banner="\n".join([*banner, t._("loading the model…")]), notices=notices, language=language)
    finally:
        warming.cancel()
        await close_bot(bot)
        await store.close()
        if site:
            await site.stop()
    return 0


async def _warm_up_visibly(bot, say, t) -> None:
    import time

    started = time.monotonic()
    try:
        await bot.inference.warm_up()
    except Exception as exc:  # the first summary will say what is wrong
        say(t._("summary-bot: the model could not be loaded: {error}", error=t.text(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else exc))
        return
    say(t._("model ready ({seconds} s)", seconds=f"{time.monotonic() - started:.1f}"))


# -- run ------------------------------------------------------------------------------------
NO_PLATFORM = (
    "summary-bot: no chat platform is configured (set SUMMARY_BOT_TELEGRAM_TOKEN or the "
    "SUMMARY_BOT_SLACK_* variables). To try the bot in this terminal, run `summary-bot chat`."
)
NEEDS_REDIS = "summary-bot: SUMMARY_BOT_WORKERS=external needs SUMMARY_BOT_REDIS_URL (the job queue lives in Redis)"


async def cmd_run(args, settings: Settings) -> int:
    from adapters.assembly import assemble_bot, close_bot
    from adapters.runner import configured_services, run_services
    from bot.store import open_store

    external = settings.workers == "external"
    if external and not settings.redis_url:
        print(NEEDS_REDIS, file=sys.stderr)
        return 2
    store = await open_store(settings)
    bot = assemble_bot(settings, store)
    queue = None
    try:
        if external:  # a front: receive, enqueue, acknowledge; workers do the rest
            from adapters.queue import MessageQueue, open_queue_pool

            queue = MessageQueue(await open_queue_pool(settings.redis_url))
        services = configured_services(settings, bot, queue=queue)
        if not services:
            print(NO_PLATFORM, file=sys.stderr)
            if args.unconfigured == "wait":
                await wait_unconfigured(settings)
                return 0
            return 2
        if external:
            await run_services(settings, bot, services, ready=queue.healthy, schedule_digests=False)
        else:
            warming = asyncio.create_task(bot.inference.warm_up())  # the first reply need not wait for it

            async def model_loaded() -> bool:
                return bot.inference.model_loaded

            try:
                await run_services(settings, bot, services, ready=model_loaded)
            finally:
                warming.cancel()
    finally:
        if queue is not None:
            await queue.pool.close(close_connection_pool=True)
        await close_bot(bot)
        await store.close()
    return 0


async def wait_unconfigured(settings: Settings) -> None:
    """Stay up, unhealthy, until SIGINT/SIGTERM: a supervisor that restarts whatever exits
    would otherwise restart a process that can only exit again, for ever. Nothing is loaded."""
    from aiohttp import web

    from adapters.runner import stop_on_signals

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=503, text=NO_PLATFORM.removeprefix("summary-bot: "))

    stop = asyncio.Event()
    stop_on_signals(stop)
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        print("summary-bot: waiting to be stopped (--unconfigured wait); /healthz answers 503", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


# -- prepare-model --------------------------------------------------------------------------
async def cmd_prepare_model(args, settings: Settings) -> int:
    from bot.encoder import ModelError, prepare_graph

    if settings.encoder_backend != "onnx":
        print("summary-bot: SUMMARY_BOT_ENCODER_BACKEND is not onnx: nothing to prepare", file=sys.stderr)
        return 0
    try:
        graph = await asyncio.to_thread(prepare_graph, settings, force=args.force)
    except (ModelError, OSError) as exc:
        print(f"summary-bot: {exc}", file=sys.stderr)
        return 1
    print(f"{'built' if graph.built else 'checked'} {graph.path} (weights sha256 {graph.source_sha256[:12]}…)")
    return 0


# -- worker ---------------------------------------------------------------------------------
async def cmd_worker(args, settings: Settings) -> int:
    if not settings.redis_url:
        print(NEEDS_REDIS.replace("SUMMARY_BOT_WORKERS=external", "summary-bot worker"), file=sys.stderr)
        return 2
    if settings.encoder_threads == 0:  # workers scale by process: one encoder thread each
        settings = settings.model_copy(update={"encoder_threads": 1})
    from adapters.worker import run_worker

    return await run_worker(settings)
