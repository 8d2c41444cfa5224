"""privacy-scan: what the store's bytes hold of a chat before and after its `/forget confirm`.

Two Telegram groups use the bot through the real SummaryBot flows (`/autosummary on`,
`/subscribe 08:00 Europe/Berlin`, `/feeds add` of a feed only that group follows, links to the
sample pages shared, a text pasted with `/summary`), on a fresh SQLite file and, with
--redis-url, on an empty Redis database too. The store is then scanned: its keys, the bytes of
the SQLite database files (WAL included) or of every Redis key and value, and the occurrences
of each group's id and of its marker text (its feed's name, a word of its pasted text). Then
the first group sends `/forget confirm` and the store is scanned again: the erased group's
counts should be 0, the other group's unchanged.

    summary-bot bench privacy-scan [--redis-url redis://127.0.0.1:6379/15] [--format json]
    python -m benchmarks.privacy_scan            (the same, without the CLI)

The groups' admin check (Telegram's getChatMember) is stood in for: both senders are admins.
The caches of public pages (the article by URL, its summary) name no chat and stay.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from aiohttp import web

ERASED = ("telegram", "-1009876500001", "zqerasedfeed", "zqerasedpaste")
KEPT = ("telegram", "-1005555500002", "zqkeptfeed", "zqkeptpaste")
PAGES = {ERASED: ["google-nest-hub-matter-update", "chinese-brands-russia-car-market"], KEPT: ["moskvich-february-2023-sales"]}
PASTE = (
    "The {word} committee met on Tuesday to review the harbour plan. Members agreed to widen the eastern pier "
    "and to rebuild the old customs house as a museum. The {word} report says the work will take two years and "
    "cost less than the earlier plan. Fishermen asked for a second slipway, which the committee will study. "
    "A public hearing on the {word} proposal is set for next month in the town hall."
)


def add_parser(kinds: argparse._SubParsersAction) -> None:
    scan = kinds.add_parser("privacy-scan", help="the store's bytes about two chats, before and after one's /forget confirm")
    scan.add_argument("--redis-url", default=None, help="also an empty Redis database (its keys are deleted afterwards)")
    scan.add_argument("--seeds", type=Path, default=None, help="sample pages (default: the checkout's seeds/)")
    scan.add_argument("--format", choices=["text", "json"], default="text")
    scan.set_defaults(func=cmd_privacy_scan)


async def cmd_privacy_scan(args, settings) -> int:
    from adapters.seed_site import find_seeds_dir

    seeds = find_seeds_dir(args.seeds)
    if seeds is None:
        print("privacy-scan: no sample pages found (--seeds DIR)")
        return 2
    results = await measure(settings, seeds, redis_url=args.redis_url)
    print(json.dumps(results, indent=2) if args.format == "json" else report(results))
    return 0 if all(run["erased_chat_left"] == 0 for run in results["stores"]) else 1


async def measure(settings, seeds: Path, *, redis_url: str | None = None) -> dict:
    from adapters.seed_site import SeedSite

    feeds = web.Application()
    for _, _, feed_name, _ in (ERASED, KEPT):
        feeds.router.add_get(f"/{feed_name}/feed.xml", lambda request, name=feed_name: web.Response(
            text=_feed(name), content_type="application/rss+xml"))  # fmt: skip
    runner = web.AppRunner(feeds, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    feed_base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    results: dict = {"stores": []}
    try:
        async with SeedSite(seeds) as site:
            with tempfile.TemporaryDirectory(prefix="summary-bot-privacy-scan-") as folder:
                base = settings.model_copy(update={
                    "user_rate_limit": 0, "summarizer": "extractive",
                    "fetch_allow_private": [*settings.fetch_allow_private, ipaddress.ip_network("127.0.0.0/8")],
                })  # fmt: skip
                database = Path(folder) / "scan.sqlite3"
                runs = [("sqlite", base.model_copy(update={"sqlite_path": database, "redis_url": None}))]
                if redis_url:
                    runs.append(("redis", base.model_copy(update={"redis_url": redis_url})))
                for name, run_settings in runs:
                    results["stores"].append(await one_store(name, run_settings, site.base_url, feed_base, database))
    finally:
        await runner.cleanup()
    return results


async def one_store(name: str, settings, site: str, feed_base: str, database: Path) -> dict:
    from adapters.assembly import assemble_bot, close_bot
    from bot.models import ChatRef, Incoming
    from bot.store import open_store

    store = await open_store(settings)
    if name == "redis" and await store._redis.dbsize():
        await store.close()
        raise SystemExit("privacy-scan: the Redis database is not empty; give an empty one (e.g. redis://127.0.0.1:6379/15)")
    bot = assemble_bot(settings, store)
    # stands in for Telegram's getChatMember: the senders are the groups' admins
    bot.permissions.register("telegram", lambda chat, user_id, message: asyncio.sleep(0, result=True))
    chats = {spec: ChatRef(spec[0], spec[1], kind="group") for spec in (ERASED, KEPT)}
    message_ids = iter(range(1, 1_000_000))

    async def say(chat, text: str, *, addressed: bool = True):
        replies = await bot.handle(Incoming(chat=chat, text=text, user_id="admin", message_id=str(next(message_ids)),
                                            addressed_to_bot=addressed))  # fmt: skip
        errors = [reply.error for reply in replies if reply.error]
        if errors:
            raise RuntimeError(f"{text[:40]!r} in {chat.key}: {errors[0]}")
        return replies

    try:
        for spec, chat in chats.items():
            _, _, feed_name, paste_word = spec
            await say(chat, "/autosummary on")
            await say(chat, "/subscribe 08:00 Europe/Berlin")
            await say(chat, f"/feeds add {feed_base}/{feed_name}/feed.xml")
            for page in PAGES[spec]:
                await say(chat, f"{site}/news/{page}.html", addressed=False)
            await say(chat, "/summary " + PASTE.format(word=paste_word))
        before = await scan(name, store, database, chats)
        (done,) = await say(chats[ERASED], "/forget confirm")
        after = await scan(name, store, database, chats)
    finally:
        if name == "redis":
            await store._redis.flushdb()  # it was empty
        await close_bot(bot)
        await store.close()
    return {
        "store": name, "forget_reply": done.text, "before": before, "after": after,
        "erased_chat_left": sum(after["occurrences"][marker] for marker in _markers(ERASED)),
    }  # fmt: skip


def _markers(spec: tuple) -> list[str]:
    platform, chat_id, feed_name, paste_word = spec
    return [f"{platform}:{chat_id}", chat_id.lstrip("-"), feed_name, paste_word]


async def scan(name: str, store, database: Path, chats: dict) -> dict:
    """The store's keys and bytes, and how often each chat's id and marker texts occur in them."""
    if name == "sqlite":
        await store.purge_deleted()  # no-op for what is already checkpointed; the files as they will stay
        files = sorted(database.parent.glob(database.name + "*"))
        data = b"".join(path.read_bytes() for path in files)
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            keys = conn.execute("SELECT count(*) FROM keys").fetchone()[0]
        sizes = {path.name: path.stat().st_size for path in files}
    else:
        client, parts, keys = store._redis, [], 0
        readers = {
            "string": client.get, "hash": client.hgetall, "zset": lambda n: client.zrange(n, 0, -1, withscores=True),
            "set": client.smembers, "list": lambda n: client.lrange(n, 0, -1),
        }  # fmt: skip
        async for key in client.scan_iter(count=1000):
            keys += 1
            parts.append(key + b"=" + repr(await readers[(await client.type(key)).decode()](key)).encode())
        data = b"\n".join(parts)
        sizes = {"keys and values": len(data)}
    markers = [marker for spec in chats for marker in _markers(spec)]
    return {"keys": keys, "bytes": sizes, "occurrences": {marker: data.count(marker.encode()) for marker in markers}}


def report(results: dict) -> str:
    lines = []
    for run in results["stores"]:
        lines.append(f"store: {run['store']}")
        for phase in ("before", "after"):
            scanned = run[phase]
            sizes = ", ".join(f"{name} {size:,} B" for name, size in scanned["bytes"].items())
            lines.append(f"  {phase} /forget confirm of telegram:{ERASED[1]}: {scanned['keys']} keys; {sizes}")
            for chat in (ERASED, KEPT):
                found = ", ".join(f"{marker} x{scanned['occurrences'][marker]}" for marker in _markers(chat))
                lines.append(f"    {'erased' if chat is ERASED else 'kept  '} chat: {found}")
        lines.append(f"  reply: {run['forget_reply']}")
        lines.append(f"  occurrences of the erased chat left: {run['erased_chat_left']}")
    return "\n".join(lines)


def _feed(name: str) -> str:
    items = "".join(
        f"<item><title>{name} item {n}</title><link>/{name}/posts/{n}.html</link><guid>{name}-{n}</guid></item>"
        for n in range(2)
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>{name} news</title>{items}</channel></rss>"


def main() -> int:
    from bot.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m benchmarks.privacy_scan", description=__doc__.split("\n\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    add_parser(kinds)
    args = parser.parse_args(["privacy-scan", *sys.argv[1:]])
    return asyncio.run(args.func(args, load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
