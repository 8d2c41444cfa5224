"""The core's replies as Telegram HTML messages: escaped, and split to fit.

The digest of one link is always exactly one message: it is capped in the core
(`bot.limits.cap_digest`) and then, if its visible text is still over the limit (emoji
count two units each), its longest texts are shortened until it fits. Only daily digests
and the bot's own long texts are split into several messages.

A reply is first laid out as lines of plain-text spans (bold, italic, link). Splitting
happens on those lines, before any markup exists, so a tag can never be cut in two; only
then is each span escaped and wrapped in its tags. Telegram limits a message to 4096
characters after entity parsing, which it counts in UTF-16 code units, so that is what
is measured here: the spans' visible text, where an emoji outside the BMP counts two.

A reply's buttons become an inline keyboard under its last message (`keyboard_buttons`),
each button's callback_data its command: only commands a press would be accepted with.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from adapters.telegram.updates import button_command
from bot.i18n import Translator, english
from bot.limits import ELLIPSIS, cap_daily_digest, cap_digest, shorten
from bot.models import DailyDigest, Digest, Reply

log = logging.getLogger(__name__)

MAX_MESSAGE_UNITS = 4096
MAX_BUTTON_LABEL = 64  # characters: a button shows one short line
MAX_INLINE_DESCRIPTION = 200  # characters of the first point shown under an inline result's title


@dataclass(frozen=True)
class Span:
    """A run of text with one style. `text` is plain, as the reader will see it."""

    text: str
    bold: bool = False
    italic: bool = False
    href: str | None = None

    def to_html(self) -> str:
        if not self.text:
            return ""
        markup = html.escape(self.text, quote=False)
        if self.bold:
            markup = f"<b>{markup}</b>"
        if self.italic:
            markup = f"<i>{markup}</i>"
        if self.href:
            markup = f'<a href="{html.escape(self.href, quote=True)}">{markup}</a>'
        return markup


Line = list[Span]


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- replies as lines ---------------------------------------------------------------------


def render_reply(reply: Reply, limit: int = MAX_MESSAGE_UNITS, t: Translator | None = None) -> list[str]:
    """The HTML messages that show `reply`, each within `limit` visible UTF-16 units; a
    digest is always exactly one message. Headings in `t`'s language (English without)."""
    if reply.digest is not None:
        return [render_digest(reply.digest, limit, t)]
    return pack_messages(reply_lines(reply, t), limit)


def render_digest(digest: Digest, limit: int = MAX_MESSAGE_UNITS, t: Translator | None = None) -> str:
    """The one HTML message that shows `digest`: capped, then shortened to fit `limit`."""
    lines = fit_lines(digest_lines(cap_digest(digest), t), limit)
    return pack_messages(lines, limit)[0]  # fit_lines made it one message


def inline_texts(digest: Digest, t: Translator | None = None) -> tuple[str, str, str]:
    """(title, description, message) of an inline query's article result: the title and the
    first point as plain text (Telegram shows them unparsed), and the digest as the one HTML
    message a reply would be."""
    capped = cap_digest(digest)
    title = _one_line(capped.title) or capped.url or (t or english())._("Summary")
    description = shorten(capped.points[0], MAX_INLINE_DESCRIPTION) if capped.points else ""
    return title, description, render_digest(capped, t=t)


def reply_lines(reply: Reply, t: Translator | None = None) -> list[Line]:
    if reply.digest is not None:
        return digest_lines(cap_digest(reply.digest), t)
    if reply.daily is not None:
        return daily_digest_lines(cap_daily_digest(reply.daily), t)
    if reply.error is not None:
        return text_lines("⚠️ " + reply.error)
    return text_lines(reply.text or "")


def text_lines(text: str) -> list[Line]:
    return [[Span(line)] for line in text.splitlines()]


def digest_lines(digest: Digest, t: Translator | None = None) -> list[Line]:
    t = t or english()
    minutes = t.ngettext("{count} min read", "{count} min read", digest.reading_minutes)
    meta = " · ".join(part for part in (digest.source, digest.date, minutes) if part)
    lines: list[Line] = [[Span(_one_line(digest.title), bold=True, href=safe_link(digest.url))], [Span(meta, italic=True)], []]
    lines += [[Span("• " + _one_line(point))] for point in digest.points]
    if digest.related:
        lines += [[], [Span(t._("Related"), bold=True)]]
        lines += [
            [Span("• " + (f"{t._(link.label)}: " if link.label else "")), Span(_one_line(link.title) or link.url, href=safe_link(link.url))]
            for link in digest.related
        ]
    if digest.summarizer:  # who wrote the points, as a small footer
        lines += [[], [Span(t._("Summary: {summarizer}", summarizer=_one_line(digest.summarizer)), italic=True)]]
    return lines


