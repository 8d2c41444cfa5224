"""`summary-bot bench hygiene`: what a reader sees, on real pages.

ROUGE scores clean article text; readers get key points made from whole web pages. This
runs the real extraction (`bot.extract.extract_page`) and the configured summarizer on a
folder of HTML pages (`*.html`, `*.html.gz`) and reports the share of digests with a
visible defect, by kind, beside Lead-3 (the first three sentences of the same extracted
text, by the same splitter) judged the same way:

  fused        the headline, a dateline, a byline or a photo credit inside a point, or two
               lines of the page joined (the first lacking end punctuation)
  fragment     not a sentence: no end punctuation (a subhead, "Bildquelle: SWR", a title),
               a teaser ending in "…" or "...", a label line ("- Kategorie: …"), a
               lower-case start
  length       too short (under 5 words, 12 characters in scripts without spaces) or too
               long (over 350 characters, or cut short by the length cap)
  boilerplate  "Advertisement", "Read more", "Subscribe", cookie and copyright lines; with
               --truth also a point whose words are mostly not in the true article body
  duplicate    two points saying the same words
  few          fewer than 3 points though the text has 3 sentences of 6 words or more

The checks are the reader's, written independently of the summarizer's own filters. The
time per page (extraction and summary, one page at a time, model already loaded) is
reported as p50/p95. Ground truth (`{id: {"articleBody", "url"}}`, the
article-extraction-benchmark's format) gives each page its URL and enables the
off-article check.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path

KINDS = ("fused", "fragment", "length", "boilerplate", "duplicate", "few")
WANTED = 3
MAX_POINT_CHARS = 350

_END_CHARS = ".!?。！？｡؟۔।॥։׃።፧။។៕\u037e"
_CLOSERS = "\"'”’»)]」』）】›"
_NO_SPACE_SCRIPTS = re.compile(r"[\u0e00-\u0eff\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_UNPUNCTUATED_SCRIPTS = re.compile(r"[\u0e00-\u0eff]")  # Thai and Lao have no full stop
_WORD_RE = re.compile(r"\w+")

# Starts of a point that belong to a dateline or byline, not to the sentence.
_DATELINE_RE = re.compile(
    r"^(?:[A-ZÀ-ÞА-Я][A-ZÀ-ÞА-Я.'\- ]{1,30}[A-ZÀ-ÞА-Я.]"  # WASHINGTON, SAN FRANCISCO
    r"(?:,\s*[A-Z][\w.]*(?: [A-Z][\w.]*)?)?"  # , Calif.
    r"(?:\s*\([^)]{1,40}\))?\s*[-–—:]\s"  # (Reuters) -
    r"|[A-Z][\w.]+(?: [A-Z][\w.]+)?,?\s*\((?:AP|AFP|Reuters|dpa|UPI|CNN|ANSA|EFE|Xinhua|IANS|PTI)\)\s*[-–—:]?\s"
    r"|\w[\w .]{0,30},?\s+\d{1,2}\.?\s+\w+\.?\s+(?:\d{4}\s+)?\(\w+\)\s*[-–—]\s"
    r")"
)
_BYLINE_RE = re.compile(
    r"^(?:By|BY|Von|Par|Por|Door|Af|Av|Di|Przez|Автор|Written by|Posted by|Reporting by)\s+"
    r"[A-ZÀ-ÞА-Я][\w'.-]+(?:\s+[A-ZÀ-ÞА-Я][\w'.-]+){0,3}(?:\s*(?:,|and|und|et|y|\||/|[-–—])\s*|\s+[A-Z])"
)
_CREDIT_RE = re.compile(
    r"(?:\b(?:Photo|Photos|Photograph|Image|Picture|Foto|Fotos|Bild|Bildquelle|Credit|Quelle|Crédit|Crédito|"
    r"Source|Illustration|Video|Grafik)\s*(?:credit)?\s*:\s*\S"
    r"|\((?:Photo|Image|Foto|Picture)s?\s+(?:by|credit|:|von)"
    r"|\b(?:Getty Images|Shutterstock|AP Photo|AFP via Getty|Reuters/|/ ?AP\b|/ ?AFP\b|/ ?dpa\b|iStock))",
    re.IGNORECASE,
)
_LABEL_RE = re.compile(r"^\s*[-•*·▪–]?\s*[\w ]{1,24}:\s*(?:\S+\s*){0,4}$")
_BOILERPLATE_RE = re.compile(
    r"\b(?:advertisement|advertising|sponsored|read more|read also|continue reading|related articles?|"
    r"subscribe|sign up|newsletter|click here|cookies?|all rights reserved|copyright|share this|"
    r"follow us|log ?in|terms of (?:use|service)|privacy policy|javascript|"
    r"anzeige|werbung|mehr zum thema|lesen sie auch|weiterlesen|lire aussi|publicité|abonnez|"
    r"leer más|publicidad|suscríbete|leggi anche|pubblicità|iscriviti|читайте также|реклама|"
    r"подпишитесь|lees ook|läs även|czytaj także)\b",
    re.IGNORECASE,
)
_ELLIPSIS_RE = re.compile(r"(?:…|\.\.\.)[" + re.escape(_CLOSERS) + r"]*$")


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser(
        "hygiene",
        help="what readers see: digests of real HTML pages with a visible defect, by kind, beside Lead-3",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--pages", required=True, help="a folder of *.html and *.html.gz pages")
    parser.add_argument("--truth", help="ground truth JSON {id: {articleBody, url}} (optional)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages (by name)")
    parser.add_argument("--length", choices=["short", "medium", "long"], default="medium")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--show", type=int, default=0, help="print up to N defective digests (text format)")
    parser.set_defaults(func=cmd_bench_hygiene)


# -- the reader's checks ---------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _size(text: str) -> int:
    """Words, or for scripts written without spaces, characters / 3."""
    if _NO_SPACE_SCRIPTS.search(text):
        return len(re.sub(r"\s", "", text)) // 3
    return len(_words(text))


def _ends_as_sentence(point: str) -> bool:
    body = point.rstrip().rstrip(_CLOSERS).rstrip()
    if not body:
        return False
    if _ELLIPSIS_RE.search(point.rstrip()):
        return False
    return body[-1] in _END_CHARS or bool(_UNPUNCTUATED_SCRIPTS.search(point))


def _find_span(point: str, text: str) -> tuple[int, int] | None:
    """Where `point` (whitespace and a trailing ellipsis aside) is in `text`."""
    core = point.rstrip().removesuffix("…").rstrip()
    tokens = core.split()
    if not tokens:
        return None
    pattern = r"\s+".join(map(re.escape, tokens[:200]))
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None


def _fuses_lines(text: str, span: tuple[int, int]) -> bool:
    """Whether the span crosses a line break after a line without end punctuation."""
    start, end = span
    at = text.find("\n", start, end)
    while at != -1:
        before = text[start:at].rstrip().rstrip(_CLOSERS)
        if before and before[-1] not in _END_CHARS + ":;":
            return True
        at = text.find("\n", at + 1, end)
    return False


def _contains_title(point: str, title: str) -> bool:
    title_words = _words(title)
    if len(title_words) < 3:
        return False
    point_words = _words(point)
    if len(point_words) <= len(title_words):
        return False  # the point *is* the title (or shorter): a fragment, judged there
    n = len(title_words)
    return any(point_words[i : i + n] == title_words for i in range(0, len(point_words) - n + 1))


def point_defects(point: str, *, title: str, text: str, truth_words: set[str] | None) -> set[str]:
    """The kinds of visible defect of one key point."""
    defects: set[str] = set()
    stripped = point.strip()
    span = _find_span(stripped, text)
    # fused: headline, dateline, byline, credit, or two lines joined
    if _contains_title(stripped, title) or _DATELINE_RE.match(stripped) or _BYLINE_RE.match(stripped):
        defects.add("fused")
    if _CREDIT_RE.search(stripped):
        defects.add("fused")
    if span and _fuses_lines(text, span):
        defects.add("fused")
    # fragment: not a sentence
    cut = stripped.endswith("…") and span is not None and not text[span[1] : span[1] + 3].lstrip().startswith(("…", "..."))
    if cut and span is not None:
        following = text[span[1] : span[1] + 1]
        cut = following not in ("", "\n")  # the page's own line ended there: a teaser, not a cut
    if not cut and not _ends_as_sentence(stripped):
        defects.add("fragment")
    first = stripped.lstrip("\"'“‘«„([¿¡-–—• ")[:1]
    if first.islower():
        defects.add("fragment")
    if _LABEL_RE.match(stripped) or (_words(stripped) and _words(title) == _words(stripped)):
        defects.add("fragment")
    # length
    if _size(stripped) < 5 or len(stripped) > MAX_POINT_CHARS or cut:
        defects.add("length")
    # boilerplate
    words = _words(stripped)
    if _BOILERPLATE_RE.search(stripped) and (len(words) < 20 or _BOILERPLATE_RE.match(stripped)):
        defects.add("boilerplate")
    if truth_words is not None and len(words) >= 4:
        inside = sum(w in truth_words for w in words) / len(words)
        if inside < 0.5:
            defects.add("boilerplate")
    return defects


def digest_defects(points: list[str], *, title: str, text: str, truth: str | None = None) -> Counter:
    """Defects of one digest's points, counted by kind."""
    from bot.sentences import split_sentences

    found: Counter = Counter()
    truth_words = set(_words(truth)) if truth else None
    for point in points:
        for kind in point_defects(point, title=title, text=text, truth_words=truth_words):
            found[kind] += 1
    normal = [" ".join(_words(p.removesuffix("…"))) for p in points]
    for i in range(len(normal)):
        for j in range(i + 1, len(normal)):
            a, b = normal[i], normal[j]
            if a and b and (a in b or b in a or _overlap(a, b) > 0.8):
                found["duplicate"] += 1
    if len(points) < WANTED:
        sentences = [s for s in split_sentences(text, limit=400) if _size(s) >= 6 and _ends_as_sentence(s)]
        if len(sentences) >= WANTED:
            found["few"] += 1
    return found


