"""Splitting text into sentences without a network-downloaded model.

Rules: paragraph breaks always end a sentence; `.`, `!`, `?` (and `…`) end one when
followed by space and an upper-case letter (Latin, Greek, Cyrillic), a CJK character, a
digit or an opening quote, unless the word before is a known abbreviation, an initial, or
part of a number; `。！？` end one anywhere. PTB-tokenized text (`word .`, `did n't`, a
closing quote as a token of its own) splits at a free-standing `.`, `!` or `?` whatever
follows. A "sentence" of more than 80 words (a list, unpunctuated text) is cut at the
clause break nearest its middle.
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
_SENTENCE_START = r"""["“‘'(\[«„]?[A-Z0-9À-ÖØ-ÞΑ-ΩА-ЯЁ\u3040-\u30ff\u4e00-\u9fff]"""
_BOUNDARY_RE = re.compile(r"""([.!?…]+['"”’)\]]*)\s+(?=""" + _SENTENCE_START + ")")
# Chinese and Japanese full stops end a sentence with or without a space after them.
_CJK_BOUNDARY_RE = re.compile(r"([。！？]+[」』”’)]*)\s*(?=\S)")
_LONE_QUOTE_RE = re.compile(r"""(['"’”])(?:\s+|$)""")
_MAX_WORDS = 80  # longer "sentences" (lists, unpunctuated text) are cut into pieces
# Where a too-long sentence is best cut, best first: a semicolon or dash, a colon, a comma.
_CLAUSE_BREAKS = (re.compile(r"(?<=;)\s|\s(?=--?\s|–|—)"), re.compile(r"(?<=:)\s"), re.compile(r"(?<=,)\s"))


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
        (m for pattern in (_BOUNDARY_RE, _PTB_BOUNDARY_RE, _CJK_BOUNDARY_RE) for m in pattern.finditer(paragraph)),
        key=lambda m: m.start(),
    )
    for match in boundaries:
        if match.start() < start:
            continue
        end, next_start = match.end(1), match.end()
        if _is_abbreviation(paragraph[start:end]):
            continue
        # PTB text writes a closing quote as a token of its own ("said . ' The"): it ends
        # this sentence when this sentence has a quote open.
        closing = _LONE_QUOTE_RE.match(paragraph, next_start)
        if closing and _quote_open(paragraph[start:end], closing.group(1)):
            end, next_start = closing.end(1), closing.end()
        out.append(paragraph[start:end].strip())
        start = next_start
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


def _quote_open(sentence: str, quote: str) -> bool:
    """Whether `sentence` leaves a quote of this kind open (an odd count of them, or more
    openings than closings for curly quotes)."""
    if quote in "'\"":
        tokens = re.findall(r"(?:^|(?<=\s))" + re.escape(quote) + r"|" + re.escape(quote) + r"(?=\s|$)", sentence)
        return len(tokens) % 2 == 1
    opening = "‘" if quote == "’" else "“"
    return sentence.count(opening) > sentence.count(quote)


def _cut_long(sentence: str) -> list[str]:
    """A sentence of more than _MAX_WORDS words in pieces, cut at the clause break nearest
    its middle (a semicolon or dash, else a colon, else a comma), else between words."""
    words = sentence.split()
    if len(words) <= _MAX_WORDS:
        return [sentence]
    middle = len(sentence) // 2
    for pattern in _CLAUSE_BREAKS:
        cuts = [m.start() for m in pattern.finditer(sentence)]
        # A cut must leave at least a fifth of the sentence on each side.
        cuts = [c for c in cuts if len(sentence) // 5 <= c <= len(sentence) - len(sentence) // 5]
        if cuts:
            cut = min(cuts, key=lambda c: abs(c - middle))
            return _cut_long(sentence[:cut].strip()) + _cut_long(sentence[cut:].strip())
    size = _MAX_WORDS // 2
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def word_count(text: str) -> int:
    return len(re.findall(r"\w+", text or ""))
