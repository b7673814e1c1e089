"""Prometheus metrics, one registry per app so tests and several apps never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """What operators watch: requests recorded, Intercom calls, worker outcomes, queue depth."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.recorded = Counter(
            "bridge_requests_recorded_total",
            "Consent requests committed to the ledger.",
            ["source", "wanted"],
            registry=self.registry,
        )
        self.intercom_calls = Counter(
            "bridge_intercom_calls_total",
            "Intercom API calls by operation and HTTP status.",
            ["operation", "status"],
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
            "Age of the oldest request waiting to be applied.",
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
        self.intercom_halted = Gauge(
            "bridge_intercom_halted",
            "1 while Intercom rejects the access token (401).",
            registry=self.registry,
        )
