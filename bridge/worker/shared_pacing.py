"""Paces a worker's Intercom calls by the rate budget every worker on one database shares.

`SharedPacer` is the `RatePacer` of a worker on PostgreSQL: instead of spending the
`remaining` its own answers report, it reserves small batches of call slots from the shared
row (`bridge.worker.budget`), one short transaction each, and brings the newest report it
has seen along, which tells the row of calls nobody reserved. Slots a batch did not use
before its window reset are dropped, never carried into the next window.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable

from bridge.clock import Clock
from bridge.intercom.client import RateLimit
from bridge.intercom.pacing import RatePacer
from bridge.ledger import Ledger
from bridge.worker.budget import META_NAME, Grant, Report, Window, take


def _newer(pending: Report | None, new: Report) -> Report:
    """Of two reports not yet shared, the one that says more: the newer window, then fewer left."""
    if pending is None:
        return new
    return min(pending, new, key=lambda r: (-r.reset_at, r.remaining))


class SharedPacer(RatePacer):
    """Admits one call at a time against slots reserved from the budget workers share."""

    def __init__(
        self,
        rate_limit: Callable[[], RateLimit | None],
        ledger: Ledger,
        *,
        clock: Clock,
        batch: int = 8,
        window_seconds: float = 10.0,
        max_jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(rate_limit, clock=clock, max_jitter=max_jitter, rng=rng)
        self._ledger = ledger
        self._batch = batch
        self._window_seconds = window_seconds
        self._grant: Grant | None = None
        self._used = 0  # slots of `_grant` handed out
        self._waiting = 0
        self._reserving = asyncio.Lock()
        self._report: Report | None = None  # seen, not yet brought to the shared row
        self._last_seen: RateLimit | None = None
        self.reservations = 0

    def block_until(self, reset_at: float) -> None:
        """After a 429: nothing goes out before `reset_at`, and held slots are dropped."""
        super().block_until(reset_at)
        self._grant = None

    def _held_slot(self) -> bool:
        """Take one of the slots held, if one is left and its window is not over."""
        grant = self._grant
        if grant is None or self._used >= grant.count:
            return False
        if grant.reset_at and self._clock.time() >= grant.reset_at:
            self._grant = None  # its window is over: the new one is counted afresh
            return False
        self._used += 1
        return True

    async def _reserve(self) -> float:
        """Take a batch of slots from the shared row; how long to wait when it had none."""
        wanted = min(self._batch, max(self._waiting, 1))
        report, self._report = self._report, None
        now = self._clock.time()

        def change(text: str | None) -> tuple[str, Grant]:
            row, grant = take(
                Window.decode(text), report, wanted, now=now, window_seconds=self._window_seconds
            )
            return row.encode(), grant

        grant = await self._ledger.update_meta(META_NAME, change)
        self.reservations += 1
        self._grant, self._used = grant, 0
        return 0.0 if grant.count else max(grant.retry_at - now, 0.0) + self._jitter()

    async def _next_slot(self) -> None:
        """Wait out a 429's block, then take a held slot or reserve a batch, until one is had."""
        while True:
            now = self._clock.time()
            if now < self._blocked_until:
                self.waits += 1
                await self._clock.sleep(self._blocked_until - now + self._jitter())
                continue
            if self._held_slot():
                return
            # One reservation at a time per process: the others wait for its batch.
            async with self._reserving:
                if self._held_slot():
                    return
                if (delay := await self._reserve()) > 0:
                    self.waits += 1
                    await self._clock.sleep(delay)

    def _note(self) -> None:
        """Keep the newest answer's report, to bring to the next reservation."""
        seen = self._rate_limit()
        if seen is None or seen == self._last_seen:
            return
        self._last_seen = seen
        self._report = _newer(self._report, Report(seen.limit, seen.remaining, seen.reset_at))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a shared slot, then hold it while the call runs; note what it reported."""
        self._waiting += 1
        try:
            await self._next_slot()
        finally:
            self._waiting -= 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._note()
