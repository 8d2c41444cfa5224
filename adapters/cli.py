"""The `summary-bot` command line: wires settings, store, core and adapters together.

Sub-commands: `summarize` (one target, printed), `chat` (the console adapter with the
sample site), `run` (every chat platform whose credentials are set), `digest preview`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from adapters.assembly import assemble_bot, close_bot
from bot.core import FRIENDLY_ERRORS, SummaryBot
from bot.extract import article_from_text
from bot.models import Digest
from bot.store import open_store

log = logging.getLogger("summary-bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="summary-bot", description="Article summaries for chats.")
    commands = parser.add_subparsers(dest="command", required=True)

    summarize = commands.add_parser("summarize", help="summarize a URL, an .html/.txt file, or stdin (-)")
    summarize.add_argument("target", help="URL, path to an .html/.htm/.txt file, or - for stdin")
    summarize.add_argument("--length", choices=["short", "medium", "long"], default=None)
    summarize.add_argument("--format", choices=["text", "json"], default="text")
    summarize.set_defaults(func=cmd_summarize)

    chat = commands.add_parser("chat", help="chat with the bot in this terminal (the embedded default)")
    chat.add_argument("--port", type=int, default=0, help="port for the sample site (default: any free one)")
    chat.set_defaults(func=cmd_chat)

    run = commands.add_parser("run", help="run every chat platform whose credentials are set")
    run.set_defaults(func=cmd_run)

    worker = commands.add_parser(
        "worker",
        help="do the work fronts enqueue (SUMMARY_BOT_WORKERS=external): fetch, summarize, reply",
        description="A worker of a scaled-out deployment: loads the model, takes chat messages and links "
        "from the job queue on SUMMARY_BOT_REDIS_URL, answers them on their platform, and sends the daily "
        "digests. Run as many as the load needs; /healthz on SUMMARY_BOT_HTTP_PORT says when the model is loaded.",
    )
    worker.set_defaults(func=cmd_worker)

    from adapters.digest_cli import add_digest_parser

    add_digest_parser(commands)

    from adapters import bench_latency
    from adapters.slack.bench import add_parser as add_slack_bench_parser
    from adapters.telegram.bench import add_parser as add_telegram_bench_parser
    from bot.bench import add_bench_parser

    # Benchmarks that need adapters (the sample site, rendering, platform stand-ins) join
    # `bench` here, since the core (bot.bench) never imports adapters.
    bench_kinds = add_bench_parser(commands)
    bench_latency.add_parser(bench_kinds)
    add_slack_bench_parser(bench_kinds)
    add_telegram_bench_parser(bench_kinds)
    from benchmarks import scale

    scale.add_parser(bench_kinds)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:  # one line naming the bad variable
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper() if args.command in ("run", "worker") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(args.func(args, settings)) or 0
    except ConfigError as exc:  # found on the way up (Redis not answering, a token refused): one line
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# -- summarize ------------------------------------------------------------------------------
async def cmd_summarize(args, settings: Settings) -> int:
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
    from adapters.console import run_console
    from adapters.seed_site import SeedSite, find_seeds_dir, seed_pages

    seeds_dir = find_seeds_dir()
    site = SeedSite(seeds_dir, args.port) if seeds_dir else None
    banner = ["summary-bot: paste a link or some text, /help for commands, Ctrl-D to quit."]
    if site:
        base_url = await site.start()
        # The sample site is on loopback, which the fetcher refuses unless told otherwise.
        loopback = ipaddress.ip_network("127.0.0.1/32")
        settings = settings.model_copy(update={"fetch_allow_private": [*settings.fetch_allow_private, loopback]})
        banner.append(f"Sample articles, served from {seeds_dir} at {base_url}:")
        banner += [f"  {base_url}/{page.as_posix()}" for page in seed_pages(seeds_dir)]
    store = await open_store(settings)
    bot = assemble_bot(settings, store)
    try:
        await run_console(bot, banner="\n".join(banner))
    finally:
        await close_bot(bot)
        await store.close()
        if site:
            await site.stop()
    return 0


# -- run ------------------------------------------------------------------------------------
NO_PLATFORM = (
    "summary-bot: no chat platform is configured (set SUMMARY_BOT_TELEGRAM_TOKEN or the "
    "SUMMARY_BOT_SLACK_* variables). To try the bot in this terminal, run `summary-bot chat`."
)
NEEDS_REDIS = "summary-bot: SUMMARY_BOT_WORKERS=external needs SUMMARY_BOT_REDIS_URL (the job queue lives in Redis)"


async def cmd_run(args, settings: Settings) -> int:
    from adapters.runner import configured_services, run_services

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


# -- worker ---------------------------------------------------------------------------------
async def cmd_worker(args, settings: Settings) -> int:
    if not settings.redis_url:
        print(NEEDS_REDIS.replace("SUMMARY_BOT_WORKERS=external", "summary-bot worker"), file=sys.stderr)
        return 2
    from adapters.worker import run_worker

    return await run_worker(settings)
