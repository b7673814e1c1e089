"""The worker's side of the queue: claim under a lease, extend, settle with outcomes, release."""

from __future__ import annotations

from collections.abc import Sequence

from .codec import encode_outcome, scrubbed
from .database import Transaction, in_list, values_rows
from .models import Outcome


def _due(row: str) -> str:
    """What a worker may take: pending and due, or leased by a worker whose lease ran out."""
    return (
        f"(({row}.status = 'pending' AND {row}.next_attempt_at <= :now)"
        f" OR ({row}.status = 'leased' AND {row}.lease_until < :now))"
    )


# Another worker is applying one of this contact's requests; its order must not be broken.
_NO_LIVE_LEASE = """NOT EXISTS (
    SELECT 1 FROM request_state live
    WHERE live.contact_key = {row}.contact_key
      AND live.status = 'leased' AND live.lease_until >= :now
)"""

# The oldest due rows of contacts without a live lease: pending ones in occurred_at order from
# their index, plus the few whose lease ran out. A window of the oldest rows (not all due
# rows) keeps a claim cheap under a large backlog, and any contact in it has its oldest due
# row in it too, so per-contact order holds.
_WINDOW_PART = """SELECT * FROM (
    SELECT s.request_id, s.contact_key, s.occurred_at FROM request_state s
    WHERE {due} AND {no_live_lease}
    ORDER BY s.occurred_at, s.request_id LIMIT :window
) {name}"""
_WINDOW = (
    _WINDOW_PART.format(
        due="s.status = 'pending' AND s.next_attempt_at <= :now",
        no_live_lease=_NO_LIVE_LEASE.format(row="s"),
        name="pending_part",
    )
    + "\nUNION ALL\n"
    + _WINDOW_PART.format(
        due="s.status = 'leased' AND s.lease_until < :now",
        no_live_lease=_NO_LIVE_LEASE.format(row="s"),
        name="expired_part",
    )
)

# Both dialects: the oldest due request of each contact in the window, oldest first.
_HEADS = f"""SELECT due.request_id, due.contact_key FROM (
    SELECT w.request_id, w.contact_key, w.occurred_at,
           ROW_NUMBER() OVER (
               PARTITION BY w.contact_key ORDER BY w.occurred_at, w.request_id
           ) AS nth
    FROM ({_WINDOW}) w
) due
WHERE due.nth = 1
ORDER BY due.occurred_at, due.request_id
LIMIT :limit"""  # noqa: S608

# PostgreSQL: lock the heads, skipping rows another claimer holds. The due test is repeated
# here because it is re-checked against the newest row version once the lock is granted.
_PG_LOCK_HEADS = f"""SELECT q.request_id, q.contact_key FROM request_state q
WHERE q.request_id IN (SELECT heads.request_id FROM ({_HEADS}) heads) AND {_due("q")}
ORDER BY q.occurred_at, q.request_id
FOR UPDATE SKIP LOCKED"""  # noqa: S608

# PostgreSQL: row locks cannot stop two claimers from leasing two *different* requests of one
# contact (their snapshots or clocks disagree on which is due, and neither sees the other's
# uncommitted lease), so each also takes a transaction-scoped lock per contact (class
# 1651665252 is "brid" in ASCII), trying rather than waiting, and passes over what it cannot get.
_PG_LOCK_CONTACTS = """SELECT k.contact_key FROM unnest(CAST(:keys AS text[])) AS k(contact_key)
WHERE pg_try_advisory_xact_lock(1651665252, hashtext(k.contact_key))"""

# Both dialects: take the leases. The live-lease test runs again in this later statement, so on
# PostgreSQL it sees every lease committed before our contact locks were granted.
_LEASE = """UPDATE request_state
SET status = 'leased', lease_owner = :owner, lease_until = :lease_until,
    attempts = attempts + 1, updated_at = :now
WHERE request_id IN {ids} AND {due} AND {no_live_lease}
RETURNING request_id, attempts"""

_LEASE_HELD = "status = 'leased' AND lease_owner = :owner"

_OUTCOME_FIELDS = (
    "request_id",
    "at",
    "contact_id",
    "type_id",
    "action",
    "http_status",
    "intercom_request_id",
    "detail",
)


