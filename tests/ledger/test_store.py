"""Tests for bridge.ledger.store: the Ledger's own operations, on each database."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from bridge.consent import ConsentRequest, Identity, NewContact, Scope, Wanted
from bridge.ledger import Ledger, Recorded, Status
from tests.ledger.conftest import NOW, after, consent, record


async def test_record_round_trips_every_field(ledger: Ledger) -> None:
    request = ConsentRequest(
        identity=Identity(contact_id="c-1", email="Jane@Example.com", external_id="u-9"),
        wanted=Wanted.SUBSCRIBED,
        scope=Scope(type_ids=("108", "109")),
        occurred_at=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        source="sendgrid",
        event_id="evt-ü-1",
        context={"ip": "203.0.113.9", "page": {"text": "Stop emails ✓", "locale": "de"}, "n": 3},
    )
    [recorded] = await ledger.record([request], payload_sha256="ab" * 32, received_at=NOW)
    assert recorded == Recorded(recorded.id, duplicate=False)

    stored = await ledger.get(recorded.id)
    assert stored is not None
    assert stored.request == request
    assert stored.request.occurred_at.microsecond == 123456
    assert stored.request.context == request.context
    assert (stored.received_at, stored.next_attempt_at) == (NOW, NOW)
    assert (stored.status, stored.attempts, stored.last_error) == (Status.PENDING, 0, None)
    assert stored.payload_sha256 == "ab" * 32
    assert stored.outcomes == []
    assert await ledger.get(recorded.id + 1000) is None


@pytest.mark.parametrize(
    ("create", "stored"),
    [(None, None), (NewContact(), "{}"), (NewContact(name="Jane Doe ✓"), '{"name":"Jane Doe ✓"}')],
)
async def test_record_round_trips_the_leave_to_create_a_contact(
    ledger: Ledger, create: NewContact | None, stored: str | None
) -> None:
    request = dataclasses.replace(consent(f"create-{stored}"), create=create)
    [recorded] = await record(ledger, request)
    found = await ledger.get(recorded)
    assert found is not None
    assert found.request == request
    assert found.request.create == create
    # NULL means no leave at all; a leave with no name is still a leave.
    async with ledger.database.transaction(write=False) as tx:
        row = await tx.fetchone(
            "SELECT create_contact FROM consent_requests WHERE id = :id", {"id": recorded}
        )
    assert row is not None and row["create_contact"] == stored
    [claimed] = await ledger.claim("w", limit=1, lease_seconds=60, now=NOW)
    assert claimed.request == request
    assert await ledger.unsettled(request.identity.key) == [request]


async def test_replay_makes_failed_requests_due_again(ledger: Ledger) -> None:
    ids = await record(
        ledger, *(consent(f"p{i}", email=f"p{i}@example.com", minutes=i) for i in range(4))
    )
    await ledger.claim("w", limit=4, lease_seconds=30, now=NOW)
    settled = [Status.DEAD, Status.UNMATCHED, Status.APPLIED]
    for request_id, status in zip(ids[:3], settled, strict=True):
        assert await ledger.finish(request_id, "w", status, error="no", now=after(1))

    assert await ledger.replay(now=after(10)) == 2  # dead and unmatched; ids[3] is leased
    stored = await ledger.get(ids[0])
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (
        Status.PENDING,
        0,
        after(10),
    )
    assert await ledger.replay(ids=[ids[2], ids[3]], now=after(10)) == 1  # not the leased one
    assert await ledger.replay(statuses=[Status.DEAD], now=after(10)) == 0
    counts = await ledger.status_counts()
    assert (counts[Status.PENDING], counts[Status.LEASED], counts[Status.APPLIED]) == (3, 1, 0)
    assert len(await ledger.claim("w2", limit=4, lease_seconds=30, now=after(10))) == 3


async def test_update_meta_rewrites_a_row_and_answers_what_the_change_said(ledger: Ledger) -> None:
    def count(text: str | None) -> tuple[str, int]:
        seen = int(text or "0")
        return str(seen + 1), seen

    assert [await ledger.update_meta("counter", count) for _ in range(3)] == [0, 1, 2]
    assert await ledger.meta("counter") == "3"
