"""`summary-bot bench ...`: measurements of quality and speed.

One module per benchmark, each with `add_parser(kinds)` that registers its sub-command
(whose function is `async def cmd_*(args, settings) -> int`):
  rouge       summary quality against reference highlights, beside Lead-3
  extraction  article-body extraction against the article-extraction-benchmark's truth
  train       refits the extractive summarizer's sentence scorer, reproducibly
  related     related-article links and search (bot/bench/related.py)
  digest-compose, digest-tick   daily digest: composing one, a scheduler tick (digest.py)
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ("rouge", "extraction", "train", "related", "digest")


def add_bench_parser(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Register `bench` and the core's benchmarks; returns the sub-command group, so that
    adapters' benchmarks (latency, telegram, slack) can join it."""
    bench = commands.add_parser("bench", help="measure summary quality, extraction and speed")
    kinds = bench.add_subparsers(dest="bench", required=True)
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(f"bot.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.bench.{name}":
                raise
            continue  # a benchmark that is not in this checkout
        module.add_parser(kinds)
    return kinds
