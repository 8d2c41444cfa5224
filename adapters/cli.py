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
from bot.core import SummaryBot
from bot.extract import ExtractionError, article_from_text, extract_article
from bot.fetch import FetchError
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:  # one line naming the bad variable
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper() if args.command == "run" else logging.WARNING,
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
    bot = SummaryBot(settings, store)
    try:
        digest = await summarize_target(bot, args.target, args.length)
    except (FetchError, ExtractionError, OSError, ValueError) as exc:
        print(f"summary-bot: {exc}", file=sys.stderr)
        return 1
    finally:
        await bot.close()
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
        article = await extract_article(
            path.read_text(encoding="utf-8", errors="replace"),
            path.resolve().as_uri(),
            timeout=bot.settings.extract_timeout,
            min_chars=bot.settings.min_article_chars,
        )
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
    bot = SummaryBot(settings, store)
    try:
        await run_console(bot, banner="\n".join(banner))
    finally:
        await bot.close()
        await store.close()
        if site:
            await site.stop()
    return 0


# -- run ------------------------------------------------------------------------------------
async def cmd_run(args, settings: Settings) -> int:
    from adapters.runner import configured_services, run_services

    store = await open_store(settings)
    bot = SummaryBot(settings, store)
    try:
        services = configured_services(settings, bot)
        if not services:
            print(
                "summary-bot: no chat platform is configured (set SUMMARY_BOT_TELEGRAM_TOKEN or the "
                "SUMMARY_BOT_SLACK_* variables). To try the bot in this terminal, run `summary-bot chat`.",
                file=sys.stderr,
            )
            return 2
        await run_services(settings, bot, services)
    finally:
        await bot.close()
        await store.close()
    return 0
