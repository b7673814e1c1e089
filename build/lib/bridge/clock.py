"""The one source of time: wall time for records, monotonic time for waits, and sleeping.

Every part that reads the time or waits is handed a `Clock` by `Services`, so a test (or a
benchmark) can hand them a `ManualClock` instead and see a 429's ten-second wait pass at once,
and a request's age, a lease's expiry and a retry's backoff all agree on what "now" is.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the bridge asks of time."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC: what the ledger records."""
        ...

    def time(self) -> float:
        """The current time as Unix seconds: what Intercom's rate-limit headers speak."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for caches' ages and deadlines."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this long (or, on a manual clock, let this much time pass)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to, or when something sleeps on it.

    `sleep` advances the clock by the time asked and yields once to the event loop, so code
    that waits out a rate-limit window runs through it in no real time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
