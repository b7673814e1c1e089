"""Tests for bridge.ledger.postgres: a pool that survives killed connections, safe errors."""

from __future__ import annotations

import pytest

from bridge.ledger import Ledger, LedgerUnavailable, Status
from bridge.ledger.postgres import PostgresDatabase
from tests.ledger.conftest import consent, raw_connection, record


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


async def test_postgres_unreachable_is_unavailable_without_the_password() -> None:
    database = PostgresDatabase("postgresql://bridge:hunter2@127.0.0.1:9/ledger", timeout=0.2)
    with pytest.raises(LedgerUnavailable) as raised:
        await database.open()
    assert "hunter2" not in str(raised.value)
