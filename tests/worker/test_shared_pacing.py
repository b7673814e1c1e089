"""Workers on one PostgreSQL ledger spend Intercom's rate window together, not each in full."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bridge.clock import ManualClock
from bridge.intercom.client import RateLimit
from bridge.ledger import Ledger, open_ledger
from bridge.worker.shared_pacing import SharedPacer
from tests.conftest import migrated_ledger, postgres_schema

pytestmark = pytest.mark.postgres

LIMIT = 50
WINDOW = 10.0


class FakeIntercom:
    """Counts calls in fixed windows, as Intercom does, and reports to each caller its own."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: Counter[int] = Counter()
        self.seen: dict[str, RateLimit] = {}

    def call(self, caller: str) -> None:
        """One call: counted in its window; the caller's last report updated."""
        window = math.floor(self.clock.time() / WINDOW)
        self.calls[window] += 1
        remaining = max(LIMIT - self.calls[window], 0)
        reset = (window + 1) * WINDOW
        self.seen[caller] = RateLimit(LIMIT, remaining, reset, self.clock.time())


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A migrated PostgreSQL schema."""
    async with postgres_schema() as url, migrated_ledger(url):
        yield url


async def test_two_workers_together_stay_inside_the_window(url: str) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    intercom = FakeIntercom(clock)
    ledgers: list[Ledger] = [await open_ledger(url) for _ in range(2)]
    pacers = [
        SharedPacer(lambda n=str(n): intercom.seen.get(n), ledger, clock=clock, batch=4)
        for n, ledger in enumerate(ledgers)
    ]

    async def one_call(n: int) -> None:
        async with pacers[n].slot():
            intercom.call(str(n))
            await asyncio.sleep(0)  # another call gets its turn while this one is out

    async def worker(n: int) -> None:
        for _ in range(15):
            await asyncio.gather(*(one_call(n) for _ in range(4)))

    try:
        await asyncio.gather(worker(0), worker(1))
    finally:
        for ledger in ledgers:
            await ledger.close()
    assert sum(intercom.calls.values()) == 120
    assert max(intercom.calls.values()) <= LIMIT
    assert all(p.reservations > 0 for p in pacers)


async def test_a_429_drops_the_slots_held_and_waits_for_the_reset(url: str) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    async with migrated_ledger(url) as ledger:
        pacer = SharedPacer(lambda: None, ledger, clock=clock, batch=4)
        async with pacer.slot():
            pass
        pacer.block_until(clock.time() + 5)
        async with pacer.slot():
            assert clock.time() >= datetime(2026, 1, 1, 0, 0, 6, tzinfo=UTC).timestamp()
        # The batch held before the 429 was dropped: a second reservation was made.
        assert pacer.reservations == 2
