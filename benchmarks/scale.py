"""`summary-bot bench scale`: a scaled-out deployment on this machine, measured.

Separate processes: `summary-bot run` fronts and `summary-bot worker`s (each worker with
one encoder thread, so that two workers on two cores are a fair doubling) on a throwaway
redis-server, answering signed Slack events through the Slack stand-in. The sample pages
are served as numbered editions, so every uncached link is new text to every cache.

  uncached   links answered per second with 1 and with 2 workers (fetch, extract, model)
  cached     the same links again from new channels: replies per second through 1 and 2
             fronts (with 2 workers), and how fast the fronts acknowledge
  redis      Redis commands per cached message (arq's idle polling included)
  single     one new link shared by --chats channels at once: fetches and model runs in the
             whole deployment
  memory     peak RSS of a front and of a worker

Times run from the first event posted to the last reply the stand-in accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from benchmarks.deployment import Deployment, RedisServer, clean_environment, cpu_seconds, peak_rss_mb

SIGNING_SECRET = "bench-signing-secret"
SLACK_TOKEN = "xoxb-bench-scale"


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser("scale", help="fronts and workers as separate processes on Redis: throughput, memory")
    parser.add_argument("--links", type=int, default=40, help="uncached links per worker count (default 40)")
    parser.add_argument("--chats", type=int, default=100, help="channels sharing one new link (default 100)")
    parser.add_argument(
        "--pin-cores", action="store_true",
        help="also pin each worker to a core of its own (CPU affinity): 1 worker then has 1 core, 2 workers 2",
    )  # fmt: skip
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=cmd_bench_scale)


async def cmd_bench_scale(args, settings) -> int:
    from benchmarks.seed_editions import require_seeds_dir

    seeds_dir = require_seeds_dir(settings)
    encoder = {"SUMMARY_BOT_ENCODER_BACKEND": settings.encoder_backend}  # compare with =torch
    if settings.model_cache_dir:
        encoder["SUMMARY_BOT_MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
    results = await measure(seeds_dir, links=args.links, chats=args.chats, pin_cores=args.pin_cores, encoder=encoder)
    print(json.dumps(results, indent=2) if args.format == "json" else report(results))
    return 0


async def measure(seeds_dir: Path, *, links: int, chats: int, pin_cores: bool = False, encoder: dict | None = None) -> dict:
    from benchmarks.seed_editions import SeedEditions
    from benchmarks.standins.slack_api import SlackStandIn

    results: dict = {"links": links, "workers_pinned_to_cores": pin_cores}
    cores = sorted(os.sched_getaffinity(0))
    edition = iter(range(1, 1_000_000))
    with RedisServer() as redis_server, tempfile.TemporaryDirectory(prefix="summary-bot-scale-") as logs:
        async with SeedEditions(seeds_dir) as site, SlackStandIn() as slack, aiohttp.ClientSession() as http:
            env = clean_environment() | {
                "SUMMARY_BOT_WORKERS": "external", "SUMMARY_BOT_REDIS_URL": redis_server.url,
                "SUMMARY_BOT_USER_RATE_LIMIT": "0", "SUMMARY_BOT_FETCH_ALLOW_PRIVATE": "127.0.0.0/8",
                "SUMMARY_BOT_HTTP_HOST": "127.0.0.1", "SUMMARY_BOT_SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SUMMARY_BOT_SLACK_SIGNING_SECRET": SIGNING_SECRET, "SUMMARY_BOT_SLACK_API_URL": slack.api_url,
                "SUMMARY_BOT_LOG_LEVEL": "WARNING", **(encoder or {}),
            }  # fmt: skip
            pinned = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            sender = EventSender(http, slack)  # one for both rounds: channel and event ids never repeat
            for workers in (1, 2):
                deployed = Deployment(env, Path(logs))
                try:
                    names = [f"worker{n}" for n in range(workers)]
                    for n, name in enumerate(names):
                        cpus = {cores[n % len(cores)]} if pin_cores else None
                        deployed.start(name, "worker", cpus=cpus, **pinned)
                    deployed.start("front0", "run")
                    deployed.start("front1", "run")
                    await deployed.wait_healthy([*names, "front0", "front1"])
                    sender.deployed = deployed
                    await sender.answer([site.url(next(edition), 0)], ["front0"])  # warm: extraction processes up
                    urls = [site.url(next(edition), n) for n in range(links)]
                    before = cpu_use(deployed, redis_server)
                    seconds, _ = await sender.answer(urls, ["front0", "front1"])
                    used = {role: round((cpu - before[role]) / links * 1000) for role, cpu in cpu_use(deployed, redis_server).items()}
                    results[f"uncached_{workers}_worker"] = {
                        "seconds": round(seconds, 2), "links_per_second": round(links / seconds, 2),
                        "cpu_ms_per_link": used,
                    }
                    if workers == 2:
                        await cached_rounds(sender, urls, results, redis_server.url)
                        await single_flight(sender, site.url(next(edition), 1), chats, deployed, names, results)
                        results["peak_rss_mb"] = {
                            "front": peak_rss_mb(deployed.processes["front0"].pid),
                            "worker": peak_rss_mb(deployed.processes["worker0"].pid),
                        }
                        results["front_imports_torch"] = "torch" in await loaded_modules(deployed, "front0")
                        results["worker_imports_torch"] = "torch" in await loaded_modules(deployed, "worker0")
                        results["encoder_backend"] = (encoder or {}).get("SUMMARY_BOT_ENCODER_BACKEND", "onnx")
                finally:
                    deployed.stop_all()
    one, two = results["uncached_1_worker"], results["uncached_2_worker"]
    results["speedup_2_workers"] = round(two["links_per_second"] / one["links_per_second"], 2)
    return results


def cpu_use(deployed: Deployment, redis_server: RedisServer) -> dict[str, float]:
    """CPU seconds so far of each role: workers (with their extraction processes), fronts,
    Redis, and this process (the stand-in, the sample site and the load)."""
    return {
        "workers": deployed.cpu("worker"),
        "fronts": deployed.cpu("front"),
        "redis": cpu_seconds(redis_server.pid),
        "bench": cpu_seconds(os.getpid()) - deployed.cpu("") - cpu_seconds(redis_server.pid),
    }


class EventSender:
    """Posts signed Slack message events to fronts and waits for the stand-in's replies."""

    def __init__(self, http: aiohttp.ClientSession, slack):
        self.http = http
        self.deployed: Deployment | None = None
        self.slack = slack
        self.sent = 0
        self.acks: list[float] = []  # seconds each front took to acknowledge

    async def post(self, front: str, url: str) -> str:
        from benchmarks.standins.slack_api import event_callback, signed_headers

        self.sent += 1
        channel = f"C{self.sent:06d}"
        event = {"type": "message", "channel": channel, "channel_type": "channel", "user": "UBENCH",
                 "text": f"<{url}>", "ts": f"1700000000.{self.sent:06d}"}  # fmt: skip
        body = event_callback(event, event_id=f"EvBench{self.sent}")
        started = time.perf_counter()
        async with self.http.post(
            self.deployed.url(front, "/slack/events"), data=body, headers=signed_headers(body, SIGNING_SECRET)
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"{front} answered {response.status}")
        self.acks.append(time.perf_counter() - started)
        return channel

    async def answer(self, urls: list[str], fronts: list[str], timeout: float = 600) -> tuple[float, float]:
        """Post one event per URL (spread over `fronts`, all at once); seconds until every
        channel got its reply, and seconds until every front acknowledged."""
        started = time.perf_counter()
        channels = await asyncio.gather(*(self.post(fronts[n % len(fronts)], url) for n, url in enumerate(urls)))
        acked = time.perf_counter() - started
        waiting = set(channels)
        deadline = time.monotonic() + timeout
        while waiting - self.replied():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting - self.replied())} events unanswered\n{self.deployed.logs()}")
            await asyncio.sleep(0.02)
        return time.perf_counter() - started, acked

    def replied(self) -> set[str]:
        return {call.params.get("channel") for call in self.slack.calls_to("chat.postMessage")}


