"""Tests for bridge.ledger, run on SQLite and, given BRIDGE_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import (
    Ledger,
    LedgerUnavailable,
    Outcome,
    Recorded,
    Status,
    open_ledger,
    queries,
)
from bridge.ledger.codec import from_micros
from bridge.ledger.postgres import PostgresDatabase
from tests.conftest import postgres_schema

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)  # when the tests' requests are received, and so first due


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """An empty PostgreSQL schema only, for PostgreSQL's locking and connection handling."""
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def postgres_ledger(postgres_url: str) -> AsyncIterator[Ledger]:
    """A migrated ledger in that schema."""
    opened = await open_ledger(postgres_url)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


def consent(
    event_id: str,
    *,
    email: str = "jane@example.com",
    minutes: float = 0,
    wanted: Wanted = Wanted.UNSUBSCRIBED,
    source: str = "test",
) -> ConsentRequest:
    """A request from `email`, happening `minutes` after T0."""
    return ConsentRequest(
        identity=Identity(email=email),
        wanted=wanted,
        scope=Scope(channel=Channel.EMAIL),
        occurred_at=T0 + timedelta(minutes=minutes),
        source=source,
        event_id=event_id,
    )


async def record(ledger: Ledger, *requests: ConsentRequest) -> list[int]:
    """Record requests received at NOW; their ids."""
    return [r.id for r in await ledger.record(requests, received_at=NOW)]


@asynccontextmanager
async def raw_connection(url: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A connection of its own, as another process would have."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


def after(seconds: float) -> datetime:
    """NOW plus some seconds."""
    return NOW + timedelta(seconds=seconds)


# Recording


async def test_record_round_trips_every_field(ledger: Ledger) -> None:
    request = ConsentRequest(
        identity=Identity(contact_id="c-1", email="Jane@Example.com", external_id="u-9"),
        wanted=Wanted.SUBSCRIBED,
        scope=Scope(type_ids=("108", "109")),
        occurred_at=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        source="sendgrid",
        event_id="evt-ü-1",
        context={"ip": "203.0.113.9", "page": {"text": "Stop emails ✓", "locale": "de"}, "n": 3},
    )
    [recorded] = await ledger.record([request], payload_sha256="ab" * 32, received_at=NOW)
    assert recorded == Recorded(recorded.id, duplicate=False)

    stored = await ledger.get(recorded.id)
    assert stored is not None
    assert stored.request == request
    assert stored.request.occurred_at.microsecond == 123456
    assert stored.request.context == request.context
    assert (stored.received_at, stored.next_attempt_at) == (NOW, NOW)
    assert (stored.status, stored.attempts, stored.last_error) == (Status.PENDING, 0, None)
    assert stored.payload_sha256 == "ab" * 32
    assert stored.outcomes == []
    assert await ledger.get(recorded.id + 1000) is None


async def test_duplicates_in_one_call_and_across_calls_change_nothing(ledger: Ledger) -> None:
    first = consent("e1")
    again = consent("e1", email="someone-else@example.com")
    results = await ledger.record([first, again], received_at=NOW)
    assert list(results) == [Recorded(results[0].id, False), Recorded(results[0].id, True)]
    assert results.new == [first] and results.duplicates == 1

    repeated = await ledger.record([again], received_at=after(5))
    assert list(repeated) == [Recorded(results[0].id, True)]
    stored = await ledger.get(results[0].id)
    assert stored is not None
    assert (stored.request, stored.received_at) == (first, NOW)
    # Same event id from another source is another event.
    [other] = await ledger.record([consent("e1", source="mailgun")], received_at=NOW)
    assert other.id != results[0].id and not other.duplicate


async def test_concurrent_duplicates_are_recorded_once(ledger: Ledger, database_url: str) -> None:
    second = await open_ledger(database_url)
    try:
        results = await asyncio.gather(
            *(ledger.record([consent("same")]) for _ in range(10)),
            *(second.record([consent("same")]) for _ in range(10)),
        )
    finally:
        await second.close()
    flat = [r for result in results for r in result]
    assert len({r.id for r in flat}) == 1
    assert sum(not r.duplicate for r in flat) == 1
    assert (await ledger.status_counts())[Status.PENDING] == 1


async def test_group_commit_shares_transactions(ledger: Ledger, database_url: str) -> None:
    results = await asyncio.gather(
        *(ledger.record([consent(f"g{i}", email=f"p{i}@example.com")]) for i in range(200))
    )
    ids = [result[0].id for result in results]
    assert len(set(ids)) == 200
    assert ledger.stats.calls == 200
    assert 1 <= ledger.stats.transactions < 200
    # Durable: another connection sees every one of them.
    reader = await open_ledger(database_url)
    try:
        assert (await reader.status_counts())[Status.PENDING] == 200
    finally:
        await reader.close()


async def test_one_call_is_atomic(ledger: Ledger) -> None:
    # A database-side refusal of one row must take the whole call (and its batch) with it.
    async with ledger.database.transaction() as tx:
        if ledger.dialect == "sqlite":
            await tx.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON consent_requests"
                " WHEN NEW.event_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            await tx.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF NEW.event_id = 'poison' THEN RAISE EXCEPTION 'refused'; END IF;"
                " RETURN NEW; END $$"
            )
            await tx.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON consent_requests"
                " FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    with pytest.raises(LedgerUnavailable, match="unavailable"):
        await ledger.record([consent("a"), consent("poison"), consent("b")])
    assert (await ledger.status_counts())[Status.PENDING] == 0
    assert ledger.stats.failed_transactions == 1
    await ledger.record([consent("a"), consent("b")])
    assert (await ledger.status_counts())[Status.PENDING] == 2


