"""`summary-bot bench digest-compose` and `summary-bot bench digest-tick`: what daily digests cost.

digest-compose: a chat's history holds N shared articles (titles and summary points cut from
the sample pages in seeds/, some shared several times); composing its digest (history read,
de-duplication and grouping by the vectors stored with each share) is timed cold and warm.
Reported apart: the model load, recording a share (which embeds its title and lead), and
embedding all N titles and leads at once (what composing would cost without stored vectors).

digest-tick: N subscriptions (platform "bench", times spread over the day, six time zones)
in a Redis; one scheduler tick is timed when nothing is due (the common case), when a
minute's worth is due (about 7 chats), and with a full batch due (500 chats: the first six
hours' worth, after downtime), with the Redis commands each costs. Every due chat is
composed and handed to a sender that accepts at once (digest_send_empty on, no history). It refuses a Redis that already has subscriptions, and deletes what it wrote.
"""

from __future__ import annotations

import asyncio
import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles")


def add_parser(kinds: argparse._SubParsersAction) -> None:
    compose = kinds.add_parser("digest-compose", help="time to compose a daily digest of N shared articles")
    compose.add_argument("--articles", type=int, default=50)
    compose.add_argument("--rounds", type=int, default=5, help="warm compositions to time (default 5)")
    compose.add_argument("--seeds", type=Path, default=None, help="sample pages (default: the checkout's seeds/)")
    compose.add_argument("--format", choices=["text", "json"], default="text")
    compose.set_defaults(func=cmd_digest_compose)

    tick = kinds.add_parser("digest-tick", help="cost of one scheduler tick with N subscriptions in Redis")
    tick.add_argument("--subscriptions", type=int, default=10_000)
    tick.add_argument("--redis-url", default=None, help="an empty Redis database (default: SUMMARY_BOT_REDIS_URL)")
    tick.add_argument("--format", choices=["text", "json"], default="text")
    tick.set_defaults(func=cmd_digest_tick)


def print_result(result: dict, format: str) -> None:
    """JSON, or one `name: value` line per measure (nested measures indented)."""
    if format == "json":
        print(json.dumps(result, indent=2))
        return
    for name, value in result.items():
        if isinstance(value, dict):
            print(f"{name}:")
            for inner, number in value.items():
                print(f"  {inner}: {number}")
        else:
            print(f"{name}: {value}")


def _ms(seconds: float) -> float:
    return round(1000.0 * seconds, 2)


# -- digest-compose ---------------------------------------------------------------------------
async def _sample_sentences(seeds_dir: Path) -> list[str]:
    from bot.extract import extract_page
    from bot.sentences import split_sentences

    sentences: list[str] = []
    for path in sorted((seeds_dir / "news").glob("*.html")):
        article = await asyncio.to_thread(extract_page, path.read_text(encoding="utf-8"), path.resolve().as_uri(), 0)
        sentences += [s for s in split_sentences(article.text) if 6 <= len(s.split()) <= 40]
    return sentences


async def cmd_digest_compose(args, settings) -> int:
    from bot.digest.localtime import utc_now
    from bot.digest.service import DigestService
    from bot.digest.similarity import story_text
    from bot.extract import Extractor
    from bot.inference import LocalInference
    from bot.fetch import Fetcher
    from bot.models import ChatRef, Digest
    from bot.store.sqlite_store import SQLiteStore

    from benchmarks.seed_editions import require_seeds_dir

    seeds_dir = require_seeds_dir(settings, args.seeds)
    sentences = await _sample_sentences(seeds_dir)
    chat = ChatRef(platform="bench", chat_id="compose", kind="group")
    inference = LocalInference(settings)
    started = time.perf_counter()
    await inference.warm_up()
    model_load = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as folder:
        store = await SQLiteStore.open(Path(folder) / "bench.sqlite3")
        fetcher = Fetcher(settings)
        extractor = Extractor(workers=1, timeout=settings.extract_timeout, min_chars=settings.min_article_chars)
        digests = DigestService(settings, store, fetcher, extractor, inference)
        now = utc_now()
        shares = 0
        articles = []
        record_started = time.perf_counter()
        for number in range(args.articles):
            first = (number * 4) % max(1, len(sentences) - 4)
            title, *points = sentences[first : first + 4]
            article = Digest(title=title, points=points, source="Northline News", url=f"https://northline.example/bench/{number}.html")
            articles.append(article)
            for repeat in range(1 + number % 3):  # shared once, twice or three times
                when = now - timedelta(hours=23) + timedelta(minutes=number * 20 + repeat)
                await digests.history.record(chat, [article], when)
                shares += 1
        record_seconds = time.perf_counter() - record_started
        # What composing would cost if vectors were not stored with the shares.
        texts = [story_text(a.title, a.points[0]) for a in articles]
        t0 = time.perf_counter()
        await inference.embed(texts)
        embed_seconds = time.perf_counter() - t0
        since, until, zone = now - timedelta(days=1), now + timedelta(hours=1), ZoneInfo("UTC")
        samples = []
        for _ in range(1 + args.rounds):
            t0 = time.perf_counter()
            pending = await digests.composer.compose(chat, since, until, zone)
            samples.append(time.perf_counter() - t0)
        await fetcher.close()
        extractor.close()
        await store.close()

    entries = pending.daily.entries if pending else []
    result = {
        "articles": args.articles,
        "shares": shares,
        "entries": len(entries),
        "groups": len({e.group for e in entries if e.group}),
        "model_load_s": round(model_load, 2),
        "compose_cold_ms": _ms(samples[0]),
        "compose_warm_p50_ms": _ms(statistics.median(samples[1:])) if args.rounds else None,
        "rounds": args.rounds,
        "record_per_share_ms": _ms(record_seconds / max(1, shares)),
        "embed_all_titles_and_leads_ms": _ms(embed_seconds),
        "store": "sqlite",
    }
    print_result(result, args.format)
    return 0


