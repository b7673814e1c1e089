"""The PostgreSQL side of the database layer: a small psycopg 3 connection pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from .database import Params, Row, to_numbered, unavailable


class PostgresTransaction:
    """Statements of one PostgreSQL transaction on one pooled connection."""

    def __init__(self, cursor: psycopg.AsyncRawCursor[Row]) -> None:
        self._cursor = cursor

    async def _run(self, sql: str, params: Params | None) -> None:
        query, names = to_numbered(sql)
        await self._cursor.execute(query, [params[name] for name in names] if params else None)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        await self._run(sql, params)
        return self._cursor.rowcount

    async def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a statement; every row it returned."""
        await self._run(sql, params)
        return await self._cursor.fetchall() if self._cursor.description else []

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        """Run a statement; its first row, or None."""
        await self._run(sql, params)
        return await self._cursor.fetchone() if self._cursor.description else None


class PostgresDatabase:
    """A pool of autocommit connections; each transaction is an explicit BEGIN ... COMMIT."""

    dialect = "postgresql"

    def __init__(self, url: str, *, max_size: int = 10, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            # A bounded wait: a request must get its 503 while the provider is still listening.
            timeout=timeout,
            # Autocommit, so a connection never sits idle in a transaction between our blocks.
            kwargs={"autocommit": True},
            # Checked on checkout, so a database restart costs a reconnect, not a failed commit.
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="ledger",
        )

    async def open(self) -> None:
        """Connect, failing with `LedgerUnavailable` when the server does not answer in time."""
        try:
            await self._pool.open(wait=True, timeout=self._timeout)
        except psycopg.Error as exc:
            await self._pool.close()
            raise unavailable(exc) from exc

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[PostgresTransaction]:
        """A transaction on a pooled connection (`write` matters only to SQLite)."""
        try:
            async with (
                self._pool.connection() as conn,
                conn.transaction(),
                psycopg.AsyncRawCursor(conn, row_factory=dict_row) as cursor,
            ):
                yield PostgresTransaction(cursor)
        except psycopg.Error as exc:
            raise unavailable(exc) from exc

    async def ping(self) -> None:
        """Raise `LedgerUnavailable` unless the server answers a query."""
        try:
            async with self._pool.connection() as conn:
                await conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise unavailable(exc) from exc

    async def close(self) -> None:
        """Close every pooled connection; later calls raise `LedgerUnavailable`."""
        await self._pool.close()
