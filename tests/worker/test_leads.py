"""Leads the worker creates for signups no contact matches: one a person, however they race."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import re
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
from starlette import types as asgi

from bridge.clock import ManualClock
from bridge.consent import ConsentRequest, Identity, NewContact, Scope, Wanted
from bridge.intercom.client import IntercomClient
from bridge.ledger import Ledger, Outcome, RequestRecord, Status, open_ledger
from bridge.sandbox import Sandbox
from bridge.worker.leads import may_create
from tests.conftest import SANDBOX_TOKEN
from tests.worker.conftest import (
    FAST,
    JANE_LEAD,
    JANE_USER,
    ask,
    make_worker,
    outcome_count,
    statuses,
)

EMAIL_TYPE, SMS_TYPE = "95", "108"  # opt_in types: a signup attaches them
LAG = 600.0  # search cannot see a contact created in the last ten minutes


def signup(
    identity: Identity,
    *,
    name: str | None = "Sam Signup",
    type_id: str = EMAIL_TYPE,
    minutes: float = 0,
) -> ConsentRequest:
    """A signup, with leave to create its person's lead."""
    request = ask(identity, Wanted.SUBSCRIBED, Scope(type_ids=(type_id,)), minutes=minutes)
    return dataclasses.replace(request, create=NewContact(name=name))


def new_email() -> str:
    """An address no contact has (and no other test's, for PostgreSQL's server-wide locks)."""
    return f"{uuid4().hex}@signup.example"


def creates(sandbox: Sandbox) -> list[int]:
    """The statuses of the POST /contacts calls the sandbox answered, in order."""
    return [r.status for r in sandbox.requests if (r.method, r.path) == ("POST", "/contacts")]


def contacts_with(sandbox: Sandbox, email: str) -> list[str]:
    """The ids of every contact with this email."""
    return [c["id"] for c in sandbox.contacts.values() if c["email"] == email]


def created(record: RequestRecord) -> list[Outcome]:
    """A request's `create` outcomes."""
    return [o for o in record.outcomes if o.action == "create"]


async def only_record(ledger: Ledger) -> RequestRecord:
    """The one request in the ledger."""
    [record] = await ledger.list_requests()
    return record