def _overlap(a: str, b: str) -> float:
    x, y = set(a.split()), set(b.split())
    return len(x & y) / max(1, min(len(x), len(y)))


# -- running it -----------------------------------------------------------------------------


def read_pages(folder: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """(id, html) of every *.html / *.html.gz page in `folder`, by name."""
    pages = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".html.gz"):
            page_id, raw = path.name[: -len(".html.gz")], gzip.decompress(path.read_bytes())
        elif path.name.endswith(".html"):
            page_id, raw = path.name[: -len(".html")], path.read_bytes()
        else:
            continue
        pages.append((page_id, _decode(raw)))
        if limit is not None and len(pages) >= limit:
            break
    return pages


def _decode(raw: bytes) -> str:
    from bot.fetch import decode_body  # the fetcher's own rules, when it has them

    try:
        return decode_body(raw, None)
    except Exception:
        return raw.decode("utf-8", errors="replace")


def measure(pages: list[tuple[str, str]], truth: dict, summarize, *, length: str) -> dict:
    from bot.extract import ExtractionError, extract_page
    from bot.sentences import split_sentences

    rows = []
    times = []
    for page_id, html in pages:
        entry = truth.get(page_id, {})
        url = entry.get("url") or f"https://example.invalid/{page_id}"
        started = time.perf_counter()
        try:
            article = extract_page(html, url, 200)
        except ExtractionError:
            rows.append({"id": page_id, "url": url, "extracted": False})
            continue
        points = summarize(article.text, article.title, length)
        times.append(time.perf_counter() - started)
        lead3 = split_sentences(article.text, limit=3)
        body = entry.get("articleBody")
        rows.append(
            {
                "id": page_id,
                "url": url,
                "extracted": True,
                "title": article.title,
                "points": points,
                "lead3": lead3,
                "defects": dict(digest_defects(points, title=article.title, text=article.text, truth=body)),
                "lead3_defects": dict(digest_defects(lead3, title=article.title, text=article.text, truth=body)),
            }
        )
    return summarise_rows(rows, times)


