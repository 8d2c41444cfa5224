"""Splitting text into sentences without a network-downloaded model, in linear time.

Lines first. A blank line, a bullet, or a line that ends with end punctuation ends a unit;
so does any line without end punctuation (a headline, a dateline, a caption) unless it is
plainly hard-wrapped prose: at least 40 characters, and the next line starts with a
lower-case letter or this one ends with a comma, a dash, or a word no headline ends with
("the", "of", "and", "der", "de", ...). A headline is never fused with
the first sentence under it.

Then each unit is scanned once, left to right, for sentence ends, and each candidate end
is judged only by a bounded window around it (the word before, the character after), so
no part of the text is ever scanned twice, whatever the input:

- `.` `!` `?` `…` (and runs of them, and closing quotes or brackets after them) followed by
  a space and anything that is not a lower-case letter: Latin, Cyrillic, Greek, Armenian
  and Georgian text, and the caseless scripts that use Western punctuation (Hebrew,
  Arabic, Persian and Devanagari text often do). A full stop after a known abbreviation
  (Mr., Dr., e.g., U.S., Jan. 5, No. 7) or a capital initial (J. R. R. Tolkien) is not one;
  a full stop with no space after it (3.5, example.com, U.S.A) never is.
- Script-specific marks, followed by a space: Greek `;` (the Greek question mark, which
  Unicode normalises to a semicolon) after a Greek letter; Arabic and Persian `؟` `؛` and
  Urdu `۔`; Devanagari `।` `॥` (also Bengali and Gurmukhi text); Armenian `։`; Hebrew `׃`;
  Ethiopic `።` `፧`; Myanmar `။`; Khmer `។` `៕`; Tibetan `།` `༎`. Georgian is caseless
  (Python calls Mkhedruli lower case), so a Georgian letter after a full stop starts a
  sentence.
- A question or exclamation that a dash and a lower-case word go on with
  («Это правда?» — спросил он) does not end the sentence.
- CJK `。` `！` `？` (and half-width `｡`) end a sentence with or without a space after them,
  except inside a quotation that a kana particle goes on with (「行きます。」と言った).
- PTB-tokenized text (`word .`, `did n't`, a closing quote as a token of its own) ends a
  sentence at a free-standing `.`, `!` or `?` whatever follows.

Scripts that have no end punctuation (Thai, Lao) are split by line breaks only, like
everything else a "sentence" of more than 80 words or 500 characters (a list, unpunctuated
text, one enormous word) is cut: at a clause break (a semicolon or dash, else a colon, else
a comma) near the balanced length, else at a space, else hard, in one pass.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator

# Abbreviations whose full stop never ends a sentence, whatever their case.
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr vs etc inc ltd corp approx dept univ al e.g i.e u.s u.k u.n
    a.m p.m cf viz ca""".split()
)
# Abbreviations that are only abbreviations when capitalised: lower-case "sat." or "sun."
# ends a sentence ("The cat sat."), "Sat." is a day.
CAPITALISED_ABBREVIATIONS = frozenset(
    """st mt ft gov gen col lt sgt capt rep sen rev hon co jan feb mar apr jun jul aug sep
    sept oct nov dec mon tue wed thu fri sat sun est fig""".split()
)
# Abbreviations that stand before a number ("No. 7", "pp. 12").
NUMBER_ABBREVIATIONS = frozenset("no nos nr vol pp p art ch".split())

_BULLET_RE = re.compile(r"^\s*(?:[-•*·▪–]|\d+[.)])\s")
_HARD_WRAP_MIN = 40  # a line this long that ends mid-sentence may have been wrapped
_LINE_ENDS = ".!?:;\"”’)…»」』。！？｡\u037e\u061f\u061b\u06d4\u0964\u0965\u0589\u05c3\u1362\u1367\u104b\u17d4\u17d5\u0f0d\u0f0e"
_WRAPPED_LINE_ENDS = ",-–—(&/"  # a line ending in one of these goes on in the next
# ...and so does a line ending in one of these words (no headline ends "... won the").
_WRAPPED_LAST_WORDS = frozenset(
    """a an the of to in on at by for from with and or but that which who whose as than
    der die das den dem des ein eine und oder mit von zu im für le la les un une des du de
    et ou à au aux el los las y o del en que il lo gli di da e per con""".split()
)

