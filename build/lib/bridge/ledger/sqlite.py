"""The SQLite side of the database layer: one connection, its waits kept off the event loop.

Statements inside a transaction run on the event loop itself: they take microseconds, and a
hop to a thread per statement would cost more CPU than the statement and stretch every
transaction over several loop iterations, which under load is what makes callers wait. Only
what can block goes to the connection's own thread: BEGIN IMMEDIATE (it may wait for another
process's write lock) and a writing COMMIT (it syncs the WAL to disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from .database import Params, Row, to_qmark, unavailable
from .models import LedgerUnavailable

T = TypeVar("T")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


async def _uncancellable(work: Awaitable[None]) -> None:
    """Await `work` to the end even if this task is cancelled meanwhile, then re-raise that."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


class SQLiteTransaction:
    """Statements of one SQLite transaction, run inline (see the module's docstring)."""

    def __init__(self, database: SQLiteDatabase) -> None:
        self._database = database

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        _, rowcount = self._database.run_inline(sql, params)
        return rowcount

    async def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a statement; every row it returned."""
        rows, _ = self._database.run_inline(sql, params)
        return rows

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        """Run a statement; its first row, or None."""
        rows, _ = self._database.run_inline(sql, params)
        return rows[0] if rows else None


class SQLiteDatabase:
    """A SQLite file in WAL mode with `synchronous=FULL`, so a commit survives a power cut."""

    dialect = "sqlite"

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        # sqlite3 connections belong to one thread, and blocking calls must stay off the loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        # One connection, so transactions must not interleave their statements.
        self._lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        """Open the file (creating it) and set the pragmas every connection needs."""

        def connect() -> sqlite3.Connection:
            # isolation_level=None: the module must not BEGIN on its own; we say when and how.
            # check_same_thread=False: the loop and the thread take turns, never at once (the
            # asyncio lock serialises transactions, and every thread call is awaited).
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.row_factory = _dict_row
                conn.execute("PRAGMA journal_mode = WAL")
                # FULL syncs the WAL on every commit: an acknowledged request survives power loss.
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            self._conn = await self._call(connect)
        except sqlite3.Error as exc:
            self._executor.shutdown(wait=False)
            raise unavailable(exc) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerUnavailable("the ledger database is closed")
        return self._conn

    def _statement(self, sql: str, params: Params | None) -> Callable[[], tuple[list[Row], int]]:
        conn = self._connection()
        query, names = to_qmark(sql)
        values = [params[name] for name in names] if params else []

        def execute() -> tuple[list[Row], int]:
            cursor = conn.execute(query, values)
            try:
                return cursor.fetchall(), cursor.rowcount
            finally:
                cursor.close()

        return execute

    async def run(self, sql: str, params: Params | None) -> tuple[list[Row], int]:
        """Run one statement on the database thread; its rows and row count."""
        return await self._call(self._statement(sql, params))

    def run_inline(self, sql: str, params: Params | None) -> tuple[list[Row], int]:
        """Run one statement on the calling (event loop) thread; for quick statements only."""
        return self._statement(sql, params)()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[SQLiteTransaction]:
        """A transaction; writers take the write lock up front with BEGIN IMMEDIATE.

        Taking it at BEGIN (not at the first write) means two writers never deadlock upgrading
        read locks; the busy timeout makes the second one wait instead of failing.
        """
        async with self._lock:
            try:
                if write:
                    await self.run("BEGIN IMMEDIATE", None)
                else:
                    # A deferred BEGIN takes no lock and, in WAL mode, reads never wait.
                    self.run_inline("BEGIN", None)
                yield SQLiteTransaction(self)
                if write:
                    await self.run("COMMIT", None)
                else:
                    self.run_inline("COMMIT", None)
            except BaseException as exc:
                # Also on cancellation: the thread may have run BEGIN (or not yet COMMIT) after
                # the awaiting task gave up, and the one connection must not stay inside it.
                # Shielded, so a second cancellation cannot skip it; the rollback is a no-op
                # when nothing is open. The lock is held until it is done, so no other
                # transaction can start on the connection meanwhile.
                await _uncancellable(self._rollback())
                if isinstance(exc, sqlite3.Error):
                    raise unavailable(exc) from exc
                raise

    async def _rollback(self) -> None:
        conn = self._conn
        if conn is None:
            return

        def rollback() -> None:
            if conn.in_transaction:
                conn.rollback()

        # The original error says more than a failed rollback would.
        with contextlib.suppress(sqlite3.Error):
            await self._call(rollback)

    async def ping(self) -> None:
        """Raise `LedgerUnavailable` unless the file answers a query."""
        async with self._lock:
            try:
                self.run_inline("SELECT 1", None)
            except sqlite3.Error as exc:
                raise unavailable(exc) from exc

    async def close(self) -> None:
        """Close the connection and stop the thread; later calls raise `LedgerUnavailable`."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await self._call(conn.close)
        self._executor.shutdown(wait=True)
