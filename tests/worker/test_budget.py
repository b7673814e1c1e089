"""The shared rate budget's decision: how many slots a reservation takes, and what a report does."""

from __future__ import annotations

from bridge.worker.budget import Report, Window, take

RESET = 1_000_010.0
NOW = RESET - 5


def report(remaining: int, reset_at: float = RESET) -> Report:
    """A report with the limit 300."""
    return Report(300, remaining, reset_at)


def test_with_nothing_reported_one_call_at_a_time_goes_through() -> None:
    row, grant = take(Window(), None, 8, now=NOW)
    assert (grant.count, grant.first) == (1, 0)
    assert row.granted == 1


def test_the_first_report_starts_the_window_with_the_slots_granted_before_it() -> None:
    row, grant = take(Window(granted=2), report(250), 8, now=NOW)
    assert (row.reset_at, row.limit, row.unreserved) == (RESET, 300, 48)
    assert (grant.count, grant.first, row.granted) == (8, 2, 10)


def test_a_report_from_a_window_the_row_has_not_reached_counts_every_call_as_foreign() -> None:
    row, _grant = take(Window(reset_at=NOW + 1, limit=300, granted=40), report(250), 0, now=NOW)
    assert (row.reset_at, row.granted, row.unreserved) == (RESET, 0, 50)


def test_grants_stop_at_the_limit_and_wait_for_the_reset() -> None:
    row = Window(reset_at=RESET, limit=300, granted=296)
    row, grant = take(row, None, 8, now=NOW)
    assert grant.count == 4
    row, grant = take(row, None, 8, now=NOW)
    assert grant.count == 0
    assert grant.retry_at == RESET


def test_answers_out_of_order_do_not_lower_the_workers_share() -> None:
    # 120 slots granted; a late answer says 150 left (150 counted): none were anyone else's.
    row = Window(reset_at=RESET, limit=300, granted=120)
    row, grant = take(row, report(150), 500, now=NOW)
    assert row.unreserved == 30
    assert grant.count == 150
    row, grant = take(Window(reset_at=RESET, limit=300, granted=200), report(250), 500, now=NOW)
    assert row.unreserved == 0
    assert grant.count == 100


def test_calls_nobody_reserved_are_left_out_of_the_grants() -> None:
    # A preference page spent 40 calls: the report after the workers' 60 says 200 are left.
    row = Window(reset_at=RESET, limit=300, granted=60)
    row, grant = take(row, report(200), 1000, now=NOW)
    assert row.unreserved == 40
    assert grant.count == 200


def test_a_higher_report_never_forgets_calls_seen() -> None:
    row = Window(reset_at=RESET, limit=300, granted=60, unreserved=40)
    row, _grant = take(row, report(280), 0, now=NOW)
    assert row.unreserved == 40


def test_a_late_report_from_an_old_window_is_ignored() -> None:
    row = Window(reset_at=RESET, limit=300, granted=30)
    row, grant = take(row, report(0, reset_at=RESET - 10), 5, now=NOW)
    assert row.unreserved == 0
    assert grant.count == 5


def test_the_row_rolls_to_the_next_window_once_it_resets() -> None:
    row = Window(reset_at=RESET, limit=300, granted=300, unreserved=20)
    row, grant = take(row, None, 8, now=RESET + 12)
    assert (row.reset_at, row.granted, row.unreserved) == (RESET + 20, 8, 0)
    assert (grant.count, grant.first, grant.reset_at) == (8, 0, RESET + 20)


def test_a_429_report_stops_grants_until_the_reset() -> None:
    row = Window(reset_at=RESET, limit=300, granted=280)
    row, grant = take(row, report(0), 8, now=NOW)
    assert grant.count == 0
    assert grant.retry_at == RESET


def test_a_row_that_cannot_be_read_starts_afresh() -> None:
    assert Window.decode("not json") == Window()
    assert Window.decode(None) == Window()
    row = Window(reset_at=RESET, limit=300, granted=3, unreserved=9)
    assert Window.decode(row.encode()) == row


def test_what_pages_spent_in_one_window_is_kept_for_them_in_the_next() -> None:
    # Pages spent 40 calls in this window; the workers the rest.
    row = Window(reset_at=RESET, limit=300, granted=260, unreserved=40)
    row, grant = take(row, None, 1000, now=RESET + 1)  # the next window
    assert (row.reset_at, row.held_back, grant.count) == (RESET + 10, 40, 260)
    # No page calls in it: the window after keeps nothing back.
    row, grant = take(row, None, 1000, now=RESET + 11)
    assert (row.held_back, grant.count) == (0, 300)


def test_after_a_quiet_gap_nothing_is_kept_back() -> None:
    row = Window(reset_at=RESET, limit=300, granted=10, unreserved=40)
    row, grant = take(row, None, 1000, now=RESET + 25)
    assert (row.held_back, grant.count) == (0, 300)
