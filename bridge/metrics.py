"""Prometheus metrics, one registry per app so tests and several apps never collide.

The ledger's figures (the queue by status, the oldest due request, the legal clocks on
unapplied opt-outs) are read at scrape time, at most every 15 seconds; the rest are counted
as things happen. deploy/prometheus/alerts.yml alerts on them (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bridge.clock import Clock, SystemClock
from bridge.consent import Channel
from bridge.deadlines import seconds_left
from bridge.ledger import LedgerUnavailable

if TYPE_CHECKING:
    from bridge.ledger import Ledger

# The queue gauges are read from the ledger at most this often, whatever the scrape rate:
# each read counts the whole request table.
QUEUE_REFRESH_SECONDS = 15.0
# Intercom answers in tens to hundreds of milliseconds; its timeouts are tens of seconds.
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """What operators watch: requests recorded, Intercom calls, worker outcomes, queue depth."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._queue_read_at = float("-inf")
        self._queue_lock = asyncio.Lock()
        self.registry = CollectorRegistry()
        self.recorded = Counter(
            "bridge_requests_recorded_total",
            "Consent requests committed to the ledger.",
            ["source", "wanted"],
            registry=self.registry,
        )
        self.intercom_calls = Counter(
            "bridge_intercom_calls_total",
            "Intercom API calls by endpoint and HTTP status (0: no answer), from every part "
            "of the bridge: the worker, pages, searches, type listings.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "bridge_worker_outcomes_total",
            "Requests the worker finished or rescheduled, by result.",
            ["result"],
            registry=self.registry,
        )
        self.rate_limit_remaining = Gauge(
            "bridge_intercom_rate_limit_remaining",
            "Last X-RateLimit-Remaining seen from Intercom.",
            registry=self.registry,
        )
        self.queue = Gauge(
            "bridge_ledger_requests",
            "Requests in the ledger by status.",
            ["status"],
            registry=self.registry,
        )
        self.oldest_due_seconds = Gauge(
            "bridge_oldest_due_request_seconds",
            "How long the longest-waiting due request has waited to be applied (0: none).",
            registry=self.registry,
        )
        self.apply_seconds = Histogram(
            "bridge_apply_seconds",
            "Time from receipt to applied in Intercom.",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400),
            registry=self.registry,
        )
        self.preference_views = Counter(
            "bridge_preference_views_total",
            "Preference pages and API reads, by whether the current state could be shown.",
            ["result"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "bridge_webhooks_total",
            "Provider webhook deliveries by result: accepted, rejected, malformed, unavailable.",
            ["provider", "result"],
            registry=self.registry,
        )
        self.form_posts = Counter(
            "bridge_form_posts_total",
            "Posts to the bridge's own forms by result: accepted, honeypot, too_fast, "
            "rate_limited, invalid, refused (origin), unavailable.",
            ["form", "result"],
            registry=self.registry,
        )
        self.intercom_halted = Gauge(
            "bridge_intercom_halted",
            "1 while Intercom rejects the access token (401).",
            registry=self.registry,
        )
        self.intercom_seconds = Histogram(
            "bridge_intercom_call_seconds",
            "How long Intercom took to answer, by endpoint (calls with no answer included).",
            ["endpoint"],
            buckets=_CALL_BUCKETS,
            registry=self.registry,
        )
        self.optout_oldest_seconds = Gauge(
            "bridge_optout_oldest_unapplied_seconds",
            "Age of the oldest opt-out not yet applied (pending, held, dead...), by channel "
            "(0: none).",
            ["channel"],
            registry=self.registry,
        )
        self.optout_deadline_seconds = Gauge(
            "bridge_optout_deadline_seconds",
            "Seconds left until the oldest unapplied opt-out's legal deadline, by channel "
            "(email 2 days, SMS 10 business days); negative once past. With none, the time "
            "a new one would have.",
            ["channel"],
            registry=self.registry,
        )
        self.held_oldest_seconds = Gauge(
            "bridge_held_oldest_seconds",
            "Age of the oldest request held for an operator's review (0: none).",
            registry=self.registry,
        )
        self.ledger_reachable = Gauge(
            "bridge_ledger_reachable",
            "1 when the last read of the ledger's figures succeeded, 0 when it failed.",
            registry=self.registry,
        )

    async def refresh_queue(self, ledger: Ledger) -> None:
        """Read the queue gauges from the ledger, unless they were read moments ago.

        Concurrent scrapes share one read.
        """
        async with self._queue_lock:
            if self._clock.monotonic() - self._queue_read_at < QUEUE_REFRESH_SECONDS:
                return
            now = self._clock.now()
            try:
                counts = await ledger.status_counts()
                oldest = await ledger.oldest_due_age(now)
                clocks = await ledger.optout_clocks()
            except LedgerUnavailable:
                self.ledger_reachable.set(0)
                raise
            self.ledger_reachable.set(1)
            for status, count in counts.items():
                self.queue.labels(status=str(status)).set(count)
            self.oldest_due_seconds.set(oldest or 0.0)
            for channel in Channel:
                received_at = clocks.oldest_unapplied.get(channel, now)
                self.optout_oldest_seconds.labels(channel=channel.value).set(
                    (now - received_at).total_seconds()
                )
                self.optout_deadline_seconds.labels(channel=channel.value).set(
                    seconds_left(channel, received_at, now)
                )
            held = clocks.oldest_held
            self.held_oldest_seconds.set(0.0 if held is None else (now - held).total_seconds())
            self._queue_read_at = self._clock.monotonic()

    def count_intercom_call(self, endpoint: str, status: int, seconds: float) -> None:
        """An IntercomClient observer: count each call by endpoint and status, time it."""
        self.intercom_calls.labels(endpoint=endpoint, status=str(status)).inc()
        self.intercom_seconds.labels(endpoint=endpoint).observe(seconds)