async def cached_rounds(sender: EventSender, urls: list[str], results: dict, redis_url: str) -> None:
    import redis.asyncio as aioredis

    async with aioredis.from_url(redis_url) as client:
        for fronts in (["front0"], ["front0", "front1"]):
            before = (await client.info("stats"))["total_commands_processed"]
            seconds, acked = await sender.answer(urls, fronts)
            commands = (await client.info("stats"))["total_commands_processed"] - before
            results[f"cached_{len(fronts)}_front"] = {
                "replies_per_second": round(len(urls) / seconds, 1),
                "acks_per_second": round(len(urls) / acked, 1),
                "redis_commands_per_message": round(commands / len(urls), 1),
            }


async def single_flight(sender: EventSender, url: str, chats: int, deployed: Deployment, workers: list[str], results: dict) -> None:
    before = await model_work(deployed, workers)
    await sender.answer([url] * chats, ["front0", "front1"])
    after = await model_work(deployed, workers)
    results["single_flight"] = {
        "chats": chats,
        "fetches": after["fetches"] - before["fetches"],
        "summaries_computed": after["computed"] - before["computed"],
        "model_jobs": after["model_jobs"] - before["model_jobs"],
    }


async def model_work(deployed: Deployment, workers: list[str]) -> dict:
    """Summaries computed, model jobs run and fetches made, summed over the workers'
    /metrics."""
    totals = Counter()
    async with aiohttp.ClientSession() as http:
        for name in workers:
            async with http.get(deployed.url(name, "/metrics")) as response:
                text = await response.text()
            totals["computed"] += _sample(text, r'summary_bot_summaries_total\{source="computed"\}')
            totals["model_jobs"] += _sample(text, r'summary_bot_model_jobs_total\{outcome="done"\}')
            totals["fetches"] += _sample(text, r'summary_bot_stage_seconds_count\{stage="fetch"\}')
    return totals


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def loaded_modules(deployed: Deployment, name: str) -> set[str]:
    """The top-level modules a process has mapped from site-packages (read from /proc)."""
    maps = Path(f"/proc/{deployed.processes[name].pid}/maps").read_text()
    return set(re.findall(r"site-packages/([A-Za-z_][A-Za-z0-9_]*)/", maps))


