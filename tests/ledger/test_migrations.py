"""Tests for bridge.ledger.migrations, on each database the ledger suite runs on."""

from __future__ import annotations

import asyncio

from bridge.ledger import open_ledger
from bridge.ledger.migrations import MIGRATIONS

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
