"""Tests for bridge.ledger.recorder: group commit, duplicates and atomic calls, on each database."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ledger import Ledger, LedgerUnavailable, Recorded, Status, open_ledger
from tests.ledger.conftest import NOW, after, consent


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
