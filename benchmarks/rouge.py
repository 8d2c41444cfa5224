"""`summary-bot bench rouge`: summary quality against reference highlights.

Conventions (so numbers compare with published ones): the `rouge-score` package with its
Porter stemmer; ROUGE-1, ROUGE-2 and ROUGE-Lsum F1. References separate their sentences
with ` . `, so they are split there into lines for ROUGE-Lsum, and the system's sentences
are joined with newlines. Lead-3 (the first three sentences, by the same sentence splitter)
is always scored on the same articles beside the system, since a subset's scores differ
from full-test ones.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bot.sentences import split_sentences

METRICS = ("rouge1", "rouge2", "rougeLsum")
_REFERENCE_BREAK_RE = re.compile(r"\s+\.\s+|\n+")


@dataclass
class Example:
    id: str
    article: str
    highlights: str
    title: str | None = None


def load_examples(path: Path | str, limit: int | None = None) -> list[Example]:
    """Rows `{id, article, highlights}` of a JSON-lines file (blank lines skipped)."""
    examples: list[Example] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh):
            if not line.strip():
                continue
            row = json.loads(line)
            examples.append(Example(str(row.get("id", number)), row["article"], row["highlights"], row.get("title")))
            if limit is not None and len(examples) >= limit:
                break
    return examples


def reference_lines(highlights: str) -> str:
    """The reference as one sentence per line, as ROUGE-Lsum wants it."""
    return "\n".join(p.strip() for p in _REFERENCE_BREAK_RE.split(highlights.strip()) if p.strip())


def lead(text: str, n: int = 3) -> list[str]:
    return split_sentences(text)[:n]


class RougeScorer:
    def __init__(self):
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)

    def score(self, reference: str, sentences: list[str]) -> dict[str, float]:
        """F1 (0-100) of `sentences` against `reference` (already one sentence per line)."""
        scores = self._scorer.score(reference, "\n".join(sentences))
        return {m: 100.0 * scores[m].fmeasure for m in METRICS}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: round(float(np.mean([r[m] for r in rows])) if rows else 0.0, 2) for m in METRICS}


def evaluate(
    summarize: Callable[[Example], list[str]],
    examples: Iterable[Example],
    scorer: RougeScorer | None = None,
) -> dict:
    """Scores of `summarize` and of Lead-3 on `examples`, with time per article."""
    scorer = scorer or RougeScorer()
    system_rows, lead_rows, times = [], [], []
    for example in examples:
        reference = reference_lines(example.highlights)
        started = time.perf_counter()
        points = summarize(example)
        times.append(1000.0 * (time.perf_counter() - started))
        system_rows.append(scorer.score(reference, points))
        lead_rows.append(scorer.score(reference, lead(example.article)))
    system = _mean(system_rows)
    system["p50_ms"] = round(float(np.percentile(times, 50)), 1) if times else 0.0
    system["p95_ms"] = round(float(np.percentile(times, 95)), 1) if times else 0.0
    return {"n": len(system_rows), "system": system, "lead3": _mean(lead_rows)}


def format_table(results: list[dict], system_name: str) -> str:
    header = f"{'data':<32} {'n':>4}  {'summarizer':<22} {'R1':>6} {'R2':>6} {'RLsum':>6}  {'p50 ms':>7} {'p95 ms':>7}"
    lines = [header, "-" * len(header)]
    for result in results:
        s, b = result["system"], result["lead3"]
        name = Path(result["data"]).name
        lines.append(
            f"{name:<32} {result['n']:>4}  {system_name[:22]:<22} {s['rouge1']:>6.2f} {s['rouge2']:>6.2f} "
            f"{s['rougeLsum']:>6.2f}  {s['p50_ms']:>7.1f} {s['p95_ms']:>7.1f}"
        )
        lines.append(f"{'':<32} {'':>4}  {'lead-3':<22} {b['rouge1']:>6.2f} {b['rouge2']:>6.2f} {b['rougeLsum']:>6.2f}")
        delta = {m: s[m] - b[m] for m in METRICS}
        lines.append(
            f"{'':<32} {'':>4}  {'  difference':<22} "
            f"{delta['rouge1']:>+6.2f} {delta['rouge2']:>+6.2f} {delta['rougeLsum']:>+6.2f}"
        )
    return "\n".join(lines)


# -- the sub-command ------------------------------------------------------------------------
def add_parser(kinds: argparse._SubParsersAction) -> None:
    rouge = kinds.add_parser("rouge", help="ROUGE of the configured summarizer and of Lead-3 on JSON-lines data")
    rouge.add_argument("--data", nargs="+", required=True, type=Path, help="files of {id, article, highlights} rows")
    rouge.add_argument("--limit", type=int, default=None, help="score only the first N articles of each file")
    rouge.add_argument("--length", choices=["short", "medium", "long"], default="medium")
    rouge.add_argument("--format", choices=["text", "json"], default="text")
    rouge.add_argument(
        "--summarizer",
        choices=["extractive", "abstractive", "llm"],
        default=None,
        help="which summarizer to score (default: SUMMARY_BOT_SUMMARIZER); llm uses the server at "
        "SUMMARY_BOT_LLM_URL with SUMMARY_BOT_LLM_MODEL, with grounding and the extractive fallback",
    )
    rouge.add_argument(
        "--scorer-weights",
        type=Path,
        default=None,
        help="extractive summarizer only: sentence-scorer weights to use instead of the packaged ones "
        "(for scoring data the packaged weights were trained on; see `bench train`)",
    )
    rouge.set_defaults(func=cmd_rouge)


def build_summarizer(settings, scorer_weights: Path | None = None):
    from bot.encoder import load_encoder  # the configured backend (SUMMARY_BOT_ENCODER_BACKEND)

    if scorer_weights is not None:
        if settings.summarizer != "extractive":
            raise ValueError("--scorer-weights applies to the extractive summarizer only")
        from bot.summarize.extractive import ExtractiveSummarizer

        return ExtractiveSummarizer(load_encoder(settings), weights=scorer_weights)
    from bot.summarize import build_summarizer

    return build_summarizer(settings, load_encoder(settings))


async def cmd_rouge(args, settings) -> int:
    for path in args.data:
        if not Path(path).is_file():
            print(f"summary-bot: no such data file: {path}", file=sys.stderr)
            return 2
    if args.summarizer:
        settings = settings.model_copy(update={"summarizer": args.summarizer})
    if settings.summarizer == "llm":
        return await _rouge_of_llm(args, settings)
    summarizer = build_summarizer(settings, args.scorer_weights)
    summarizer.summarize("Warming up the model. It runs once before timing starts.", length=args.length)
    scorer = RougeScorer()
    results = []
    for path in args.data:
        examples = load_examples(path, args.limit)
        def summarize(example: Example) -> list[str]:
            return summarizer.summarize(example.article, title=example.title, length=args.length)

        result = evaluate(summarize, examples, scorer)
        results.append({"data": str(path), **result})
    name = f"{summarizer.name}:{summarizer.version}"
    if args.format == "json":
        for result in results:
            result["summarizer"] = name
            result["length"] = args.length
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results, name))
    return 0


async def _rouge_of_llm(args, settings) -> int:
    """The LLM summarizer as the bot runs it (grounding, extractive fallback), against the
    configured server; articles one at a time, from a worker thread."""
    import asyncio

    from benchmarks.llm_summaries import BenchLLMSummarizer, llm_settings_problem

    if args.scorer_weights is not None:
        print("summary-bot: --scorer-weights applies to the extractive summarizer only", file=sys.stderr)
        return 2
    problem = llm_settings_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    summarizer = await BenchLLMSummarizer(settings).start()
    try:
        scorer = RougeScorer()
        results = []
        for path in args.data:
            examples = load_examples(path, args.limit)

            def summarize(example: Example) -> list[str]:
                return summarizer.summarize(example.article, example.title, args.length)

            result = await asyncio.to_thread(evaluate, summarize, examples, scorer)
            results.append({"data": str(path), **result})
    finally:
        await summarizer.close()
    if args.format == "json":
        for result in results:
            result["summarizer"] = summarizer.name
            result["length"] = args.length
            result["llm"] = summarizer.outcomes()
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results, summarizer.name))
        print(summarizer.describe())
    return 0