_CJK_ENDS = "。！？｡"
_SCRIPT_ENDS = "\u061f\u061b\u06d4\u0964\u0965\u0589\u05c3\u1362\u1367\u104b\u17d4\u17d5\u037e\u0f0d\u0f0e"
_CLOSERS = "\"'”’»)]」』）】"
# One candidate end: a run of end marks (a Greek `;` only after a Greek letter), closing
# quotes or brackets, then any spaces.
_END_RE = re.compile(
    r"(?P<end>(?:[.!?…‼⁇⁈⁉" + _CJK_ENDS + _SCRIPT_ENDS + r"]|(?<=[\u0370-\u03ff\u1f00-\u1fff]);)+"
    "[" + re.escape(_CLOSERS) + "]*)(?P<space> *)"
)
_LONE_QUOTE_RE = re.compile(r"""(['"’”]|'')(?: +|$)""")
_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # U.S, e.g, a.m; not 3.5
_WORD_BEFORE_MAX = 40  # how far back the word before a full stop is looked for

_MAX_WORDS = 80  # longer "sentences" (lists, unpunctuated text) are cut into pieces
_MAX_CHARS = 500  # and so are longer runs of characters (one enormous word, Thai text)
# Where a too-long sentence is best cut, best first: a semicolon or dash, a colon, a comma.
_CLAUSE_BREAKS = (re.compile(r"(?<=;) |(?<=\S) (?=--? |–|—)"), re.compile(r"(?<=:) "), re.compile(r"(?<=,) "))


def split_sentences(text: str, limit: int | None = None) -> list[str]:
    """The sentences of `text`, in order; at most `limit` of them when given (the rest of
    the text is then not looked at)."""
    sentences: list[str] = []
    if limit is not None and limit <= 0:
        return sentences
    for sentence in iter_sentences(text):
        sentences.append(sentence)
        if limit is not None and len(sentences) >= limit:
            break
    return sentences


def iter_sentences(text: str | None) -> Iterator[str]:
    """The sentences of `text`, lazily."""
    for unit in _units(text or ""):
        for sentence in _split_unit(unit):
            yield from _cut_long(sentence)


# -- lines into units ---------------------------------------------------------------------


def _units(text: str) -> Iterator[str]:
    """Lines joined back into units that end at a line break: hard-wrapped prose is
    rejoined, anything else (a headline, a bullet, a caption) stands alone."""
    current: list[str] = []
    previous = ""
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            if current:
                yield " ".join(current)
            current, previous = [], ""
            continue
        if current and _continues(previous, line):
            current.append(line)
        else:
            if current:
                yield " ".join(current)
            current = [line]
        previous = line
    if current:
        yield " ".join(current)


def _continues(previous: str, line: str) -> bool:
    """Whether `line` goes on with the sentence that `previous` left unfinished."""
    if len(previous) < _HARD_WRAP_MIN or previous[-1] in _LINE_ENDS or _BULLET_RE.match(line):
        return False
    if line[0].islower() or previous[-1] in _WRAPPED_LINE_ENDS:
        return True
    last_word = previous[previous.rfind(" ", max(0, len(previous) - 20)) + 1 :]
    return last_word in _WRAPPED_LAST_WORDS  # lower case only: "... won the" / "Africa ..."


# -- a unit into sentences --------------------------------------------------------------


def _split_unit(unit: str) -> Iterator[str]:
    start = 0
    for match in _END_RE.finditer(unit):
        if match.start() < start:
            continue
        end, next_start = match.end("end"), match.end()
        if next_start < len(unit) and not _ends_here(unit, match):
            continue
        # PTB text writes a closing quote as a token of its own ("said . ' The"): it ends
        # this sentence when this sentence has a quote open.
        closing = _LONE_QUOTE_RE.match(unit, next_start)
        if closing and match.group("space") and _quote_open(unit, start, end, closing.group(1)):
            end, next_start = closing.end(1), closing.end()
        sentence = unit[start:end].strip()
        if sentence:
            yield sentence
        start = next_start
    tail = unit[start:].strip()
    if tail:
        yield tail


def _ends_here(unit: str, match: re.Match) -> bool:
    """Whether the candidate end `match` (not at the end of the unit) ends a sentence."""
    marks = match.group("end").rstrip(_CLOSERS)
    following = unit[match.end()]
    if any(ch in _CJK_ENDS for ch in marks):
        # CJK full stops need no space after them; a quotation that a particle goes on
        # with (「明日行きます。」と言った) is not the end of the sentence.
        return not (len(marks) < len(match.group("end")) and "\u3041" <= following <= "\u309f")
    if not match.group("space"):
        return False  # 3.5, example.com, U.S.A, Yahoo!Inc
    free_standing = match.start() == 0 or unit[match.start() - 1] == " "
    if free_standing and marks[0] in ".!?":
        return True  # PTB: "forward . He", "objections . the"
    if _is_lower(following):
        return False  # "Yahoo! is", "approx. ten", "etc. and"
    if following in "—–" and _is_lower(unit[match.end() + 1 : match.end() + 3].lstrip()[:1]):
        return False  # «Это правда?» — спросил он. / "Why?" — she asked.
    if marks == ".":
        return not _is_abbreviation(unit, match.start(), following)
    return True


