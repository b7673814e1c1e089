"""Tests for bridge.ledger.sqlite: file URLs and a BEGIN cancelled while it waits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bridge.ledger import open_ledger
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
