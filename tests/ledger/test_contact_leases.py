"""Tests for bridge.ledger.contact_leases, through the Ledger, on each database."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest

from bridge.consent import ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import Ledger, Status, open_ledger
from tests.ledger.conftest import NOW, T0, after, raw_connection

_PEOPLE = itertools.count()


async def claimed(ledger: Ledger, count: int, owner: str = "w1") -> list[int]:
    """Record `count` requests from new people, oldest first, and lease them all to `owner`."""
    numbers = [next(_PEOPLE) for _ in range(count)]
    recorded = await ledger.record(
        [
            ConsentRequest(
                # Unique: PostgreSQL claims lock people's keys server-wide, across test schemas.
                Identity(email=f"p{n}-{uuid4().hex}@example.com"),
                Wanted.UNSUBSCRIBED,
                Scope(type_ids=("108",)),
                T0 + timedelta(minutes=n),
                "test",
                f"e{n}",
            )
            for n in numbers
        ],
        received_at=NOW,
    )
    leased = await ledger.claim(owner, limit=count, lease_seconds=30, now=NOW)
    assert len(leased) == count
    return [r.id for r in recorded]


async def take(
    ledger: Ledger, request_id: int, *contacts: str, at: float = 0, owner: str = "w1"
) -> bool:
    """Lease contacts to a request for 30 seconds, `at` seconds after NOW; whether it got them."""
    newest = await ledger.take_contacts(
        request_id, owner, list(contacts), ["108"], lease_seconds=30, now=after(at)
    )
    return newest is not None


async def leases(ledger: Ledger) -> list[tuple[str, int, str]]:
    """Every contact lease as (contact, request, owner)."""
    async with ledger.database.transaction(write=False) as tx:
        rows = await tx.fetchall(
            "SELECT contact_id, request_id, lease_owner FROM contact_leases ORDER BY contact_id"
        )
    return [(row["contact_id"], row["request_id"], row["lease_owner"]) for row in rows]


async def test_one_request_at_a_time_per_contact_even_in_one_worker(ledger: Ledger) -> None:
    first, second = await claimed(ledger, 2)
    assert await take(ledger, first, "c-1")
    assert not await take(ledger, second, "c-1")  # same owner, another request: busy
    assert await take(ledger, second, "c-2")
    assert await take(ledger, first, "c-1", "c-1")  # its own lease, asked again
    assert await leases(ledger) == [("c-1", first, "w1"), ("c-2", second, "w1")]


async def test_a_request_takes_all_its_contacts_or_none(ledger: Ledger) -> None:
    holder, wanting, other = await claimed(ledger, 3)
    assert await take(ledger, holder, "c-2")
    assert not await take(ledger, wanting, "c-3", "c-2", "c-1")
    assert await leases(ledger) == [("c-2", holder, "w1")]  # it kept none of the free ones
    assert await take(ledger, other, "c-1", "c-3")


async def test_an_expired_lease_is_taken_over(ledger: Ledger) -> None:
    crashed, next_one = await claimed(ledger, 2)
    assert await take(ledger, crashed, "c-1")
    assert not await take(ledger, next_one, "c-1", at=30)  # lasts to its last microsecond
    assert await take(ledger, next_one, "c-1", at=31, owner="w2")
    assert await leases(ledger) == [("c-1", next_one, "w2")]


async def test_finish_and_retry_later_end_the_leases_in_their_transaction(
    ledger: Ledger,
) -> None:
    first, second, third = await claimed(ledger, 3)
    assert await take(ledger, first, "c-1", "c-2")
    assert await ledger.finish(first, "w1", Status.APPLIED, applied=[("c-1", "108")], now=after(1))
    # At once, not when the lease would lapse, and with last_applied already moved.
    newest = await ledger.take_contacts(
        second, "w1", ["c-1", "c-2"], ["108", "109"], lease_seconds=30, now=after(1)
    )
    settled = await ledger.get(first)
    assert settled is not None
    assert newest == {"c-1": {"108": settled.request.occurred_at}, "c-2": {}}
    assert await ledger.retry_later(
        second, "w1", error="Intercom 503", next_attempt_at=after(60), now=after(2)
    )
    assert await take(ledger, third, "c-2", at=2)
    assert await leases(ledger) == [("c-2", third, "w1")]


async def test_release_hands_back_only_the_owner_s_contacts(ledger: Ledger) -> None:
    mine, also_mine = await claimed(ledger, 2)
    [theirs] = await claimed(ledger, 1, owner="w2")
    assert await take(ledger, mine, "c-1")
    assert await take(ledger, also_mine, "c-2")
    assert await take(ledger, theirs, "c-3", owner="w2")
    assert await ledger.release("w1", [mine], now=after(1)) == 1
    assert await leases(ledger) == [("c-2", also_mine, "w1"), ("c-3", theirs, "w2")]
    assert await ledger.release("w1", now=after(1)) == 1
    assert await leases(ledger) == [("c-3", theirs, "w2")]


async def test_a_worker_that_lost_the_request_leaves_its_new_holder_s_contacts(
    ledger: Ledger,
) -> None:
    [request_id] = await claimed(ledger, 1)
    [other] = await claimed(ledger, 1, owner="w3")
    assert await take(ledger, request_id, "c-1", at=10)  # the contact's lease lasts to 40
    # w1 stalls past its request's lease; w2 takes the request over, and its contact with it.
    [again] = await ledger.claim("w2", limit=1, lease_seconds=30, now=after(31))
    assert again.id == request_id
    assert await take(ledger, request_id, "c-1", at=31, owner="w2")
    assert not await ledger.finish(request_id, "w1", Status.APPLIED, now=after(32))
    assert await ledger.release("w1", now=after(32)) == 0
    assert not await take(ledger, other, "c-1", at=32, owner="w3")
    assert await ledger.finish(request_id, "w2", Status.APPLIED, now=after(33))
    assert await take(ledger, other, "c-1", at=33, owner="w3")


async def test_the_heartbeat_extends_contact_leases_with_request_leases(ledger: Ledger) -> None:
    held, waiting = await claimed(ledger, 2)
    assert await take(ledger, held, "c-1")
    await ledger.extend_leases("w2", [held], lease_seconds=300, now=after(20))  # not its own
    await ledger.extend_leases("w1", [held], lease_seconds=30, now=after(20))
    assert not await take(ledger, waiting, "c-1", at=40)  # would have lapsed at 30
    assert not await take(ledger, waiting, "c-1", at=50)
    assert await take(ledger, waiting, "c-1", at=51)  # w2's extension changed nothing


async def test_concurrent_takers_never_both_win(ledger: Ledger, database_url: str) -> None:
    ids = await claimed(ledger, 12)
    others = [await open_ledger(database_url) for _ in range(2)]
    ledgers = [ledger, *others]
    try:
        for at in (0, 31):  # a free contact, then the same contact's lapsed lease
            won = await asyncio.gather(
                *(
                    take(ledgers[i % 3], request_id, "c-1", "c-2", at=at, owner=f"w{i % 3}")
                    for i, request_id in enumerate(ids)
                )
            )
            assert sum(won) == 1
            [winner] = [request_id for request_id, ok in zip(ids, won, strict=True) if ok]
            assert [lease[1] for lease in await leases(ledger)] == [winner, winner]
    finally:
        for other in others:
            await other.close()


@pytest.mark.postgres
async def test_postgres_take_waits_for_an_uncommitted_lease(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    ledger = postgres_ledger
    first, second = await claimed(ledger, 2)
    async with raw_connection(postgres_url) as conn:
        async with conn.transaction():
            # Another process, mid-way through taking the contact for the first request.
            await conn.execute(
                "INSERT INTO contact_leases (contact_id, request_id, lease_owner, lease_until)"
                " VALUES ('c-1', %s, 'w9', %s)",
                [first, 2**62],
            )
            waiting = asyncio.create_task(take(ledger, second, "c-1"))
            async with asyncio.timeout(5):
                # Only the server knows when the take starts waiting: ask it.
                while not await _waiting_for_a_lock(conn):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            assert not waiting.done()
        # Committed: the waiting take now sees a live lease, and neither errs nor takes it.
        assert not await waiting
    assert await leases(ledger) == [("c-1", first, "w9")]


async def _waiting_for_a_lock(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
    cursor = await conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = current_schema() AND wait_event_type = 'Lock'"
    )
    row = await cursor.fetchone()
    return row is not None and row[0] == 1
