"""Tests for bridge.ledger.leases: claiming, extending, settling and releasing, on each database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from bridge.ledger import Ledger, Outcome, Status, open_ledger, queries
from bridge.ledger.codec import from_micros
from tests.ledger.conftest import NOW, T0, after, consent, raw_connection, record

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


# PostgreSQL's row and contact locks


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
