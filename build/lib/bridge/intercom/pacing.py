"""Paces Intercom calls by the X-RateLimit-* headers so the worker spends its budget, not 429s.

Intercom grants a budget per 10-second window and reports what is left after each call. The
pacer keeps a conservative estimate of the calls still allowed in the current window: the
last reported remaining count, less every call dispatched since that report (calls in flight
when it was made may be counted twice, which costs at most `concurrency` calls a window and
keeps 429s rare). At zero it waits for the window's reset plus a little jitter, so several
workers don't all fire at the same instant.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Callable

from bridge.clock import Clock
from bridge.intercom.client import RateLimit


class RatePacer:
    """Admits one call at a time against the budget Intercom last reported."""

    def __init__(
        self,
        rate_limit: Callable[[], RateLimit | None],
        *,
        clock: Clock,
        max_jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self._rate_limit = rate_limit
        self._clock = clock
        self._max_jitter = max_jitter
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._seen: RateLimit | None = None
        self._budget: int | None = None  # None: no report yet, calls go through
        self._in_flight = 0
        self._blocked_until = 0.0
        self.waits = 0

    def _observe(self) -> None:
        report = self._rate_limit()
        seen = self._seen
        if report is None or report == seen:
            return
        if seen is not None and report.reset_at < seen.reset_at:
            return  # a late answer from a window that is already over
        estimate = report.remaining - self._in_flight
        if seen is None or report.reset_at > seen.reset_at or self._budget is None:
            self._budget = estimate
        else:
            self._budget = min(self._budget, estimate)
        self._seen = report

    def block_until(self, reset_at: float) -> None:
        """After a 429: nothing goes out before `reset_at` (plus jitter)."""
        self._blocked_until = max(self._blocked_until, reset_at)
        self._budget = 0

    def _wait_seconds(self) -> float:
        now = self._clock.time()
        if now < self._blocked_until:
            return self._blocked_until - now + self._jitter()
        self._observe()
        if self._budget is None or self._budget > 0:
            return 0.0
        seen = self._seen
        if seen is None or now >= seen.reset_at:
            # The window has rolled over: allow calls until a new report says otherwise.
            self._budget = None
            return 0.0
        return seen.reset_at - now + self._jitter()

    def _jitter(self) -> float:
        return self._rng.uniform(0, self._max_jitter)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait until the budget allows one more call, then hold a place while it runs."""
        while (delay := self._wait_seconds()) > 0:
            self.waits += 1
            await self._clock.sleep(delay)
        if self._budget is not None:
            self._budget -= 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._observe()