# -- digest-tick ------------------------------------------------------------------------------
async def cmd_digest_tick(args, settings) -> int:
    import redis.asyncio as redis

    from bot.config import load_settings
    from bot.digest.scheduler import DigestScheduler
    from bot.digest.service import DigestService
    from bot.digest.subscriptions import DUE_KEY
    from bot.extract import Extractor
    from bot.fetch import Fetcher
    from bot.models import ChatRef
    from bot.store import open_store

    if args.redis_url:  # checked like SUMMARY_BOT_REDIS_URL: a bad one is one line, not a traceback
        settings = load_settings(**{**settings.model_dump(), "redis_url": args.redis_url})
    url = settings.redis_url
    if not url:
        print("summary-bot: digest-tick needs a Redis: pass --redis-url or set SUMMARY_BOT_REDIS_URL", file=sys.stderr)
        return 2
    store = await open_store(settings)  # a server that does not answer: one line naming it
    admin = redis.from_url(url)
    if await store.zcard(DUE_KEY):
        print(f"summary-bot: {url} already holds subscriptions; use an empty database (e.g. redis://host/15)", file=sys.stderr)
        await store.close()
        await admin.aclose()
        return 2

    async def commands_during(work) -> tuple[float, int, object]:
        before = (await admin.info("stats"))["total_commands_processed"]
        t0 = time.perf_counter()
        outcome = await work()
        elapsed = time.perf_counter() - t0
        after = (await admin.info("stats"))["total_commands_processed"]
        return elapsed, after - before - 1, outcome  # less the INFO that read `before`

    accepted = 0

    async def platform(chat, replies) -> None:
        nonlocal accepted
        accepted += 1

    # digest_send_empty: every due chat gets composed and sent, the costly path.
    bench_settings = settings.model_copy(update={"digest_send_empty": True})
    fetcher = Fetcher(bench_settings)
    extractor = Extractor(workers=1, timeout=settings.extract_timeout, min_chars=settings.min_article_chars)
    digests = DigestService(bench_settings, store, fetcher, extractor, _NoModel())
    scheduler = DigestScheduler(digests, {"bench": platform})
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    result: dict = {"subscriptions": args.subscriptions, "redis": url}
    logging.getLogger("bot.digest").setLevel(logging.ERROR)  # no line per chat
    try:
        t0 = time.perf_counter()
        for number in range(args.subscriptions):
            chat = ChatRef(platform="bench", chat_id=str(number), kind="group")
            at = dt_time((number // 60) % 24, number % 60)  # about 7 chats per minute of the day
            await digests.subscriptions.subscribe(chat, at, ZoneInfo(ZONES[number % len(ZONES)]), day)
        result["setup_s"] = round(time.perf_counter() - t0, 1)
        (first_due,) = await store.zrangebyscore(DUE_KEY, float("-inf"), float("inf"), limit=1)
        first = datetime.fromtimestamp(first_due[1], timezone.utc)

        idle = [await commands_during(lambda: scheduler.tick(first - timedelta(seconds=1))) for _ in range(50)]
        result["idle_tick"] = {
            "p50_ms": _ms(statistics.median(s for s, _, _ in idle)),
            "redis_commands": idle[0][1],
            "due": idle[0][2].due,
        }
        seconds, commands, report = await commands_during(lambda: scheduler.tick(first + timedelta(seconds=59)))
        result["one_minute_due_tick"] = {"ms": _ms(seconds), "redis_commands": commands, "due": report.due, "sent": report.sent}

        # Every chat due within the grace period of `now` is sent, earliest first, a batch a tick.
        everything = first + scheduler.grace - timedelta(minutes=1)
        seconds, commands, report = await commands_during(lambda: scheduler.tick(everything))
        result["full_batch_tick"] = {
            "ms": _ms(seconds),
            "due": report.due,
            "sent": report.sent,
            "per_chat_ms": _ms(seconds / max(1, report.due)),
            "redis_commands_per_chat": round(commands / max(1, report.due), 1),
        }
        t0 = time.perf_counter()
        ticks = 0
        while (await scheduler.tick(everything)).due:
            ticks += 1
        result["until_none_due"] = {"seconds": round(time.perf_counter() - t0, 1), "ticks": ticks, "sent_total": accepted}
    finally:  # only what this benchmark wrote: the "bench" platform's chats
        keys = [key async for key in admin.scan_iter(match="digest:*:bench:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await admin.delete(*keys[start : start + 1000])
        chats = [f"bench:{number}" for number in range(args.subscriptions)]
        for start in range(0, len(chats), 1000):
            await store.zrem(DUE_KEY, *chats[start : start + 1000])
        await fetcher.close()
        extractor.close()
        await store.close()
        await admin.aclose()
    print_result(result, args.format)
    return 0


class _NoModel:
    """digest-tick measures scheduling with nothing shared: no model work may happen."""

    summarizer_identity = encoder_identity = "none"

    async def embed(self, texts):
        raise AssertionError("bench digest-tick does no model work")

    async def summarize(self, text, *, title, length):
        raise AssertionError("bench digest-tick does no model work")