async def test_an_unstorable_request_is_named_and_the_rest_are_recorded(ledger: Ledger) -> None:
    fine, bad = consent("fine"), consent("nul\x00byte")
    other_caller, recording = await asyncio.gather(
        ledger.record([consent("other")]), ledger.record([fine, bad])
    )
    assert other_caller.new == [consent("other")]
    assert recording.stored == (fine,) and recording.new == [fine]
    [why] = recording.unstorable
    assert "NUL" in why and "nul" not in why  # named by a hash of its event id, not the id
    assert (await ledger.status_counts())[Status.PENDING] == 2
    assert list(await ledger.record([])) == []


async def test_close_commits_what_is_queued(database_url: str) -> None:
    opened = await open_ledger(database_url)
    await opened.migrate()
    tasks = [asyncio.create_task(opened.record([consent(f"q{i}")])) for i in range(20)]
    await asyncio.sleep(0)  # let every task queue its call
    await opened.close()
    assert all(not task.result()[0].duplicate for task in tasks)
    with pytest.raises(LedgerUnavailable):
        await opened.record([consent("late")])
    reopened = await open_ledger(database_url)
    try:
        assert (await reopened.status_counts())[Status.PENDING] == 20
    finally:
        await reopened.close()


# Claiming


async def test_claim_takes_the_oldest_events_first(ledger: Ledger) -> None:
    ids = await record(
        ledger,
        consent("late", email="a@example.com", minutes=5),
        consent("early", email="b@example.com", minutes=1),
        consent("middle", email="c@example.com", minutes=3),
    )
    assert await ledger.claim("w1", limit=5, lease_seconds=30, now=after(-1)) == []
    claimed = await ledger.claim("w1", limit=2, lease_seconds=30, now=NOW)
    assert [c.id for c in claimed] == [ids[1], ids[2]]
    assert [c.request.event_id for c in claimed] == ["early", "middle"]
    assert all(c.attempts == 1 and c.received_at == NOW for c in claimed)
    assert [c.id for c in await ledger.claim("w1", limit=5, lease_seconds=30, now=NOW)] == [ids[0]]
    counts = await ledger.status_counts()
    assert counts[Status.LEASED] == 3
    assert set(counts) == set(Status)


