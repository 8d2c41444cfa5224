"""Parsing chat commands, once, for every platform.

`/summary@MyBot https://x` (Telegram in groups) and `/summary https://x` (Slack, console)
parse the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMAND_RE = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})(?:@([A-Za-z0-9_]+))?(?:\s+|$)(.*)\Z", re.S)


@dataclass(frozen=True)
class Command:
    name: str  # lower-case, without the slash
    args: str  # the rest of the message, stripped
    addressed_to: str | None = None  # bot username after "@", if given

    @property
    def words(self) -> list[str]:
        return self.args.split()


def parse_command(text: str) -> Command | None:
    """The command at the start of `text`, or None if it is an ordinary message."""
    match = _COMMAND_RE.match((text or "").strip())
    if not match:
        return None
    name, bot_name, args = match.groups()
    return Command(name=name.lower(), args=args.strip(), addressed_to=bot_name)
