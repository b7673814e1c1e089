"""The worker prunes the ledger once a day, on its own clock, and logs what it dropped."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta

import pytest

from bridge.clock import ManualClock
from bridge.consent import Identity
from bridge.intercom.client import IntercomClient
from bridge.ledger import Ledger, LedgerUnavailable, Pruned
from tests.worker.conftest import FAST, ask, make_worker

DAY = 24 * 3600.0
DAY_DELTA = timedelta(days=1)
JANE = Identity(email="jane@example.com")


async def test_the_first_turn_prunes_then_once_a_day(
    ledger: Ledger,
    intercom: IntercomClient,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    received = clock.now()
    await ledger.record([ask(JANE)], payload=b"old body", received_at=received)
    worker = make_worker(ledger, intercom, clock)
    with caplog.at_level(logging.INFO, logger="bridge.worker.loop"):
        assert await worker.prune_if_due() == Pruned()  # 30 days are not over yet
    assert "pruned the ledger: 0 raw payload(s)" in caplog.text
    clock.advance(DAY - 1)
    assert await worker.prune_if_due() is None  # a day has not passed since the first prune
    clock.advance(29 * DAY + 1)
    pruned = await worker.prune_if_due()
    assert pruned is not None and (pruned.payloads, pruned.payload_bytes) == (1, 8)
    assert await worker.prune_if_due() is None


async def test_retention_comes_from_the_settings(
    ledger: Ledger, intercom: IntercomClient, clock: ManualClock
) -> None:
    await ledger.record([ask(JANE)], payload=b"body", received_at=clock.now())
    settings = dataclasses.replace(FAST, payload_retention_days=0)
    pruned = await make_worker(ledger, intercom, clock, settings).prune_if_due()
    assert pruned is not None and pruned.payloads == 1


async def test_a_failed_prune_is_logged_and_tried_again_in_an_hour(
    ledger: Ledger,
    intercom: IntercomClient,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def unavailable(*_args: object, **_kwargs: object) -> Pruned:
        raise LedgerUnavailable("the ledger database is unavailable (OperationalError)")

    worker = make_worker(ledger, intercom, clock)
    monkeypatch.setattr(ledger, "prune", unavailable)
    with caplog.at_level(logging.ERROR, logger="bridge.worker.loop"):
        assert await worker.prune_if_due() is None
    assert "could not prune the ledger" in caplog.text
    monkeypatch.undo()
    clock.advance(3599)
    assert await worker.prune_if_due() is None
    clock.advance(1)
    assert await worker.prune_if_due() == Pruned()


async def test_the_running_worker_prunes_on_its_turns(
    ledger: Ledger, intercom: IntercomClient, clock: ManualClock
) -> None:
    await ledger.record([ask(JANE)], payload=b"body", received_at=clock.now() - 31 * DAY_DELTA)
    worker = make_worker(ledger, intercom, clock)
    pruned = asyncio.Event()
    prune = worker.prune_if_due

    async def watched() -> Pruned | None:
        done = await prune()
        if done is not None and done.payloads:
            pruned.set()
        return done

    worker.prune_if_due = watched  # type: ignore[method-assign]
    worker.start()
    try:
        async with asyncio.timeout(10):
            await pruned.wait()
    finally:
        await worker.stop()
