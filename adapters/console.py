"""The console adapter: a terminal chat with the bot, the embedded default.

Reads messages from standard input (a terminal or a pipe), hands each to the core as a
private-chat message, and prints the replies as plain text. A message is one line, or a
whole multi-line paste: in a terminal the console turns on bracketed paste, so the
terminal wraps what is pasted in ESC[200~ … ESC[201~ and everything between is one message
(a paste that arrives without the markers, from a terminal that lacks the mode, is still
one message when its lines arrive together). Digests are capped and cleaned (`bot.limits`)
before printing, so a page can neither flood the terminal nor drive it with escape
sequences.

In a terminal the console reads keys itself (cbreak mode, `LineEditor`) instead of leaving
the line to the terminal: the terminal would echo the paste markers as `^[[200~`, and a
status line ("model ready") printed while someone types would land in the middle of their
line. Status lines (`notices`) are printed between messages: above the prompt, which is
drawn again with what was typed so far, or after the reply being written.

There is one local user, so the chat is not rate-limited like a crowd (cmd_chat turns the
per-user limit off), and no scheduler runs here: /subscribe is answered with where daily
digests are sent from (`summary-bot run`), and nothing is stored that would never be sent.

Language: the chat's /language choice, else the terminal's locale (LC_ALL, LC_MESSAGES, LANG:
`environment_language`, which `summary-bot chat` passes in), else English.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
import unicodedata
from collections.abc import Callable
from typing import TextIO

from bot.commands import is_length_button, parse_command
from bot.core import SummaryBot
from bot.i18n import N_, Translator, english, normalize
from bot.limits import cap_daily_digest, cap_digest
from bot.models import ChatRef, DailyDigest, Digest, Incoming, Reply

try:
    import termios
except ImportError:  # not a POSIX terminal: lines are read as the terminal delivers them
    termios = None

CONSOLE_CHAT = ChatRef(platform="console", chat_id="local", kind="private")
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
BRACKETED_PASTE_ON, BRACKETED_PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"
PASTE_NOTE = N_("A multi-line paste is one message (bracketed paste).")
SUBSCRIBE_NOTE = N_(
    "This console chat sends no daily digests, so I've set nothing up: they are posted by "
    "`summary-bot run` to Telegram or Slack chats (/subscribe there). /digest shows the digest "
    "of what you shared here, now."
)
PROMPT = "you> "
WORKING_AFTER_S = 0.3  # "working…" only when a reply takes longer (a summary), not for /help
MAX_INPUT_CHARS = 1_000_000  # of one message; a longer paste is cut (and the user told)
_TOGETHER_S = 0.03  # lines that arrive within this of each other are one paste
_READ_BYTES = 64 * 1024

def environment_language(environ=os.environ) -> str | None:
    """The language of the terminal's locale, as POSIX picks it (LC_ALL, then LC_MESSAGES,
    then LANG: "ru_RU.UTF-8" -> "ru"), or None (unset, "C", "POSIX", one we do not speak)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:  # the first one set decides, as for the C library
            return normalize(value.partition(".")[0].partition("@")[0])
    return None


async def console_translator(bot, language: str | None) -> Translator:
    """The console chat's words: its /language choice, else `language` (the locale's), else English."""
    languages, language_of = getattr(bot, "languages", None), getattr(bot, "language_of", None)
    if languages is None:
        return english()
    if language_of is not None:
        language = await language_of(Incoming(chat=CONSOLE_CHAT, text="", user_id="console", language=language))
    return languages.get(language)


def render_digest(digest: Digest, *, bold: bool = False, t: Translator | None = None) -> str:
    t = t or english()
    digest = cap_digest(digest)
    b, r = ("\033[1m", "\033[0m") if bold else ("", "")
    minutes = t.ngettext("{count} min read", "{count} min read", digest.reading_minutes)
    meta = " · ".join(x for x in (digest.source, digest.date, minutes) if x)
    lines = [f"{b}{digest.title}{r}", meta, ""]
    lines += [f"  • {point}" for point in digest.points]
    if digest.url:
        lines += ["", t._("Read: {url}", url=digest.url)]
    if digest.related:
        lines += ["", t._("Related") + ":"] + [
            f"  – {t._(link.label) + ': ' if link.label else ''}{link.title}: {link.url}" for link in digest.related
        ]
    if digest.summarizer:  # who wrote the points, small print
        dim, r = ("\033[2m", "\033[0m") if bold else ("", "")
        lines += ["", dim + t._("Summary: {summarizer}", summarizer=digest.summarizer) + r]
    return "\n".join(lines)