def _is_lower(ch: str) -> bool:
    """Whether `ch` is a lower-case letter of a script that has case. Georgian Mkhedruli
    counts as lower case to Python (it has Mtavruli capitals) but is written caseless."""
    return ch.islower() and not ("\u10d0" <= ch <= "\u10ff")


def _is_abbreviation(unit: str, dot: int, following: str) -> bool:
    """Whether the full stop at `unit[dot]` belongs to an abbreviation or initial. Only
    the word before it is looked at, never more than _WORD_BEFORE_MAX characters."""
    space = unit.rfind(" ", max(0, dot - _WORD_BEFORE_MAX), dot)
    if space == -1 and dot > _WORD_BEFORE_MAX:
        return False  # a "word" that long is no abbreviation
    word = unit[space + 1 : dot].lstrip("(\"“‘'[«„")
    if not word:
        return False
    lower = word.lower()
    if lower in ABBREVIATIONS:
        return True
    if word[0].isupper() and lower in CAPITALISED_ABBREVIATIONS:
        return True
    if lower in NUMBER_ABBREVIATIONS and following.isdigit():
        return True
    # Capital initials ("J. Smith", "А. С. Пушкин") and dotted acronyms ("U.S.", "e.g.").
    if len(word) == 1:
        return word.isupper()
    return len(word) <= 12 and bool(_ACRONYM_RE.fullmatch(word))


def _quote_open(unit: str, start: int, end: int, quote: str) -> bool:
    """Whether `unit[start:end]` (the sentence about to end) leaves a quote of this kind
    open: an odd count of free-standing ones, or more openings than closings."""
    sentence = unit[start:end]
    if quote == "''":
        return sentence.count("``") > sentence.count("''")
    if quote in "'\"":
        q = re.escape(quote)
        return len(re.findall(r"(?:^|(?<= ))" + q + r"|" + q + r"(?= |$)", sentence)) % 2 == 1
    opening = "‘" if quote == "’" else "“"
    return sentence.count(opening) > sentence.count(quote)


# -- overlong sentences -------------------------------------------------------------------


def _cut_long(sentence: str) -> list[str]:
    """`sentence` in pieces of at most _MAX_WORDS words and _MAX_CHARS characters, cut
    where a reader would (see _cut_at), in one left-to-right pass."""
    if len(sentence) <= _MAX_CHARS and sentence.count(" ") < _MAX_WORDS:
        return [sentence]
    pieces = []
    start, n = 0, len(sentence)
    while start < n:
        room = _room(sentence, start)
        if room >= n:
            pieces.append(sentence[start:])
            break
        # Aim at equal pieces: as many as the rest needs at the size that fits now.
        rest = n - start
        aim = start + rest // max(2, math.ceil(rest / max(room - start, 1)))
        cut = _cut_at(sentence, start, aim, room)
        pieces.append(sentence[start:cut].rstrip())
        start = cut
        while start < n and sentence[start] == " ":
            start += 1
    return [p for p in pieces if p]


def _room(sentence: str, start: int) -> int:
    """The furthest end for a piece that starts at `start`."""
    room = min(len(sentence), start + _MAX_CHARS)
    at = start
    for _ in range(_MAX_WORDS):
        at = sentence.find(" ", at + 1, room)
        if at == -1:
            return room
    return at


def _cut_at(sentence: str, start: int, aim: int, room: int) -> int:
    """Where to end a piece that starts at `start`: the clause break nearest `aim` that
    leaves the piece at least half as long as aimed, else the nearest space, else `room`
    (moved back off a combining mark)."""
    low = start + max(1, (aim - start) // 2)
    for pattern in _CLAUSE_BREAKS:
        cuts = [m.start() for m in pattern.finditer(sentence, low, room)]
        if cuts:
            return min(cuts, key=lambda c: abs(c - aim))
    before = sentence.rfind(" ", low, aim + 1)
    after = sentence.find(" ", aim, room)
    spaces = [c for c in (before, after) if c > start]
    if spaces:
        return min(spaces, key=lambda c: abs(c - aim))
    cut = room
    while cut > start + 1 and unicodedata.combining(sentence[cut]):
        cut -= 1
    return cut


def word_count(text: str | None) -> int:
    return len(re.findall(r"\w+", text or ""))
