"""Tests for bridge.ledger.migrations, on each database the ledger suite runs on."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ledger import Status, open_ledger
from bridge.ledger import migrations as migrations_module
from bridge.ledger.codec import to_micros
from bridge.ledger.migrations import MIGRATIONS
from tests.ledger.conftest import NOW, T0

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


async def test_requests_recorded_before_0005_read_back_without_leave_to_create(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = await open_ledger(database_url)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:4])
            assert await ledger.migrate() == NAMES[:4]
        # A request as the schema before 0005 stored it, with no create_contact column.
        row = {
            "source": "sendgrid",
            "event_id": "old-1",
            "received_at": to_micros(NOW),
            "occurred_at": to_micros(T0),
            "contact_key": "email:old@example.com",
            "identity": '{"email":"old@example.com"}',
            "wanted": "subscribed",
            "scope": '{"channel":"email"}',
            "context": "{}",
        }
        async with ledger.database.transaction() as tx:
            inserted = await tx.fetchone(
                f"INSERT INTO consent_requests ({', '.join(row)})"
                f" VALUES ({', '.join(':' + name for name in row)}) RETURNING id",
                row,
            )
            assert inserted is not None
            await tx.execute(
                "INSERT INTO request_state (request_id, contact_key, occurred_at, status,"
                " next_attempt_at, updated_at) VALUES (:id, :key, :at, 'pending', :now, :now)",
                {
                    "id": inserted["id"],
                    "key": row["contact_key"],
                    "at": row["occurred_at"],
                    "now": row["received_at"],
                },
            )
        assert await ledger.migrate() == NAMES[4:]
        old = await ledger.get(inserted["id"])
        assert old is not None
        # 0006 rebuilds request_state on SQLite: the state is kept, and still claimable.
        assert (old.request.event_id, old.request.create, old.request.confirm, old.status) == (
            "old-1",
            None,
            None,
            Status.PENDING,
        )
        [claimed] = await ledger.claim("w", limit=1, lease_seconds=60, now=NOW)
        assert claimed.id == inserted["id"]
    finally:
        await ledger.close()
