"""The worker against the sandbox: plans, ordering, contact lag, retries, 429s, 401s, crashes."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from uuid import uuid4

import httpx
import pytest
from starlette import types as asgi

from bridge.clock import ManualClock
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.intercom.client import IntercomClient
from bridge.ledger import Ledger, Status, open_ledger
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN, SEED
from tests.worker.conftest import (
    FAST,
    JANE_LEAD,
    JANE_USER,
    ask,
    clients,
    make_worker,
    outcome_count,
    statuses,
    unique_person,
)


async def test_single_type_unsubscribe_is_one_blind_call(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert not sandbox.receives(JANE_USER, "37846")
    calls = [r for r in sandbox.requests if r.path.startswith("/contacts/")]
    assert [(r.method, r.path) for r in calls] == [("POST", f"/contacts/{JANE_USER}/subscriptions")]
    assert calls[0].json == {"id": "37846", "consent_type": "opt_out"}
    assert await statuses(ledger) == ["applied"]


async def test_channel_scope_reads_once_and_changes_only_what_differs(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
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
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    email = sandbox.contacts[JANE_USER]["email"]
    await ledger.record([ask(Identity(email=email.upper()), scope=Scope(type_ids=("37846",)))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert not sandbox.receives(JANE_USER, "37846")
    assert not sandbox.receives(JANE_LEAD, "37846")
    [record] = await ledger.list_requests()
    assert sorted(o.contact_id for o in record.outcomes) == [JANE_USER, JANE_LEAD]


async def test_newest_event_wins_whatever_the_arrival_order(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
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
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
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
    clock.advance(300)
    await worker.run_until_idle()
    assert not sandbox.receives(contact["id"], "37846")
    clock.advance(1800)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied", "unmatched"]


async def test_an_unknown_address_is_looked_up_less_and_less_often(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    # The review: an address Intercom doesn't have was searched every 2 s until the lag
    # passed, about 450 times. The worker polls every second here, as it does for real.
    await ledger.record([ask(Identity(email=f"{uuid4().hex}@nowhere.example"), event="nobody")])
    worker = make_worker(ledger, intercom, clock)
    for _ in range(int(FAST.contact_lag_seconds) + 60):
        await worker.run_until_idle()
        if await statuses(ledger) == ["unmatched"]:
            break
        clock.advance(1)
    assert await statuses(ledger) == ["unmatched"]
    searches = sandbox.count("POST", "/contacts/search")
    assert 3 <= searches <= 12, searches


async def test_server_errors_and_timeouts_back_off_then_apply(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.error_rate = 1.0
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    worker = make_worker(ledger, intercom, clock)
    await worker.run_until_idle()
    [record] = await ledger.list_requests()
    assert record.status is Status.PENDING and record.next_attempt_at > clock.now()
    assert "500" in (record.last_error or "") or "503" in (record.last_error or "")
    sandbox.faults.error_rate = 0.0
    sandbox.faults.timeout_rate = 1.0
    sandbox.faults.hang_seconds = 1.0
    clock.advance(600)
    await worker.run_until_idle()
    assert (await ledger.list_requests())[0].status is Status.PENDING
    sandbox.faults.timeout_rate = 0.0
    clock.advance(600)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]
    assert not sandbox.receives(JANE_USER, "37846")


async def test_past_max_attempts_a_request_is_dead_and_replayable(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.error_rate = 1.0
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    worker = make_worker(ledger, intercom, clock)
    for _ in range(FAST.max_attempts + 1):
        await worker.run_until_idle()
        clock.advance(3600)
    [record] = await ledger.list_requests()
    assert record.status is Status.DEAD and record.attempts == FAST.max_attempts
    sandbox.faults.error_rate = 0.0
    assert await ledger.replay(statuses=[Status.DEAD]) == 1
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]


async def test_unknown_type_id_is_dead_with_a_clear_error(
    ledger: Ledger, intercom: IntercomClient, clock: ManualClock
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
    clock: ManualClock,
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
    monkeypatch.setattr("bridge.worker.loop._AUTH_PROBE_SECONDS", 0.01)
    await worker._probe_token()
    assert worker.halted  # the probe found the token still rejected
    sandbox.faults.unauthorized = False
    await worker._probe_token()
    assert not worker.halted  # accepted again: the worker resumes by itself
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]


async def test_rate_limit_429s_are_waited_out(ledger: Ledger, clock: ManualClock) -> None:
    # Intercom's windows last 10 s. The sandbox keeps them by the worker's clock and the
    # worker waits on that clock, so a window passes at once.
    sandbox = Sandbox(token=SANDBOX_TOKEN, rate_limit=4, clock=clock.time, rng=random.Random(SEED))
    people = [sandbox.add_contact(email=f"p{i}@example.com")["id"] for i in range(10)]
    await ledger.record(
        [ask(Identity(contact_id=p), scope=Scope(type_ids=("37846",))) for p in people]
    )
    async with clients(sandbox, clock, 2) as (intercom, other):
        worker = make_worker(ledger, intercom, clock, dataclasses.replace(FAST, concurrency=4))
        await worker.type_cache.get()
        assert intercom.rate_limit is not None
        window_ends = intercom.rate_limit.reset_at
        # Another process with the same token spends the rest of the window unseen, so the
        # worker's first calls meet 429s.
        for _ in range(intercom.rate_limit.remaining):
            await other.list_subscription_types()
        await asyncio.wait_for(worker.run_until_idle(), timeout=5)
    assert await statuses(ledger) == ["applied"] * 10
    assert all(not sandbox.receives(p, "37846") for p in people)
    assert any(r.status == 429 for r in sandbox.requests)
    # Waited on the worker's clock: past the window's end, in no real time to speak of.
    assert worker.pacer.waits > 0 and clock.time() >= window_ends


async def test_a_429_finding_the_contact_waits_for_the_window_uncharged(
    ledger: Ledger, clock: ManualClock
) -> None:
    sandbox = Sandbox(token=SANDBOX_TOKEN, rate_limit=2, clock=clock.time, rng=random.Random(SEED))
    email, person = unique_person(sandbox)
    await ledger.record([ask(Identity(email=email), scope=Scope(type_ids=("37846",)))])
    async with clients(sandbox, clock, 2) as (intercom, other):
        worker = make_worker(ledger, intercom, clock)
        await worker.type_cache.get()
        await other.list_subscription_types()  # the window's second and last call
        await worker.run_until_idle()
        [record] = await ledger.list_requests()
        assert (record.status, record.attempts) == (Status.PENDING, 0)
        assert "HTTP 429" in (record.last_error or "")
        assert intercom.rate_limit is not None
        # Back when the window ends, give or take a second's jitter.
        wait = record.next_attempt_at.timestamp() - intercom.rate_limit.reset_at
        assert 0 <= wait <= 1
        assert outcome_count(worker, "rate_limited") == 1
        clock.advance(record.next_attempt_at.timestamp() - clock.time())
        await worker.run_until_idle()
    assert await statuses(ledger) == ["applied"]
    assert not sandbox.receives(person, "37846")


async def test_a_contact_intercom_does_not_have_is_looked_for_uncharged(
    ledger: Ledger, intercom: IntercomClient, clock: ManualClock
) -> None:
    await ledger.record(
        [ask(Identity(contact_id=uuid4().hex[:24]), scope=Scope(type_ids=("37846",)))]
    )
    worker = make_worker(ledger, intercom, clock)
    await worker.run_until_idle()
    [record] = await ledger.list_requests()
    assert (record.status, record.attempts) == (Status.PENDING, 0)
    assert record.last_error == "the Intercom contact no longer exists"
    assert outcome_count(worker, "contact_pending") == 1
    clock.advance(FAST.contact_lag_seconds)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["unmatched"]


async def test_a_change_intercom_refuses_is_dead_at_once(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    await ledger.record([ask(Identity(contact_id=JANE_USER), scope=Scope(type_ids=("37846",)))])
    worker = make_worker(ledger, intercom, clock)
    await worker.type_cache.get()
    sandbox.types["37846"]["consent_type"] = "opt_in"  # changed in Intercom since it was listed
    await worker.run_until_idle()
    [record] = await ledger.list_requests()
    assert (record.status, record.attempts) == (Status.DEAD, 1)
    assert "HTTP 400" in (record.last_error or "")
    assert outcome_count(worker, "retry") == 0


async def test_a_killed_worker_s_requests_are_taken_up_and_applied_once(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
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
    clock.advance(FAST.lease_seconds + 1)  # the dead worker's leases lapse
    await make_worker(ledger, intercom, clock, owner="survivor").run_until_idle()
    assert await statuses(ledger) == ["applied"] * 6
    assert all(not sandbox.receives(p, "37846") for p in people)
    for record in await ledger.list_requests():
        assert {o.action for o in record.outcomes} <= {"attach"}


async def test_stop_finishes_what_it_can_and_releases_the_rest(
    ledger: Ledger, sandbox: Sandbox, clock: ManualClock
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


# Turns on a contact, and ordering across identities


async def test_a_busy_contact_sends_the_request_back_without_charging_it(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    (email, person), scope = unique_person(sandbox), Scope(type_ids=("37846",))
    holder, waiting = await ledger.record(
        [
            ask(Identity(email=email), Wanted.SUBSCRIBED, scope, minutes=0),
            ask(Identity(contact_id=person), Wanted.UNSUBSCRIBED, scope, minutes=1),
        ],
        received_at=clock.now(),
    )
    # Another worker is applying the email request to the contact.
    [held] = await ledger.claim("elsewhere", limit=1, lease_seconds=60, now=clock.now())
    assert held.id == holder.id
    assert await ledger.take_contacts(
        holder.id, "elsewhere", [person], ["37846"], lease_seconds=60, now=clock.now()
    ) == {person: {}}
    worker = make_worker(ledger, intercom, clock)
    for _ in range(FAST.max_attempts + 2):
        clock.advance(2)  # past the short wait
        await worker.run_until_idle()
        record = await ledger.get(waiting.id)
        assert record is not None
        assert (record.status, record.attempts) == (Status.PENDING, 0)
        assert "waiting for another request" in (record.last_error or "")
        wait = (record.next_attempt_at - clock.now()).total_seconds()
        assert 1.0 <= wait <= 1.5
    assert outcome_count(worker, "contact_busy") == FAST.max_attempts + 2
    assert outcome_count(worker, "retry") == 0
    assert sandbox.count(path_prefix=f"/contacts/{person}") == 0  # untouched meanwhile
    assert await ledger.finish(
        holder.id, "elsewhere", Status.APPLIED, applied=[(person, "37846")], now=clock.now()
    )
    clock.advance(2)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["applied", "applied"]
    assert not sandbox.receives(person, "37846")


OPT_OUT_TYPE, OPT_IN_TYPE = "37846", "95"
# Searches are answered a little late and subscription writes much later, though a write takes
# effect the moment it arrives, as a slow network makes Intercom's do. So a request keyed by
# email reads last_applied after its search, while the same person's request keyed by contact
# id has already changed Intercom but not yet recorded it: the window an older request needs
# to overwrite a newer one.
SEARCH_SECONDS = 0.1
WRITE_SECONDS = 0.3


def answered_late(app: asgi.ASGIApp, called: asyncio.Event, opened: asyncio.Event) -> asgi.ASGIApp:
    """The sandbox, answering nothing before `opened`, then searches and writes late."""

    async def slow(scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        called.set()
        await opened.wait()
        method, path = scope.get("method"), scope.get("path", "")
        if method == "POST" and path == "/contacts/search":
            delay = SEARCH_SECONDS
        elif method in ("POST", "DELETE") and "/subscriptions" in path:
            delay = WRITE_SECONDS
        else:
            delay = 0.0

        async def send_late(message: asgi.Message) -> None:
            if message["type"] == "http.response.start" and delay:
                await asyncio.sleep(delay)
            await send(message)

        await app(scope, receive, send_late)

    return slow


@dataclasses.dataclass(frozen=True)
class Person:
    """Someone who asked twice, through their email and through their contact id."""

    email: str
    contact_id: str
    type_id: str
    later: Wanted
    email_first: bool

    def requests(self, first_minute: float, second_minute: float) -> list[ConsentRequest]:
        """The earlier request and the later one, which wants the opposite."""
        by_email, by_id = Identity(email=self.email), Identity(contact_id=self.contact_id)
        first, second = (by_email, by_id) if self.email_first else (by_id, by_email)
        earlier = Wanted.SUBSCRIBED if self.later is Wanted.UNSUBSCRIBED else Wanted.UNSUBSCRIBED
        scope = Scope(type_ids=(self.type_id,))
        return [
            ask(first, earlier, scope, minutes=first_minute),
            ask(second, self.later, scope, minutes=second_minute),
        ]


async def test_a_person_s_later_choice_wins_across_identities_and_workers(
    ledger: Ledger, database_url: str, sandbox: Sandbox, clock: ManualClock
) -> None:
    # Every combination of which way the person went, which identity asked first and which
    # kind of type it was, three times over.
    people = [
        Person(
            *unique_person(sandbox),
            OPT_OUT_TYPE if i // 4 % 2 else OPT_IN_TYPE,
            Wanted.SUBSCRIBED if i % 2 else Wanted.UNSUBSCRIBED,
            email_first=bool(i // 2 % 2),
        )
        for i in range(24)
    ]
    # Claims go oldest first, 16 to a worker, one worker after another (see below). The first
    # twelve people asked twice in a row, so their two requests meet inside one worker; eight
    # of the others asked far apart, so theirs are claimed by two different workers.
    requests = [r for i, p in enumerate(people[:12]) for r in p.requests(i * 0.2, i * 0.2 + 0.1)]
    requests += [
        r for i, p in enumerate(people[12:]) for r in p.requests(2.4 + i * 0.1, 3.6 + i * 0.1)
    ]
    await ledger.record(requests, received_at=clock.now())
    called, opened = [asyncio.Event() for _ in range(3)], asyncio.Event()
    settings = dataclasses.replace(FAST, concurrency=16, batch_size=16)
    # Separate ledgers and clients, as separate processes have.
    ledgers = [ledger, await open_ledger(database_url), await open_ledger(database_url)]
    clients = [
        IntercomClient(
            SANDBOX_TOKEN,
            base_url="http://sandbox.invalid",
            timeout=5,
            transport=httpx.ASGITransport(app=answered_late(sandbox.app, first_call, opened)),
        )
        for first_call in called
    ]
    workers = [
        make_worker(each, client, clock, settings, owner=f"w{i}")
        for i, (each, client) in enumerate(zip(ledgers, clients, strict=True))
    ]
    runs: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(30):
            # Each worker starts once the one before has claimed its batch (and so called
            # Intercom), and Intercom answers nobody until all three have: so the batches are
            # the same every time. (PostgreSQL claimers starting at one instant lock the same
            # oldest rows and all but one find nothing; a worker whose calls were answered would
            # claim more as soon as its first requests were done.)
            for worker, first_call in zip(workers, called, strict=True):
                runs.append(asyncio.create_task(worker.run_until_idle()))
                calling = asyncio.create_task(first_call.wait())
                await asyncio.wait([runs[-1], calling], return_when=asyncio.FIRST_COMPLETED)
                calling.cancel()
                assert not runs[-1].done(), f"{worker.owner} found nothing to claim"
            opened.set()
            await asyncio.gather(*runs)
            for _ in range(4):
                if (await ledger.status_counts())[Status.PENDING] == 0:
                    break
                clock.advance(2)  # past the short wait of requests whose contact was busy
                await asyncio.gather(*(worker.run_until_idle() for worker in workers))
    finally:
        for run in runs:  # only a failure leaves any running
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        for client in clients:
            await client.aclose()
        for other in ledgers[1:]:
            await other.close()

    wrong = [
        p
        for p in people
        if sandbox.receives(p.contact_id, p.type_id) != (p.later is Wanted.SUBSCRIBED)
    ]
    assert wrong == [], f"{len(wrong)} of {len(people)} people ended in their earlier choice"
    records = {r.request.event_id: r for r in await ledger.list_requests(limit=100)}
    for request in requests[1::2]:  # each person's later request was applied, never superseded
        assert records[request.event_id].status is Status.APPLIED
    assert {r.status for r in records.values()} <= {Status.APPLIED, Status.SUPERSEDED}
    # The requests did meet, and every worker applied some.
    assert sum(outcome_count(worker, "contact_busy") for worker in workers) > 0
    assert all(outcome_count(worker, "applied") > 0 for worker in workers)
