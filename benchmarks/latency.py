"""`summary-bot bench latency`: what a summary costs, stage by stage, on the sample pages.

The pages in `seeds/news/` are served by the sample site on 127.0.0.1 and go through the
real stages: fetch (the guarded fetcher), extract (trafilatura in its worker pool),
summarize (the configured summarizer) and render (the console's text rendering). Each
stage is timed cold (the first page through it in this process) and warm (the median over
every page, several rounds). Also: the model load, a summary of an 800-word article, a
cache hit end to end (through `SummaryBot.handle`, the path a chat message takes, and
through `SummaryPipeline.digest_link`), and the process's peak resident memory.

`--abstractive-cost` adds what a distilbart-cnn-12-6-shaped model (random weights, beam 4,
60 new tokens) costs per article on this machine: the price of the abstractive option.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from adapters.console import render_digest
from adapters.seed_site import SeedSite, seed_pages
from benchmarks.seed_editions import require_seeds_dir

ROUNDS = 5
CACHE_HITS = 50
TARGET_WORDS = 800


def _ms(seconds: float) -> float:
    return round(1000.0 * seconds, 2)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50_ms": _ms(statistics.median(ordered)), "p95_ms": _ms(p95), "n": len(ordered)}


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def article_of_words(texts: list[str], words: int = TARGET_WORDS) -> str:
    """About `words` words of whole sentences taken in turn from `texts`."""
    from bot.sentences import split_sentences, word_count

    chosen, count = [], 0
    for text in texts:
        for sentence in split_sentences(text):
            if count >= words:
                return " ".join(chosen)
            chosen.append(sentence)
            count += word_count(sentence)
    return " ".join(chosen)


async def measure(settings, seeds_dir: Path, rounds: int = ROUNDS) -> dict:
    from bot.core import SummaryBot
    from bot.extract import extract_page
    from bot.inference import LocalInference, Models
    from bot.fetch import Fetcher
    from bot.models import ChatRef, Digest, Incoming
    from bot.pipeline import SummaryPipeline
    from bot.store import open_store

    result: dict = {"rss_mb_at_start": peak_rss_mb()}
    pages = [p for p in seed_pages(seeds_dir) if p.parts[0] == "news"] or seed_pages(seeds_dir)
    async with SeedSite(seeds_dir) as site:
        urls = [f"{site.base_url}/{page.as_posix()}" for page in pages]

        started = time.perf_counter()
        models = Models(settings)
        summarizer = models.summarizer
        load = {
            "seconds": round(time.perf_counter() - started, 3),  # with the imports the model needs
            "summarizer": f"{summarizer.name}:{summarizer.version}",
            "backend": getattr(models.encoder, "backend", "?"),
            "torch_imported": "torch" in sys.modules,
        }
        encoder = getattr(summarizer, "encoder", None)
        if encoder is not None:
            load["encoder_seconds"] = round(encoder.load_seconds, 3)
        result["model_load"] = load

        stages: dict[str, list[float]] = {"fetch": [], "extract": [], "summarize": [], "render": []}
        by_page: dict[str, list[float]] = {url: [] for url in urls}  # warm summarize, per article length
        cold: dict[str, float] = {}
        words = []
        texts: list[str] = []
        fetcher = Fetcher(settings)
        try:
            for round_number in range(rounds):
                for url in urls:
                    t0 = time.perf_counter()
                    page = await fetcher.fetch(url)
                    t1 = time.perf_counter()
                    article = extract_page(page.text, page.url, settings.min_article_chars)
                    t2 = time.perf_counter()
                    points = summarizer.summarize(article.text, title=article.title, length=settings.summary_length)
                    t3 = time.perf_counter()
                    digest = Digest(title=article.title, points=points, source=article.site_name, url=article.url)
                    render_digest(digest)
                    t4 = time.perf_counter()
                    timings = {"fetch": t1 - t0, "extract": t2 - t1, "summarize": t3 - t2, "render": t4 - t3}
                    for stage, seconds in timings.items():
                        if stage not in cold:
                            cold[stage] = seconds
                        else:
                            stages[stage].append(seconds)
                    if round_number > 0:
                        by_page[url].append(t3 - t2)
                    if round_number == 0:
                        words.append(len(article.text.split()))
                        texts.append(article.text)
        finally:
            await fetcher.close()
        result["pages"] = len(urls)
        result["words_per_page"] = words
        result["summarize_by_length"] = sorted(
            ({"words": n, **_summary(by_page[url])} for n, url in zip(words, urls, strict=True) if by_page[url]),
            key=lambda row: row["words"],
        )
        result["stages"] = {
            stage: {"cold_ms": _ms(cold[stage]), **{"warm_" + k: v for k, v in _summary(stages[stage]).items()}}
            for stage in stages
        }

        article = article_of_words(texts)
        samples, cpu = [], []
        for _ in range(max(10, 4 * rounds)):
            t0, c0 = time.perf_counter(), time.process_time()
            summarizer.summarize(article, length=settings.summary_length)
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        # CPU time of the whole process (every thread: the encoder's lanes
        # included) beside the wall time: what the summary costs the machine's other work.
        result["summarize_800_words"] = {
            "words": len(article.split()), **_summary(samples), "cpu_p50_ms": _ms(statistics.median(cpu)),
            "threads": getattr(getattr(summarizer, "encoder", None), "threads", None),
        }  # fmt: skip

        with tempfile.TemporaryDirectory() as tmp:
            store_settings = settings.model_copy(update={"sqlite_path": Path(tmp) / "bench.sqlite3", "redis_url": None})
            store = await open_store(store_settings)
            bot = SummaryBot(store_settings, store, LocalInference(store_settings, load_models=lambda _: models))
            try:
                chat = ChatRef(platform="console", chat_id="bench", kind="private")
                message = Incoming(chat=chat, text=urls[0], user_id="", message_id="1", addressed_to_bot=True)
                t0 = time.perf_counter()
                first = await bot.handle(message)
                miss = time.perf_counter() - t0
                if not first or first[0].digest is None:
                    raise RuntimeError(f"the bot did not summarize {urls[0]}: {first}")
                hits, pipeline_hits = [], []
                for _ in range(CACHE_HITS):
                    t0 = time.perf_counter()
                    replies = await bot.handle(message)
                    hits.append(time.perf_counter() - t0)
                    if not replies[0].digest or not replies[0].digest.cached:
                        raise RuntimeError("the second request was not served from the cache")
                pipeline: SummaryPipeline = bot.pipeline
                for _ in range(CACHE_HITS):
                    t0 = time.perf_counter()
                    await pipeline.digest_link(urls[0])
                    pipeline_hits.append(time.perf_counter() - t0)
                result["end_to_end"] = {
                    "store": "sqlite",
                    "first_request_ms": _ms(miss),
                    "cache_hit_handle": _summary(hits),
                    "cache_hit_digest_link": _summary(pipeline_hits),
                }
            finally:
                await bot.close()
                bot.inference.close()
                await store.close()
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def abstractive_cost(words: int = 600, beams: int = 4, new_tokens: int = 60, runs: int = 2) -> dict:
    """Seconds per article of a distilbart-cnn-12-6-shaped BART with random weights."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(
        vocab_size=50264, d_model=1024, encoder_layers=12, decoder_layers=6,
        encoder_attention_heads=16, decoder_attention_heads=16,
        encoder_ffn_dim=4096, decoder_ffn_dim=4096, max_position_embeddings=1024,
    )  # fmt: skip
    started = time.perf_counter()
    torch.manual_seed(0)
    model = BartForConditionalGeneration(config).eval()
    build = time.perf_counter() - started
    tokens = min(1024, int(words * 1.3))  # BPE tokens per English word, about
    input_ids = torch.randint(4, config.vocab_size, (1, tokens))
    samples = []
    with torch.inference_mode():
        for _ in range(runs):
            t0 = time.perf_counter()
            model.generate(
                input_ids, attention_mask=torch.ones_like(input_ids), num_beams=beams,
                max_new_tokens=new_tokens, min_new_tokens=new_tokens, early_stopping=False,
            )  # fmt: skip
            samples.append(time.perf_counter() - t0)
    return {
        "model": "distilbart-cnn-12-6 shape (random weights)",
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "input_tokens": tokens,
        "beams": beams,
        "new_tokens": new_tokens,
        "build_s": round(build, 2),
        "seconds_per_article": round(statistics.median(samples), 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def format_text(result: dict) -> str:
    lines = []
    load = result["model_load"]
    lines.append(f"model load: {load['seconds']:.2f} s ({load['summarizer']}, {load.get('backend', '?')} encoder)")
    lines.append(f"pages: {result['pages']} seed pages, words {result['words_per_page']}")
    lines.append(f"{'stage':<11} {'cold ms':>9} {'warm p50':>9} {'warm p95':>9}")
    for stage, row in result["stages"].items():
        lines.append(f"{stage:<11} {row['cold_ms']:>9.2f} {row['warm_p50_ms']:>9.2f} {row['warm_p95_ms']:>9.2f}")
    s = result["summarize_800_words"]
    lines.append(
        f"summarize an {s['words']}-word article (warm): p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, "
        f"CPU p50 {s['cpu_p50_ms']:.1f} ms"
    )
    e = result["end_to_end"]
    lines.append(f"end to end, first request (fetch, extract, summarize, store): {e['first_request_ms']:.1f} ms")
    h, d = e["cache_hit_handle"], e["cache_hit_digest_link"]
    lines.append(f"cache hit via SummaryBot.handle: p50 {h['p50_ms']:.2f} ms, p95 {h['p95_ms']:.2f} ms")
    lines.append(f"cache hit via SummaryPipeline.digest_link: p50 {d['p50_ms']:.2f} ms, p95 {d['p95_ms']:.2f} ms")
    lines.append(f"peak RSS: {result['peak_rss_mb']:.0f} MB")
    if "abstractive" in result:
        a = result["abstractive"]
        lines.append(
            f"abstractive ({a['model']}, {a['parameters_m']}M parameters, {a['input_tokens']} tokens in, "
            f"beam {a['beams']}, {a['new_tokens']} new): {a['seconds_per_article']:.1f} s per article, "
            f"peak RSS {a['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(lines)


def measure_backends(backends: list[str], rounds: int, seeds: Path | None) -> dict:
    """`bench latency` for each encoder backend in a fresh process of its own (its imports,
    load and peak RSS are its own), one after the other in this run."""
    import os
    import subprocess

    results = {}
    for backend in backends:
        argv = ["bench", "latency", "--backends", backend, "--rounds", str(rounds), "--format", "json"]
        if seeds is not None:
            argv += ["--seeds", str(seeds)]
        env = {**os.environ, "SUMMARY_BOT_ENCODER_BACKEND": backend}
        script = f"from adapters.cli import main; raise SystemExit(main({argv!r}))"
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"bench latency for the {backend} backend failed:\n{done.stderr[-2000:]}")
        results[backend] = json.loads(done.stdout)
    return {"backends": results}


def format_side_by_side(result: dict) -> str:
    runs = result["backends"]
    names = list(runs)
    width = 12
    lines = [f"{'':<34}" + "".join(f"{name:>{width}}" for name in names)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:<34}" + "".join(f"{value:>{width}}" for value in values))

    row("model load (s, with imports)", [f"{runs[n]['model_load']['seconds']:.2f}" for n in names])
    row("torch imported", [str(runs[n]["model_load"].get("torch_imported", "?")) for n in names])
    first = runs[names[0]]
    for i, entry in enumerate(first.get("summarize_by_length", [])):
        for key in ("p50_ms", "p95_ms"):
            row(f"summarize {entry['words']} words {key[:3]} (ms)", [f"{runs[n]['summarize_by_length'][i][key]:.1f}" for n in names])
    for key in ("p50_ms", "p95_ms"):
        row(f"summarize {first['summarize_800_words']['words']} words {key[:3]} (ms)",
            [f"{runs[n]['summarize_800_words'][key]:.1f}" for n in names])  # fmt: skip
    row(f"summarize {first['summarize_800_words']['words']} words CPU p50 (ms)",
        [f"{runs[n]['summarize_800_words'].get('cpu_p50_ms', float('nan')):.1f}" for n in names])  # fmt: skip
    row("first request end to end (ms)", [f"{runs[n]['end_to_end']['first_request_ms']:.1f}" for n in names])
    row("peak RSS (MB)", [f"{runs[n]['peak_rss_mb']:.0f}" for n in names])
    if len(names) == 2:
        a, b = names
        ratio = runs[a]["summarize_800_words"]["p50_ms"] / runs[b]["summarize_800_words"]["p50_ms"]
        lines.append(f"{a} / {b}, summarize p50 of the {first['summarize_800_words']['words']}-word article: {ratio:.2f}")
        cpu = [runs[n]["summarize_800_words"].get("cpu_p50_ms") for n in names]
        if all(cpu):
            lines.append(f"{a} / {b}, CPU time of the same: {cpu[0] / cpu[1]:.2f}")
    return "\n".join(lines)


# -- the sub-command ------------------------------------------------------------------------
def add_parser(kinds: argparse._SubParsersAction) -> None:
    bench = kinds.add_parser("latency", help="time per stage on the sample pages, cache hits, model load, memory")
    bench.add_argument("--rounds", type=int, default=ROUNDS, help="passes over the pages for warm timings")
    bench.add_argument("--seeds", type=Path, default=None, help="sample site folder (default: the project's seeds/)")
    bench.add_argument(
        "--abstractive-cost", action="store_true",
        help="also time a distilbart-cnn-12-6-shaped model (random weights, beam 4, 60 new tokens)",
    )  # fmt: skip
    bench.add_argument(
        "--backends", default="onnx,torch",
        help="encoder backends, comma-separated: with more than one, each is measured in a process of its "
        "own and reported side by side (default: onnx,torch); with one, in this process",
    )  # fmt: skip
    bench.add_argument("--format", choices=["text", "json"], default="text")
    bench.set_defaults(func=cmd_latency)


async def cmd_latency(args, settings) -> int:
    import asyncio
    import ipaddress

    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if not backends or set(backends) - {"onnx", "torch"}:
        print("summary-bot: --backends takes onnx, torch or both", file=sys.stderr)
        return 2
    seeds_dir = require_seeds_dir(settings, args.seeds)
    if len(backends) > 1:
        compared = await asyncio.to_thread(measure_backends, backends, max(2, args.rounds), args.seeds)
        print(json.dumps(compared, indent=2) if args.format == "json" else format_side_by_side(compared))
        return 0
    settings = settings.model_copy(update={"encoder_backend": backends[0]})
    loopback = ipaddress.ip_network("127.0.0.1/32")
    settings = settings.model_copy(
        update={"fetch_allow_private": [*settings.fetch_allow_private, loopback], "user_rate_limit": 0}
    )
    result = await measure(settings, Path(seeds_dir), rounds=max(2, args.rounds))
    if args.abstractive_cost:
        words = result["summarize_800_words"]["words"]
        result["abstractive"] = abstractive_cost(words=words)
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print(format_text(result))
    return 0
