"""Tests for bridge.metrics: the queue gauges as /metrics shows them."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.testclient import TestClient

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted, utcnow
from tests.conftest import migrated_ledger


def test_a_held_request_counts_under_review_in_metrics(sqlite_url: str, app: Starlette) -> None:
    held = ConsentRequest(
        Identity(phone="+447700900123"),
        Wanted.UNSUBSCRIBED,
        Scope(channel=Channel.SMS),
        utcnow(),
        "twilio",
        "SM1",
        context={"text": "please stop texting me"},
        hold=True,
    )

    async def record() -> None:
        async with migrated_ledger(sqlite_url) as ledger:
            await ledger.record([held])

    asyncio.run(record())
    with TestClient(app, base_url="https://consent.example.com") as client:
        text = client.get("/metrics").text
    assert 'bridge_ledger_requests{status="review"} 1.0' in text
    assert 'bridge_ledger_requests{status="dismissed"} 0.0' in text
    assert 'bridge_ledger_requests{status="pending"} 0.0' in text
