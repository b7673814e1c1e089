"""Tests for bridge.ledger.database: URLs, unavailability and cancellation, on each database."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ledger import Ledger, LedgerUnavailable, open_ledger
from tests.ledger.conftest import NOW, consent


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


@pytest.mark.parametrize(
    "url", ["mysql://bridge:hunter2@db/ledger", "bridge:hunter2@db/ledger", "sqlite://hunter2"]
)
async def test_bad_urls_name_the_scheme_not_the_password(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        await open_ledger(url)
    assert "hunter2" not in str(raised.value)
    if url.startswith("mysql"):
        assert "'mysql'" in str(raised.value)
