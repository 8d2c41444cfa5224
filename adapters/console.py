"""The console adapter: a terminal chat with the bot, the embedded default.

Reads messages from standard input (a terminal or a pipe), hands each to the core as a
private-chat message, and prints the replies as plain text. A message is one line, or a
whole multi-line paste: in a terminal the console turns on bracketed paste, so the
terminal wraps what is pasted in ESC[200~ … ESC[201~ and everything between is one message
(a paste that arrives without the markers, from a terminal that lacks the mode, is still
one message when its lines arrive together). Digests are capped and cleaned (`bot.limits`)
before printing, so a page can neither flood the terminal nor drive it with escape
sequences.

There is one local user, so the chat is not rate-limited like a crowd (cmd_chat turns the
per-user limit off), and no scheduler runs here: /subscribe is answered with where daily
digests are sent from (`summary-bot run`).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.core import SummaryBot
from bot.limits import cap_daily_digest, cap_digest
from bot.models import ChatRef, DailyDigest, Digest, Incoming, Reply

CONSOLE_CHAT = ChatRef(platform="console", chat_id="local", kind="private")
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
BRACKETED_PASTE_ON, BRACKETED_PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"
PASTE_NOTE = "A multi-line paste is one message (bracketed paste)."
SUBSCRIBE_NOTE = (
    "Note: this console chat sends no scheduled digests; daily digests are posted by "
    "`summary-bot run` on Telegram or Slack. /digest shows today's digest here now."
)
_TOGETHER_S = 0.03  # lines that arrive within this of each other are one paste


def render_digest(digest: Digest, *, bold: bool = False) -> str:
    digest = cap_digest(digest)
    b, r = ("\033[1m", "\033[0m") if bold else ("", "")
    meta = " · ".join(x for x in (digest.source, digest.date, f"{digest.reading_minutes} min read") if x)
    lines = [f"{b}{digest.title}{r}", meta, ""]
    lines += [f"  • {point}" for point in digest.points]
    if digest.url:
        lines += ["", f"Read: {digest.url}"]
    if digest.related:
        lines += ["", "Related:"] + [
            f"  – {link.label + ': ' if link.label else ''}{link.title}: {link.url}" for link in digest.related
        ]
    if digest.summarizer:  # who wrote the points, small print
        dim, r = ("\033[2m", "\033[0m") if bold else ("", "")
        lines += ["", f"{dim}Summary: {digest.summarizer}{r}"]
    return "\n".join(lines)


def render_daily(daily: DailyDigest, *, bold: bool = False) -> str:
    daily = cap_daily_digest(daily)
    b, r = ("\033[1m", "\033[0m") if bold else ("", "")
    lines = [f"{b}{daily.title}{r}", daily.period]
    group: str | None = None
    for number, entry in enumerate(daily.entries):
        if number == 0 or entry.group != group:  # a blank line (and label) starts each group
            lines += ["", f"{b}{entry.group}{r}"] if entry.group else [""]
        group = entry.group
        shared = f" (shared {entry.shares}×)" if entry.shares > 1 else ""
        source = f" – {entry.source}" if entry.source else ""
        lines.append(f"  • {entry.title}{source}{shared}")
        if entry.summary:
            lines.append(f"    {entry.summary}")
        lines.append(f"    {entry.url}")
    return "\n".join(lines)


def render_reply(reply: Reply, *, bold: bool = False) -> str:
    if reply.digest is not None:
        return render_digest(reply.digest, bold=bold)
    if reply.daily is not None:
        return render_daily(reply.daily, bold=bold)
    if reply.error is not None:
        return f"⚠ {reply.error}"
    return reply.text or ""


def read_message(stdin: TextIO, *, gather_burst: bool = False) -> str | None:
    """The next message on `stdin` (blocking): a line, or everything between a bracketed
    paste's markers, or (`gather_burst`, for terminals) the lines that arrived together
    with the first. None at the end of the input."""
    line = stdin.readline()
    if not line:
        return None
    if PASTE_START in line:
        parts = [line.split(PASTE_START, 1)[1]]
        while PASTE_END not in parts[-1]:
            more = stdin.readline()
            if not more:
                break
            parts.append(more)
        parts[-1] = parts[-1].split(PASTE_END, 1)[0]
        return "".join(parts).strip("\n")
    lines = [line]
    while gather_burst and _input_waiting(stdin):
        more = stdin.readline()
        if not more:
            break
        lines.append(more)
    return "".join(lines).strip("\n")


def _input_waiting(stdin: TextIO) -> bool:
    import select

    try:
        ready, _, _ = select.select([stdin], [], [], _TOGETHER_S)
    except (OSError, ValueError, TypeError):
        return False
    return bool(ready)


async def run_console(bot: SummaryBot, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, banner: str = "") -> None:
    interactive = stdin.isatty() and stdout.isatty()
    if banner:
        print(banner, file=stdout, flush=True)
    if interactive:
        print(BRACKETED_PASTE_ON, end="", file=stdout, flush=True)
    number = 0
    try:
        while True:
            if interactive:
                print("\nyou> ", end="", file=stdout, flush=True)
            raw = await asyncio.to_thread(read_message, stdin, gather_burst=interactive)
            if raw is None:  # end of input (Ctrl-D or the end of a pipe)
                break
            text = raw.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            number += 1
            message = Incoming(chat=CONSOLE_CHAT, text=text, user_id="console", message_id=str(number), addressed_to_bot=True)
            if interactive:
                print("bot> working…", file=stdout, flush=True)
            replies = await bot.handle(message)
            for reply in replies:
                print(render_reply(reply, bold=interactive), file=stdout, flush=True)
                print("", file=stdout, flush=True)
            if text.split(maxsplit=1)[0].split("@")[0].lower() == "/subscribe" and not any(r.error for r in replies):
                print(SUBSCRIBE_NOTE, file=stdout, flush=True)
                print("", file=stdout, flush=True)
    finally:
        if interactive:
            print(BRACKETED_PASTE_OFF, end="", file=stdout, flush=True)