def render_daily(daily: DailyDigest, *, bold: bool = False, t: Translator | None = None) -> str:
    t = t or english()
    daily = cap_daily_digest(daily)
    b, r = ("\033[1m", "\033[0m") if bold else ("", "")
    lines = [f"{b}{daily.title}{r}", daily.period]
    group: str | None = None
    for number, entry in enumerate(daily.entries):
        if number == 0 or entry.group != group:  # a blank line (and label) starts each group
            lines += ["", f"{b}{entry.group}{r}"] if entry.group else [""]
        group = entry.group
        shared = f" ({t._('shared {count}×', count=entry.shares)})" if entry.shares > 1 else ""
        source = f" – {entry.source}" if entry.source else ""
        lines.append(f"  • {entry.title}{source}{shared}")
        if entry.summary:
            lines.append(f"    {entry.summary}")
        lines.append(f"    {entry.url}")
    return "\n".join(lines)


def render_reply(reply: Reply, *, bold: bool = False, t: Translator | None = None) -> str:
    """`reply` as plain text; the console's own words in `t`'s language (English without it)."""
    if reply.digest is not None:
        body = render_digest(reply.digest, bold=bold, t=t)
    elif reply.daily is not None:
        body = render_daily(reply.daily, bold=bold, t=t)
    elif reply.error is not None:
        body = f"⚠ {reply.error}"
    else:
        body = reply.text or ""
    # No buttons in a terminal: show what pressing one would send, so it can be typed; a
    # command only a press runs (Shorter/Longer) could not be, so it is left out.
    buttons = "".join(
        f"\n  [{button.label}: {button.command}]" for button in reply.buttons if not is_length_button(button.command)
    )
    return body + buttons


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


