"""Tests for bridge.metrics: the queue gauges and legal clocks as /metrics shows them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted, utcnow
from bridge.ledger import LedgerUnavailable, Status
from bridge.metrics import Metrics
from tests.conftest import migrated_ledger


def test_a_held_request_counts_under_review_in_metrics(sqlite_url: str, app: Starlette) -> None:
    held = ConsentRequest(
        Identity(phone="+447700900123"),
        Wanted.UNSUBSCRIBED,
        Scope(channel=Channel.SMS),
        utcnow(),
        "twilio",
        "SM1",
        context={"text": "please stop texting me"},
        hold=True,
    )

    async def record() -> None:
        async with migrated_ledger(sqlite_url) as ledger:
            await ledger.record([held])

    asyncio.run(record())
    with TestClient(app, base_url="https://consent.example.com") as client:
        text = client.get("/metrics").text
    assert 'bridge_ledger_requests{status="review"} 1.0' in text
    assert 'bridge_ledger_requests{status="dismissed"} 0.0' in text
    assert 'bridge_ledger_requests{status="pending"} 0.0' in text


MONDAY = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
DAY = 86_400.0


def optout(event_id: str, channel: Channel, *, hold: bool = False) -> ConsentRequest:
    """An opt-out on `channel` from a person of its own."""
    return ConsentRequest(
        Identity(email=f"{event_id}@example.com"),
        Wanted.UNSUBSCRIBED,
        Scope(channel=channel),
        MONDAY,
        "test",
        event_id,
        hold=hold,
    )


def gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    """The current value of one series."""
    return metrics.registry.get_sample_value(name, labels)


async def test_the_legal_clocks_count_down_from_the_oldest_unapplied_optouts(
    sqlite_url: str,
) -> None:
    clock = ManualClock(MONDAY)
    metrics = Metrics(clock=clock)
    async with migrated_ledger(sqlite_url) as ledger:
        await ledger.record([optout("e", Channel.EMAIL)], received_at=MONDAY - timedelta(days=1))
        # Received on Friday: ten business days run to the Friday two weeks later.
        friday = MONDAY - timedelta(days=3)
        await ledger.record([optout("s", Channel.SMS, hold=True)], received_at=friday)
        await metrics.refresh_queue(ledger)
        assert gauge(metrics, "bridge_optout_oldest_unapplied_seconds", channel="email") == DAY
        assert gauge(metrics, "bridge_optout_deadline_seconds", channel="email") == DAY
        assert gauge(metrics, "bridge_optout_oldest_unapplied_seconds", channel="sms") == 3 * DAY
        assert gauge(metrics, "bridge_optout_deadline_seconds", channel="sms") == 11 * DAY
        assert gauge(metrics, "bridge_held_oldest_seconds") == 3 * DAY
        assert gauge(metrics, "bridge_ledger_reachable") == 1


async def test_with_nothing_unapplied_a_clock_shows_a_new_optouts_whole_deadline(
    sqlite_url: str,
) -> None:
    metrics = Metrics(clock=ManualClock(MONDAY))
    async with migrated_ledger(sqlite_url) as ledger:
        await metrics.refresh_queue(ledger)
    assert gauge(metrics, "bridge_optout_oldest_unapplied_seconds", channel="email") == 0
    assert gauge(metrics, "bridge_optout_deadline_seconds", channel="email") == 2 * DAY
    assert gauge(metrics, "bridge_optout_deadline_seconds", channel="sms") == 14 * DAY
    assert gauge(metrics, "bridge_held_oldest_seconds") == 0


async def test_the_clocks_are_read_at_most_every_15_seconds(sqlite_url: str) -> None:
    clock = ManualClock(MONDAY)
    metrics = Metrics(clock=clock)
    async with migrated_ledger(sqlite_url) as ledger:
        await metrics.refresh_queue(ledger)
        await ledger.record([optout("e", Channel.EMAIL)], received_at=MONDAY)
        clock.advance(14)
        await metrics.refresh_queue(ledger)
        assert gauge(metrics, "bridge_optout_oldest_unapplied_seconds", channel="email") == 0
        clock.advance(1)
        await metrics.refresh_queue(ledger)
        assert gauge(metrics, "bridge_optout_oldest_unapplied_seconds", channel="email") == 15


class UnreachableLedger:
    """A ledger whose database is down."""

    async def status_counts(self) -> dict[Status, int]:
        """Fails as the ledger does when it cannot connect."""
        raise LedgerUnavailable("database unreachable")


async def test_a_failed_read_marks_the_ledger_unreachable_and_is_retried() -> None:
    metrics = Metrics(clock=ManualClock(MONDAY))
    with pytest.raises(LedgerUnavailable):
        await metrics.refresh_queue(UnreachableLedger())  # type: ignore[arg-type]
    assert gauge(metrics, "bridge_ledger_reachable") == 0
    with pytest.raises(LedgerUnavailable):  # no cache of a failure: the next scrape tries again
        await metrics.refresh_queue(UnreachableLedger())  # type: ignore[arg-type]


def test_intercom_calls_are_timed_by_endpoint() -> None:
    metrics = Metrics()
    metrics.count_intercom_call("contacts.search", 200, 0.08)
    metrics.count_intercom_call("contacts.search", 429, 0.02)
    assert gauge(metrics, "bridge_intercom_call_seconds_count", endpoint="contacts.search") == 2
    assert (
        gauge(metrics, "bridge_intercom_call_seconds_bucket", endpoint="contacts.search", le="0.05")
        == 1
    )
    assert (
        gauge(metrics, "bridge_intercom_calls_total", endpoint="contacts.search", status="429") == 1
    )


def test_metrics_serves_the_clocks_and_the_ledgers_reachability(app: Starlette) -> None:
    with TestClient(app, base_url="https://consent.example.com") as client:
        text = client.get("/metrics").text
    assert 'bridge_optout_oldest_unapplied_seconds{channel="email"} 0.0' in text
    assert 'bridge_optout_deadline_seconds{channel="sms"}' in text
    assert "bridge_held_oldest_seconds 0.0" in text
    assert "bridge_ledger_reachable 1.0" in text
