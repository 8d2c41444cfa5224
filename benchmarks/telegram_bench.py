"""`summary-bot bench telegram`: link messages handled per second by one bot process.

The stand-in Bot API (benchmarks/standins/telegram_api.py) serves link messages to the real adapter through
getUpdates, as Telegram would; the adapter runs the core (fetch, extraction, the model)
with a fresh SQLite store in a temporary folder, and the sample pages in seeds/ are
served on 127.0.0.1. Every message comes from a different private chat, so the per-user
limit never applies. Two rounds of --updates messages, all queued at once:

  uncached  each message links a page no one has summarized yet ("edition N" of a
            sample page: the same article with one extra sentence): fetch, extract, model
  cached    the same links again: article and summary come from the store

The time of a round runs from queueing its messages to the last reply accepted by the
stand-in. The model is loaded before the first round. Telegram allows a bot about 30
messages a second, which AIORateLimiter enforces; to measure the process rather than
that limit the bench runs without it unless --flood-limits is given.

The ceiling: with --echo-bot PATH (shared/tools/echo_bot.py, a bare python-telegram-bot
bot that answers every message at once, with the same AIORateLimiter when
ECHO_RATE_LIMIT=1), both are measured side by side the same way: each as a process of its
own (`summary-bot run` on the store the rounds above filled, so every link is cached, with
its own flood limiter, measured once /healthz says its model is loaded; the echo bot with
ECHO_RATE_LIMIT=1), each on a stand-in of its own in this process, one warm-up message and
a pause for the flood limiter's bucket to empty,
then the same --updates messages from new chats. The adapter's cached replies per second
are reported as a share of the echo bot's.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.seed_editions import SeedEditions, require_seeds_dir
from bot.config import Settings
from adapters.assembly import assemble_bot, close_bot
from bot.store import open_store


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser("telegram", help="link messages per second through the Telegram adapter (stand-in Bot API)")
    parser.add_argument("--updates", type=int, default=100, help="link messages per round (default 100)")
    parser.add_argument("--flood-limits", action="store_true", help="keep Telegram's flood limits (30 messages/s)")
    parser.add_argument(
        "--echo-bot", metavar="PATH",
        help="a bare python-telegram-bot echo bot (shared/tools/echo_bot.py) to compare cached replies with: "
        "both run as processes of their own with AIORateLimiter",
    )  # fmt: skip
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=cmd_bench_telegram)


async def cmd_bench_telegram(args, settings: Settings) -> int:
    # Imported here: registering this command must not import python-telegram-bot.
    from telegram.ext import AIORateLimiter

    from adapters.telegram.service import TelegramService
    from adapters.telegram.settings import TelegramSettings
    from benchmarks.standins.telegram_api import BotApiStandIn

    seeds_dir = require_seeds_dir(settings)
    if args.updates < 1:
        print("summary-bot: --updates must be at least 1", file=sys.stderr)
        return 2
    if args.echo_bot and not Path(args.echo_bot).is_file():
        print(f"summary-bot: --echo-bot {args.echo_bot}: no such file", file=sys.stderr)
        return 2
    flood_limits = args.flood_limits
    limits = {} if flood_limits else {"overall_max_rate": 0, "group_max_rate": 0}
    with tempfile.TemporaryDirectory(prefix="summary-bot-bench-") as workdir:
        async with BotApiStandIn() as api, SeedEditions(seeds_dir) as site:
            telegram = TelegramSettings(telegram_token=api.token, telegram_api_url=api.base_url, telegram_webhook_url=None)
            settings = settings.model_copy(
                update={
                    "redis_url": None,
                    "sqlite_path": Path(workdir) / "store.sqlite3",
                    "fetch_allow_private": [ipaddress.ip_network("127.0.0.1/32")],
                }
            )
            store = await open_store(settings)
            bot = assemble_bot(settings, store)
            service = TelegramService(telegram, bot, rate_limiter=AIORateLimiter(max_retries=3, **limits))
            await service.start()
            try:
                await run_round(api, [site.url(0, 0)], first_chat=1)  # loads the model
                links = [site.url(n, n) for n in range(1, args.updates + 1)]
                uncached = await run_round(api, links, first_chat=1_000_000)
                cached = await run_round(api, links, first_chat=2_000_000)
            finally:
                await service.stop()
                await close_bot(bot)
                await store.close()
            if args.echo_bot:
                port = _free_port()
                run_env = {
                    "SUMMARY_BOT_SQLITE_PATH": str(Path(workdir) / "store.sqlite3"),
                    "SUMMARY_BOT_FETCH_ALLOW_PRIVATE": "127.0.0.1/32",
                    "SUMMARY_BOT_HTTP_HOST": "127.0.0.1",
                    "SUMMARY_BOT_HTTP_PORT": str(port),
                    "SUMMARY_BOT_LOG_LEVEL": "WARNING",
                }
                as_process = await measure_process(
                    [sys.executable, "-m", "bot", "run"], run_env, links, ready_url=f"http://127.0.0.1:{port}/healthz"
                )
                echo = await measure_process([sys.executable, args.echo_bot], {"ECHO_RATE_LIMIT": "1"}, links)
    result = {"updates": args.updates, "flood_limits": flood_limits, "uncached": uncached, "cached": cached}
    if args.echo_bot:
        result["cached_run_process"] = as_process
        result["echo_bot"] = echo
        result["cached_share_of_echo"] = round(as_process["updates_per_second"] / echo["updates_per_second"], 3)
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        limit_note = "on" if flood_limits else "off"
        print(f"Telegram adapter, one process, {args.updates} link messages per round (flood limits {limit_note}):")
        for name in ("uncached", "cached"):
            r = result[name]
            print(f"  {name:8}  {r['updates_per_second']:8.1f} updates/s   {r['seconds']:.2f} s in all, "
                  f"update to reply median {r['median_latency_s']:.2f} s, p95 {r['p95_latency_s']:.2f} s")  # fmt: skip
        if args.echo_bot:
            print("Side by side, each a process of its own with AIORateLimiter:")
            for name, key in (("summary-bot run, cached", "cached_run_process"), ("echo bot", "echo_bot")):
                r = result[key]
                print(f"  {name:24}  {r['updates_per_second']:8.1f} updates/s   {r['seconds']:.2f} s in all, "
                      f"median {r['median_latency_s']:.2f} s, chat actions {r['chat_actions']}")  # fmt: skip
            print(f"  cached replies reach {100 * result['cached_share_of_echo']:.1f}% of the echo bot's updates/s")
    failures = uncached["failed"] + cached["failed"]
    if failures:
        print(f"summary-bot: {failures} message(s) were answered with an error instead of a digest")
        return 1
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_ready(url: str, timeout: float = 180.0) -> None:
    """Until `url` (a /healthz) answers 200: summary-bot run loads the model in the
    background at start, and a measurement taken meanwhile measures the loading."""
    import asyncio

    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not say ready within {timeout:g} s")


async def measure_process(command: list[str], env_extra: dict, texts: list[str], *, ready_url: str | None = None) -> dict:
    """A bot run as `command` (a process of its own) on a stand-in of its own: once it is
    ready (`ready_url` answers 200, where given), one warm-up message, a pause that empties
    the flood limiter's bucket, then one round of `texts` from new chats."""
    import asyncio
    import os
    import subprocess

    from benchmarks.standins.telegram_api import BotApiStandIn

    async with BotApiStandIn() as api:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SUMMARY_BOT_")},
            "SUMMARY_BOT_TELEGRAM_TOKEN": api.token,
            "SUMMARY_BOT_TELEGRAM_API_URL": api.base_url,
            **env_extra,
        }
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            await api.wait_for("getUpdates", 1, timeout=120)
            if ready_url:
                await _wait_ready(ready_url)
            await run_round(api, texts[:1], first_chat=3_000_000)
            await asyncio.sleep(2.0)
            actions = len(api.calls_to("sendChatAction"))
            result = await run_round(api, texts, first_chat=4_000_000)
            result["chat_actions"] = len(api.calls_to("sendChatAction")) - actions
            return result
        finally:
            process.terminate()
            await process.wait()


async def run_round(api, links: list[str], *, first_chat: int) -> dict:
    """Queue one private message per link, wait for every reply; throughput and latency."""
    replies_before = len(api.calls_to("sendMessage"))
    queued_at: dict[int, float] = {}
    started = time.monotonic()
    for number, link in enumerate(links):
        update = api.queue_message(link, chat_id=first_chat + number)
        queued_at[update["message"]["message_id"]] = time.monotonic()
    calls = await api.wait_for("sendMessage", replies_before + len(links), timeout=60 + 5 * len(links))
    replies = calls[replies_before:]
    seconds = max(call.at for call in replies) - started
    latencies = sorted(call.at - queued_at[call.params["reply_parameters"]["message_id"]] for call in replies)
    return {
        "updates_per_second": round(len(links) / seconds, 2),
        "seconds": round(seconds, 3),
        "median_latency_s": round(statistics.median(latencies), 3),
        "p95_latency_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3),
        "failed": sum(call.params["text"].startswith("⚠") for call in replies),
    }
