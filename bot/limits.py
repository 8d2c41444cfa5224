"""Hard caps on what one link may put in a chat.

A digest is meant to be read at a glance, and a page is a stranger's text: one "word" of a
megabyte, a title of a novel's length, a hundred related links. Whatever the page, the
digest of one link is capped here, in the core, so that every platform gets something
small (each adapter still fits it to its own limits, and never splits a digest into
several messages):

    title               MAX_TITLE_CHARS           200
    key points          MAX_POINTS                  5, each MAX_POINT_CHARS 350
                        (and each point's source sentence, if any, MAX_POINT_CHARS)
    summarizer label    MAX_SUMMARIZER_CHARS       60
    related articles    MAX_RELATED                 3, titles MAX_RELATED_TITLE_CHARS 120
    site name, author   MAX_SOURCE_CHARS           80, MAX_AUTHOR_CHARS 80
    date                MAX_DATE_CHARS             40
    links               MAX_URL_CHARS            2048 (a longer link is dropped, not cut)

Text that is too long is cut where a reader would expect: at a clause break (`;` `:` `,`
or a dash) near the end of the room, else between words, else, for an unbroken run, hard
before the limit (never between a letter and its combining marks); a cut text ends in "…".
Every field is also made safe (`bot.text.clean_line`): no control characters, no bidi
overrides, one line.

Daily digests are capped per story the same way (`cap_daily_digest`); how many stories a
day holds is the daily digest's business, and adapters may split those into messages.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from bot.models import DailyDigest, Digest, DigestEntry, RelatedLink
from bot.text import clean_line

MAX_TITLE_CHARS = 200
MAX_POINTS = 5
MAX_POINT_CHARS = 350
MAX_RELATED = 3
MAX_RELATED_TITLE_CHARS = 120
MAX_SOURCE_CHARS = 80
MAX_AUTHOR_CHARS = 80
MAX_DATE_CHARS = 40
MAX_URL_CHARS = 2048
MAX_READING_MINUTES = 99_999
MAX_GROUP_CHARS = 120  # a daily digest's group label
MAX_SUMMARIZER_CHARS = 60  # who wrote the points (a model's name comes from configuration)

ELLIPSIS = "…"
# Only this much of a field is ever looked at: cleaning collapses whitespace, so a little
# more than the limit is needed, never the whole of a megabyte.
_LOOK_FACTOR = 8
_CLAUSE_BREAK_RE = re.compile(r"[;:,](?= )| (?=[–—-] )")
_CLAUSE_FLOOR = 0.7  # a clause break is used if it keeps at least this much of the room
_WORD_FLOOR = 0.5  # a space, if it keeps at least this much
_TRAILING = " ,;:–—-"
_JOINERS = "\u200d\u200c\ufe0e\ufe0f"  # never cut next to these


def shorten(text: str | None, limit: int) -> str:
    """`text` as one safe line of at most `limit` characters, cut as a reader would
    expect (see the module notes) and ending in "…" when cut."""
    if limit < 2:
        raise ValueError("limit must leave room for a character and the ellipsis")
    line = clean_line((text or "")[: max(limit * _LOOK_FACTOR, 1024)])
    if len(line) <= limit:
        return line
    room = limit - len(ELLIPSIS)
    head = line[:room]
    clauses = [m.start() + (1 if m.group() != " " else 0) for m in _CLAUSE_BREAK_RE.finditer(head, int(room * _CLAUSE_FLOOR))]
    if clauses:
        return head[: clauses[-1]].rstrip(_TRAILING) + ELLIPSIS
    space = head.rfind(" ", int(room * _WORD_FLOOR))
    if space > 0:
        return head[:space].rstrip(_TRAILING) + ELLIPSIS
    return _hard_cut(line, room) + ELLIPSIS


def _hard_cut(line: str, at: int) -> str:
    """`line[:at]`, moved back so that no letter loses its combining marks and no joined
    sequence (an emoji with a joiner or variation selector, a flag) is cut in two."""
    cut = at
    while cut > 1 and (unicodedata.combining(line[cut]) or line[cut] in _JOINERS or line[cut - 1] in _JOINERS):
        cut -= 1
    # A flag is two regional indicators: count the run before the cut and keep pairs whole.
    run = 0
    while run < cut and 0x1F1E6 <= ord(line[cut - 1 - run]) <= 0x1F1FF:
        run += 1
    if run % 2 == 1 and cut > 1:
        cut -= 1
    return line[:cut]


def safe_url(url: str | None) -> str | None:
    """`url` if it may be shown as a link: one line, no spaces, at most MAX_URL_CHARS."""
    if not url or len(url) > MAX_URL_CHARS or clean_line(url) != url or " " in url:
        return None
    return url


def cap_digest(digest: Digest) -> Digest:
    """A copy of `digest` within the caps above, every field made safe. Capping a capped
    digest changes nothing."""
    points, sources = [], []
    for index, point in enumerate(digest.points[: MAX_POINTS * 4]):  # the first few non-empty ones
        point = shorten(point, MAX_POINT_CHARS)
        if point:
            points.append(point)
            sources.append(shorten(digest.source_of(index), MAX_POINT_CHARS) or None)  # stays parallel
            if len(points) == MAX_POINTS:
                break
    related = []
    for link in digest.related[: MAX_RELATED * 4]:
        url = safe_url(link.url)
        if url is None:
            continue
        related.append(RelatedLink(title=shorten(link.title, MAX_RELATED_TITLE_CHARS), url=url, kind=link.kind))
        if len(related) == MAX_RELATED:
            break
    return replace(
        digest,
        title=shorten(digest.title, MAX_TITLE_CHARS),
        points=points,
        sources=sources,
        summarizer=shorten(digest.summarizer, MAX_SUMMARIZER_CHARS),
        source=shorten(digest.source, MAX_SOURCE_CHARS),
        url=safe_url(digest.url),
        date=shorten(digest.date, MAX_DATE_CHARS) or None,
        author=shorten(digest.author, MAX_AUTHOR_CHARS) or None,
        reading_minutes=max(1, min(int(digest.reading_minutes or 1), MAX_READING_MINUTES)),
        related=related,
    )


def cap_daily_digest(daily: DailyDigest) -> DailyDigest:
    """A copy of `daily` with each story's title, summary, source and group capped and
    made safe (the number of stories is left alone)."""
    return replace(
        daily,
        title=shorten(daily.title, MAX_TITLE_CHARS),
        period=shorten(daily.period, MAX_TITLE_CHARS),
        entries=[_cap_entry(entry) for entry in daily.entries],
    )


def _cap_entry(entry: DigestEntry) -> DigestEntry:
    return replace(
        entry,
        title=shorten(entry.title, MAX_TITLE_CHARS),
        url=safe_url(entry.url) or "",
        summary=shorten(entry.summary, MAX_POINT_CHARS * 2),
        source=shorten(entry.source, MAX_SOURCE_CHARS),
        group=shorten(entry.group, MAX_GROUP_CHARS) or None,
    )
