"""The console chat, as a person at a terminal uses it."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import pty
import re
import struct
import termios

from adapters.console import PASTE_END, PASTE_START, SUBSCRIBE_NOTE, read_message, render_reply, run_console
from bot.models import Reply
from bot.store import keys


class RecordingBot:
    """Stands in for the core: records what the console hands it."""

    def __init__(self):
        self.messages = []

    async def handle(self, message):
        self.messages.append(message)
        return [Reply(text=f"got {len(message.text.splitlines())} line(s)")]


PASTED = "The council met on Tuesday.\nIt voted to close the old dam.\n\nFishermen welcomed the decision."


async def test_a_multi_line_paste_is_one_message():
    stdin = io.StringIO(f"{PASTE_START}{PASTED}{PASTE_END}\n/help\n")
    stdout = io.StringIO()
    bot = RecordingBot()
    await run_console(bot, stdin=stdin, stdout=stdout)
    assert [m.text for m in bot.messages] == [PASTED, "/help"]
    assert "got 4 line(s)" in stdout.getvalue()
    assert PASTE_START not in bot.messages[0].text and PASTE_END not in bot.messages[0].text


def test_paste_markers_on_their_own_lines_and_an_unfinished_paste():
    stdin = io.StringIO(f"{PASTE_START}\nfirst line\nsecond line\n{PASTE_END}\nnext\n")
    assert read_message(stdin) == "\nfirst line\nsecond line\n".strip("\n")
    assert read_message(stdin) == "next"
    assert read_message(stdin) is None
    assert read_message(io.StringIO(f"{PASTE_START}cut short\nby the end")) == "cut short\nby the end"


async def test_typed_lines_stay_separate_messages():
    bot = RecordingBot()
    await run_console(bot, stdin=io.StringIO("one\n\ntwo\n/quit\nthree\n"), stdout=io.StringIO())
    assert [m.text for m in bot.messages] == ["one", "two"]


async def test_subscribe_says_where_daily_digests_come_from_and_sets_nothing_up():
    """One honest answer. Fails before the fix: /subscribe went to the core, which stored a
    subscription and answered "OK, every day at 08:00 I'll post…", and then the console
    added that it sends no digests."""
    bot = RecordingBot()
    stdout = io.StringIO()
    await run_console(bot, stdin=io.StringIO("/subscribe 08:00 Europe/Berlin\n/subscribe@summary_bot\n"), stdout=stdout)
    assert bot.messages == []  # nothing reaches the core, so nothing is stored
    assert stdout.getvalue() == f"{SUBSCRIBE_NOTE}\n\n" * 2
    assert "summary-bot run" in SUBSCRIBE_NOTE and "OK" not in SUBSCRIBE_NOTE


async def test_length_variants_of_one_link_are_one_share_in_the_daily_digest(store, tmp_path):
    from datetime import timedelta

    from adapters.console import CONSOLE_CHAT
    from bot.config import Settings
    from bot.models import Incoming
    from model_support import make_summary_bot
    from tests.local_site import page, serve_site

    body = "".join(f"<p>The river council measured water quality in district {i} and found cleaner water.</p>" for i in range(8))
    html = f"<html><head><title>River council report</title></head><body><article><h1>River council report</h1>{body}</article></body></html>"
    async with serve_site({"/river": page(html)}) as site:
        settings = Settings(fetch_allow_private=["127.0.0.0/8"], sqlite_path=tmp_path / "unused.sqlite3", user_rate_limit=0)
        bot = make_summary_bot(settings, store)
        try:
            link = site.url("/river")
            for number, text in enumerate([link, f"/summary short {link}", f"/summary long {link}"]):
                message = Incoming(chat=CONSOLE_CHAT, text=text, user_id="console", message_id=str(number), addressed_to_bot=True)
                [reply] = await bot.handle(message)
                assert reply.digest is not None, reply.error
            now = bot.digests.clock()
            [shared] = await bot.digests.history.shared_between(CONSOLE_CHAT, now - timedelta(days=1), now + timedelta(minutes=1))
        finally:
            await bot.close()
    assert shared.shares == 1


async def test_links_that_are_not_web_pages_get_the_http_only_answer(store, tmp_path):
    """Fails before the fix: "ftp://x" got "Send me a link or paste a longer text", and
    "/summary ftp://x" "That's too short to summarize", as if no link had been sent."""
    from adapters.console import CONSOLE_CHAT
    from bot.config import Settings
    from bot.models import Incoming
    from model_support import make_summary_bot

    bot = make_summary_bot(Settings(sqlite_path=tmp_path / "unused.sqlite3", user_rate_limit=0), store)
    try:
        sent = ["ftp://x", "file:///etc/passwd", "gopher://example.org/1", "javascript:alert(1)", "/summary ftp://x",
                "/summary short FTP://example.org/file.txt"]  # fmt: skip
        for number, text in enumerate([*sent, "hello there"]):
            message = Incoming(chat=CONSOLE_CHAT, text=text, user_id="console", message_id=str(number), addressed_to_bot=True)
            [reply] = await bot.handle(message)
            answer = reply.error or reply.text
            if text == "hello there":  # chatter is still just pointed to /help
                assert answer.startswith("Send me a link"), answer
            else:
                assert "I can only open http(s) links" in answer, (text, answer)
                assert re.search(r"not (ftp|file|gopher|javascript) links", answer), answer
    finally:
        await bot.close()


async def test_privacy_and_forget_in_the_console_show_the_button_as_a_command(store, tmp_path):
    """The console has no buttons: it prints the command a button sends, to be typed.
    Fails before the fix: buttons were dropped, and /privacy and /forget were unknown."""
    from adapters.console import CONSOLE_CHAT
    from bot.config import Settings
    from bot.models import Button
    from model_support import make_summary_bot

    assert render_reply(Reply(text="Sure?", buttons=(Button("Erase everything", "/forget confirm"),))) == (
        "Sure?\n  [Erase everything: /forget confirm]"
    )
    bot = make_summary_bot(Settings(sqlite_path=tmp_path / "unused.sqlite3", user_rate_limit=0), store)
    try:
        stdout = io.StringIO()
        script = "/autosummary off\n/privacy\n/forget\n/forget confirm\n/privacy\n"
        await run_console(bot, stdin=io.StringIO(script), stdout=stdout)
        answers = stdout.getvalue().split("\n\n")
        privacy, forget, done, after = answers[1], answers[2], answers[3], answers[4]
        assert "What I store about this chat" in privacy and "1 changed" in privacy, privacy
        assert "1 setting" in forget and forget.endswith("\n  [Erase everything: /forget confirm]"), forget
        assert done.startswith("Done: I erased everything"), done
        assert "0 changed" in after, after
        assert await store.hgetall(keys.chat_settings(CONSOLE_CHAT.key)) == {}
    finally:
        await bot.close()


# -- in a terminal: a pseudo-terminal, the console reading it as it reads a real one --------
_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z~])")


def rendered(raw: str) -> list[str]:
    """The screen's lines after `raw` (enough of a terminal for what the console writes:
    CR, LF, BS, cursor up, clear below / to line end / screen)."""
    lines, row, col, i = [[]], 0, 0, 0
    while i < len(raw):
        c = raw[i]
        match = _CSI.match(raw, i) if c == "\x1b" else None
        if match:
            params, final = match.groups()
            if final == "A":
                row = max(0, row - int(params or 1))
            elif final == "J":
                del lines[row + 1 :]
                del lines[row][col:]
            elif final == "K":
                del lines[row][col:]
            elif final == "H":
                row = col = 0
            i = match.end()
            continue
        if c == "\r":
            col = 0
        elif c == "\n":
            row += 1
            lines += [[] for _ in range(row + 1 - len(lines))]
        elif c == "\b":
            col = max(0, col - 1)
        else:
            line = lines[row]
            line += [" "] * (col - len(line))
            line[col : col + 1] = [c]
            col += 1
        i += 1
    return ["".join(line).rstrip() for line in lines]


class Terminal:
    """The person at the terminal: types into the pty's master side and reads the screen."""

    def __init__(self, master: int):
        self.master = master
        self.raw = ""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read(self) -> None:
        with contextlib.suppress(OSError):
            self.raw += os.read(self.master, 65536).decode(errors="replace")

    @property
    def screen(self) -> list[str]:
        return rendered(self.raw)

    async def until(self, condition, what: str) -> None:
        for _ in range(1000):  # a fail-safe, not a time limit under test
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never saw {what}; screen: {self.screen!r}")


