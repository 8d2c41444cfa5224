"""Splitting text into sentences without a network-downloaded model.

Rules: paragraph breaks always end a sentence; `.`, `!`, `?` (and `…`) end one when
followed by space and an upper-case letter, digit or opening quote, unless the word before
is a known abbreviation, an initial, or part of a number. PTB-tokenized text (`word .`)
splits the same way.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft no vs etc inc ltd co corp gov gen col lt sgt capt
    rep sen rev hon jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri
    sat sun approx est dept univ fig al e.g i.e u.s u.k u.n a.m p.m"""
    .split()
)

_BULLET_RE = re.compile(r"^\s*(?:[-•*·▪–]|\d+[.)])\s")
_HARD_WRAP_MIN = 40  # a line this long that ends mid-sentence was wrapped, not ended
# PTB-tokenized text ("said . the") marks an end with a free-standing full stop.
_PTB_BOUNDARY_RE = re.compile(r"(\s[.!?](?:\s+'')?)\s+(?=\S)")
# A candidate boundary: terminal punctuation (optionally closing quotes/brackets), spaces,
# then something that can start a sentence.
_BOUNDARY_RE = re.compile(r"""([.!?…]+['"”’)\]]*)\s+(?=["“‘'(\[]?[A-Z0-9À-ÖØ-Þ])""")
_MAX_WORDS = 80  # longer "sentences" (lists, unpunctuated text) are cut into pieces


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for paragraph in _paragraphs(text or ""):
        for sentence in _split_paragraph(paragraph):
            sentences.extend(_cut_long(sentence))
    return sentences


def _paragraphs(text: str) -> list[str]:
    """Lines joined back into paragraphs: a blank line, a bullet, or a line that ends a
    sentence or is short (a heading) starts a new one; hard-wrapped lines are rejoined."""
    paragraphs: list[list[str]] = []
    previous = ""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            previous = ""
            continue
        continues = (
            previous
            and len(previous) >= _HARD_WRAP_MIN
            and previous[-1] not in ".!?:;\"”’)…"
            and not _BULLET_RE.match(line)
        )
        if continues:
            paragraphs[-1].append(line)
        else:
            paragraphs.append([line])
        previous = line
    return [" ".join(" ".join(p).split()) for p in paragraphs]


def _split_paragraph(paragraph: str) -> list[str]:
    out: list[str] = []
    start = 0
    boundaries = sorted(
        [*_BOUNDARY_RE.finditer(paragraph), *_PTB_BOUNDARY_RE.finditer(paragraph)],
        key=lambda m: m.start(),
    )
    for match in boundaries:
        if match.start() < start:
            continue
        end = match.end(1)
        if _is_abbreviation(paragraph[start:end]):
            continue
        out.append(paragraph[start:end].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


def _is_abbreviation(chunk: str) -> bool:
    """Whether the full stop ending `chunk` belongs to an abbreviation or initial."""
    stripped = chunk.rstrip("'\"”’)]")
    if not stripped.endswith(".") or stripped.endswith(".."):
        return False
    words = stripped[:-1].split()
    if not words:
        return True
    last = words[-1].lstrip("(\"“‘'[").lower()
    if last in ABBREVIATIONS:
        return True
    # Single-letter initials ("J. Smith") and dotted acronyms ("U.S.").
    return len(last) == 1 and last.isalpha() or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", last))


def _cut_long(sentence: str) -> list[str]:
    words = sentence.split()
    if len(words) <= _MAX_WORDS:
        return [sentence]
    size = _MAX_WORDS // 2
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def word_count(text: str) -> int:
    return len(re.findall(r"\w+", text or ""))
