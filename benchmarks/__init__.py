"""Benchmarks and the local stand-ins they run against: not part of the bot itself.

`summary-bot bench KIND` finds them here; they need the `bench` extra
(`pip install -e '.[bench]'`). Each module below has `add_parser(kinds)`, which registers
its sub-commands (functions `async def cmd_*(args, settings) -> int`):

  rouge            summary quality against reference highlights, beside Lead-3
  extraction       article-body extraction against the article-extraction-benchmark's truth
  train            refits the extractive summarizer's sentence scorer, reproducibly
  related          related-pages, related-search: related-article links and search
  digest           digest-compose, digest-tick: the daily digest
  latency          time per stage on the sample pages, cache hits, model load, memory
  telegram_bench   telegram: link messages per second through the Telegram adapter
  slack_bench      slack: Slack events per second through the Slack adapter
  scale            fronts and workers as separate processes on Redis
  grounding        where the LLM summarizer's grounding threshold goes (supported vs unsupported points)
  hygiene          visible defects of digests made from real pages
  hostile          hostile pages: their time and memory, and an innocent link's time meanwhile

`standins/` holds the stand-in Telegram Bot API and Slack Web API servers (also used by the
tests); `seed_editions.py` serves never-cached editions of the sample pages.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

BENCHMARKS = (
    "rouge", "extraction", "train", "related", "digest", "latency", "telegram_bench", "slack_bench", "scale", "grounding",
    "hygiene", "hostile", "privacy_scan",
)  # fmt: skip
# What the `bench` extra adds to the bot's own dependencies (pyproject.toml).
EXTRA_MODULES = ("rouge_score",)
INSTALL_HINT = "pip install 'summary-bot[bench]' (in a checkout: pip install -e '.[bench]')"


def missing_extra() -> str | None:
    """The first module of the `bench` extra that is not installed, or None."""
    return next((name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None), None)


def add_bench_parser(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Register `bench` and every benchmark under it; returns the sub-command group."""
    bench = commands.add_parser(
        "bench", help="measure summary quality, extraction and speed",
        description="Benchmarks of quality and speed (the `bench` extra). Each prints text, or JSON with --format json.",
    )  # fmt: skip
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="KIND")
    for name in BENCHMARKS:
        importlib.import_module(f"benchmarks.{name}").add_parser(kinds)
    return kinds
