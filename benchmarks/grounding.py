"""`summary-bot bench grounding --data FILE`: where to put the grounding threshold.

An LLM's point is kept when its best cosine similarity with one of the article's sentences
(bot/summarize/grounding.py) reaches a threshold. This measures that similarity, with the
configured sentence encoder, for points an article supports and points it does not:

  supported    each reference highlight against its own article's sentences (highlights
               are written by people in their own words, as an LLM's points are)
  other        each highlight against a randomly chosen other article (a point about
               something else entirely)
  nearest      each highlight against the most similar other article (by the mean vector
               of its opening sentences): the same beat, other facts; the hard case

and reports, for a range of thresholds, the share of supported points kept and of
unsupported ones wrongly kept, the threshold that separates supported from nearest best
(largest kept - wrongly kept, Youden's J), and the rule the shipped default follows: the
lowest threshold that lets at most 2% of nearest-article points through (a dropped true
point is replaced by an extractive one; a kept invented one misleads the reader). Rows are `{id, article, highlights}` JSON
lines (highlights' sentences separated by newlines or ` . `), as in CNN/DailyMail.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

from bot.summarize.grounding import DEFAULT_THRESHOLD, article_sentences, best_similarities

_HIGHLIGHT_BREAK_RE = re.compile(r"\s+\.\s+|\n+")
OPENING_SENTENCES = 5  # what "the most similar other article" is judged by
MAX_NEAREST_KEPT = 2.0  # % of nearest-article points a threshold may let through (the default's rule)
SHOWN_THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser(
        "grounding", help="LLM point grounding: similarity of supported vs unsupported points, and a threshold"
    )
    parser.add_argument("--data", required=True, type=Path, help="JSON lines of {id, article, highlights}")
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--budget", type=int, default=None, help="article characters checked (default: SUMMARY_BOT_LLM_MAX_INPUT_CHARS)")
    parser.add_argument("--seed", type=int, default=13, help="seed for choosing the random other article")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=cmd_bench_grounding)


def load_rows(path: Path, limit: int | None) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def highlight_points(highlights: str) -> list[str]:
    parts = [p.strip() for p in _HIGHLIGHT_BREAK_RE.split(highlights.strip()) if p.strip()]
    return [p if p.endswith((".", "!", "?")) else p + "." for p in parts]


def measure(rows: list[dict], embed, *, budget: int, seed: int = 13) -> dict:
    """Best-match similarities of supported, random-other and nearest-other points.
    `embed(texts)` returns L2-normalised rows."""
    articles = [article_sentences(row["article"], budget) for row in rows]
    points = [highlight_points(row["highlights"]) for row in rows]
    keep = [i for i, (a, p) in enumerate(zip(articles, points)) if a and p]
    if len(keep) < 2:
        raise ValueError("need at least two articles with sentences and highlights")
    articles = [articles[i] for i in keep]
    points = [points[i] for i in keep]
    # One embedding pass over everything, then slices.
    texts = [s for a in articles for s in a] + [p for ps in points for p in ps]
    vectors = embed(texts)
    sentence_vectors, offset = [], 0
    for a in articles:
        sentence_vectors.append(vectors[offset : offset + len(a)])
        offset += len(a)
    point_vectors = []
    for ps in points:
        point_vectors.append(vectors[offset : offset + len(ps)])
        offset += len(ps)

    n = len(articles)
    openings = np.stack([v[:OPENING_SENTENCES].mean(axis=0) for v in sentence_vectors])
    openings /= np.linalg.norm(openings, axis=1, keepdims=True)
    article_similarity = openings @ openings.T
    np.fill_diagonal(article_similarity, -np.inf)
    nearest = article_similarity.argmax(axis=1)
    rng = random.Random(seed)
    other = [rng.choice([j for j in range(n) if j != i]) for i in range(n)]

    def best(points_of: int, article: int) -> list[float]:
        return best_similarities(point_vectors[points_of], sentence_vectors[article]).max(axis=1).tolist()

    supported, random_other, nearest_other = [], [], []
    for i in range(n):
        supported += best(i, i)
        random_other += best(other[i], i)
        nearest_other += best(int(nearest[i]), i)
    return {
        "articles": n,
        "supported": supported,
        "other": random_other,
        "nearest": nearest_other,
    }


def summarise(scores: dict) -> dict:
    supported = np.array(scores["supported"])
    negatives = {kind: np.array(scores[kind]) for kind in ("other", "nearest")}
    grid = np.round(np.arange(0.20, 0.901, 0.01), 2)

    def kept(values: np.ndarray, threshold: float) -> float:
        return round(100.0 * float((values >= threshold).mean()), 1)

    rows = []
    for t in grid:
        rows.append(
            {
                "threshold": float(t),
                "supported_kept": kept(supported, t),
                "other_kept": kept(negatives["other"], t),
                "nearest_kept": kept(negatives["nearest"], t),
            }
        )
    best = max(rows, key=lambda r: (r["supported_kept"] - r["nearest_kept"], -r["threshold"]))
    strict = min((r for r in rows if r["nearest_kept"] <= MAX_NEAREST_KEPT), key=lambda r: r["threshold"], default=rows[-1])
    keeps_95 = max((r for r in rows if r["supported_kept"] >= 95.0), key=lambda r: r["threshold"], default=rows[0])

    def percentiles(values: np.ndarray) -> dict:
        return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (5, 25, 50, 75, 95)}

    return {
        "articles": scores["articles"],
        "points": {"supported": len(supported), **{k: len(v) for k, v in negatives.items()}},
        "similarity": {"supported": percentiles(supported), **{k: percentiles(v) for k, v in negatives.items()}},
        "best_threshold": best,
        "threshold_keeping_95pct": keeps_95,
        "threshold_nearest_at_most_2pct": strict,
        "default_threshold": next(r for r in rows if abs(r["threshold"] - DEFAULT_THRESHOLD) < 1e-9),
        "table": [r for r in rows if any(abs(r["threshold"] - s) < 1e-9 for s in SHOWN_THRESHOLDS)],
    }


def report(summary: dict) -> str:
    lines = [
        f"{summary['articles']} articles; points: " + ", ".join(f"{k} {v}" for k, v in summary["points"].items()),
        "",
        "best-match cosine similarity   p5     p25    p50    p75    p95",
    ]
    for kind, p in summary["similarity"].items():
        lines.append(f"  {kind:<27} " + " ".join(f"{p[f'p{q}']:.3f}" for q in (5, 25, 50, 75, 95)))
    lines += ["", "threshold   supported kept   other kept   nearest kept  (% of points)"]
    for r in summary["table"]:
        lines.append(f"  {r['threshold']:.2f}      {r['supported_kept']:>6.1f}         {r['other_kept']:>6.1f}       {r['nearest_kept']:>6.1f}")
    b, k, d = summary["best_threshold"], summary["threshold_keeping_95pct"], summary["default_threshold"]
    s = summary["threshold_nearest_at_most_2pct"]
    lines += [
        "",
        f"best separation (supported kept - nearest kept): {b['threshold']:.2f} "
        f"(kept {b['supported_kept']}%, nearest kept {b['nearest_kept']}%, other kept {b['other_kept']}%)",
        f"highest threshold keeping 95% of supported points: {k['threshold']:.2f} "
        f"(nearest kept {k['nearest_kept']}%, other kept {k['other_kept']}%)",
        f"lowest threshold letting at most {MAX_NEAREST_KEPT:g}% of nearest-article points through: "
        f"{s['threshold']:.2f} (kept {s['supported_kept']}%, nearest kept {s['nearest_kept']}%, other kept {s['other_kept']}%)",
        f"the shipped default {d['threshold']:.2f}: kept {d['supported_kept']}%, "
        f"nearest kept {d['nearest_kept']}%, other kept {d['other_kept']}%",
    ]
    return "\n".join(lines)


async def cmd_bench_grounding(args, settings) -> int:
    if not args.data.is_file():
        print(f"summary-bot: no such data file: {args.data}", file=sys.stderr)
        return 2
    from bot.encoder import load_encoder

    encoder = load_encoder(settings)  # the configured backend (SUMMARY_BOT_ENCODER_BACKEND)
    rows = load_rows(args.data, args.limit)
    budget = args.budget or settings.llm_max_input_chars
    summary = summarise(measure(rows, encoder.embed, budget=budget, seed=args.seed))
    print(json.dumps(summary, indent=2) if args.format == "json" else report(summary))
    return 0