async def claim(
    tx: Transaction, dialect: str, *, owner: str, limit: int, lease_until: int, now: int
) -> dict[int, int]:
    """Lease up to `limit` due requests, one per contact; their ids and attempt counts."""
    if limit <= 0:
        return {}
    if dialect == "postgresql":
        # Twice the limit, because rows other claimers hold are skipped, not waited for.
        heads = await tx.fetchall(
            _PG_LOCK_HEADS, {"now": now, "limit": limit * 2, "window": limit * 8}
        )
        if not heads:
            return {}
        mine = {
            row["contact_key"]
            for row in await tx.fetchall(
                _PG_LOCK_CONTACTS, {"keys": [row["contact_key"] for row in heads[:limit]]}
            )
        }
        ids = [row["request_id"] for row in heads[:limit] if row["contact_key"] in mine]
    else:
        # SQLite: BEGIN IMMEDIATE already made this transaction the only writer.
        heads = await tx.fetchall(_HEADS, {"now": now, "limit": limit, "window": limit * 4})
        ids = [row["request_id"] for row in heads]
    if not ids:
        return {}
    placeholders, params = in_list("id", ids)
    leased = await tx.fetchall(
        _LEASE.format(
            ids=placeholders,
            due=_due("request_state"),
            no_live_lease=_NO_LIVE_LEASE.format(row="request_state"),
        ),
        {**params, "owner": owner, "lease_until": lease_until, "now": now},
    )
    return {row["request_id"]: row["attempts"] for row in leased}


async def extend(
    tx: Transaction, *, owner: str, ids: Sequence[int], lease_until: int, now: int
) -> int:
    """Push back the end of leases `owner` still holds; how many it held."""
    placeholders, params = in_list("id", ids)
    return await tx.execute(
        f"UPDATE request_state SET lease_until = :lease_until, updated_at = :now"  # noqa: S608
        f" WHERE request_id IN {placeholders} AND {_LEASE_HELD}",
        {**params, "owner": owner, "lease_until": lease_until, "now": now},
    )


async def settle(
    tx: Transaction,
    request_id: int,
    *,
    owner: str,
    status: str,
    next_attempt_at: int | None,
    error: str | None,
    refund: bool,
    now: int,
) -> int | None:
    """End `owner`'s lease with a new status; the request's occurred_at, or None if not held."""
    row = await tx.fetchone(
        f"""UPDATE request_state
        SET status = :status, lease_owner = NULL, lease_until = NULL, last_error = :error,
            next_attempt_at = COALESCE(:next_attempt_at, next_attempt_at),
            attempts = CASE WHEN :refund = 1 AND attempts > 0 THEN attempts - 1 ELSE attempts END,
            updated_at = :now
        WHERE request_id = :request_id AND {_LEASE_HELD}
        RETURNING occurred_at""",  # noqa: S608
        {
            "request_id": request_id,
            "owner": owner,
            "status": status,
            "next_attempt_at": next_attempt_at,
            "error": error,
            "refund": int(refund),
            "now": now,
        },
    )
    return None if row is None else int(row["occurred_at"])


async def release(tx: Transaction, *, owner: str, ids: Sequence[int] | None, now: int) -> int:
    """Return `owner`'s leases to pending, due as before, attempt refunded; how many."""
    placeholders, params = in_list("id", ids or ())
    only = "" if ids is None else f" AND request_id IN {placeholders}"
    return await tx.execute(
        f"""UPDATE request_state
        SET status = 'pending', lease_owner = NULL, lease_until = NULL,
            attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = :now
        WHERE {_LEASE_HELD}{only}""",  # noqa: S608
        {**params, "owner": owner, "now": now},
    )


async def add_outcomes(
    tx: Transaction, request_id: int, outcomes: Sequence[Outcome], now: int
) -> None:
    """Append what was done for a request; an outcome without a time happened `now`."""
    if not outcomes:
        return
    rows = [encode_outcome(outcome, request_id=request_id, now=now) for outcome in outcomes]
    values, params = values_rows(_OUTCOME_FIELDS, rows)
    await tx.execute(
        f"INSERT INTO outcomes ({', '.join(_OUTCOME_FIELDS)}) VALUES {values}",  # noqa: S608
        params,
    )


async def advance_last_applied(
    tx: Transaction, request_id: int, applied: Sequence[tuple[str, str]], occurred_at: int
) -> None:
    """Move each (contact_id, type_id) forward to `occurred_at` unless a newer event is there."""
    # Deduplicated: PostgreSQL refuses an upsert that touches one row twice in a statement.
    pairs = list(dict.fromkeys((scrubbed(c), scrubbed(t)) for c, t in applied))
    if not pairs:
        return
    rows = [
        {"contact_id": c, "type_id": t, "occurred_at": occurred_at, "request_id": request_id}
        for c, t in pairs
    ]
    values, params = values_rows(("contact_id", "type_id", "occurred_at", "request_id"), rows)
    # The WHERE keeps the newest event: an older one finishing late never moves it back.
    await tx.execute(
        "INSERT INTO last_applied (contact_id, type_id, occurred_at, request_id)"  # noqa: S608
        f" VALUES {values} ON CONFLICT (contact_id, type_id) DO UPDATE"
        " SET occurred_at = excluded.occurred_at, request_id = excluded.request_id"
        " WHERE last_applied.occurred_at < excluded.occurred_at",
        params,
    )
