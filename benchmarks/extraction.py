"""`summary-bot bench extraction`: article-body extraction through our own path
(`bot.extract.extract_page`, what the pipeline runs in its extraction processes) against the ground truth
of the article-extraction-benchmark (Scrapinghub).

The benchmark's method: tokenise with `\\w+`, count 4-word shingles of the true and the
extracted body, take true positives, false positives and false negatives from the two
multisets, normalise each page's three to sum to 1 (so long pages weigh no more than
short ones), average precision and recall over pages, and take F1 from those averages.
A page we refuse (too little text, a timeout) counts as an empty extraction.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

_TOKEN_RE = re.compile(r"\w+")
SHINGLE = 4


def shingles(text: str, n: int = SHINGLE) -> Counter:
    tokens = _TOKEN_RE.findall(text or "")
    # A text shorter than n words is one (short) shingle, as in the benchmark.
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def page_tp_fp_fn(true: str, predicted: str) -> tuple[float, float, float]:
    """Shingle TP, FP, FN of one page, normalised to sum to 1 (all 0 when both are empty)."""
    truth, pred = shingles(true), shingles(predicted)
    tp = float(sum((truth & pred).values()))
    fp = float(sum((pred - truth).values()))
    fn = float(sum((truth - pred).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def score_pages(counts: list[tuple[float, float, float]]) -> dict[str, float]:
    """Precision and recall averaged over pages (pages where they are undefined are left
    out of that average), and F1 from the two averages."""
    precisions = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def read_page(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def page_id(path: Path) -> str:
    return path.name.split(".")[0]


async def run_benchmark(pages_dir: Path, truth: dict, *, settings, limit: int | None = None) -> dict:
    from bot.extract import ExtractionError, extract_page

    paths = sorted(p for p in Path(pages_dir).iterdir() if p.name.endswith((".html", ".html.gz", ".htm")))
    paths = [p for p in paths if page_id(p) in truth][:limit]
    counts, failures, elapsed = [], 0, 0.0
    for path in paths:
        expected = truth[page_id(path)]
        html = read_page(path)
        started = time.perf_counter()
        try:
            article = extract_page(html, expected.get("url") or path.resolve().as_uri(), settings.min_article_chars)
            body = article.text
        except ExtractionError:
            body, failures = "", failures + 1
        elapsed += time.perf_counter() - started
        counts.append(page_tp_fp_fn(expected.get("articleBody", ""), body))
    result = {"n": len(counts), **{k: round(v, 4) for k, v in score_pages(counts).items()}}
    result["pages_per_s"] = round(len(counts) / elapsed, 2) if elapsed else 0.0
    result["refused"] = failures
    return result


# -- the sub-command ------------------------------------------------------------------------
def add_parser(kinds: argparse._SubParsersAction) -> None:
    bench = kinds.add_parser("extraction", help="article-body extraction F1 on the article-extraction-benchmark")
    bench.add_argument("--pages", type=Path, required=True, help="folder of <id>.html(.gz) pages")
    bench.add_argument("--truth", type=Path, required=True, help="ground-truth.json: {id: {articleBody, url}}")
    bench.add_argument("--limit", type=int, default=None, help="score only the first N pages (by id)")
    bench.add_argument("--format", choices=["text", "json"], default="text")
    bench.set_defaults(func=cmd_extraction)


async def cmd_extraction(args, settings) -> int:
    if not args.pages.is_dir() or not args.truth.is_file():
        print(f"summary-bot: need a folder of pages and a truth file (got {args.pages}, {args.truth})", file=sys.stderr)
        return 2
    truth = json.loads(args.truth.read_text(encoding="utf-8"))
    result = await run_benchmark(args.pages, truth, settings=settings, limit=args.limit)
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print(
            f"pages {result['n']}  precision {result['precision']:.3f}  recall {result['recall']:.3f}  "
            f"F1 {result['f1']:.3f}  ({result['pages_per_s']:.1f} pages/s, {result['refused']} refused)"
        )
    return 0
