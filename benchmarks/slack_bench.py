"""`summary-bot bench slack`: Slack events handled per second by one bot process.

One process runs the Slack adapter on a real 127.0.0.1 socket, with a fresh SQLite store,
a stand-in Web API and a local site serving the sample articles. Signed link events are
POSTed (a few at a time, like Slack's parallel deliveries); an event counts as handled when
its digest reaches chat.postMessage. Two rounds:

  uncached  every link is a new page (a sample article under a new title): fetch, extract
            and summarize with the model for each event
  cached    the same links again in new messages: article and summary come from the store

The model is loaded by one warm-up event before timing. The sender shares the process
with the bot, so the numbers include the cost of signing and sending the requests.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from benchmarks.seed_editions import SeedEditions, require_seeds_dir
from adapters.slack.service import SlackService
from adapters.slack.settings import SlackSettings
from benchmarks.standins.slack_api import SlackStandIn, event_callback, signed_headers
from bot.config import Settings
from adapters.assembly import assemble_bot, close_bot
from bot.store.sqlite_store import SQLiteStore

CONCURRENCY = 8  # events in flight at once


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser("slack", help="Slack events handled per second by one process, cached and uncached")
    parser.add_argument("--events", type=int, default=60, help="events per round (default: 60)")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=cmd_bench_slack)


async def cmd_bench_slack(args, settings: Settings) -> int:
    if args.events < 1:
        print("summary-bot: --events must be at least 1", file=sys.stderr)
        return 2
    seeds_dir = require_seeds_dir(settings)
    results = await measure(settings, seeds_dir, args.events)
    if args.format == "json":
        print(json.dumps(results, indent=2))
    else:
        print(f"Slack events handled by one process ({results['events']} events per round, "
              f"{results['concurrency']} in flight, {results['store']} store):")  # fmt: skip
        for name in ("uncached", "cached"):
            r = results[name]
            print(f"  {name:9} {r['events_per_second']:8.1f} events/s   ack p50 {r['ack_ms_p50']:.1f} ms, "
                  f"p95 {r['ack_ms_p95']:.1f} ms   event to post p50 {r['handled_ms_p50']:.0f} ms")  # fmt: skip
        print(f"  model runs: {results['model_runs']} (warm-up included)")
    return 0


async def measure(settings: Settings, seeds_dir: Path, events: int) -> dict:
    secret = secrets.token_hex(16)
    async with SlackStandIn() as standin, SeedEditions(seeds_dir) as site:
        with tempfile.TemporaryDirectory(prefix="summary-bot-bench-") as workdir:
            slack = SlackSettings(
                slack_bot_token="xoxb-bench", slack_signing_secret=secret, slack_api_url=standin.api_url,
                slack_app_token=None, slack_client_id=None, slack_client_secret=None,
            )  # fmt: skip
            settings = settings.model_copy(update={
                "fetch_allow_private": [ipaddress.ip_network("127.0.0.1/32")], "user_rate_limit": 0,
            })  # fmt: skip
            store = await SQLiteStore.open(Path(workdir) / "bench.sqlite3")
            bot = assemble_bot(settings, store)
            service = SlackService(slack, bot)
            app = web.Application()
            service.add_routes(app)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            try:
                sender = EventSender(events_url, secret, standin)
                await sender.round([site.url(0, 0)])  # warm-up: loads the model
                links = [site.url(1 + number // len(site.paths), number) for number in range(events)]
                uncached = await sender.round(links)
                cached = await sender.round(links)
            finally:
                await service.stop()
                await runner.cleanup()
                await close_bot(bot)
                await store.close()
            return {
                "events": events,
                "concurrency": CONCURRENCY,
                "store": "sqlite",
                "uncached": uncached,
                "cached": cached,
                "model_runs": bot.pipeline.model_runs,
            }


class EventSender:
    """Posts signed link events and times them until their digests are posted."""

    def __init__(self, events_url: str, secret: str, standin: SlackStandIn):
        self.events_url = events_url
        self.secret = secret
        self.standin = standin
        self.sent = 0

    async def round(self, links: list[str]) -> dict:
        first = self.sent
        expected_posts = len(self.standin.calls_to("chat.postMessage")) + len(links)
        acks: list[float] = []
        sent_at: dict[str, float] = {}
        queue = list(enumerate(links, start=first))
        started = time.perf_counter()

        async def send_some(http: aiohttp.ClientSession) -> None:
            while queue:
                number, link = queue.pop(0)
                ts = f"1700000000.{number:06d}"
                body = event_callback(
                    {"type": "message", "channel": "CBENCH", "user": "UBENCH", "text": f"<{link}>", "ts": ts,
                     "channel_type": "channel"},
                    event_id=f"EvBench{number}",
                )  # fmt: skip
                sent_at[ts] = time.perf_counter()
                async with http.post(self.events_url, data=body, headers=signed_headers(body, self.secret)) as response:
                    if response.status != 200:
                        raise RuntimeError(f"the app answered {response.status} to a signed event")
                acks.append(time.perf_counter() - sent_at[ts])

        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(send_some(http) for _ in range(CONCURRENCY)))
        posts = await self.standin.wait_for("chat.postMessage", expected_posts, timeout=600)
        elapsed = time.perf_counter() - started
        self.sent += len(links)
        handled = [
            (self._monotonic_to_perf(post.at) - sent_at[post.params["thread_ts"]]) * 1000
            for post in posts if post.params["thread_ts"] in sent_at
        ]  # fmt: skip
        return {
            "events_per_second": round(len(links) / elapsed, 2),
            "seconds": round(elapsed, 3),
            "ack_ms_p50": round(statistics.median(acks) * 1000, 2),
            "ack_ms_p95": round(_percentile(acks, 95) * 1000, 2),
            "handled_ms_p50": round(statistics.median(handled), 1),
        }

    @staticmethod
    def _monotonic_to_perf(at: float) -> float:
        return at - time.monotonic() + time.perf_counter()


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]