def daily_digest_lines(daily: DailyDigest, t: Translator | None = None) -> list[Line]:
    t = t or english()
    lines: list[Line] = [[Span(_one_line(daily.title), bold=True)]]
    if daily.period:
        lines.append([Span(daily.period, italic=True)])
    if not daily.entries:
        return lines + [[], [Span(t._("Nothing was shared here in this period."))]]
    group = None
    for entry in daily.entries:
        if entry.group and entry.group != group:  # a group's heading, then its stories
            lines += [[], [Span(_one_line(entry.group), bold=True)]]
        else:
            lines.append([])
        group = entry.group
        about = " · ".join(part for part in (entry.source, t._("shared {count}×", count=entry.shares) if entry.shares > 1 else "") if part)
        headline = [Span("• "), Span(_one_line(entry.title) or entry.url, bold=True, href=safe_link(entry.url))]
        lines.append(headline + ([Span(" — " + about, italic=True)] if about else []))
        if entry.summary:
            lines.append([Span(_one_line(entry.summary))])
    return lines


def fit_lines(lines: list[Line], limit: int) -> list[Line]:
    """`lines` shortened to fit one message of `limit` units: the longest text is cut
    (at a word where it can be, ending in "…") until the whole fits. Lines that still do
    not fit once every text is down to a few characters are dropped from the end."""
    lines = [list(line) for line in lines]
    while (excess := _message_units(lines) - limit) > 0:
        spans = [(utf16_units(span.text), i, j) for i, line in enumerate(lines) for j, span in enumerate(line)]
        units, i, j = max(spans, default=(0, 0, 0))
        if units <= 8:  # nothing left worth cutting: drop the last line instead
            lines.pop()
            continue
        span = lines[i][j]
        keep = max(units - excess - utf16_units(ELLIPSIS), 4)  # a long text may go down to a word
        lines[i][j] = replace(span, text=_shorten_units(span.text, keep))
    return lines


def _message_units(lines: list[Line]) -> int:
    return sum(_line_units(line) for line in lines) + max(len(lines) - 1, 0)


def _shorten_units(text: str, units: int) -> str:
    """`text` cut to at most `units` UTF-16 units plus an ellipsis (`bot.limits.shorten`)."""
    used = chars = 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            break
        chars += 1
    return shorten(text, chars + len(ELLIPSIS)) if chars < len(text) else text


def safe_link(url: str | None) -> str | None:
    """`url` if Telegram will accept it as a link; anything else is shown without one,
    because one bad href makes Telegram refuse the whole message."""
    if not url or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


# -- splitting and markup -------------------------------------------------------------------


def pack_messages(lines: list[Line], limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Group lines into as few messages as fit `limit`, splitting only between lines (and
    inside a line only when that line alone is too long), then turn each into HTML."""
    if limit < 2:
        raise ValueError("a message must hold at least one character of two UTF-16 units")
    messages: list[list[Line]] = []
    current: list[Line] = []
    used = 0
    for piece in (piece for line in lines for piece in _fit_line(line, limit)):
        size = _line_units(piece) + (1 if current else 0)  # the newline before it
        if current and used + size > limit:
            messages.append(current)
            current, size = [], _line_units(piece)
            used = 0
        current.append(piece)
        used += size
    messages.append(current)
    rendered = ("\n".join(_line_html(line) for line in _trim_blank(message)) for message in messages)
    return [text for text in rendered if text]


def _fit_line(line: Line, limit: int) -> list[Line]:
    """`line` as pieces of at most `limit` units, cut at a space where one is near."""
    pieces: list[Line] = []
    current: Line = []
    room = limit
    for span in line:
        text = span.text
        while utf16_units(text) > room:
            cut = _cut_index(text, room)
            if cut == 0:  # not even one character fits in what is left: next piece
                pieces.append(current)
                current, room = [], limit
                continue
            current.append(replace(span, text=text[:cut]))
            pieces.append(current)
            current, room = [], limit
            text = text[cut:]
        if text:
            current.append(replace(span, text=text))
            room -= utf16_units(text)
    if current or not pieces:
        pieces.append(current)
    return pieces


def _cut_index(text: str, budget: int) -> int:
    """Where to cut `text` so the head has at most `budget` units: after the last space
    in the head if that keeps at least half of it, else exactly at the budget."""
    used = 0
    end = 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
        end += 1
    space = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
    return space + 1 if space + 1 > end // 2 else end


def _line_units(line: Line) -> int:
    return sum(utf16_units(span.text) for span in line)


def _line_html(line: Line) -> str:
    return "".join(span.to_html() for span in line)


def _trim_blank(message: list[Line]) -> list[Line]:
    """Without blank lines at either end (Telegram drops them; a message may not be empty)."""
    filled = [i for i, line in enumerate(message) if any(span.text.strip() for span in line)]
    return message[filled[0] : filled[-1] + 1] if filled else []


# -- buttons ----------------------------------------------------------------------------------


def keyboard_buttons(reply: Reply) -> list[tuple[str, str]]:
    """(label, callback_data) of each of `reply`'s buttons that a press would be accepted
    with (`updates.button_command`); any other is left out and logged."""
    buttons = []
    for button in reply.buttons:
        label = _one_line(button.label)[:MAX_BUTTON_LABEL]
        if not label or button_command(button.command) is None:  # unknown, or past callback_data's 64 bytes
            log.warning("telegram: a button left out: its command is not one a press may carry (%d bytes)",
                        len(button.command.encode("utf-8", "surrogatepass")))  # fmt: skip
            continue
        buttons.append((label, button.command))
    return buttons
