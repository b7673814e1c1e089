"""The worker against the sandbox: plans, ordering, contact lag, retries, 429s, 401s, crashes."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.intercom import IntercomClient
from bridge.ledger import Ledger, Status, open_ledger
from bridge.metrics import Metrics
from bridge.sandbox import Sandbox
from bridge.settings import WorkerSettings
from bridge.type_cache import TypeCache
from bridge.worker import Worker
from tests.conftest import SANDBOX_TOKEN

JANE_USER = "63a07ddf05a32042dffac965"
JANE_LEAD = "63a07ddf05a32042dffac966"
# Requests are received at the real time; events happened a little before.
T0 = datetime.now(UTC) - timedelta(minutes=10)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


FAST = WorkerSettings(
    backoff_base_seconds=1.0,
    backoff_max_seconds=60.0,
    max_attempts=4,
    contact_lag_seconds=600.0,
    lease_seconds=60.0,
)


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    """A migrated ledger on each database."""
    opened = await open_ledger(database_url)
    await opened.migrate()
    yield opened
    await opened.close()


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
def clock() -> Clock:
    """The worker's clock."""
    return Clock(datetime.now(UTC) + timedelta(seconds=1))


def make_worker(
    ledger: Ledger,
    intercom: IntercomClient,
    clock: Clock,
    settings: WorkerSettings = FAST,
    owner: str = "w1",
) -> Worker:
    """A worker with a hand-moved clock and seeded jitter."""
    return Worker(
        ledger,
        intercom,
        TypeCache(intercom),
        settings,
        Metrics(),
        clock=clock,
        rng=random.Random(7),
        owner=owner,
    )


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
        event or f"e-{random.random()}",
    )


async def statuses(ledger: Ledger) -> list[str]:
    """Every request's status, oldest first."""
    return [r.status.value for r in sorted(await ledger.list_requests(), key=lambda r: r.id)]


