"""Three `bridge worker` processes and two web processes on one PostgreSQL ledger, for real.

The sandbox Intercom runs in its own process with a rate limit (benchmarks/factories.py);
people change their minds several times through the JSON preferences API, each time through
either web process and by either identity kind (their email or their contact id). Once the
queue is empty: every request was applied once, each person's newest choice stands, and the
429s stay within 1% of Intercom's calls.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from bridge.consent import Identity, Scope
from bridge.ledger import Ledger, open_ledger
from bridge.links import LinkClaims, Purpose
from bridge.services import build_signer
from bridge.settings import load_settings
from tests.conftest import SECRET, migrated_ledger, postgres_schema

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from factories import CALLS_PATH, STATE_PATH  # noqa: E402
from harness import EMAIL_TYPE, contact_email, contact_id  # noqa: E402
from scale_out import arrangement  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LIMIT = 300  # sandbox calls per 10 s, as Intercom's smaller apps get
TAG = 0xE5
PEOPLE = 50
PUT_GAP = 0.3  # seconds between one person's changes: the pages' own calls stay well inside
DRAIN_DEADLINE = 300.0


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL schema, so no process migrates while another starts."""
    async with postgres_schema() as url, migrated_ledger(url):
        yield url


@pytest.fixture
def processes(database_url: str, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """The sandbox's URL and the two web processes' URLs, with three workers running."""
    with arrangement(
        database_url,
        tmp_path,
        limit=LIMIT,
        tag=TAG,
        people=PEOPLE,
        webs=2,
        workers=3,
        secret_key=SECRET,
    ) as urls:
        yield urls


def _token(identity: Identity) -> str:
    signer = build_signer(load_settings({"BRIDGE_SECRET_KEYS": SECRET}))
    return signer.token(Purpose.PREFERENCES, LinkClaims(identity, Scope(type_ids=(EMAIL_TYPE,))))


async def _change_minds(client: httpx.AsyncClient, webs: list[str], person: int) -> bool | None:
    """One person's changes, alternating web process and identity kind; the last recorded."""
    identities = [
        Identity(contact_id=contact_id(TAG, person)),
        Identity(email=contact_email(TAG, person)),
    ]
    last: bool | None = None
    # Even people end unsubscribed after five changes, odd ones subscribed after four.
    for step in range(5 if person % 2 == 0 else 4):
        subscribed = step % 2 == 1
        identity = identities[(person + step) % 2]
        url = f"{webs[step % 2]}/api/v1/preferences/{_token(identity)}"
        body = {"types": [{"id": EMAIL_TYPE, "subscribed": subscribed}]}
        for _attempt in range(20):
            response = await client.put(url, json=body)
            if response.status_code != 503:  # the page could not read Intercom: try again
                break
            await asyncio.sleep(1.0)
        assert response.status_code == 200, response.text
        if response.json()["recorded"]:
            last = subscribed
        await asyncio.sleep(PUT_GAP)
    return last


async def _drained(ledger: Ledger, expected: int) -> dict[str, int]:
    """Wait until every recorded request is settled; the count per status."""
    deadline = time.monotonic() + DRAIN_DEADLINE
    while True:
        counts = {s.value: n for s, n in (await ledger.status_counts()).items() if n}
        if sum(counts.values()) >= expected and not {"pending", "leased"} & set(counts):
            return counts
        assert time.monotonic() < deadline, f"not drained: {counts}"
        await asyncio.sleep(1.0)


async def test_workers_and_web_processes_share_the_queue_and_the_rate_window(
    processes: tuple[str, list[str]], database_url: str
) -> None:
    sandbox_url, webs = processes
    started = time.time()
    async with httpx.AsyncClient(timeout=60) as client:
        people = asyncio.Semaphore(2)  # two people at a time: a few PUTs a second in all

        async def one(person: int) -> bool | None:
            async with people:
                return await _change_minds(client, webs, person)

        newest = await asyncio.gather(*(one(p) for p in range(PEOPLE)))
        recorded = sum(1 for choice in newest if choice is not None)
        assert recorded == PEOPLE  # everyone's changes reached the ledger

        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            total = await (await conn.execute("SELECT COUNT(*) FROM consent_requests")).fetchone()
            assert total is not None
            ledger = await open_ledger(database_url)
            try:
                counts = await _drained(ledger, int(total[0]))
            finally:
                await ledger.close()
            assert counts == {"applied": int(total[0])}
            cursor = await conn.execute(
                "SELECT request_id, contact_id, type_id FROM outcomes"
                " WHERE http_status < 300 GROUP BY request_id, contact_id, type_id"
                " HAVING COUNT(*) > 1"
            )
            assert await cursor.fetchall() == []  # no request changed a contact twice

        state = await client.get(f"{sandbox_url}{STATE_PATH}", params={"type": EMAIL_TYPE})
        receives = state.json()["receives"]
        for person, choice in enumerate(newest):
            assert receives[contact_id(TAG, person)] is choice, f"person {person}"
        seen = (await client.get(f"{sandbox_url}{CALLS_PATH}", params={"since": started})).json()
    statuses = Counter(seen["by_status"])
    assert statuses["429"] <= 0.01 * seen["count"], seen
