"""The rate budget workers on one database share: how many call slots one reservation takes.

Intercom counts every call made with the access token in fixed windows (10 seconds) and
reports what is left after each. Several workers that each trusted their own view of
`remaining` would each spend it, so they take their slots from one row instead, `Window`,
kept in `ledger_meta` and changed under a row lock by `take` (pure: the row, the newest report
a worker brings, and how many slots it wants in; the new row and the grant out).

The row counts the slots `granted` in the current window and grants up to the limit less the
calls nobody reserved (`unreserved`: a preference page's, another app's on the same token),
and from a window's start keeps back as many as those callers spent in the window before.
Those are known from below by every report: Intercom had counted `limit - remaining` calls,
and at most `granted` of them were the workers'. Counting the workers' own calls from the
row, not from each answer's `remaining`, keeps the estimate exact however the answers of many
workers arrive out of order; only calls the workers did not reserve are learned from reports.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

META_NAME = "intercom_budget"


@dataclass(frozen=True)
class Window:
    """The shared row: the window being spent, the slots granted in it and their cap."""

    reset_at: float = 0.0  # 0: no report has named a window yet
    limit: int | None = None  # calls per window, once a report said so
    granted: int = 0
    unreserved: int = 0  # calls in this window nobody reserved, as far as reports show
    # Kept for those callers from the start of a window: what they spent in the one before.
    # A preference page asks Intercom while a person waits, takes no slot, and learns of a
    # spent window only from a 429 (a 503 to the person); without this the workers, which
    # learn of the pages' calls only after them, would spend every window before they could.
    held_back: int = 0

    def encode(self) -> str:
        """The row's text in ledger_meta."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Window:
        """The row read back; a missing or unreadable row is a fresh one."""
        if not text:
            return cls()
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError):
            return cls()


@dataclass(frozen=True)
class Report:
    """What a worker saw: the X-RateLimit-* values of one answer."""

    limit: int
    remaining: int
    reset_at: float


@dataclass(frozen=True)
class Grant:
    """Slots `first + 1 .. first + count` of the window ending at `reset_at`."""

    count: int
    first: int
    reset_at: float
    retry_at: float  # with no slots: when to ask again


def _rolled(row: Window, now: float, window_seconds: float) -> Window:
    """The row moved on to the window `now` is in, once its own has reset."""
    if not row.reset_at or now < row.reset_at:
        return row
    windows = math.floor((now - row.reset_at) / window_seconds) + 1
    # Only the window just before says what the pages are doing now; after a quiet gap, none.
    held_back = row.unreserved if windows == 1 else 0
    return Window(
        reset_at=row.reset_at + windows * window_seconds, limit=row.limit, held_back=held_back
    )


def _reported(row: Window, report: Report | None) -> Window:
    """The row after a worker's report (a stale one only teaches the limit)."""
    if report is None:
        return row
    row = replace(row, limit=report.limit)
    counted = report.limit - report.remaining
    if report.reset_at < row.reset_at:
        return row  # a late answer from a window that is over
    if report.reset_at > row.reset_at:
        # Intercom is in a window the row has not reached: the first report (the slots
        # granted before it were this window's), or clocks apart (count every call as
        # one nobody reserved).
        granted = row.granted if not row.reset_at else 0
        return Window(
            reset_at=report.reset_at,
            limit=report.limit,
            granted=granted,
            unreserved=max(counted - granted, 0),
        )
    return replace(row, unreserved=max(row.unreserved, counted - row.granted))


def take(
    row: Window,
    report: Report | None,
    wanted: int,
    *,
    now: float,
    window_seconds: float = 10.0,
) -> tuple[Window, Grant]:
    """Grant up to `wanted` slots from the shared row; the row to write back and the grant."""
    row = _reported(_rolled(row, now, window_seconds), report)
    if row.limit is None:
        # Nothing reported yet: one call at a time goes through, until an answer names the
        # limit and the window (a slot held for an unknown window could spill into the next).
        count = min(max(wanted, 0), 1)
    else:
        kept = max(row.unreserved, row.held_back)
        count = max(min(wanted, row.limit - kept - row.granted), 0)
    grant = Grant(
        count=count,
        first=row.granted,
        reset_at=row.reset_at,
        retry_at=row.reset_at if count == 0 and row.reset_at > now else now + 0.05,
    )
    return replace(row, granted=row.granted + count), grant
