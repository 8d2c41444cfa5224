"""`summary-bot bench related-pages` and `summary-bot bench related-search`.

related-pages: over a folder of saved pages (`<id>.html.gz` or `<id>.html`, with each
page's URL in a ground-truth JSON `{id: {"url": ...}}`), on how many pages the bot finds
page-declared related links, through the same extraction the bot runs; prints a fixed
random sample of (page, title, link) among the links a reply would show (the first three
with a title), for checking by eye.

related-search: time per similarity query in one scope of the related-articles memory
holding 1k, 10k, 100k articles (random unit vectors: the search cost does not depend on
what the vectors mean), on the real store: SQLite in a temporary file, or Redis when
`--redis-url` is given. Reports the first query (cold: the scope is loaded into the
process), queries with nothing new (warm), and a query right after another process added
one article (incremental refresh).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.config import Settings
from bot.extract import ExtractionError, extract_page
from bot.store import keys

SHOWN = 3  # links a reply shows: the sample is drawn from these
WIDTHS = (9, 9, 15, 12, 15, 7)  # columns of the related-search table


def add_parser(kinds: argparse._SubParsersAction) -> None:
    pages = kinds.add_parser("related-pages", help="page-declared related links over saved pages")
    pages.add_argument("--pages", type=Path, required=True, help="folder of <id>.html.gz or <id>.html")
    pages.add_argument("--truth", type=Path, default=None,
                       help="JSON {id: {url: ...}} (default: ground-truth.json beside the folder)")
    pages.add_argument("--sample", type=int, default=30, help="links to print for checking by eye")
    pages.add_argument("--seed", type=int, default=0)
    pages.add_argument("--format", choices=["text", "json"], default="text")
    pages.set_defaults(func=cmd_related_pages)

    search = kinds.add_parser("related-search", help="similarity search time per query in one scope")
    search.add_argument("--sizes", default="1000,10000,100000", help="articles in the scope, comma-separated")
    search.add_argument("--queries", type=int, default=50, help="timed warm queries per size")
    search.add_argument("--redis-url", default=None, help="measure on this Redis (default: SQLite in a temp file)")
    search.add_argument("--format", choices=["text", "json"], default="text")
    search.set_defaults(func=cmd_related_search)


# -- related-pages ---------------------------------------------------------------------------
def _read_page(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


async def cmd_related_pages(args, settings: Settings) -> int:
    truth_path = args.truth or args.pages.parent / "ground-truth.json"
    if not truth_path.is_file():  # the pages' URLs are in it: links resolve against them
        print(f"summary-bot: related-pages needs the pages' URLs: no {truth_path}; pass --truth ground-truth.json", file=sys.stderr)
        return 2
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    paths = sorted(p for p in args.pages.iterdir() if p.name.endswith((".html", ".html.gz")))
    if not paths:
        print(f"summary-bot: no .html or .html.gz pages in {args.pages}", file=sys.stderr)
        return 1

    rows, no_article, started = [], 0, time.perf_counter()
    for path in paths:
        page_id = path.name.split(".")[0]
        url = truth.get(page_id, {}).get("url")
        if not url:
            continue
        try:
            article = extract_page(_read_page(path), url, settings.min_article_chars)
        except ExtractionError:
            no_article += 1
            continue
        rows.append({"id": page_id, "url": url, "related": [{"title": r.title, "url": r.url} for r in article.related]})
    seconds = time.perf_counter() - started

    with_links = [r for r in rows if r["related"]]
    # What a reply shows when no cache knows an untitled link's title: the first titled ones.
    shown = {r["url"]: [link for link in r["related"] if link["title"]][:SHOWN] for r in with_links}
    pool = [(page, link) for page, links in shown.items() for link in links]
    sample = random.Random(args.seed).sample(pool, min(args.sample, len(pool)))
    result = {
        "pages": len(paths),
        "articles_extracted": len(rows),
        "no_article": no_article,
        "pages_with_related": len(with_links),
        "pages_with_titled_related": sum(1 for links in shown.values() if links),
        "links_found": sum(len(r["related"]) for r in rows),
        "links_shown": len(pool),
        "untitled_links": sum(1 for r in rows for link in r["related"] if not link["title"]),
        "seconds": round(seconds, 1),
        "sample": [{"page": page, "title": link["title"], "url": link["url"]} for page, link in sample],
    }
    if args.format == "json":
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"pages: {result['pages']} ({result['articles_extracted']} with an article, {no_article} without)")
    print(f"pages with page-declared related links: {result['pages_with_related']}"
          f" ({100 * result['pages_with_related'] / max(1, result['pages']):.0f}% of all pages)")
    print(f"  of which with a titled link (shown even with nothing cached): {result['pages_with_titled_related']}")
    print(f"links found: {result['links_found']} ({result['untitled_links']} untitled);"
          f" shown (first {SHOWN} titled per page): {result['links_shown']}; {seconds:.1f}s")
    print(f"\nsample of {len(sample)} (seed {args.seed}) to check by eye:")
    for number, item in enumerate(result["sample"], 1):
        print(f"{number:3}. page:  {item['page']}\n     title: {item['title'] or '(none)'}\n     link:  {item['url']}")
    return 0


# -- related-search --------------------------------------------------------------------------
async def cmd_related_search(args, settings: Settings) -> int:
    from bot.related.memory import RelatedMemory

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    dimension = 384  # all-MiniLM-L6-v2
    rng = np.random.default_rng(0)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            store = await _open_store(settings, args.redis_url, Path(folder) / f"bench-{size}.sqlite3")
            try:
                scope = f"bench:{size}:{time.time_ns()}"
                writer = RelatedMemory(store, max_per_scope=size + 1)
                filled = time.perf_counter()
                await _fill(writer, scope, size, dimension, rng)
                fill_seconds = time.perf_counter() - filled

                reader = RelatedMemory(store, max_per_scope=size + 1)  # a process with a cold cache
                queries = _unit(rng.standard_normal((args.queries + 1, dimension), dtype=np.float32))
                cold = await _timed(reader.search(scope, queries[0], limit=3, threshold=0.0))
                warm = [await _timed(reader.search(scope, q, limit=3, threshold=0.0)) for q in queries[1:]]
                await writer.remember(scope, "https://bench.example/new", "new", queries[0])
                refreshed = await _timed(reader.search(scope, queries[1], limit=3, threshold=0.0))
            finally:
                # A Redis given with --redis-url keeps nothing of the benchmark.
                await store.delete(*(keys.related(scope, part) for part in keys.RELATED_PARTS))
                await store.close()
            results.append({
                "articles": size,
                "fill_seconds": round(fill_seconds, 1),
                "cold_ms": round(cold * 1000, 2),
                "warm_median_ms": round(statistics.median(warm) * 1000, 3),
                "warm_p95_ms": round(float(np.percentile(warm, 95)) * 1000, 3),
                "after_one_new_ms": round(refreshed * 1000, 2),
            })
    backend = "redis" if args.redis_url else "sqlite"
    if args.format == "json":
        print(json.dumps({"backend": backend, "dimension": dimension, "results": results}, indent=2))
        return 0
    print(f"backend: {backend}; {dimension}-dimensional vectors; times per query, top 3")
    header = ("articles", "cold ms", "warm median ms", "warm p95 ms", "after 1 new ms", "fill s")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, WIDTHS)))
    for r in results:
        values = (r["articles"], r["cold_ms"], r["warm_median_ms"], r["warm_p95_ms"], r["after_one_new_ms"], r["fill_seconds"])
        print(" ".join(f"{value:>{width}}" for value, width in zip(values, WIDTHS)))
    return 0


async def _open_store(settings: Settings, redis_url: str | None, sqlite_path: Path):
    """--redis-url checked and connected to like SUMMARY_BOT_REDIS_URL (one-line errors),
    else SQLite in `sqlite_path`."""
    from bot.config import load_settings
    from bot.store import open_store

    return await open_store(load_settings(**{**settings.model_dump(), "redis_url": redis_url, "sqlite_path": sqlite_path}))


async def _fill(memory, scope: str, size: int, dimension: int, rng) -> None:
    vectors = _unit(rng.standard_normal((size, dimension), dtype=np.float32))
    for i, vector in enumerate(vectors):
        await memory.remember(scope, f"https://bench.example/article-{i}", f"Article {i}", vector)


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


async def _timed(awaitable) -> float:
    started = time.perf_counter()
    await awaitable
    return time.perf_counter() - started
