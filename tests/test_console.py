"""The console chat, as a person at a terminal uses it."""

from __future__ import annotations

import io

from adapters.console import PASTE_END, PASTE_START, SUBSCRIBE_NOTE, read_message, run_console
from bot.models import Reply


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


async def test_subscribe_says_where_daily_digests_come_from():
    bot = RecordingBot()
    stdout = io.StringIO()
    await run_console(bot, stdin=io.StringIO("/subscribe 08:00 Europe/Berlin\n"), stdout=stdout)
    assert SUBSCRIBE_NOTE in stdout.getvalue() and "summary-bot run" in SUBSCRIBE_NOTE


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