@dataclasses.dataclass
class Staged:
    """The sandbox, but the first `times` calls to one endpoint get `status` instead.

    With `forward`, the call reaches the sandbox first and only its answer is lost, as when
    Intercom made the change and the connection dropped.
    """

    app: asgi.ASGIApp
    method: str
    path: str  # a regular expression over the path
    status: int
    times: int = 1
    forward: bool = False
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    staged: int = 0

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != self.method
            or not re.fullmatch(self.path, scope["path"])
            or self.staged >= self.times
        ):
            await self.app(scope, receive, send)
            return
        self.staged += 1
        if self.forward:

            async def lost(message: asgi.Message) -> None:
                pass

            await self.app(scope, receive, lost)
        body = json.dumps(
            {"type": "error.list", "errors": [{"code": "staged", "message": f"HTTP {self.status}"}]}
        ).encode()
        headers = [(b"content-type", b"application/json")] + [
            (k.lower().encode(), v.encode()) for k, v in self.headers.items()
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def client_of(app: asgi.ASGIApp, clock: ManualClock) -> AsyncIterator[IntercomClient]:
    """A client for an ASGI app on the test's clock."""
    async with IntercomClient(
        SANDBOX_TOKEN,
        base_url="http://sandbox.invalid",
        transport=httpx.ASGITransport(app=app),
        clock=clock,
    ) as client:
        yield client


# --- when a lead is created ----------------------------------------------------------------


def test_only_a_request_with_leave_and_an_email_or_phone_may_create() -> None:
    email, phone = Identity(email="a@example.com"), Identity(phone="+33612345678")
    assert may_create(signup(email)) and may_create(signup(phone))
    assert may_create(signup(email, name=None))
    assert not may_create(ask(email, Wanted.SUBSCRIBED))
    assert not may_create(signup(Identity(external_id="cust-9")))
    assert not may_create(signup(Identity(contact_id=JANE_USER)))


async def test_a_signup_nobody_matches_creates_a_lead_and_subscribes_it(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    email = new_email()
    await ledger.record([signup(Identity(email=email), name="Sam Signup")])
    await make_worker(ledger, intercom, clock).run_until_idle()
    [lead] = contacts_with(sandbox, email)
    assert (sandbox.contacts[lead]["role"], sandbox.contacts[lead]["name"]) == (
        "lead",
        "Sam Signup",
    )
    assert sandbox.receives(lead, EMAIL_TYPE)
    calls = [(r.method, r.path) for r in sandbox.requests if r.path.startswith("/contacts")]
    assert calls == [
        ("POST", "/contacts/search"),
        ("POST", "/contacts"),
        ("POST", f"/contacts/{lead}/subscriptions"),
    ]
    assert sandbox.requests[-2].json == {"role": "lead", "email": email, "name": "Sam Signup"}
    record = await only_record(ledger)
    assert record.status is Status.APPLIED
    # The ledger's story of the request: the lead, then the subscription.
    assert [(o.action, o.contact_id, o.type_id, o.http_status) for o in record.outcomes] == [
        ("create", lead, "", 200),
        ("attach", lead, EMAIL_TYPE, 200),
    ]
    assert record.outcomes[0].detail == "lead created"
    assert record.outcomes[0].intercom_request_id


async def test_a_new_lead_needs_no_call_for_what_it_receives_already(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    # 93 and 37846 are opt_out email types: a new lead receives them without asking, so a
    # signup to them costs the search and the create, and neither a read nor a detach.
    email = new_email()
    request = signup(Identity(email=email))
    both = dataclasses.replace(request, scope=Scope(type_ids=("93", "37846", EMAIL_TYPE)))
    await ledger.record([both])
    await make_worker(ledger, intercom, clock).run_until_idle()
    [lead] = contacts_with(sandbox, email)
    assert all(sandbox.receives(lead, t) for t in ("93", "37846", EMAIL_TYPE))
    calls = [(r.method, r.path) for r in sandbox.requests if r.path.startswith("/contacts")]
    assert calls == [
        ("POST", "/contacts/search"),
        ("POST", "/contacts"),
        ("POST", f"/contacts/{lead}/subscriptions"),
    ]
    assert await statuses(ledger) == ["applied"]


async def test_a_contact_found_through_the_409_is_read_not_assumed_new(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    # A lead made moments ago (search lags it) who opted out of 93 already: found through the
    # 409, its list is not assumed empty but read, and 93 is detached to receive it again.
    sandbox.faults.search_lag = LAG
    email = new_email()
    lead = sandbox.add_contact(email=email, role="lead")["id"]
    await ledger.record(
        [ask(Identity(contact_id=lead), Wanted.UNSUBSCRIBED, Scope(type_ids=("93",)))]
    )
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert not sandbox.receives(lead, "93")
    request = signup(Identity(email=email), minutes=1)
    await ledger.record([dataclasses.replace(request, scope=Scope(type_ids=("93", EMAIL_TYPE)))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    reads = [
        r
        for r in sandbox.requests
        if (r.method, r.path) == ("GET", f"/contacts/{lead}/subscriptions")
    ]
    assert creates(sandbox) == [409] and len(reads) == 1
    assert sandbox.receives(lead, "93") and sandbox.receives(lead, EMAIL_TYPE)


async def test_a_phone_signup_creates_a_lead_with_the_phone(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    phone = f"+3538{uuid4().int % 10**8:08d}"
    await ledger.record([signup(Identity(phone=phone), name=None, type_id=SMS_TYPE)])
    await make_worker(ledger, intercom, clock).run_until_idle()
    [lead] = [c["id"] for c in sandbox.contacts.values() if c["phone"] == phone]
    assert sandbox.receives(lead, SMS_TYPE)
    assert [r.json for r in sandbox.requests if r.path == "/contacts"] == [
        {"role": "lead", "phone": phone}
    ]
    assert await statuses(ledger) == ["applied"]


async def test_a_person_intercom_knows_is_not_created_again(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    await ledger.record([signup(Identity(email="jane.doe@example.com"))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert creates(sandbox) == []
    assert sandbox.receives(JANE_USER, EMAIL_TYPE) and sandbox.receives(JANE_LEAD, EMAIL_TYPE)
    assert created(await only_record(ledger)) == []


async def test_without_leave_a_stranger_is_looked_for_then_unmatched(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    await ledger.record(
        [
            ask(Identity(email=new_email()), Wanted.SUBSCRIBED, Scope(type_ids=(EMAIL_TYPE,))),
            signup(
                Identity(external_id=f"cust-{uuid4().hex}"), minutes=1
            ),  # nothing to create with
        ]
    )
    worker = make_worker(ledger, intercom, clock)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["pending", "pending"]
    clock.advance(FAST.contact_lag_seconds + 1)
    await worker.run_until_idle()
    assert await statuses(ledger) == ["unmatched", "unmatched"]
    assert creates(sandbox) == []


# --- never twice for one person --------------------------------------------------------------


async def test_a_lead_search_lags_behind_is_found_through_the_409(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = LAG
    email = new_email()
    lead = sandbox.add_contact(email=email, role="lead")["id"]  # made moments ago, elsewhere
    await ledger.record([signup(Identity(email=email))])
    await make_worker(ledger, intercom, clock).run_until_idle()
    assert creates(sandbox) == [409]
    assert contacts_with(sandbox, email) == [lead]
    assert sandbox.receives(lead, EMAIL_TYPE)
    record = await only_record(ledger)
    assert record.status is Status.APPLIED
    [create] = created(record)
    assert (create.contact_id, create.http_status) == (lead, 409)
    assert create.detail == "a contact with these details exists"


async def test_a_person_s_second_signup_in_one_worker_uses_the_remembered_lead(
    ledger: Ledger, intercom: IntercomClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = LAG
    email = new_email()
    await ledger.record(
        [signup(Identity(email=email), minutes=0), signup(Identity(email=email), minutes=1)]
    )
    await make_worker(ledger, intercom, clock).run_until_idle()
    [lead] = contacts_with(sandbox, email)
    assert creates(sandbox) == [200]  # the second found the lead in memory: no create, no 409
    assert sandbox.count("POST", "/contacts/search") == 1
    assert await statuses(ledger) == ["applied", "applied"]
    assert sandbox.receives(lead, EMAIL_TYPE)


async def test_a_person_s_second_signup_in_another_worker_finds_the_lead_by_the_409(
    ledger: Ledger, database_url: str, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = LAG
    email = new_email()
    first, second = signup(Identity(email=email)), signup(Identity(email=email), minutes=1)
    other_ledger = await open_ledger(database_url)  # another process's connection
    try:
        async with client_of(sandbox.app, clock) as one, client_of(sandbox.app, clock) as two:
            await ledger.record([first])
            await make_worker(ledger, one, clock, owner="w1").run_until_idle()
            await ledger.record([second])
            await make_worker(other_ledger, two, clock, owner="w2").run_until_idle()
    finally:
        await other_ledger.close()
    [lead] = contacts_with(sandbox, email)
    assert creates(sandbox) == [200, 409]
    records = sorted(await ledger.list_requests(), key=lambda r: r.id)
    assert [r.status for r in records] == [Status.APPLIED, Status.APPLIED]
    assert [[(o.contact_id, o.http_status) for o in created(r)] for r in records] == [
        [(lead, 200)],
        [(lead, 409)],
    ]


async def test_racing_signups_on_two_workers_create_one_lead_a_person(
    ledger: Ledger, database_url: str, sandbox: Sandbox, clock: ManualClock
) -> None:
    # Each person submits twice, a moment apart; two running workers (each with its own
    # ledger connection, client and memory, as two processes have) take whatever is due.
    sandbox.faults.search_lag = LAG
    sandbox.faults.latency = 0.005  # so the workers' calls interleave
    emails = [new_email() for _ in range(12)]
    await ledger.record(
        [
            signup(Identity(email=e), minutes=i * 0.01 + k)
            for k in (0, 1)
            for i, e in enumerate(emails)
        ]
    )
    other_ledger = await open_ledger(database_url)
    settings = dataclasses.replace(FAST, concurrency=4, batch_size=4, poll_seconds=0.005)
    try:
        async with client_of(sandbox.app, clock) as one, client_of(sandbox.app, clock) as two:
            workers = [
                make_worker(ledger, one, clock, settings, owner="w1"),
                make_worker(other_ledger, two, clock, settings, owner="w2"),
            ]
            for worker in workers:
                worker.start()
            try:
                async with asyncio.timeout(30):
                    while set(await statuses(ledger)) != {"applied"}:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
            finally:
                await asyncio.gather(*(worker.stop() for worker in workers))
    finally:
        await other_ledger.close()
    assert await statuses(ledger) == ["applied"] * 2 * len(emails)
    for email in emails:
        [lead] = contacts_with(sandbox, email)
        assert sandbox.receives(lead, EMAIL_TYPE)
    assert creates(sandbox).count(200) == len(emails)
    assert all(outcome_count(worker, "applied") > 0 for worker in workers)
    # Each person's second request found the lead in its worker's memory or through a 409.
    records = await ledger.list_requests(limit=100)
    assert all(o.http_status in (200, 409) for r in records for o in created(r))
    assert sum(1 for r in records if created(r)) == len(creates(sandbox))


# --- failures ----------------------------------------------------------------------------------


async def test_a_lead_made_but_answered_500_is_found_by_the_retry_s_409(
    ledger: Ledger, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = LAG
    email = new_email()
    staged = Staged(sandbox.app, "POST", "/contacts", 500, forward=True)
    await ledger.record([signup(Identity(email=email))])
    async with client_of(staged, clock) as intercom:
        worker = make_worker(ledger, intercom, clock)
        await worker.run_until_idle()
        record = await only_record(ledger)
        assert (record.status, record.attempts) == (Status.PENDING, 1)  # backed off, charged
        assert (record.last_error or "").startswith("creating the contact: ")
        assert record.next_attempt_at > clock.now()
        clock.advance(FAST.backoff_max_seconds)
        await worker.run_until_idle()
    [lead] = contacts_with(sandbox, email)
    assert creates(sandbox) == [200, 409]  # Intercom made it the first time; the 409 names it
    record = await only_record(ledger)
    assert record.status is Status.APPLIED
    assert [(o.contact_id, o.http_status) for o in created(record)] == [(lead, 409)]
    assert sandbox.receives(lead, EMAIL_TYPE)


async def test_a_429_creating_the_lead_is_waited_out_in_place(
    ledger: Ledger, sandbox: Sandbox, clock: ManualClock
) -> None:
    email = new_email()
    reset = math.ceil(clock.time()) + 7  # Intercom's reset is whole epoch seconds
    staged = Staged(
        sandbox.app,
        "POST",
        "/contacts",
        429,
        headers={
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )
    await ledger.record([signup(Identity(email=email))])
    async with client_of(staged, clock) as intercom:
        worker = make_worker(ledger, intercom, clock)
        await worker.run_until_idle()
    assert staged.staged == 1 and creates(sandbox) == [200]
    assert worker.pacer.waits > 0 and clock.time() >= reset  # waited on the worker's clock
    record = await only_record(ledger)
    assert (record.status, record.attempts) == (Status.APPLIED, 1)
    assert [o.http_status for o in created(record)] == [200]


async def test_a_lead_intercom_refuses_is_dead_at_once(
    ledger: Ledger, sandbox: Sandbox, clock: ManualClock
) -> None:
    staged = Staged(sandbox.app, "POST", "/contacts", 400, times=10)
    await ledger.record([signup(Identity(email=new_email()))])
    async with client_of(staged, clock) as intercom:
        await make_worker(ledger, intercom, clock).run_until_idle()
    record = await only_record(ledger)
    assert (record.status, record.attempts) == (Status.DEAD, 1)
    assert (record.last_error or "").startswith(
        "creating the contact: POST /contacts: Intercom HTTP 400"
    )
    assert staged.staged == 1


async def test_the_lead_stays_in_the_story_when_its_subscription_must_wait(
    ledger: Ledger, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.faults.search_lag = LAG
    email = new_email()
    staged = Staged(sandbox.app, "POST", "/contacts/[^/]+/subscriptions", 503)
    await ledger.record([signup(Identity(email=email))])
    async with client_of(staged, clock) as intercom:
        worker = make_worker(ledger, intercom, clock)
        await worker.run_until_idle()
        record = await only_record(ledger)
        assert record.status is Status.PENDING
        [lead] = contacts_with(sandbox, email)
        assert [(o.action, o.contact_id) for o in record.outcomes] == [("create", lead)]
        clock.advance(FAST.backoff_max_seconds)
        await worker.run_until_idle()
    assert creates(sandbox) == [200]  # the retry took the remembered lead
    record = await only_record(ledger)
    assert record.status is Status.APPLIED
    assert [(o.action, o.contact_id) for o in record.outcomes] == [
        ("create", lead),
        ("attach", lead),
    ]
    assert sandbox.receives(lead, EMAIL_TYPE)