async def test_single_type_unsubscribe_is_one_blind_call(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert not sandbox.receives(JANE_USER, "37846")
    calls = [r for r in sandbox.requests if r.path.startswith("/contacts/")]
    assert [(r.method, r.path) for r in calls] == [("POST", f"/contacts/{JANE_USER}/subscriptions")]
    assert calls[0].json == {"id": "37846", "consent_type": "opt_out"}
    assert await statuses(ledger) == ["applied"]


async def test_channel_scope_reads_once_and_changes_only_what_differs(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    # Jane already opted out of 93; 95 is opt_in and she never opted in.
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(channel=Channel.EMAIL))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    contact_calls = [
        (r.method, r.path) for r in sandbox.requests if r.path.startswith("/contacts/")
    ]
    assert contact_calls == [
        ("GET", f"/contacts/{JANE_USER}/subscriptions"),
        ("POST", f"/contacts/{JANE_USER}/subscriptions"),
    ]
    for type_id in ("93", "37846", "95"):
        assert not sandbox.receives(JANE_USER, type_id)


async def test_email_identity_reaches_every_contact_with_that_email(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    email = sandbox.contacts[JANE_USER]["email"]
    await ledger.record([ask(Identity(email=email.upper()), scope=Scope(type_ids=("37846",)))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert not sandbox.receives(JANE_USER, "37846")
    assert not sandbox.receives(JANE_LEAD, "37846")
    [record] = await ledger.list_requests()
    assert sorted(o.contact_id for o in record.outcomes) == [JANE_USER, JANE_LEAD]


async def test_newest_event_wins_whatever_the_arrival_order(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    jane, scope = Identity(contact_id=JANE_USER), Scope(type_ids=("37846",))
    worker = make_worker(ledger, intercom, clock)
    await ledger.record([ask(jane, Wanted.UNSUBSCRIBED, scope, minutes=2, event="late")])
    await worker.run_until_idle()
    # A resubscribe that happened earlier but arrives later must not undo the unsubscribe.
    await ledger.record([ask(jane, Wanted.SUBSCRIBED, scope, minutes=1, event="early")])
    await worker.run_until_idle()
    assert not sandbox.receives(JANE_USER, "37846")
    assert await statuses(ledger) == ["applied", "superseded"]


async def test_unknown_contact_is_looked_for_until_the_lag_passes(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    sandbox.faults.search_lag = 3600  # Intercom's search hasn't indexed the new contact yet
    contact = sandbox.add_contact(email="fresh@example.com")
    await ledger.record(
        [
            ask(Identity(email="fresh@example.com"), scope=Scope(type_ids=("37846",))),
            ask(Identity(email="nobody@example.com"), event="nobody"),
        ]
    )
    worker = make_worker(ledger, intercom, clock)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["pending", "pending"]
    sandbox.faults.search_lag = 0
    clock.advance(minutes=5)
    await worker.run_until_idle()
    assert not sandbox.receives(contact["id"], "37846")
    clock.advance(minutes=30)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied", "unmatched"]


async def test_server_errors_and_timeouts_back_off_then_apply(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    sandbox.faults.error_rate = 1.0
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    worker = make_worker(ledger, intercom, clock)
    await worker.run_until_idle()
    [record] = await ledger.list_requests()
    assert record.status is Status.PENDING and record.next_attempt_at > clock.now
    assert "500" in (record.last_error or "") or "503" in (record.last_error or "")
    sandbox.faults.error_rate = 0.0
    sandbox.faults.timeout_rate = 1.0
    sandbox.faults.hang_seconds = 1.0
    clock.advance(minutes=10)
    await worker.run_until_idle()
    assert (await ledger.list_requests())[0].status is Status.PENDING
    sandbox.faults.timeout_rate = 0.0
    clock.advance(minutes=10)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]
    assert not sandbox.receives(JANE_USER, "37846")


async def test_past_max_attempts_a_request_is_dead_and_replayable(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    sandbox.faults.error_rate = 1.0
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    worker = make_worker(ledger, intercom, clock)
    for _ in range(FAST.max_attempts + 1):
        await worker.run_until_idle()
        clock.advance(hours=1)
    [record] = await ledger.list_requests()
    assert record.status is Status.DEAD and record.attempts == FAST.max_attempts
    sandbox.faults.error_rate = 0.0
    assert await ledger.replay(statuses=[Status.DEAD]) == 1
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]


async def test_unknown_type_id_is_dead_with_a_clear_error(
    ledger: Ledger, intercom: IntercomClient, clock: Clock
) -> None:
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("999",)))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    [record] = await ledger.list_requests()
    assert record.status is Status.DEAD
    assert "999" in (record.last_error or "")


async def test_a_revoked_token_halts_every_call_and_loses_nothing(
    ledger: Ledger,
    intercom: IntercomClient,
    sandbox: Sandbox,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    sandbox.faults.unauthorized = True
    worker = make_worker(ledger, intercom, clock)
    await worker.run_until_idle()
    assert worker.halted
    [record] = await ledger.list_requests()
    assert record.status is Status.PENDING and record.attempts == 0  # released, not charged
    seen = len(sandbox.requests)
    await worker.run_until_idle()
    assert len(sandbox.requests) == seen  # halted: no calls at all
    monkeypatch.setattr("bridge.worker._AUTH_PROBE_SECONDS", 0.01)
    await worker._probe_token()
    assert worker.halted  # the probe found the token still rejected
    sandbox.faults.unauthorized = False
    await worker._probe_token()
    assert not worker.halted  # accepted again: the worker resumes by itself
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]


async def test_rate_limit_429s_are_waited_out(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    sandbox.rate_limit = 4
    sandbox.window_seconds = 1.0
    people = [sandbox.add_contact(email=f"p{i}@example.com")["id"] for i in range(10)]
    await ledger.record(
        [ask(Identity(contact_id=p), scope=Scope(type_ids=("37846",))) for p in people]
    )
    worker = make_worker(ledger, intercom, clock, dataclasses.replace(FAST, concurrency=4))
    await asyncio.wait_for(worker.run_until_idle(), timeout=30)
    assert await statuses(ledger) == ["applied"] * 10
    assert all(not sandbox.receives(p, "37846") for p in people)


async def test_a_killed_worker_s_requests_are_taken_up_and_applied_once(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: Clock
) -> None:
    people = [sandbox.add_contact(email=f"k{i}@example.com")["id"] for i in range(6)]
    await ledger.record(
        [ask(Identity(contact_id=p), scope=Scope(type_ids=("37846",))) for p in people]
    )
    sandbox.faults.latency = 0.05
    doomed = make_worker(
        ledger, intercom, clock, dataclasses.replace(FAST, concurrency=2), owner="doomed"
    )
    runner = asyncio.create_task(doomed.run_until_idle())
    async with asyncio.timeout(10):
        while not any(r.method == "POST" and r.status == 200 for r in sandbox.requests):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    # A kill: tasks die mid-call, no release, no finish.
    runner.cancel()
    for task in list(doomed._in_flight.values()):
        task.cancel()
    await asyncio.gather(runner, *doomed._in_flight.values(), return_exceptions=True)
    sandbox.faults.latency = 0.0
    assert Status.LEASED in {r.status for r in await ledger.list_requests()}
    clock.advance(seconds=FAST.lease_seconds + 1)  # the dead worker's leases lapse
    await make_worker(ledger, intercom, clock, owner="survivor").run_until_idle()
    assert await statuses(ledger) == ["applied"] * 6
    assert all(not sandbox.receives(p, "37846") for p in people)
    for record in await ledger.list_requests():
        assert {o.action for o in record.outcomes} <= {"attach"}


async def test_stop_finishes_what_it_can_and_releases_the_rest(
    ledger: Ledger, sandbox: Sandbox, clock: Clock
) -> None:
    people = [sandbox.add_contact(email=f"s{i}@example.com")["id"] for i in range(4)]
    await ledger.record(
        [ask(Identity(contact_id=p), scope=Scope(type_ids=("37846",))) for p in people]
    )
    sandbox.faults.latency = 2.0  # far longer than the grace below, well under the timeout
    patient = IntercomClient(
        SANDBOX_TOKEN,
        base_url="http://sandbox.invalid",
        timeout=10,
        transport=httpx.ASGITransport(app=sandbox.app),
    )
    worker = make_worker(ledger, patient, clock, dataclasses.replace(FAST, concurrency=4))
    worker.start()
    async with asyncio.timeout(10):
        while not any(r.status == Status.LEASED for r in await ledger.list_requests()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await worker.stop(grace=0.05)  # shorter than one call: nothing can finish
    await patient.aclose()
    records = await ledger.list_requests()
    assert {r.status for r in records} == {Status.PENDING}  # handed back, none lost
    assert all(r.attempts == 0 for r in records)  # a shutdown is not the request's fault
    sandbox.faults.latency = 0.0
    async with IntercomClient(
        SANDBOX_TOKEN,
        base_url="http://sandbox.invalid",
        transport=httpx.ASGITransport(app=sandbox.app),
    ) as intercom:
        await make_worker(ledger, intercom, clock, owner="next").run_until_idle()
    assert await statuses(ledger) == ["applied"] * 4
