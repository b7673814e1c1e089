"""Tests for bridge.ledger.sqlite: file URLs and a BEGIN cancelled while it waits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bridge.ledger import Ledger, open_ledger
from bridge.ledger.sqlite import SQLiteDatabase
from tests.conftest import migrated_ledger
from tests.ledger.conftest import NOW, consent


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


def statement_started(ledger: Ledger, sql: str) -> asyncio.Event:
    """An event set when the ledger's SQLite connection starts to run `sql`, on any thread."""
    database = ledger.database
    assert isinstance(database, SQLiteDatabase)
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def trace(statement: str) -> None:
        # SQLite calls this as the statement starts, before BEGIN IMMEDIATE waits for the lock.
        if statement == sql:
            loop.call_soon_threadsafe(started.set)

    assert database._conn is not None
    database._conn.set_trace_callback(trace)
    return started


async def test_cancelled_while_waiting_to_begin_leaves_sqlite_usable(tmp_path: Path) -> None:
    """The BEGIN a cancelled task was waiting on still runs on the thread; it is rolled back."""
    path = tmp_path / "busy.db"
    async with migrated_ledger(f"sqlite:///{path}") as ledger:
        begun = statement_started(ledger, "BEGIN IMMEDIATE")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock, so our BEGIN IMMEDIATE waits
        try:
            task = asyncio.create_task(ledger.claim("w", limit=1, lease_seconds=60, now=NOW))
            await asyncio.wait_for(begun.wait(), timeout=5)
            # The writer thread is inside BEGIN IMMEDIATE, which cannot finish before ROLLBACK.
            assert not task.done()
            task.cancel()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        [recorded] = await ledger.record([consent("after")])
        assert (await ledger.get(recorded.id)) is not None
