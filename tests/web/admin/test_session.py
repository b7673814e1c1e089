"""Admin session cookies: signed, expiring, bound to the admin token; CSRF per session."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.clock import ManualClock
from bridge.web.admin.session import MAX_AGE, Sessions

KEYS = ["new-key-0123456789", "old-key-0123456789"]


def test_a_cookie_reads_back_as_its_session_until_it_expires() -> None:
    clock = ManualClock(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))
    sessions = Sessions(KEYS, "token", clock.time)
    value, session = sessions.issue()
    assert "token" not in value
    assert sessions.read(value) == session
    clock.advance(MAX_AGE + 1)
    assert sessions.read(value) is None


def test_a_forged_or_foreign_cookie_is_nobody() -> None:
    clock = ManualClock(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))
    value, _ = Sessions(KEYS, "token", clock.time).issue()
    assert Sessions(KEYS, "token", clock.time).read(value[:-2] + "xx") is None
    assert Sessions(KEYS, "rotated-token", clock.time).read(value) is None
    assert Sessions(["other-key-0123456789"], "token", clock.time).read(value) is None
    assert Sessions(KEYS, "token", clock.time).read("") is None


def test_each_session_has_its_own_csrf_token() -> None:
    sessions = Sessions(KEYS, "token", lambda: 1_800_000_000.0)
    _, first = sessions.issue()
    _, second = sessions.issue()
    assert first.csrf != second.csrf
    assert sessions.csrf_matches(first, first.csrf)
    assert not sessions.csrf_matches(first, second.csrf)
    assert not sessions.csrf_matches(first, None)
