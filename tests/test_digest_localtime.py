"""When a daily local time falls: one instant per local date, across DST changes."""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.localtime import (
    LocalTimeError,
    due_instant,
    latest_occurrence,
    next_occurrence,
    parse_time_of_day,
    parse_time_zone,
)
from digest_support import utc

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    "zone, day, at, expected_utc",
    [
        (BERLIN, date(2024, 3, 30), time(2, 30), utc(2024, 3, 30, 1, 30)),
        (BERLIN, date(2024, 3, 31), time(2, 30), utc(2024, 3, 31, 1, 0)),  # skipped: 03:00 CEST
        (BERLIN, date(2024, 3, 31), time(2, 0), utc(2024, 3, 31, 1, 0)),
        (BERLIN, date(2024, 10, 27), time(2, 30), utc(2024, 10, 27, 0, 30)),  # twice: the first
        (NEW_YORK, date(2024, 3, 10), time(2, 30), utc(2024, 3, 10, 7, 0)),  # skipped: 03:00 EDT
        (NEW_YORK, date(2024, 11, 3), time(1, 30), utc(2024, 11, 3, 5, 30)),  # twice: the first (EDT)
        (NEW_YORK, date(2024, 11, 4), time(1, 30), utc(2024, 11, 4, 6, 30)),
        (ZoneInfo("Pacific/Apia"), date(2011, 12, 30), time(8, 0), utc(2011, 12, 30, 10, 0)),  # a day skipped
    ],
)
def test_due_instant(zone, day, at, expected_utc):
    assert due_instant(day, at, zone) == expected_utc


def test_latest_and_next_occurrence_around_a_repeated_hour():
    second_half_thirty = utc(2024, 11, 3, 6, 30)  # 01:30 EST, the repeated one
    assert latest_occurrence(second_half_thirty, time(1, 30), NEW_YORK) == (date(2024, 11, 3), utc(2024, 11, 3, 5, 30))
    assert next_occurrence(utc(2024, 11, 3, 5, 30), time(1, 30), NEW_YORK) == (date(2024, 11, 4), utc(2024, 11, 4, 6, 30))
    assert next_occurrence(utc(2024, 11, 3, 5, 29), time(1, 30), NEW_YORK)[0] == date(2024, 11, 3)


def test_consecutive_occurrences_are_one_local_date_apart_all_year():
    for zone in (BERLIN, NEW_YORK):
        after, days = utc(2024, 1, 1), []
        while after < utc(2025, 1, 1):
            day, after = next_occurrence(after, time(2, 30), zone)
            days.append(day)
        assert days == [date(2024, 1, 1) + timedelta(days=n) for n in range(len(days))]


@pytest.mark.parametrize("text, expected", [("08:00", time(8)), ("8:05", time(8, 5)), ("23:59", time(23, 59)), ("20.30", time(20, 30))])
def test_times_of_day(text, expected):
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("text", ["25:00", "24:00", "12:60", "8", "noon", "-1:00", "08:00pm"])
def test_not_times_of_day(text):
    with pytest.raises(LocalTimeError, match="is not a time of day"):
        parse_time_of_day(text)


@pytest.mark.parametrize("text", ["Mars/Olympus", "../../etc/passwd", "Europe", ""])
def test_unknown_time_zones(text):
    with pytest.raises(LocalTimeError, match="I don't know the time zone"):
        parse_time_zone(text)


def test_time_zone_names_are_case_insensitive():
    assert parse_time_zone("america/new_york").key == "America/New_York"
    assert parse_time_zone("UTC").key == "UTC"