def _width(text: str) -> int:
    """Terminal columns `text` takes (wide East Asian characters two, combining marks none)."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class LineEditor:
    """The message being typed or pasted at the prompt, read key by key (the terminal in
    cbreak mode, echo off) and echoed here: bracketed-paste markers and other escape
    sequences (arrow keys) are read and never shown, and the prompt with what was typed can
    be erased and drawn again below a status line.

    Keys: Enter sends; Backspace, Ctrl-U (the whole message), Ctrl-W (a word), Ctrl-L (clear
    the screen); Ctrl-D on an empty line ends the chat. Inside a paste a line end is part of
    the message. Text is kept up to MAX_INPUT_CHARS.
    """

    def __init__(self, prompt: str = PROMPT, columns: Callable[[], int] = lambda: 80):
        self.prompt = prompt
        self._columns = columns
        self._chars: list[str] = []
        self._escape = ""  # an escape sequence being read
        self._after_cr = False  # a paste's CR LF is one line end
        self.pasting = False
        self.enter_pending = False  # Enter was pressed; it sends unless more input follows at once
        self.truncated = False

    @property
    def text(self) -> str:
        return "".join(self._chars)

    def feed(self, chars: str) -> tuple[str, bool]:
        """Take input; returns what to echo, and whether the input ended (Ctrl-D)."""
        echo: list[str] = []
        for c in chars:
            after_cr, self._after_cr = self._after_cr, c == "\r"
            if c == "\n" and after_cr and not self._escape:
                continue  # CR LF: one line end
            if self.enter_pending:  # more came right after Enter: a paste without markers
                self.enter_pending = False
                self._insert("\n", echo_now=False, echo=echo)  # its line end is already on screen
            if self._escape:
                self._read_escape(c)
            elif c == "\x1b":
                self._escape = c
            elif c in "\r\n":
                if self.pasting:
                    self._insert("\n", echo=echo)
                else:
                    self.enter_pending = True
                    echo.append("\r\n")
            elif c in "\x7f\x08":
                echo.append(self._backspace())
            elif c == "\x15":  # Ctrl-U
                echo.append(self._replace([]))
            elif c == "\x17":  # Ctrl-W
                kept = self.text.rstrip()
                kept = kept[: max(kept.rfind(" "), kept.rfind("\n")) + 1]
                echo.append(self._replace(list(kept)))
            elif c == "\x04":  # Ctrl-D
                if not self._chars and not self.pasting:
                    return "".join(echo), True
            elif c == "\x0c":  # Ctrl-L
                echo.append("\x1b[H\x1b[2J" + self.draw())
            elif c == "\t" or unicodedata.category(c) != "Cc":
                self._insert(c, echo=echo)
            # other control characters (C0 and C1) are dropped: never echoed to the terminal
        return "".join(echo), False

    def take(self) -> str:
        """The message, once Enter has sent it."""
        text, self._chars, self.enter_pending = self.text, [], False
        return text

    def _read_escape(self, c: str) -> None:
        self._escape += c
        seq = self._escape
        if seq[1] == "[":
            done = len(seq) > 2 and "\x40" <= c <= "\x7e"
        else:
            done = len(seq) == 3 if seq[1] == "O" else True  # SS3 keys; ESC+key (Alt) is one key
        if done:
            self._escape = ""
            if seq == PASTE_START:
                self.pasting = True
            elif seq == PASTE_END:
                self.pasting = False
            # any other key sequence (arrows, function keys) is ignored rather than shown
        elif len(seq) > 32:
            self._escape = ""  # no key sends that: drop it

    def _insert(self, c: str, *, echo: list[str], echo_now: bool = True) -> None:
        if len(self._chars) >= MAX_INPUT_CHARS:
            self.truncated = True
            return
        self._chars.append(c)
        if echo_now:
            echo.append("\r\n" if c == "\n" else " " if c == "\t" else c)

    def _backspace(self) -> str:
        if not self._chars:
            return ""
        last_line = self._shown_lines()[-1]
        gone = self._chars[-1]
        if gone != "\n" and _width(last_line) < self._cols():  # this row only: no wrapped line to go back up to
            self._chars.pop()
            return "\b \b" * _width(gone)
        return self._replace(self._chars[:-1])

    def _replace(self, chars: list[str]) -> str:
        erase = self.erase()
        self._chars = chars
        return erase + self.draw()

    def _cols(self) -> int:
        return max(self._columns(), 1)

    def _shown_lines(self) -> list[str]:
        return (self.prompt + self.text.replace("\t", " ")).split("\n")

    def rows(self) -> int:
        """Rows from the prompt's to the cursor's (long lines wrap at the terminal's width)."""
        cols = self._cols()
        lines = self._shown_lines()
        rows = sum(max(1, -(-_width(line) // cols)) for line in lines[:-1])
        last = _width(lines[-1])
        return rows + ((last - 1) // cols if last else 0)  # at the right edge the cursor waits there

    def erase(self) -> str:
        """Moves to the prompt and clears it and all below."""
        rows = self.rows()
        return (f"\x1b[{rows}A" if rows else "") + "\r\x1b[J"

    def draw(self) -> str:
        """The prompt and what was typed so far."""
        return self.prompt + self.text.replace("\t", " ").replace("\n", "\r\n")


def _terminal_size(stream: TextIO) -> os.terminal_size:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return os.terminal_size((80, 24))
    return os.terminal_size((size.columns or 80, size.lines or 24))


class _Console:
    def __init__(self, bot: SummaryBot, stdin: TextIO, stdout: TextIO, language: str | None = None):
        self.bot = bot
        self.language = language  # the terminal locale's, a hint as a platform's language_code is
        self.stdin, self.stdout = stdin, stdout
        self.interactive = stdin.isatty() and stdout.isatty()
        self._keys = termios is not None and self.interactive  # read key by key (LineEditor)
        self._editor: LineEditor | None = None  # while the prompt waits for a message
        self._idle = False  # between messages (no reply being written)
        self._held: list[str] = []  # status lines that came while a reply was on its way
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._number = 0

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def notice(self, line: str) -> None:
        """A status line, shown between messages: never inside a reply or a typed line."""
        editor = self._editor
        if editor is not None:
            if editor.enter_pending or editor.rows() >= _terminal_size(self.stdout).lines - 1:
                self._held.append(line)  # the line is being sent, or its prompt is off screen
            else:
                self.write(editor.erase() + line + "\r\n" + editor.draw())
        elif self._idle and not self.interactive:  # no prompt on a pipe to print into
            self.write(line + "\n")
        else:
            self._held.append(line)

    async def _watch(self, notices: asyncio.Queue[str]) -> None:
        while True:
            self.notice(await notices.get())

    @contextlib.contextmanager
    def _terminal(self):
        """Bracketed paste on; with `_keys`, cbreak mode. Both undone at the end."""
        if not self.interactive:
            yield
            return
        fd = self.stdin.fileno()
        saved = termios.tcgetattr(fd) if self._keys else None
        if saved is not None:
            mode = termios.tcgetattr(fd)
            mode[0] &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR)  # line ends as sent
            mode[3] &= ~(termios.ICANON | termios.ECHO | termios.IEXTEN)  # key by key, echoed here; Ctrl-C still stops
            mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
            termios.tcsetattr(fd, termios.TCSANOW, mode)
        self.write(BRACKETED_PASTE_ON)
        try:
            yield
        finally:
            self.write("\n" + BRACKETED_PASTE_OFF)  # the shell's prompt below ours, not after it
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSANOW, saved)  # only input modes changed: no output to wait for

    async def run(self, banner: str, notices: asyncio.Queue[str] | None) -> None:
        if banner:
            self.write(banner + "\n")
        watching = asyncio.create_task(self._watch(notices)) if notices is not None else None
        try:
            with self._terminal():
                while True:
                    raw = await self._next_message()
                    if raw is None:  # end of input (Ctrl-D or the end of a pipe)
                        break
                    text = raw.strip()
                    if not text:
                        continue
                    if text in ("/quit", "/exit"):
                        break
                    await self._answer(text)
        finally:
            if watching is not None:
                watching.cancel()

    async def _next_message(self) -> str | None:
        for line in self._held:
            self.write(line + "\n")
        self._held.clear()
        self._idle = True
        try:
            if self._keys:
                return await self._read_keys()
            if self.interactive:
                self.write("\n" + PROMPT)
            return await asyncio.to_thread(read_message, self.stdin, gather_burst=self.interactive)
        finally:
            self._idle = False

    async def _read_keys(self) -> str | None:
        loop = asyncio.get_running_loop()
        fd = self.stdin.fileno()
        editor = LineEditor(PROMPT, lambda: _terminal_size(self.stdout).columns)
        done: asyncio.Future[str | None] = loop.create_future()
        send: asyncio.TimerHandle | None = None

        def finish(value: str | None) -> None:
            if not done.done():
                done.set_result(value)

        def readable() -> None:
            nonlocal send
            try:
                data = os.read(fd, _READ_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the terminal went away
                data = b""
            if send is not None:
                send.cancel()
                send = None
            if not data:
                finish(None)
                return
            echo, ended = editor.feed(self._decoder.decode(data))
            self.write(echo)
            if ended:
                finish(None)
            elif editor.enter_pending:  # sent, unless the rest of a paste follows at once
                send = loop.call_later(_TOGETHER_S, lambda: finish(editor.take()))

        self._editor = editor
        self.write("\n" + editor.draw())
        loop.add_reader(fd, readable)
        try:
            text = await done
        finally:
            loop.remove_reader(fd)
            if send is not None:
                send.cancel()
            self._editor = None
        if text is not None and editor.truncated:
            t = await console_translator(self.bot, self.language)
            self.write(t._("(Only the first {count} characters were kept.)", count=t.number(MAX_INPUT_CHARS)) + "\n")
        return text

    async def _answer(self, text: str) -> None:
        command = parse_command(text)
        t = await console_translator(self.bot, self.language)
        if command is not None and command.name == "subscribe":
            # No scheduler runs here: an "OK, every day…" would be a promise never kept.
            self.write(t._(SUBSCRIBE_NOTE) + "\n\n")
            return
        self._number += 1
        message = Incoming(
            chat=CONSOLE_CHAT, text=text, user_id="console", message_id=str(self._number), addressed_to_bot=True,
            language=self.language,
        )
        handling = asyncio.ensure_future(self.bot.handle(message))
        try:
            done, _ = await asyncio.wait({handling}, timeout=WORKING_AFTER_S)
            if not done and self.interactive:
                self.write("bot> " + t._("working…") + "\n")
            replies = await handling
        except asyncio.CancelledError:
            handling.cancel()
            raise
        languages = getattr(self.bot, "languages", None)
        for reply in replies:  # each in its own language (the core's: a /language just set is the next one's)
            said = languages.get(reply.language) if languages is not None else t
            self.write(render_reply(reply, bold=self.interactive, t=said) + "\n\n")


async def run_console(
    bot: SummaryBot,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    banner: str = "",
    notices: asyncio.Queue[str] | None = None,
    language: str | None = None,
) -> None:
    """Chat on `stdin`/`stdout` until the input ends or /quit. Lines put on `notices`
    (e.g. "model ready") are shown between messages, never inside one. `language`: the
    terminal locale's (`environment_language`), used where the chat chose none."""
    await _Console(bot, stdin, stdout, language).run(banner, notices)