@contextlib.asynccontextmanager
async def terminal_chat(bot, **options):
    """`run_console` on a pseudo-terminal, as `summary-bot chat` runs in a real one."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    stdin, stdout = os.fdopen(slave, "r"), os.fdopen(os.dup(slave), "w")
    terminal = Terminal(master)
    loop = asyncio.get_running_loop()
    loop.add_reader(master, terminal.read)
    chat = asyncio.create_task(run_console(bot, stdin=stdin, stdout=stdout, **options))
    try:
        await terminal.until(lambda: terminal.screen[-1].startswith("you>"), "the prompt")
        yield terminal
        terminal.type("\x04")  # Ctrl-D
        await asyncio.wait_for(chat, 10)
    finally:
        chat.cancel()
        loop.remove_reader(master)
        stdin.close(), stdout.close(), os.close(master)


class SlowBot(RecordingBot):
    """Answers once `release` is set."""

    def __init__(self):
        super().__init__()
        self.release = asyncio.Event()

    async def handle(self, message):
        self.messages.append(message)
        await self.release.wait()
        return [Reply(text="the summary")]


async def test_a_bracketed_paste_in_a_terminal_shows_no_markers():
    """Fails before the fix: the console read lines as the terminal delivered them, and the
    terminal echoed the paste markers on screen as ^[[200~ and ^[[201~."""
    bot = RecordingBot()
    async with terminal_chat(bot) as terminal:
        terminal.type("\x1b[200~first line\rsecond line\x1b[201~")
        await terminal.until(lambda: "second line" in terminal.raw, "the paste echoed")
        terminal.type("\r")
        await terminal.until(lambda: "got 2 line(s)" in terminal.raw, "the reply")
    assert [m.text for m in bot.messages] == ["first line\nsecond line"]
    assert "200~" not in terminal.raw and "201~" not in terminal.raw and "^[" not in terminal.raw
    screen = terminal.screen
    start = screen.index("you> first line")
    assert screen[start : start + 3] == ["you> first line", "second line", "got 2 line(s)"]


async def test_typing_and_erasing_in_a_terminal():
    bot = RecordingBot()
    async with terminal_chat(bot) as terminal:
        terminal.type("helo\x7flo wrld\x17world\x1b[D!\r")  # BS, Ctrl-W, an arrow key (ignored)
        await terminal.until(lambda: bot.messages, "the message")
        terminal.type("gone")
        await terminal.until(lambda: terminal.screen[-1] == "you> gone", "the typing")
        terminal.type("\x15")  # Ctrl-U
        await terminal.until(lambda: terminal.screen[-1] == "you>", "the line erased")
        terminal.type("\r")  # nothing to send
        await terminal.until(lambda: terminal.screen[-3:] == ["you>", "", "you>"], "a fresh prompt")
    assert [m.text for m in bot.messages] == ["hello world!"]
    assert "you> hello world!" in terminal.screen


async def test_a_status_line_never_lands_inside_a_reply_or_a_typed_line():
    """"model ready" (put on `notices` by `summary-bot chat`) waits for the reply being
    written, and above a prompt with something typed, the prompt is drawn again. Fails
    before the fix: the line was printed wherever the cursor was ("you> model ready",
    or between "working…" and the reply); run_console took no notices."""
    bot = SlowBot()
    notices: asyncio.Queue[str] = asyncio.Queue()
    async with terminal_chat(bot, notices=notices) as terminal:
        terminal.type("https://example.org/story\r")
        await terminal.until(lambda: bot.messages, "the message")
        notices.put_nowait("model ready (1.0 s)")
        await terminal.until(lambda: notices.empty(), "the notice taken")  # and handled, in the same step
        assert "model ready" not in terminal.raw
        bot.release.set()
        await terminal.until(lambda: "model ready" in terminal.raw and terminal.screen[-1] == "you>", "the notice")
        screen = terminal.screen
        assert screen.index("the summary") < screen.index("model ready (1.0 s)")

        terminal.type("half a li")
        await terminal.until(lambda: terminal.screen[-1] == "you> half a li", "the typing")
        notices.put_nowait("another status line")
        await terminal.until(lambda: "another status line" in terminal.screen, "the second notice")
        assert terminal.screen[-2:] == ["another status line", "you> half a li"]
        terminal.type("ne\r")
        await terminal.until(lambda: len(bot.messages) == 2, "the second message")
    assert bot.messages[1].text == "half a line"
    assert not any("you>" in line and "status" in line for line in terminal.screen)


async def test_working_is_shown_only_for_a_reply_that_takes_a_while():
    """Fails before the fix: "bot> working…" came before every reply, /help's too."""
    quick = RecordingBot()
    async with terminal_chat(quick) as terminal:
        terminal.type("/help\r")
        await terminal.until(lambda: "got 1 line(s)" in terminal.raw, "the reply")
    assert "working" not in terminal.raw

    slow = SlowBot()
    async with terminal_chat(slow) as terminal:
        terminal.type("https://example.org/story\r")
        await terminal.until(lambda: "bot> working…" in terminal.screen, "working…")
        slow.release.set()
        await terminal.until(lambda: "the summary" in terminal.screen, "the reply")


def test_the_line_editor_reads_markers_split_across_reads_and_echoes_no_control_characters():
    from adapters.console import LineEditor

    editor = LineEditor()
    echoed = [editor.feed(part)[0] for part in ("\x1b[2", "00~one\r\ntwo\x1b", "[201", "~ \x9b31m\x07three")]
    assert editor.text == "one\ntwo 31mthree" and not editor.pasting  # C1 CSI dropped, not obeyed
    assert not any(c in "".join(echoed) for c in "\x1b\x9b\x07")
    assert editor.feed("\r") == ("\r\n", False) and editor.take() == "one\ntwo 31mthree"
    assert editor.feed("\x04") == ("", True)  # Ctrl-D on an empty line: the end
