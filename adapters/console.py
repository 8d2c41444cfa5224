"""The console adapter: a terminal chat with the bot, the embedded default.

Reads lines from standard input (a terminal or a pipe), hands each to the core as a
private-chat message, and prints the replies as plain text. Digests are capped and cleaned
(`bot.limits`) before printing, so a page can neither flood the terminal nor drive it with
escape sequences.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.core import SummaryBot
from bot.limits import cap_daily_digest, cap_digest
from bot.models import ChatRef, DailyDigest, Digest, Incoming, Reply

CONSOLE_CHAT = ChatRef(platform="console", chat_id="local", kind="private")


def render_digest(digest: Digest, *, bold: bool = False) -> str:
    digest = cap_digest(digest)
    b, r = ("\033[1m", "\033[0m") if bold else ("", "")
    meta = " · ".join(x for x in (digest.source, digest.date, f"{digest.reading_minutes} min read") if x)
    lines = [f"{b}{digest.title}{r}", meta, ""]
    lines += [f"  • {point}" for point in digest.points]
    if digest.url:
        lines += ["", f"Read: {digest.url}"]
    if digest.related:
        lines += ["", "Related:"] + [f"  – {link.title}: {link.url}" for link in digest.related]
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


async def run_console(bot: SummaryBot, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, banner: str = "") -> None:
    interactive = stdin.isatty() and stdout.isatty()
    if banner:
        print(banner, file=stdout, flush=True)
    number = 0
    while True:
        if interactive:
            print("\nyou> ", end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:  # end of input (Ctrl-D or the end of a pipe)
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        number += 1
        message = Incoming(chat=CONSOLE_CHAT, text=text, user_id="console", message_id=str(number), addressed_to_bot=True)
        if interactive:
            print("bot> working…", file=stdout, flush=True)
        for reply in await bot.handle(message):
            print(render_reply(reply, bold=interactive), file=stdout, flush=True)
            print("", file=stdout, flush=True)
