"""Tests for bridge.ledger.retention: raw payloads kept with their requests, then pruned."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from bridge.ledger import Ledger, Pruned, Status
from bridge.ledger import retention as retention_module
from tests.ledger.conftest import NOW, consent

BODY = b'[{"event":"unsubscribe","email":"jane@example.com"}]'
DIGEST = hashlib.sha256(BODY).hexdigest()
DAYS_30 = timedelta(days=30)


async def _payload_rows(ledger: Ledger) -> list[tuple[str, bytes, int]]:
    """Every kept payload: hash, body, received_at."""
    async with ledger.database.transaction(write=False) as tx:
        rows = await tx.fetchall("SELECT sha256, body, received_at FROM payloads ORDER BY sha256")
    return [(row["sha256"], bytes(row["body"]), row["received_at"]) for row in rows]


async def test_a_batch_keeps_its_body_once_by_the_hash_its_requests_name(ledger: Ledger) -> None:
    recording = await ledger.record(
        [consent("a"), consent("b", email="joe@example.com")], payload=BODY, received_at=NOW
    )
    assert [row[:2] for row in await _payload_rows(ledger)] == [(DIGEST, BODY)]
    for saved in recording:
        record = await ledger.get(saved.id)
        assert record is not None and record.payload_sha256 == DIGEST
    assert await ledger.history.payload(DIGEST) == BODY


async def test_a_hash_that_is_not_the_payloads_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="not the payload's hash"):
        await ledger.record([consent("a")], payload=BODY, payload_sha256="0" * 64)


async def test_binary_bodies_come_back_byte_for_byte(ledger: Ledger) -> None:
    body = bytes(range(256)) + b"\x00\xff"
    await ledger.record([consent("a")], payload=body, received_at=NOW)
    assert await ledger.history.payload(hashlib.sha256(body).hexdigest()) == body


async def test_a_retry_after_the_prune_does_not_bring_the_body_back(ledger: Ledger) -> None:
    await ledger.record([consent("a")], payload=BODY, received_at=NOW)
    pruned = await ledger.prune(NOW + DAYS_30, keep_payloads_for=DAYS_30)
    assert (pruned.payloads, pruned.payload_bytes) == (1, len(BODY))
    [again] = await ledger.record([consent("a")], payload=BODY, received_at=NOW + DAYS_30)
    assert again.duplicate
    assert await _payload_rows(ledger) == []


async def test_prune_drops_bodies_from_the_retention_on_and_keeps_younger_ones(
    ledger: Ledger,
) -> None:
    await ledger.record([consent("old")], payload=b"old", received_at=NOW)
    await ledger.record(
        [consent("young")], payload=b"young", received_at=NOW + timedelta(microseconds=1)
    )
    # Exactly 30 days after the first body: it goes, the one a microsecond younger stays.
    pruned = await ledger.prune(NOW + DAYS_30, keep_payloads_for=DAYS_30)
    assert pruned == Pruned(payloads=1, payload_bytes=3, signature_uses=0)
    assert [row[1] for row in await _payload_rows(ledger)] == [b"young"]
    assert await ledger.prune(NOW + DAYS_30, keep_payloads_for=DAYS_30) == Pruned()


async def test_prune_never_drops_the_proof(ledger: Ledger) -> None:
    [saved] = await ledger.record([consent("a")], payload=BODY, received_at=NOW)
    await ledger.prune(NOW + timedelta(days=3650), keep_payloads_for=timedelta(0))
    record = await ledger.get(saved.id)
    assert record is not None
    assert (record.payload_sha256, record.status) == (DIGEST, Status.PENDING)
    story = await ledger.history.story(saved.id)
    assert story is not None and story.payload is None


async def test_retention_zero_drops_every_body_kept(ledger: Ledger) -> None:
    await ledger.record([consent("a")], payload=BODY, received_at=NOW)
    pruned = await ledger.prune(NOW, keep_payloads_for=timedelta(0))
    assert pruned.payloads == 1


async def test_prune_works_through_many_bodies_in_batches(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention_module, "BATCH", 2)
    for n in range(5):
        await ledger.record([consent(f"e{n}")], payload=f"body {n}".encode(), received_at=NOW)
    pruned = await ledger.prune(NOW + DAYS_30, keep_payloads_for=DAYS_30)
    assert (pruned.payloads, pruned.payload_bytes) == (5, 30)
    assert await _payload_rows(ledger) == []


async def test_prune_sweeps_spent_signature_bindings_only(ledger: Ledger) -> None:
    for signature, hours in (("spent", 1), ("live", 48)):
        assert await ledger.bind_signature(
            "mailgun", signature, DIGEST, expires_at=NOW + timedelta(hours=hours), now=NOW
        )
    pruned = await ledger.prune(NOW + timedelta(hours=2), keep_payloads_for=DAYS_30)
    assert pruned.signature_uses == 1
    # The live binding still refuses another payload under its signature.
    assert not await ledger.bind_signature(
        "mailgun", "live", "f" * 64, expires_at=NOW + timedelta(hours=48), now=NOW
    )
