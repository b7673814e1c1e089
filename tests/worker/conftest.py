"""Shared by the worker's tests: fast settings, a client and clock, request builders, counts."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from bridge.clock import ManualClock
from bridge.consent import ConsentRequest, Identity, Scope, Wanted
from bridge.intercom.client import IntercomClient
from bridge.intercom.types import TypeCache
from bridge.ledger import Ledger
from bridge.metrics import Metrics
from bridge.sandbox import Sandbox
from bridge.settings import WorkerSettings
from bridge.worker.confirmations import Mailer
from bridge.worker.loop import Worker
from tests.conftest import SANDBOX_TOKEN

JANE_USER = "63a07ddf05a32042dffac965"
JANE_LEAD = "63a07ddf05a32042dffac966"
# Requests are received at the real time; events happened a little before.
T0 = datetime.now(UTC) - timedelta(minutes=10)


FAST = WorkerSettings(
    backoff_base_seconds=1.0,
    backoff_max_seconds=60.0,
    max_attempts=4,
    contact_lag_seconds=600.0,
    lease_seconds=60.0,
)


@pytest.fixture
async def intercom(sandbox: Sandbox) -> AsyncIterator[IntercomClient]:
    """A client talking to the sandbox, with a short timeout for timeout faults."""
    client = IntercomClient(
        SANDBOX_TOKEN,
        base_url="http://sandbox.invalid",
        timeout=0.3,
        transport=httpx.ASGITransport(app=sandbox.app),
    )
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    """The worker's clock, a second after the requests are received."""
    return ManualClock(datetime.now(UTC) + timedelta(seconds=1))


def make_worker(
    ledger: Ledger,
    intercom: IntercomClient,
    clock: ManualClock,
    settings: WorkerSettings = FAST,
    owner: str = "w1",
    mailer: Mailer | None = None,
) -> Worker:
    """A worker with a hand-moved clock and seeded jitter."""
    return Worker(
        ledger,
        intercom,
        TypeCache(intercom, clock=clock),
        settings,
        Metrics(),
        clock=clock,
        rng=random.Random(7),
        owner=owner,
        mailer=mailer,
    )


@contextlib.asynccontextmanager
async def clients(
    sandbox: Sandbox, clock: ManualClock, count: int
) -> AsyncIterator[list[IntercomClient]]:
    """`count` clients of one sandbox on the test's clock, as processes sharing a token are."""
    transport = httpx.ASGITransport(app=sandbox.app)
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                IntercomClient(
                    SANDBOX_TOKEN,
                    base_url="http://sandbox.invalid",
                    transport=transport,
                    clock=clock,
                )
            )
            for _ in range(count)
        ]


def ask(
    identity: Identity,
    wanted: Wanted = Wanted.UNSUBSCRIBED,
    scope: Scope = Scope(),  # noqa: B008 - Scope is frozen
    *,
    minutes: float = 0,
    event: str | None = None,
) -> ConsentRequest:
    """A consent request that happened `minutes` after T0."""
    return ConsentRequest(
        identity,
        wanted,
        scope,
        T0 + timedelta(minutes=minutes),
        "test",
        event or f"e-{uuid.uuid4().hex}",
    )


def unique_person(sandbox: Sandbox) -> tuple[str, str]:
    """A new contact's email and id, unlike any other test's.

    PostgreSQL claims lock contact keys server-wide, across test schemas, and the sandbox's own
    ids repeat between workspaces created in the same second.
    """
    email, contact_id = f"{uuid4().hex}@example.com", uuid4().hex[:24]
    sandbox.add_contact(email=email, contact_id=contact_id)
    return email, contact_id


def outcome_count(worker: Worker, result: str) -> float:
    """How many requests a worker counted under one outcome."""
    return (
        worker.metrics.registry.get_sample_value("bridge_worker_outcomes_total", {"result": result})
        or 0.0
    )


async def statuses(ledger: Ledger) -> list[str]:
    """Every request's status, oldest first."""
    return [r.status.value for r in sorted(await ledger.list_requests(), key=lambda r: r.id)]