def summarise_rows(rows: list[dict], times: list[float]) -> dict:
    digests = [r for r in rows if r["extracted"]]
    n = len(digests)

    def share(key: str) -> dict:
        by_kind = {k: sum(1 for r in digests if r[key].get(k)) for k in KINDS}
        bad = sum(1 for r in digests if r[key])
        return {
            "with_defect": bad,
            "share": round(100.0 * bad / n, 1) if n else 0.0,
            "by_kind": by_kind,
            "by_kind_share": {k: round(100.0 * v / n, 1) if n else 0.0 for k, v in by_kind.items()},
        }

    ordered = sorted(times)

    def pct(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0

    return {
        "pages": len(rows),
        "digests": n,
        "not_extracted": len(rows) - n,
        "system": share("defects"),
        "lead3": share("lead3_defects"),
        "ms_per_page": {"p50": pct(0.5), "p95": pct(0.95)},
        "rows": rows,
    }


def report(results: dict, show: int = 0) -> str:
    lines = [
        f"pages {results['pages']}, digests {results['digests']} (not extracted: {results['not_extracted']})",
        f"{'':14}{'system':>16}{'Lead-3':>16}",
    ]
    sys_, lead = results["system"], results["lead3"]
    lines.append(f"{'with a defect':14}{sys_['with_defect']:>8} {sys_['share']:>5.1f}%{lead['with_defect']:>9} {lead['share']:>5.1f}%")
    for kind in KINDS:
        lines.append(
            f"  {kind:12}{sys_['by_kind'][kind]:>8} {sys_['by_kind_share'][kind]:>5.1f}%"
            f"{lead['by_kind'][kind]:>9} {lead['by_kind_share'][kind]:>5.1f}%"
        )
    t = results["ms_per_page"]
    lines.append(f"time per page (extract + summarize): p50 {t['p50']} ms, p95 {t['p95']} ms")
    shown = 0
    for row in results["rows"]:
        if shown >= show:
            break
        if row.get("defects"):
            shown += 1
            lines.append(f"\n{row['id'][:12]} {row['url']}\n  title: {row['title']}\n  defects: {row['defects']}")
            lines += [f"  - {p}" for p in row["points"]]
    return "\n".join(lines)


async def cmd_bench_hygiene(args, settings) -> int:
    import asyncio

    from bot.inference import Models

    folder = Path(args.pages)
    if not folder.is_dir():
        print(f"summary-bot: {folder} is not a folder")
        return 2
    truth = json.loads(Path(args.truth).read_text(encoding="utf-8")) if args.truth else {}
    pages = read_pages(folder, args.limit)
    if settings.summarizer == "llm":  # the configured LLM server, grounded, with its fallback
        return await _hygiene_of_llm(args, settings, pages, truth)
    models = await asyncio.to_thread(Models, settings)

    def summarize(text: str, title: str, length: str) -> list[str]:
        return models.summarizer.summarize(text, title=title, length=length)

    results = await asyncio.to_thread(measure, pages, truth, summarize, length=args.length)
    if args.format == "json":
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        print(report(results, show=args.show))
    return 0


async def _hygiene_of_llm(args, settings, pages, truth) -> int:
    import asyncio

    from benchmarks.llm_summaries import BenchLLMSummarizer, llm_settings_problem

    problem = llm_settings_problem(settings)
    if problem:
        print(problem)
        return 2
    summarizer = await BenchLLMSummarizer(settings).start()
    try:
        results = await asyncio.to_thread(measure, pages, truth, summarizer.summarize, length=args.length)
    finally:
        await summarizer.close()
    results["llm"] = summarizer.outcomes()
    if args.format == "json":
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        print(report(results, show=args.show))
        print(summarizer.describe())
    return 0
