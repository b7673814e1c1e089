"""Tests for bridge.ledger.migrations, on each database the ledger suite runs on."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bridge.ledger import Ledger, Status, open_ledger
from bridge.ledger import migrations as migrations_module
from bridge.ledger.codec import to_micros
from bridge.ledger.migrations import MIGRATIONS
from tests.ledger.conftest import NOW, T0, consent

NAMES = [migration.name for migration in MIGRATIONS]


async def test_migrate_applies_everything_once(database_url: str) -> None:
    ledger = await open_ledger(database_url)
    try:
        assert await ledger.pending_migrations() == NAMES
        assert await ledger.pending_migrations() == NAMES  # asking changes nothing
        assert await ledger.migrate() == NAMES
        assert await ledger.pending_migrations() == []
        assert await ledger.migrate() == []
        async with ledger.database.transaction(write=False) as tx:
            rows = await tx.fetchall("SELECT version, name, applied_at FROM schema_migrations")
        assert [(row["version"], row["name"]) for row in rows] == [
            (m.version, m.name) for m in MIGRATIONS
        ]
        assert all(row["applied_at"] > 0 for row in rows)
    finally:
        await ledger.close()


async def test_processes_starting_together_migrate_once(database_url: str) -> None:
    ledgers = [await open_ledger(database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(ledger.migrate() for ledger in ledgers))
        assert sorted(name for names in applied for name in names) == NAMES
        assert [await ledger.pending_migrations() for ledger in ledgers] == [[], [], []]
    finally:
        for ledger in ledgers:
            await ledger.close()


def test_migrations_are_ordered_and_unique() -> None:
    versions = [migration.version for migration in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert len(set(NAMES)) == len(NAMES)


async def _insert_as_before(
    ledger: Ledger, row: dict[str, object], *, status: str = "pending", error: str | None = None
) -> int:
    """A request and its state inserted by hand, as an older schema stored them; its id."""
    async with ledger.database.transaction() as tx:
        inserted = await tx.fetchone(
            f"INSERT INTO consent_requests ({', '.join(row)})"
            f" VALUES ({', '.join(':' + name for name in row)}) RETURNING id",
            row,
        )
        assert inserted is not None
        await tx.execute(
            "INSERT INTO request_state (request_id, contact_key, occurred_at, status,"
            " next_attempt_at, last_error, updated_at)"
            " VALUES (:id, :key, :at, :status, :now, :error, :now)",
            {
                "id": inserted["id"],
                "key": row["contact_key"],
                "at": row["occurred_at"],
                "status": status,
                "error": error,
                "now": row["received_at"],
            },
        )
    return int(inserted["id"])


def _old_row(event_id: str, contact: str) -> dict[str, object]:
    """consent_requests' columns as 0001 had them: a subscribe from `contact`'s email."""
    return {
        "source": "sendgrid",
        "event_id": event_id,
        "received_at": to_micros(NOW),
        "occurred_at": to_micros(T0),
        "contact_key": f"email:{contact}",
        "identity": f'{{"email":"{contact}"}}',
        "wanted": "subscribed",
        "scope": '{"channel":"email"}',
        "context": "{}",
    }


async def test_requests_recorded_before_0005_read_back_without_leave_to_create(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = await open_ledger(database_url)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:4])
            assert await ledger.migrate() == NAMES[:4]
        # A request as the schema before 0005 stored it, with no create_contact column.
        old_id = await _insert_as_before(ledger, _old_row("old-1", "old@example.com"))
        assert await ledger.migrate() == NAMES[4:]
        old = await ledger.get(old_id)
        assert old is not None
        # 0006 rebuilds request_state on SQLite: the state is kept, and still claimable.
        assert (old.request.event_id, old.request.create, old.request.confirm, old.status) == (
            "old-1",
            None,
            None,
            Status.PENDING,
        )
        [claimed] = await ledger.claim("w", limit=1, lease_seconds=60, now=NOW)
        assert claimed.id == old_id
    finally:
        await ledger.close()


async def _request_state_indexes(ledger: Ledger) -> set[str]:
    """The names of request_state's indexes, as the database lists them."""
    sql = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name = 'request_state' AND sql IS NOT NULL",
        "postgresql": "SELECT indexname AS name FROM pg_indexes"
        " WHERE tablename = 'request_state' AND indexname <> 'request_state_pkey'",
    }[ledger.dialect]
    async with ledger.database.transaction(write=False) as tx:
        return {row["name"] for row in await tx.fetchall(sql)}


async def test_0008_keeps_requests_recorded_before_with_their_state_and_indexes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = await open_ledger(database_url)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:7])
            assert await ledger.migrate() == NAMES[:7]
        indexes = await _request_state_indexes(ledger)
        statuses = ["pending", "dead", "awaiting_confirmation"]
        ids = [
            await _insert_as_before(
                ledger,
                _old_row(f"old-{n}", f"old{n}@example.com"),
                status=status,
                error="boom" if status == "dead" else None,
            )
            for n, status in enumerate(statuses)
        ]
        assert await ledger.migrate() == NAMES[7:]
        # SQLite rebuilt the table: every index is back, the awaiting one too.
        assert await _request_state_indexes(ledger) == indexes
        assert "request_state_awaiting" in indexes
        old = {r.id: r for r in await ledger.list_requests()}
        assert [(old[i].status.value, old[i].request.hold) for i in ids] == [
            (status, False) for status in statuses
        ]
        assert old[ids[1]].last_error == "boom"
        # The widened CHECK takes the new statuses.
        [new] = await ledger.record([replace(consent("new"), hold=True)], received_at=NOW)
        assert await ledger.dismiss_held(new.id, now=NOW)
        counts = await ledger.status_counts()
        assert (counts[Status.PENDING], counts[Status.DEAD], counts[Status.DISMISSED]) == (1, 1, 1)
        [claimed] = await ledger.claim("w", limit=5, lease_seconds=60, now=NOW)
        assert claimed.id == ids[0]
    finally:
        await ledger.close()


async def test_0009_keeps_requests_recorded_before_and_their_hashes_without_bodies(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = await open_ledger(database_url)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:8])
            assert await ledger.migrate() == NAMES[:8]
        old_id = await _insert_as_before(
            ledger, {**_old_row("old-1", "old@example.com"), "payload_sha256": "ab" * 32}
        )
        assert await ledger.migrate() == ["0009_payloads"]
        story = await ledger.history.story(old_id)
        assert story is not None
        # The hash is kept; a body was never stored before 0009, so none is kept now.
        assert (story.record.payload_sha256, story.payload) == ("ab" * 32, None)
        [new] = await ledger.record([consent("new")], payload=b"{}", received_at=NOW)
        story = await ledger.history.story(new.id)
        assert story is not None and story.payload is not None and story.payload.size == 2
    finally:
        await ledger.close()