async def test_one_lease_per_contact_at_a_time(ledger: Ledger) -> None:
    jane = [await record(ledger, consent(f"j{i}", minutes=i)) for i in (2, 0, 1)]
    [bob] = await record(ledger, consent("b", email="bob@example.com", minutes=9))
    claimed = await ledger.claim("w1", limit=10, lease_seconds=30, now=NOW)
    assert [c.id for c in claimed] == [jane[1][0], bob]
    # Jane's lease is live: nothing of hers is handed out, to anyone.
    assert await ledger.claim("w2", limit=10, lease_seconds=30, now=after(1)) == []
    assert await ledger.finish(jane[1][0], "w1", Status.APPLIED, now=after(2))
    claimed = await ledger.claim("w2", limit=10, lease_seconds=30, now=after(3))
    assert [c.id for c in claimed] == [jane[2][0]]


async def test_expired_lease_is_taken_over_and_counted(ledger: Ledger) -> None:
    [request_id] = await record(ledger, consent("e"))
    [first] = await ledger.claim("w1", limit=1, lease_seconds=30, now=NOW)
    assert await ledger.claim("w2", limit=1, lease_seconds=30, now=after(29)) == []
    [second] = await ledger.claim("w2", limit=1, lease_seconds=30, now=after(31))
    assert (first.id, second.id) == (request_id, request_id)
    assert (first.attempts, second.attempts) == (1, 2)
    # The first worker finishing late must not overwrite what the second does.
    assert not await ledger.finish(request_id, "w1", Status.APPLIED, now=after(32))
    assert not await ledger.retry_later(
        request_id, "w1", error="x", next_attempt_at=after(60), now=after(32)
    )
    assert await ledger.finish(request_id, "w2", Status.DEAD, error="gave up", now=after(33))
    stored = await ledger.get(request_id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error) == (Status.DEAD, 2, "gave up")


async def test_extend_leases_keeps_a_request(ledger: Ledger) -> None:
    [request_id] = await record(ledger, consent("x"))
    await ledger.claim("w1", limit=1, lease_seconds=30, now=NOW)
    await ledger.extend_leases("w2", [request_id], lease_seconds=300, now=after(20))  # not its
    await ledger.extend_leases("w1", [request_id], lease_seconds=30, now=after(20))
    await ledger.extend_leases("w1", [], lease_seconds=30, now=after(20))
    assert await ledger.claim("w2", limit=1, lease_seconds=30, now=after(40)) == []
    [taken] = await ledger.claim("w2", limit=1, lease_seconds=30, now=after(51))
    assert taken.attempts == 2


# Settling


