"""Signatures bound to the first payload they arrived with, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.ledger import Ledger

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def test_a_signature_binds_to_its_first_payload_until_it_expires(ledger: Ledger) -> None:
    expires = T0 + timedelta(hours=12)

    async def bind(
        payload: str, at: datetime, provider: str = "mailgun", until: datetime = expires
    ) -> bool:
        return await ledger.bind_signature(provider, "sig-1", payload, expires_at=until, now=at)

    assert await bind("payload-a", T0)
    assert await bind("payload-a", T0 + timedelta(hours=1))  # a retry of the same
    assert not await bind("payload-b", T0 + timedelta(hours=11))  # another payload
    assert await bind("payload-b", T0, provider="other")  # providers are apart
    # Once the signature no longer verifies, the binding is gone and may be taken anew.
    later = expires + timedelta(hours=12)
    assert await bind("payload-b", expires + timedelta(seconds=1), until=later)
    assert not await bind("payload-a", expires + timedelta(seconds=2), until=later)


async def test_expired_bindings_are_swept(ledger: Ledger) -> None:
    for n in range(5):
        await ledger.bind_signature(
            "mailgun", f"old-{n}", "p", expires_at=T0 + timedelta(minutes=n), now=T0
        )
    later = T0 + timedelta(hours=1)
    await ledger.bind_signature("mailgun", "new", "p", expires_at=later, now=later)
    async with ledger.database.transaction(write=False) as tx:
        row = await tx.fetchone("SELECT COUNT(*) AS n FROM signature_uses")
    assert row is not None and row["n"] == 1
