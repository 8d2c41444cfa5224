"""The chat commands' handlers, grouped by job; `bot.core.SummaryBot` pairs them with the
command registry (bot.commands.REGISTRY) and dispatches to them.

    summarizing.py       summarizing links and texts: rate limit, daily-digest history, errors
    summary.py           /summary
    buttons.py           Shorter/Longer under a digest, and their /length presses
    settings.py          /autosummary, /language and /summary reaction
    privacy_commands.py  /privacy and /forget (the erasure itself is bot/privacy.py)
    help.py              /help and /start, with its deep links from inline mode

Each group's `handlers()` maps command names to its handlers, as bot/digest/commands.py does.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from bot.commands import Command
from bot.models import Incoming, Reply

Handler = Callable[[Incoming, Command], Awaitable[list[Reply]]]
