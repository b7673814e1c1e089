"""Signatures bound to the first payload they arrived with (Mailgun signs no payload).

A row names a signature (by digest) and the payload it came with, until the signature would
no longer verify. Another payload under the same signature is refused while the row lives;
expired rows are swept as new ones arrive, so the table stays the size of one window.
"""

from __future__ import annotations

from .database import Transaction

# Insert, or take over a row whose window is over; RETURNING says whether we now hold it.
_BIND = """INSERT INTO signature_uses (provider, signature, payload_sha256, expires_at)
VALUES (:provider, :signature, :payload_sha256, :expires_at)
ON CONFLICT (provider, signature) DO UPDATE
SET payload_sha256 = excluded.payload_sha256, expires_at = excluded.expires_at
WHERE signature_uses.expires_at < :now
RETURNING payload_sha256"""

_BOUND_TO = """SELECT payload_sha256 FROM signature_uses
WHERE provider = :provider AND signature = :signature"""

_SWEEP = "DELETE FROM signature_uses WHERE expires_at < :now"


async def bind(
    tx: Transaction,
    *,
    provider: str,
    signature: str,
    payload_sha256: str,
    expires_at: int,
    now: int,
) -> bool:
    """True if `signature` is now bound to `payload_sha256` (new, expired, or the same)."""
    await sweep(tx, now=now)
    params = {
        "provider": provider,
        "signature": signature,
        "payload_sha256": payload_sha256,
        "expires_at": expires_at,
        "now": now,
    }
    if await tx.fetchone(_BIND, params) is not None:
        return True
    row = await tx.fetchone(_BOUND_TO, params)
    return row is not None and row["payload_sha256"] == payload_sha256


async def sweep(tx: Transaction, *, now: int) -> int:
    """Drop the bindings whose signatures no longer verify; how many."""
    return await tx.execute(_SWEEP, {"now": now})