async def test_finish_stores_outcomes_and_clears_the_lease(ledger: Ledger) -> None:
    [request_id] = await record(ledger, consent("f"))
    await ledger.claim("w1", limit=1, lease_seconds=30, now=NOW)
    outcomes = [
        Outcome("c-1", "108", "attach", 200, "req-1", at=after(1)),
        Outcome("c-1", "109", "detach", 200, None, detail="already\x00off"),
    ]
    with pytest.raises(ValueError, match="terminal"):
        await ledger.finish(request_id, "w1", Status.PENDING, now=after(2))
    assert await ledger.finish(
        request_id, "w1", Status.APPLIED, outcomes=outcomes, applied=[("c-1", "108")], now=after(2)
    )
    stored = await ledger.get(request_id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (Status.APPLIED, 1)
    assert stored.outcomes == [
        outcomes[0],
        Outcome("c-1", "109", "detach", 200, None, detail="already\ufffdoff", at=after(2)),
    ]
    assert not await ledger.finish(request_id, "w1", Status.APPLIED, now=after(3))
    assert await ledger.claim("w1", limit=1, lease_seconds=30, now=after(100)) == []


async def last_applied(ledger: Ledger, contact_id: str, type_ids: list[str]) -> dict[str, datetime]:
    """The stored time of the newest applied event, per type id that has one."""
    async with ledger.database.transaction(write=False) as tx:
        found = await queries.last_applied(tx, contact_id, type_ids)
    return {type_id: from_micros(micros) for type_id, micros in found.items()}


async def test_last_applied_keeps_the_newest_event(ledger: Ledger) -> None:
    # Two identities of one Intercom contact: separate queues, one last_applied row.
    older, newer = await record(
        ledger,
        consent("old", email="jane@example.com", minutes=1),
        consent("new", email="jane@work.example.com", minutes=5),
    )
    assert len(await ledger.claim("w", limit=5, lease_seconds=30, now=NOW)) == 2
    assert await ledger.finish(
        newer, "w", Status.APPLIED, applied=[("c-1", "108"), ("c-1", "109")], now=after(1)
    )
    assert await ledger.finish(
        older, "w", Status.APPLIED, applied=[("c-1", "108"), ("c-1", "108")], now=after(2)
    )
    found = await last_applied(ledger, "c-1", ["108", "109", "110"])
    assert found == {"108": T0 + timedelta(minutes=5), "109": T0 + timedelta(minutes=5)}
    assert await last_applied(ledger, "c-2", ["108"]) == {}

    # A newer event moves it forward; occurred_at can be given explicitly.
    [newest] = await record(ledger, consent("newest", minutes=9))
    await ledger.claim("w", limit=5, lease_seconds=30, now=after(3))
    later = T0 + timedelta(minutes=7, microseconds=1)
    assert await ledger.finish(
        newest, "w", Status.APPLIED, applied=[("c-1", "108")], occurred_at=later, now=after(4)
    )
    assert (await last_applied(ledger, "c-1", ["108"]))["108"] == later


async def test_retry_later_waits_and_can_refund_the_attempt(ledger: Ledger) -> None:
    [request_id] = await record(ledger, consent("r"))
    await ledger.claim("w", limit=1, lease_seconds=30, now=NOW)
    assert await ledger.retry_later(
        request_id,
        "w",
        error="Intercom 500",
        next_attempt_at=after(60),
        outcomes=[Outcome("c-1", "108", "attach", 500, "req-9")],
        now=after(1),
    )
    stored = await ledger.get(request_id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error) == (
        Status.PENDING,
        1,
        "Intercom 500",
    )
    assert stored.next_attempt_at == after(60)
    assert [o.http_status for o in stored.outcomes] == [500]
    assert await ledger.claim("w", limit=1, lease_seconds=30, now=after(59)) == []

    [again] = await ledger.claim("w", limit=1, lease_seconds=30, now=after(60))
    assert again.attempts == 2
    assert await ledger.retry_later(
        request_id, "w", error="rate limited", next_attempt_at=after(90), refund_attempt=True,
        now=after(61),
    )  # fmt: skip
    [third] = await ledger.claim("w", limit=1, lease_seconds=30, now=after(90))
    assert third.attempts == 2


async def test_release_hands_leases_back_at_once(ledger: Ledger) -> None:
    ids = await record(
        ledger, *(consent(f"l{i}", email=f"p{i}@example.com", minutes=i) for i in range(3))
    )
    assert len(await ledger.claim("w1", limit=3, lease_seconds=300, now=NOW)) == 3
    assert await ledger.release("w2", now=after(1)) == 0
    assert await ledger.release("w1", [ids[0]], now=after(1)) == 1
    assert await ledger.release("w1", [], now=after(1)) == 0
    assert await ledger.release("w1", now=after(1)) == 2
    counts = await ledger.status_counts()
    assert (counts[Status.PENDING], counts[Status.LEASED]) == (3, 0)
    claimed = await ledger.claim("w2", limit=3, lease_seconds=30, now=after(2))
    assert [c.id for c in claimed] == ids
    assert all(c.attempts == 1 for c in claimed)


async def test_replay_makes_failed_requests_due_again(ledger: Ledger) -> None:
    ids = await record(
        ledger, *(consent(f"p{i}", email=f"p{i}@example.com", minutes=i) for i in range(4))
    )
    await ledger.claim("w", limit=4, lease_seconds=30, now=NOW)
    settled = [Status.DEAD, Status.UNMATCHED, Status.APPLIED]
    for request_id, status in zip(ids[:3], settled, strict=True):
        assert await ledger.finish(request_id, "w", status, error="no", now=after(1))

    assert await ledger.replay(now=after(10)) == 2  # dead and unmatched; ids[3] is leased
    stored = await ledger.get(ids[0])
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (
        Status.PENDING,
        0,
        after(10),
    )
    assert await ledger.replay(ids=[ids[2], ids[3]], now=after(10)) == 1  # not the leased one
    assert await ledger.replay(statuses=[Status.DEAD], now=after(10)) == 0
    counts = await ledger.status_counts()
    assert (counts[Status.PENDING], counts[Status.LEASED], counts[Status.APPLIED]) == (3, 1, 0)
    assert len(await ledger.claim("w2", limit=4, lease_seconds=30, now=after(10))) == 3


# Reading


async def test_list_requests_filters_newest_first(ledger: Ledger) -> None:
    ids = await record(
        ledger,
        consent("1", email="a@example.com"),
        consent("2", email="b@example.com", minutes=1),
        consent("3", email="a@example.com", minutes=2),
    )
    await ledger.claim("w", limit=1, lease_seconds=30, now=NOW)
    assert [r.id for r in await ledger.list_requests()] == ids[::-1]
    assert [r.id for r in await ledger.list_requests(limit=1)] == [ids[2]]
    by_contact = await ledger.list_requests(contact_key="email:a@example.com")
    assert [r.id for r in by_contact] == [ids[2], ids[0]]
    assert [r.id for r in await ledger.list_requests(status=Status.LEASED)] == [ids[0]]
    assert await ledger.list_requests(status=Status.DEAD) == []


async def test_oldest_due_age(ledger: Ledger) -> None:
    assert await ledger.oldest_due_age(NOW) is None
    await record(ledger, consent("o"))
    await ledger.record([consent("later", email="x@example.com")], received_at=after(30))
    assert await ledger.oldest_due_age(after(-1)) is None
    assert await ledger.oldest_due_age(after(90)) == 90.0


# Failure


async def test_unavailable_database_raises_ledger_unavailable(ledger: Ledger) -> None:
    await ledger.ping()
    await ledger.database.close()  # the database goes away underneath a running ledger
    with pytest.raises(LedgerUnavailable):
        await ledger.ping()
    results = await asyncio.gather(
        ledger.record([consent("a")]), ledger.record([consent("b")]), return_exceptions=True
    )
    assert all(isinstance(r, LedgerUnavailable) for r in results)
    with pytest.raises(LedgerUnavailable):
        await ledger.claim("w", limit=1, lease_seconds=30, now=NOW)
    with pytest.raises(LedgerUnavailable):
        await ledger.status_counts()


@pytest.mark.postgres
async def test_postgres_survives_killed_connections(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    await record(postgres_ledger, consent("before"))
    async with raw_connection(postgres_url) as conn:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = current_schema() AND pid <> pg_backend_pid()"
        )
    await record(postgres_ledger, consent("after"))  # the pool replaces dead connections
    assert (await postgres_ledger.status_counts())[Status.PENDING] == 2


@pytest.mark.postgres
async def test_postgres_claim_skips_rows_another_claimer_holds(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    jane, bob = await record(
        postgres_ledger, consent("j"), consent("b", email="bob@example.com", minutes=1)
    )
    async with raw_connection(postgres_url) as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM request_state WHERE request_id = %s FOR UPDATE", [jane])
        # Not blocked: the held row is passed over and the next contact's taken.
        claimed = await asyncio.wait_for(
            postgres_ledger.claim("w", limit=5, lease_seconds=30, now=NOW), timeout=5
        )
        assert [c.id for c in claimed] == [bob]
    assert [c.id for c in await postgres_ledger.claim("w", limit=5, lease_seconds=30, now=NOW)] == [
        jane
    ]


@pytest.mark.postgres
async def test_postgres_claim_skips_contacts_another_claimer_holds(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    jane, bob = await record(
        postgres_ledger, consent("j"), consent("b", email="bob@example.com", minutes=1)
    )
    async with raw_connection(postgres_url) as conn, conn.transaction():
        # What a concurrent claimer holds while it leases one of Jane's requests.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(1651665252, hashtext('email:jane@example.com'))"
        )
        claimed = await postgres_ledger.claim("w", limit=5, lease_seconds=30, now=NOW)
        assert [c.id for c in claimed] == [bob]
    assert [c.id for c in await postgres_ledger.claim("w", limit=5, lease_seconds=30, now=NOW)] == [
        jane
    ]


async def test_postgres_unreachable_is_unavailable_without_the_password() -> None:
    database = PostgresDatabase("postgresql://bridge:hunter2@127.0.0.1:9/ledger", timeout=0.2)
    with pytest.raises(LedgerUnavailable) as raised:
        await database.open()
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["mysql://bridge:hunter2@db/ledger", "bridge:hunter2@db/ledger", "sqlite://hunter2"]
)
async def test_bad_urls_name_the_scheme_not_the_password(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        await open_ledger(url)
    assert "hunter2" not in str(raised.value)
    if url.startswith("mysql"):
        assert "'mysql'" in str(raised.value)


async def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, path in [
        ("sqlite:///relative.db", tmp_path / "relative.db"),
        (f"sqlite:///{tmp_path / 'absolute.db'}", tmp_path / "absolute.db"),
    ]:
        opened = await open_ledger(url)
        await opened.close()
        assert path.exists()
        assert opened.dialect == "sqlite"


# Concurrency


async def test_concurrent_claimers_never_share_a_contact(ledger: Ledger, database_url: str) -> None:
    contacts = [f"c{i}@example.com" for i in range(8)]
    await ledger.record(
        [consent(f"{c}-{n}", email=c, minutes=n) for c in contacts for n in range(4)],
        received_at=NOW,
    )
    workers = [ledger, await open_ledger(database_url), await open_ledger(database_url)]
    done: list[tuple[str, float]] = []
    try:
        for round_ in range(40):
            now = after(round_)
            batches = await asyncio.gather(
                *(
                    w.claim(f"w{i}", limit=3, lease_seconds=60, now=now)
                    for i, w in enumerate(workers)
                )
            )
            claimed = [c for batch in batches for c in batch]
            assert len({c.id for c in claimed}) == len(claimed)
            keys = [c.request.identity.key for c in claimed]
            assert len(set(keys)) == len(keys)
            await asyncio.gather(
                *(
                    workers[i].finish(c.id, f"w{i}", Status.APPLIED, now=now)
                    for i, batch in enumerate(batches)
                    for c in batch
                )
            )
            done += [(c.request.identity.key, c.request.occurred_at.timestamp()) for c in claimed]
            if len(done) == 32:
                break
    finally:
        for worker in workers[1:]:
            await worker.close()
    assert len(done) == 32
    for contact in contacts:  # each contact's requests in the order they happened
        times = [t for key, t in done if key == f"email:{contact}"]
        assert times == sorted(times) and len(times) == 4


async def test_free_running_workers_with_skewed_clocks(ledger: Ledger, database_url: str) -> None:
    # Each worker's clock is a little off and every third attempt fails, so workers disagree
    # about which of a contact's requests is due: the case row locks alone do not cover.
    contacts = [f"s{i}@example.com" for i in range(12)]
    await ledger.record(
        [consent(f"{c}-{n}", email=c, minutes=n) for c in contacts for n in range(3)],
        received_at=NOW,
    )
    workers = [ledger, *[await open_ledger(database_url) for _ in range(3)]]
    held: dict[str, str] = {}  # contact key -> worker, as the claims report it
    applied: list[int] = []
    attempts = 0

    async def work(index: int) -> None:
        nonlocal attempts
        name, worker = f"w{index}", workers[index]
        for step in range(60):
            now = after(step + index * 0.3)
            for claimed in await worker.claim(name, limit=2, lease_seconds=600, now=now):
                key = claimed.request.identity.key
                assert key not in held, f"{key} leased to {held.get(key)} and {name}"
                held[key] = name
                await asyncio.sleep(0)  # let the other workers claim meanwhile
                attempts += 1
                del held[key]  # before settling: the lease ends at that commit
                if attempts % 3 == 0:
                    later = now + timedelta(seconds=0.5)
                    assert await worker.retry_later(
                        claimed.id, name, error="flaky", next_attempt_at=later, now=now
                    )
                else:
                    assert await worker.finish(claimed.id, name, Status.APPLIED, now=now)
                    applied.append(claimed.id)
            if len(applied) == 36:
                return

    try:
        await asyncio.gather(*(work(i) for i in range(len(workers))))
    finally:
        for worker in workers[1:]:
            await worker.close()
    assert len(applied) == len(set(applied)) == 36


async def test_a_cancelled_transaction_leaves_the_ledger_usable(ledger: Ledger) -> None:
    """A worker killed mid-transaction must not leave the connection inside it."""
    entered = asyncio.Event()

    async def stuck() -> None:
        async with ledger.database.transaction() as tx:
            await tx.execute("SELECT 1")
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(stuck())
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    [recorded] = await ledger.record([consent("after-cancel")])
    assert (await ledger.get(recorded.id)) is not None


async def test_cancelled_while_waiting_to_begin_leaves_sqlite_usable(tmp_path: Path) -> None:
    """The BEGIN a cancelled task was waiting on still runs on the thread; it is rolled back."""
    path = tmp_path / "busy.db"
    ledger = await open_ledger(f"sqlite:///{path}")
    await ledger.migrate()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock, so our BEGIN IMMEDIATE waits
    try:
        task = asyncio.create_task(ledger.claim("w", limit=1, lease_seconds=60, now=NOW))
        await asyncio.sleep(0.2)  # the writer thread is now inside BEGIN IMMEDIATE, waiting
        task.cancel()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await asyncio.gather(task, return_exceptions=True)
    [recorded] = await ledger.record([consent("after")])
    assert (await ledger.get(recorded.id)) is not None
    await ledger.close()


# A person's unsettled requests (the preference page's overlay)


async def test_unsettled_lists_a_persons_pending_and_leased_requests_oldest_first(
    ledger: Ledger,
) -> None:
    ids = await record(
        ledger,
        consent("second", minutes=2),
        consent("first", minutes=1, wanted=Wanted.SUBSCRIBED),
        consent("third", minutes=3),
        consent("someone else", email="bob@example.com", minutes=10),
    )
    [claimed] = await ledger.claim("w1", limit=1, lease_seconds=30, now=NOW)
    assert claimed.id == ids[1]
    mine = Identity(email="jane@example.com").key
    assert [r.event_id for r in await ledger.unsettled(mine)] == ["first", "second", "third"]
    await ledger.finish(ids[1], "w1", Status.APPLIED, now=NOW)
    assert [r.event_id for r in await ledger.unsettled(mine)] == ["second", "third"]
    assert [r.event_id for r in await ledger.unsettled(mine, limit=1)] == ["second"]
    assert await ledger.unsettled(Identity(email="nobody@example.com").key) == []
