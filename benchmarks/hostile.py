"""`summary-bot bench hostile`: what hostile pages cost, and what they cost everyone else.

A bot assembled as `summary-bot run` assembles it (model loaded, extraction processes, the
model thread) answers each hostile page served on 127.0.0.1. While it works on one, an
innocent link (a new edition of a sample page, so never cached) is sent too. For each page:
its wall time and what the bot answered, the peak RSS of the bot's processes (the bot and its
extraction processes) meanwhile, the messages it would render, and the innocent link's
time beside the same link's time on an idle bot.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp import web

from benchmarks.deployment import rss_mb

# Each page is built on demand: some are megabytes.
HOSTILE_PAGES = {
    "quadratic-splitter (600 KB of 'Mr. ')": lambda: "<html><body><article><p>" + "Mr. " * 150_000 + "</p></article></body></html>",
    "innocent-sentences (200k 'Cat N sat.')": lambda: "<html><body><article><p>" + " ".join(f"Cat {n} sat." for n in range(200_000)) + "</p></article></body></html>",
    "unclosed-p (250k unclosed <p>)": lambda: "<html><body>" + "<p>x " * 250_000 + "</body></html>",
    "attributes (a div with 100k attributes)": lambda: "<html><body><div " + " ".join(f'a{n}="{n}"' for n in range(100_000)) + ">text</div></body></html>",
    "related-headings (40k 'Related' headings)": lambda: "<html><body><article><p>Intro text.</p>" + "<h3>Related</h3><ul><li><a href='/a'>A</a></li></ul>" * 40_000 + "</article></body></html>",
    "read-more (60k 'Read more' lines)": lambda: "<html><body><article>" + "<p><a href='/more'>Read more</a></p>\n" * 60_000 + "</article></body></html>",
    "br (500k <br>)": lambda: "<html><body><article><p>Text" + "<br>" * 500_000 + "</p></article></body></html>",
    "one-word (1 MB without a space)": lambda: "<html><body><article><p>" + "A" * 1_000_000 + "</p></article></body></html>",
    "big (4.9 MB of ordinary text)": lambda: "<html><body><article>" + "".join(
        f"<p>Paragraph {n} of a very long report says the council met on Monday to discuss item {n}.</p>"
        for n in range(55_000)
    ) + "</article></body></html>",
}


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser("hostile", help="hostile pages: their cost, and an innocent link's time meanwhile")
    parser.add_argument("--rounds", type=int, default=3, help="innocent links timed on the idle bot (default 3)")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=cmd_bench_hostile)


async def cmd_bench_hostile(args, settings) -> int:
    from benchmarks.seed_editions import require_seeds_dir

    results = await measure(settings, require_seeds_dir(settings), rounds=args.rounds)
    print(json.dumps(results, indent=2) if args.format == "json" else report(results))
    return 0


async def measure(settings, seeds_dir: Path, *, rounds: int) -> dict:
    from adapters.assembly import assemble_bot, close_bot
    from benchmarks.seed_editions import SeedEditions
    from bot.models import ChatRef, Incoming
    from bot.store import open_store

    pages = {name: build() for name, build in HOSTILE_PAGES.items()}
    app = web.Application()
    for n, name in enumerate(pages):
        app.router.add_get(f"/h{n}", lambda request, body=pages[name]: web.Response(text=body, content_type="text/html"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    results: dict = {"pages": {}}
    with tempfile.TemporaryDirectory(prefix="summary-bot-hostile-") as folder:
        settings = settings.model_copy(update={
            "sqlite_path": Path(folder) / "bench.sqlite3", "redis_url": None, "user_rate_limit": 0,
            "fetch_allow_private": [*settings.fetch_allow_private, ipaddress.ip_network("127.0.0.0/8")],
        })  # fmt: skip
        store = await open_store(settings)
        bot = assemble_bot(settings, store)
        edition = iter(range(1, 1_000_000))
        try:
            async with SeedEditions(seeds_dir) as innocent_site:
                await bot.inference.warm_up()

                async def innocent() -> float:
                    started = time.perf_counter()
                    url = innocent_site.url(next(edition), 0)
                    (reply,) = await bot.handle(Incoming(ChatRef("bench", "innocent"), url, user_id="innocent"))
                    if reply.digest is None:
                        raise RuntimeError(f"the innocent link was not summarized: {reply.error}")
                    return time.perf_counter() - started

                await innocent()  # extraction processes up
                idle = [await innocent() for _ in range(rounds)]
                results["innocent_idle_seconds"] = round(statistics.median(idle), 3)
                for n, name in enumerate(pages):
                    results["pages"][name] = await one_page(bot, f"{base}/h{n}", innocent)
        finally:
            await close_bot(bot)
            await store.close()
            await runner.cleanup()
    return results


async def one_page(bot, url: str, innocent) -> dict:
    from bot.models import ChatRef, Incoming

    peak = 0.0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(os.getpid()))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    hostile = asyncio.create_task(bot.handle(Incoming(ChatRef("bench", "hostile"), url, user_id="hostile")))
    await asyncio.sleep(0.2)
    innocent_seconds = await innocent()
    (reply,) = await hostile
    seconds = time.perf_counter() - started
    done.set()
    await sampler
    telegram, slack = rendered_messages(reply)
    return {
        "seconds": round(seconds, 2),
        "answer": "digest" if reply.digest else reply.error,
        "peak_rss_mb": peak,
        "telegram_messages": telegram,
        "slack_posts": slack,
        "innocent_seconds": round(innocent_seconds, 3),
    }


def rendered_messages(reply) -> tuple[int, int]:
    """How many Telegram messages and Slack posts `reply` renders to."""
    from adapters.slack.render import render_replies
    from adapters.telegram.render import render_reply

    return len(render_reply(reply)), len(render_replies([reply]))


def report(results: dict) -> str:
    lines = [f"an innocent link on the idle bot: {results['innocent_idle_seconds']} s"]
    for name, page in results["pages"].items():
        lines.append(
            f"{name}: {page['seconds']} s, peak RSS {page['peak_rss_mb']} MB, "
            f"{page['telegram_messages']} Telegram message(s) / {page['slack_posts']} Slack post(s), "
            f"answer: {page['answer']!s:.60}; innocent link meanwhile {page['innocent_seconds']} s"
        )
    return "\n".join(lines)
