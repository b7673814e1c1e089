"""A thin async database layer: one SQL text with `:name` parameters for SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from functools import lru_cache
from typing import Any, Protocol

from .models import LedgerUnavailable

Row = dict[str, Any]
Params = Mapping[str, Any]

DEFAULT_URL = "sqlite:///bridge.db"


class Transaction(Protocol):
    """Statements run inside one database transaction."""

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the number of rows it changed."""

    async def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a statement; every row it returned, as dicts."""

    async def fetchone(self, sql: str, params: Params | None = None) -> Row | None:
        """Run a statement; its first row, or None."""


class Database(Protocol):
    """A connection (SQLite) or pool (PostgreSQL) that hands out transactions."""

    dialect: str

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Transaction]:
        """Commit when the block ends normally, roll back otherwise.

        Driver errors come out as `LedgerUnavailable`; `write=False` lets SQLite start a
        deferred transaction that does not take the write lock.
        """

    async def ping(self) -> None:
        """Raise `LedgerUnavailable` unless the database answers a query."""

    async def close(self) -> None:
        """Release connections and threads."""


def unavailable(exc: BaseException) -> LedgerUnavailable:
    """A `LedgerUnavailable` naming only the kind of failure: driver messages may carry hosts."""
    return LedgerUnavailable(f"the ledger database is unavailable ({type(exc).__name__})")


@lru_cache(maxsize=1024)
def to_numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters as PostgreSQL's `$1, $2, ...` (one number per name), and the names.

    Sent through psycopg's raw cursor, which skips its own placeholder parsing: that parser
    does not cache long statements and costs 60 ms for a 500-row INSERT.
    """
    numbers: dict[str, int] = {}

    def numbered(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

    return _NAMED.sub(numbered, sql), tuple(numbers)


@lru_cache(maxsize=1024)
def to_qmark(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters as SQLite's positional `?`, and the names in order.

    SQLite finds a named parameter by a linear scan while preparing, which makes a multi-row
    INSERT with thousands of them quadratic (40 ms for 500 rows); positional ones are not.
    """
    names: list[str] = []

    def positional(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "?"

    return _NAMED.sub(positional, sql), tuple(names)


# A `:name` parameter, but not the second colon of a `::type` cast. SQL text must not hold
# `:word` inside string literals.
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def in_list(prefix: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """`(:p0, :p1, ...)` and its parameters; `(NULL)`, which matches nothing, when empty.

    Generated so the same SQL runs on both databases (PostgreSQL's `= ANY(array)` has no
    SQLite twin); the few list lengths a process sees keep the conversion cache small.
    """
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    if not params:
        return "(NULL)", {}
    return "(" + ", ".join(f":{name}" for name in params) + ")", params


def values_rows(columns: Sequence[str], rows: Sequence[Params]) -> tuple[str, dict[str, Any]]:
    """`(:a_0, :b_0), (:a_1, :b_1), ...` and its parameters, for a multi-row INSERT."""
    names = _row_names(tuple(columns), len(rows))
    params = {
        name: row[column]
        for row, row_names in zip(rows, names, strict=True)
        for column, name in zip(columns, row_names, strict=True)
    }
    return _placeholders(tuple(columns), len(rows)), params


@functools.lru_cache(maxsize=64)
def _row_names(columns: tuple[str, ...], count: int) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(f"{column}_{i}" for column in columns) for i in range(count))


@functools.lru_cache(maxsize=64)
def _placeholders(columns: tuple[str, ...], count: int) -> str:
    return ", ".join(
        "(" + ", ".join(f":{name}" for name in row) + ")" for row in _row_names(columns, count)
    )


def describe_scheme(url: str) -> str:
    """The URL's scheme, lower-cased, and nothing else of it (the rest may hold a password)."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    return scheme if sep and _SCHEME.fullmatch(scheme) else ""


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,30}")


async def open_database(url: str) -> Database:
    """Connect to the database a URL names: `sqlite:///path` or `postgresql://...`."""
    scheme = describe_scheme(url)
    if scheme == "sqlite":
        from .sqlite import SQLiteDatabase

        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them.
        rest = url.partition("://")[2]
        if not rest.startswith("/") or len(rest) < 2:
            raise ValueError("a SQLite URL looks like sqlite:///relative.db or sqlite:////abs.db")
        sqlite_db = SQLiteDatabase(rest[1:])
        await sqlite_db.open()
        return sqlite_db
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresDatabase

        pg_db = PostgresDatabase(url)
        await pg_db.open()
        return pg_db
    if not scheme:
        raise ValueError("the database URL has no valid scheme: use sqlite:/// or postgresql://")
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")
