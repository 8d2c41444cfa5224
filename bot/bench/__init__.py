"""`summary-bot bench ...`: measurements of quality and speed (see issue notes)."""

from __future__ import annotations

import argparse


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="measure summary quality, extraction and speed")
    kinds = bench.add_subparsers(dest="bench", required=True)
    del kinds  # each benchmark registers itself here (rouge, extraction, latency)
