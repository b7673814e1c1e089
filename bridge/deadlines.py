"""The legal clocks on an opt-out: by when it must be honoured, per channel.

Email: Gmail's and Yahoo's bulk-sender rules (2024) want an unsubscribe honoured within
2 days; CAN-SPAM's own 10 business days are the looser rule, so 2 days it is. SMS: FCC 24-24
(47 CFR 64.1200(a)(10), (a)(11), (d)(3)) wants a revocation honoured within 10 business days
of receipt.

Business days are Monday to Friday in `zone` (UTC unless a caller says otherwise), keeping
the time of day of receipt. Public holidays are not skipped: a holiday counted as a business
day makes the deadline earlier than the legal one, never later, so the clock errs on the safe
side. Weekdays are a matter of time zone, though: a STOP sent on a Sunday evening in
California is already Monday in UTC, and its UTC deadline falls up to a day after the
Californian one; the alerts warn at 50% and 90% of the clock for that reason too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from bridge.consent import Channel

EMAIL_DAYS = 2
SMS_BUSINESS_DAYS = 10
_SATURDAY = 5


def add_business_days(start: datetime, days: int, zone: tzinfo = UTC) -> datetime:
    """The moment `days` business days (Monday to Friday in `zone`) after `start`."""
    if start.tzinfo is None:
        raise ValueError("a deadline needs a timezone-aware start")
    if days < 0:
        raise ValueError("business days are counted forwards")
    local = start.astimezone(zone)
    moment = local.replace(tzinfo=None)  # wall-clock steps: a DST change moves no weekday
    counted = 0
    while counted < days:
        moment += timedelta(days=1)
        if moment.weekday() < _SATURDAY:
            counted += 1
    return moment.replace(tzinfo=zone).astimezone(UTC)


def deadline(channel: Channel, received_at: datetime, zone: tzinfo = UTC) -> datetime:
    """By when an opt-out received at `received_at` on `channel` must be honoured."""
    if channel is Channel.SMS:
        return add_business_days(received_at, SMS_BUSINESS_DAYS, zone)
    if received_at.tzinfo is None:
        raise ValueError("a deadline needs a timezone-aware start")
    return received_at.astimezone(UTC) + timedelta(days=EMAIL_DAYS)


def seconds_left(channel: Channel, received_at: datetime, now: datetime) -> float:
    """Seconds from `now` to the opt-out's deadline; negative once it has passed."""
    return (deadline(channel, received_at) - now).total_seconds()
