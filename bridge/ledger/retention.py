"""Retention: raw payloads are dropped once older than their keeping time; the proof never is.

What a prune may drop is what the ledger keeps only as evidence of evidence, or only for a
while: the raw bodies requests came in (their hash stays on each request, so a body handed
over later can still be matched) and signature bindings whose signatures no longer verify.
It never touches requests, their state, outcomes, confirmations or consent texts: the proof
of consent. Nor the parts of a split SMS still waiting: one may be half of a STOP that is not
recorded yet, and the part sweep records them (`Services.flush_parts`).
"""

from __future__ import annotations

from . import signatures
from .database import Database
from .models import Pruned

# Bodies dropped per transaction: a long first prune must not hold SQLite's write lock (and
# so every webhook's commit) for more than a moment.
BATCH = 500

# PostgreSQL: concurrent prunes (one per worker) pass over each other's rows.
_DROP_PAYLOADS = """DELETE FROM payloads WHERE sha256 IN (
    SELECT sha256 FROM payloads WHERE received_at <= :cutoff
    ORDER BY received_at LIMIT :limit{lock}
) RETURNING LENGTH(body) AS size"""


async def prune(database: Database, *, now: int, cutoff: int) -> Pruned:
    """Drop payloads received at `cutoff` or before, and spent signature bindings."""
    lock = " FOR UPDATE SKIP LOCKED" if database.dialect == "postgresql" else ""
    dropped, size = 0, 0
    while True:
        async with database.transaction() as tx:
            rows = await tx.fetchall(
                _DROP_PAYLOADS.format(lock=lock), {"cutoff": cutoff, "limit": BATCH}
            )
        dropped += len(rows)
        size += sum(int(row["size"]) for row in rows)
        if len(rows) < BATCH:
            break
    async with database.transaction() as tx:
        swept = await signatures.sweep(tx, now=now)
    return Pruned(payloads=dropped, payload_bytes=size, signature_uses=swept)
