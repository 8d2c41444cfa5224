"""Local times of day in IANA time zones: parsing them, and when a daily one falls.

A digest is due once per local date. On a day whose clocks skip the chosen time (spring
forward), it falls at the first moment after the gap (02:30 -> 03:00); on a day that repeats
it (fall back), at its first occurrence (fold=0). So every local date has exactly one due
instant, and the scheduler can key "sent" on the local date.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.i18n import Msg

Clock = Callable[[], datetime]  # returns an aware datetime (UTC)

_TIME_RE = re.compile(r"^(\d{1,2})[:.h](\d{2})$")


class LocalTimeError(ValueError):
    """A time of day or a time zone that we cannot use; str(exc) can go to the chat."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time_of_day(text: str) -> time:
    """"08:00", "8:05", "20.30" -> a time; anything else raises LocalTimeError."""
    match = _TIME_RE.match(text.strip())
    hour, minute = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise LocalTimeError(
            Msg("{text} is not a time of day. Use HH:MM on a 24-hour clock, e.g. 08:00 or 18:30.", text=text)
        )
    return time(hour, minute)


# Files in the tz database that are no place's zone: "localtime" is whatever the server is
# set to (and absent on many hosts), "Factory" is "-00", posixrules a template.
_NOT_PLACES = frozenset({"localtime", "factory", "posixrules"})


@functools.cache
def _zone_names_by_lower_case() -> dict[str, str]:
    return {
        name.lower(): name
        for name in available_timezones()
        if name.lower() not in _NOT_PLACES and not name.startswith(("posix/", "right/"))
    }


def parse_time_zone(text: str) -> ZoneInfo:
    """An IANA time zone name ("Europe/Berlin", case-insensitive, or "UTC")."""
    name = _zone_names_by_lower_case().get(text.strip().lower())
    if name is not None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise LocalTimeError(
        Msg(
            "I don't know the time zone {text}. Use an IANA name such as Europe/Berlin, "
            "America/New_York or Asia/Tokyo (or UTC).",
            text=text,
        )
    )


def due_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """The one UTC instant of `at` on the local date `day` (see the module docstring)."""
    wall = datetime.combine(day, at).replace(tzinfo=zone, fold=0)
    instant = wall.astimezone(timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: tzinfo) -> datetime:
    """For a wall time the clocks skip: the instant the clocks jump forward past it.

    fold=1 reads the wall time with the offset after the jump (an instant before it) and
    fold=0 with the offset before (an instant after it); the jump lies between the two.
    """
    before = wall.replace(fold=1).astimezone(timezone.utc)
    after = wall.replace(fold=0).astimezone(timezone.utc)
    offset_after_jump = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while low < high:  # first second with the new offset
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after_jump:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(low, timezone.utc)


def latest_occurrence(now: datetime, at: time, zone: tzinfo) -> tuple[date, datetime]:
    """The local date and due instant of the last occurrence of `at` at or before `now`."""
    day = now.astimezone(zone).date()
    for _ in range(3):  # a date skipped entirely (Pacific/Apia, 2011) needs a second step
        due = due_instant(day, at, zone)
        if due <= now:
            return day, due
        day -= timedelta(days=1)
    raise AssertionError(f"no occurrence of {at} in {zone} before {now}")


def next_occurrence(after: datetime, at: time, zone: tzinfo) -> tuple[date, datetime]:
    """The local date and due instant of the first occurrence of `at` after `after`."""
    day = after.astimezone(zone).date()
    for _ in range(4):
        due = due_instant(day, at, zone)
        if due > after:
            return day, due
        day += timedelta(days=1)
    raise AssertionError(f"no occurrence of {at} in {zone} after {after}")