def report(results: dict) -> str:
    one, two = results["uncached_1_worker"], results["uncached_2_worker"]
    pinned = "each worker on a core of its own, " if results["workers_pinned_to_cores"] else ""
    lines = [
        f"uncached links ({results['links']} each, {pinned}{results.get('encoder_backend', 'onnx')} encoder, one encoder thread each): 1 worker {one['links_per_second']}/s, "
        f"2 workers {two['links_per_second']}/s (x{results['speedup_2_workers']})",
        f"CPU ms per uncached link, 1 worker: {one['cpu_ms_per_link']}; 2 workers: {two['cpu_ms_per_link']}",
    ]
    for fronts in (1, 2):
        cached = results[f"cached_{fronts}_front"]
        lines.append(
            f"cached replies through {fronts} front(s): {cached['replies_per_second']}/s end to end, "
            f"fronts acknowledged {cached['acks_per_second']}/s, {cached['redis_commands_per_message']} Redis commands/message"
        )
    flight = results["single_flight"]
    lines.append(
        f"one new link in {flight['chats']} channels: {int(flight['fetches'])} fetch(es), "
        f"{int(flight['summaries_computed'])} summary computed, {int(flight['model_jobs'])} model jobs"
    )
    rss = results["peak_rss_mb"]
    lines.append(
        f"peak RSS: front {rss['front']} MB (imports torch: {results['front_imports_torch']}), "
        f"worker {rss['worker']} MB (imports torch: {results.get('worker_imports_torch')})"
    )
    return "\n".join(lines)
