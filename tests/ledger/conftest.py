"""Shared by the ledger's tests: fixed times, request builders and PostgreSQL-only fixtures.

The `ledger` and `database_url` fixtures (each database) come from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import Ledger
from tests.conftest import migrated_ledger, postgres_schema

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)  # when the tests' requests are received, and so first due


def after(seconds: float) -> datetime:
    """NOW plus some seconds."""
    return NOW + timedelta(seconds=seconds)


def consent(
    event_id: str,
    *,
    email: str = "jane@example.com",
    minutes: float = 0,
    wanted: Wanted = Wanted.UNSUBSCRIBED,
    source: str = "test",
) -> ConsentRequest:
    """A request from `email`, happening `minutes` after T0."""
    return ConsentRequest(
        identity=Identity(email=email),
        wanted=wanted,
        scope=Scope(channel=Channel.EMAIL),
        occurred_at=T0 + timedelta(minutes=minutes),
        source=source,
        event_id=event_id,
    )


async def record(ledger: Ledger, *requests: ConsentRequest) -> list[int]:
    """Record requests received at NOW; their ids."""
    return [r.id for r in await ledger.record(requests, received_at=NOW)]


@asynccontextmanager
async def raw_connection(url: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A connection of its own, as another process would have."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """An empty PostgreSQL schema only, for PostgreSQL's locking and connection handling."""
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def postgres_ledger(postgres_url: str) -> AsyncIterator[Ledger]:
    """A migrated ledger in that schema."""
    async with migrated_ledger(postgres_url) as opened:
        yield opened
