"""Tests for bridge.deadlines: the legal clocks, around weekends, holidays and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.consent import Channel
from bridge.deadlines import add_business_days, deadline, seconds_left

# May 2024: the 3rd is a Friday, the 4th and 5th a weekend, the 6th a Monday.
FRIDAY = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def may(day: int, hour: int = 12) -> datetime:
    """A moment in May 2024, UTC."""
    return datetime(2024, 5, day, hour, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (may(1), may(15)),  # Wednesday: two weeks later
        (may(3), may(17)),  # Friday: two weeks later
        (may(4), may(17)),  # Saturday: the second Friday, same time of day
        (may(5), may(17)),  # Sunday: likewise
        (may(6), may(20)),  # Monday: two weeks later
    ],
)
def test_sms_deadline_is_ten_weekdays_later(received: datetime, due: datetime) -> None:
    assert deadline(Channel.SMS, received) == due


def test_email_deadline_is_two_calendar_days_weekend_or_not() -> None:
    assert deadline(Channel.EMAIL, FRIDAY) == may(5)


def test_public_holidays_count_as_business_days_so_the_clock_runs_early() -> None:
    # Christmas and New Year's Day are counted: the legal deadline is two days later.
    received = datetime(2024, 12, 20, 9, 0, tzinfo=UTC)
    assert deadline(Channel.SMS, received) == datetime(2025, 1, 3, 9, 0, tzinfo=UTC)


def test_weekdays_are_those_of_the_zone_given() -> None:
    sunday_evening = datetime(2024, 5, 5, 22, 0, tzinfo=LOS_ANGELES)  # Monday 05:00 UTC
    assert add_business_days(sunday_evening, 10) == may(20, 5)
    in_california = add_business_days(sunday_evening, 10, LOS_ANGELES)
    assert in_california == datetime(2024, 5, 17, 22, 0, tzinfo=LOS_ANGELES)


def test_a_daylight_saving_change_keeps_the_local_time_of_day() -> None:
    # Clocks in California went forward on Sunday 10 March 2024.
    received = datetime(2024, 3, 8, 12, 0, tzinfo=LOS_ANGELES)
    due = add_business_days(received, 10, LOS_ANGELES)
    assert due == datetime(2024, 3, 22, 12, 0, tzinfo=LOS_ANGELES)
    assert due - received == timedelta(days=14, hours=-1)


def test_zero_business_days_is_the_start_itself() -> None:
    assert add_business_days(may(4), 0) == may(4)


def test_seconds_left_turn_negative_once_past() -> None:
    assert seconds_left(Channel.EMAIL, FRIDAY, FRIDAY + timedelta(days=1)) == 86_400
    assert seconds_left(Channel.EMAIL, FRIDAY, FRIDAY + timedelta(days=3)) == -86_400


def test_naive_times_and_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(Channel.SMS, datetime(2024, 5, 3, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(Channel.EMAIL, datetime(2024, 5, 3, 12, 0))
    with pytest.raises(ValueError, match="forwards"):
        add_business_days(FRIDAY, -1)
