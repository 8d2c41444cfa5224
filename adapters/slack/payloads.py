"""Checks for the fields of Slack's interaction and event payloads, which are hostile input:
a signed request proves it came from Slack, not that a user did not shape what it names
(a button's value, a block_id, a message's text). Each field is read with its type and
size checked; anything else reads as missing.
"""

from __future__ import annotations

import hashlib
import re

_TS_RE = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")  # a message's ts: "1700000000.000100"


def is_id(value) -> bool:
    """A Slack id (user, channel, team): short, ASCII letters and digits."""
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isascii() and value.isalnum()


def is_ts(value) -> bool:
    return isinstance(value, str) and _TS_RE.fullmatch(value) is not None


def part(body: dict, name: str) -> dict:
    """`body[name]` if it is an object, else an empty one."""
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, dict) else {}


def text(value, limit: int) -> str | None:
    """A string of at most `limit` characters, else None."""
    return value if isinstance(value, str) and len(value) <= limit else None


def press_id(kind: str, team: str | None, *parts) -> str:
    """A job id for one press or invocation: hashed, so that the claim (which outlives a
    /forget it may answer) names no chat or person."""
    press = ":".join(str(piece)[:64] for piece in (team, *parts))
    return f"slack:{kind}:" + hashlib.sha256(press.encode()).hexdigest()[:32]
