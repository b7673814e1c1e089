"""Shared fixtures: settings, the sandbox Intercom, and apps built from the factory."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bridge.ledger import Ledger, open_ledger
from bridge.sandbox import Sandbox
from bridge.settings import Settings, load_settings
from bridge.web.app import create_app

SECRET = "test-secret-key-0123456789"
SANDBOX_TOKEN = "sandbox-token"
PG_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL")
# Every random generator the tests hand out starts here, so a failure replays with the same draws.
SEED = int(os.environ.get("BRIDGE_TEST_SEED", "20240501"))


def pytest_report_header() -> str:
    """Name the seed, so a failing run can be repeated with it."""
    return f"random seed: {SEED} (BRIDGE_TEST_SEED={SEED} replays it)"


def make_settings(database_url: str, **env: str) -> Settings:
    """Settings for a test, from an environment dict (never the real environment)."""
    return load_settings(
        {
            "BRIDGE_SECRET_KEYS": SECRET,
            "INTERCOM_ACCESS_TOKEN": SANDBOX_TOKEN,
            "INTERCOM_BASE_URL": "http://sandbox.invalid",
            "BRIDGE_PUBLIC_URL": "https://consent.example.com",
            "DATABASE_URL": database_url,
            **env,
        }
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """For commands: a clean environment with the required keys and a per-test ledger."""
    for name in ("INTERCOM_ACCESS_TOKEN", "BRIDGE_CONFIG", "INTERCOM_BASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_SECRET_KEYS", SECRET)
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "https://consent.example.com")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return monkeypatch


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh seeded sandbox workspace whose staged faults draw from a seeded generator."""
    return Sandbox(token=SANDBOX_TOKEN, rng=random.Random(SEED))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite ledger in a per-test file."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Settings with the worker off, so tests decide when requests are applied."""
    return make_settings(sqlite_url, BRIDGE_WORKER_IN_PROCESS="false")


@pytest.fixture
def app(settings: Settings, sandbox: Sandbox) -> Starlette:
    """The bridge, talking to the sandbox."""
    return create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    """A test client with the lifespan running."""
    with TestClient(app, base_url="https://consent.example.com") as test_client:
        yield test_client


def pg_url(schema: str) -> str:
    """The test server's URL with every connection's search_path (and name) set to `schema`."""
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}&application_name={schema}"


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL schema, dropped afterwards; skips without a server."""
    if not PG_URL:
        pytest.skip("BRIDGE_TEST_DATABASE_URL is not set")
    schema = f"ledger_test_{uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_url(schema)
    finally:
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    async with postgres_schema() as url:
        yield url


@asynccontextmanager
async def migrated_ledger(url: str) -> AsyncIterator[Ledger]:
    """A ledger at `url` with every migration applied, closed afterwards."""
    opened = await open_ledger(url)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    """A migrated ledger on each database."""
    async with migrated_ledger(database_url) as opened:
        yield opened
