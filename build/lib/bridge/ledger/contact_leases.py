"""Leases on Intercom contacts: one request at a time applies to a contact, whoever named it.

Request leases order a person's requests only within one identity (`contact_key`); these order
them across identities, by the Intercom contacts the identities resolve to. A lease names its
request and owner, lapses at `lease_until` like a request lease, and is dropped in the
transaction that settles its request, so `last_applied` has moved before another request can
take the contact.
"""

from __future__ import annotations

from collections.abc import Sequence

from .codec import scrubbed
from .database import Transaction, in_list, values_rows

_FIELDS = ("contact_id", "request_id", "lease_owner", "lease_until")

# Takes each contact that is free, whose lease ran out, or that this very request holds (a
# worker taking over a crashed one's request). The WHERE reads only the conflicting row, which
# PostgreSQL locks and re-reads at its newest committed version: of two concurrent claimers,
# the second waits for the first to commit and then sees its live lease.
_TAKE = """INSERT INTO contact_leases (contact_id, request_id, lease_owner, lease_until)
VALUES {values}
ON CONFLICT (contact_id) DO UPDATE
SET request_id = excluded.request_id, lease_owner = excluded.lease_owner,
    lease_until = excluded.lease_until
WHERE contact_leases.lease_until < :now OR contact_leases.request_id = excluded.request_id
RETURNING contact_id"""

# PostgreSQL: a take holds the rows it has taken while it waits for the next one, so every
# statement that changes several leases locks them first, in the order take goes in (byte
# order, which is how Python sorts strings). Then no two transactions can wait in a circle.
_PG_IN_ORDER = """contact_id IN (
    SELECT contact_id FROM contact_leases WHERE {where}
    ORDER BY contact_id COLLATE "C" FOR UPDATE
)"""


async def take(
    tx: Transaction,
    *,
    request_id: int,
    owner: str,
    contact_ids: Sequence[str],
    lease_until: int,
    now: int,
) -> bool:
    """Lease every contact to the request, or none of them; whether it got them."""
    ids = sorted({scrubbed(contact_id) for contact_id in contact_ids})
    if not ids:
        return True
    rows = [
        {
            "contact_id": c,
            "request_id": request_id,
            "lease_owner": owner,
            "lease_until": lease_until,
        }
        for c in ids
    ]
    values, params = values_rows(_FIELDS, rows)
    taken = await tx.fetchall(_TAKE.format(values=values), {**params, "now": now})
    if len(taken) == len(ids):
        return True
    # All or none: a request waiting for one of its contacts must not keep the others waiting.
    held, held_params = in_list("c", [row["contact_id"] for row in taken])
    await tx.execute(
        f"DELETE FROM contact_leases WHERE request_id = :request_id AND contact_id IN {held}",  # noqa: S608
        {**held_params, "request_id": request_id},
    )
    return False


async def extend(
    tx: Transaction, dialect: str, *, owner: str, request_ids: Sequence[int], lease_until: int
) -> None:
    """Push back the end of the leases `owner` holds for these requests."""
    where, params = _owned(owner, request_ids)
    await tx.execute(
        "UPDATE contact_leases SET lease_until = :lease_until"  # noqa: S608
        f" WHERE {_in_order(dialect, where)}",
        {**params, "lease_until": lease_until},
    )


async def release_request(tx: Transaction, dialect: str, request_id: int) -> None:
    """Drop a settled request's leases, whichever owner took them (the settler holds it now)."""
    where = _in_order(dialect, "request_id = :request_id")
    await tx.execute(f"DELETE FROM contact_leases WHERE {where}", {"request_id": request_id})  # noqa: S608


async def release_owner(
    tx: Transaction, dialect: str, *, owner: str, request_ids: Sequence[int] | None
) -> None:
    """Drop the leases `owner` holds (for these requests, or all)."""
    where, params = _owned(owner, request_ids)
    await tx.execute(f"DELETE FROM contact_leases WHERE {_in_order(dialect, where)}", params)  # noqa: S608


def _owned(owner: str, request_ids: Sequence[int] | None) -> tuple[str, dict[str, object]]:
    if request_ids is None:
        return "lease_owner = :owner", {"owner": owner}
    ids, params = in_list("id", request_ids)
    return f"lease_owner = :owner AND request_id IN {ids}", {**params, "owner": owner}


def _in_order(dialect: str, where: str) -> str:
    # SQLite needs no row order: BEGIN IMMEDIATE makes each writer the only one.
    return _PG_IN_ORDER.format(where=where) if dialect == "postgresql" else where
