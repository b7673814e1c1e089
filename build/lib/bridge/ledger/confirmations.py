"""Double opt-in in the ledger: requests waiting for a click, the click itself, and expiry.

A request that needs confirming is emailed by the worker and then waits as
`awaiting_confirmation`, its deadline in `next_attempt_at` (so no claim takes it). The click
is kept in `confirmations` (append-only, the proof) and makes the request `pending`, due at
once, attempts back to none; a request still waiting past its deadline becomes `expired`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .codec import dump_json, from_micros
from .database import Row, Transaction, in_list
from .models import ConfirmClick, Confirmed, Status

AWAITING = Status.AWAITING_CONFIRMATION.value
# The outcome's action for the confirmation email; it concerns no type, so type_id is "".
MESSAGE = "message"

_FIND = """SELECT r.id, s.status, s.next_attempt_at, c.confirmed_at
FROM consent_requests r
JOIN request_state s ON s.request_id = r.id
LEFT JOIN confirmations c ON c.request_id = r.id
WHERE r.source = :source AND r.event_id = :event_id"""

# PostgreSQL: concurrent sweeps pass over each other's rows instead of waiting (or deadlocking).
_EXPIRE = """UPDATE request_state
SET status = 'expired', last_error = 'not confirmed in time', updated_at = :now
WHERE request_id IN (
    SELECT request_id FROM request_state
    WHERE status = 'awaiting_confirmation' AND next_attempt_at <= :now{lock}
)"""


async def expire(tx: Transaction, dialect: str, *, now: int) -> int:
    """Make every request still waiting past its deadline `expired`; how many."""
    lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    return await tx.execute(_EXPIRE.format(lock=lock), {"now": now})


async def confirm(
    tx: Transaction, *, source: str, event_id: str, proof: dict[str, str], now: int
) -> tuple[Confirmed, int | None]:
    """Record a click on the request (source, event_id) names; what it did, and the id."""
    row = await tx.fetchone(_FIND, {"source": source, "event_id": event_id})
    if row is None:
        return Confirmed.NOT_WAITING, None
    request_id = int(row["id"])
    if row["confirmed_at"] is not None:
        return Confirmed.BEFORE, request_id
    if row["status"] == Status.EXPIRED.value:
        return Confirmed.EXPIRED, request_id
    if row["status"] != AWAITING:
        return Confirmed.NOT_WAITING, request_id
    if row["next_attempt_at"] <= now:
        await tx.execute(
            "UPDATE request_state SET status = 'expired', last_error = 'not confirmed in time',"
            " updated_at = :now WHERE request_id = :request_id"
            " AND status = 'awaiting_confirmation'",
            {"request_id": request_id, "now": now},
        )
        return Confirmed.EXPIRED, request_id
    # A second click racing this one waits on the row here, then inserts nothing.
    inserted = await tx.execute(
        "INSERT INTO confirmations (request_id, confirmed_at, proof)"
        " VALUES (:request_id, :now, :proof) ON CONFLICT (request_id) DO NOTHING",
        {"request_id": request_id, "now": now, "proof": dump_json(proof, "proof")},
    )
    if not inserted:
        return Confirmed.BEFORE, request_id
    await tx.execute(
        "UPDATE request_state SET status = 'pending', next_attempt_at = :now, attempts = 0,"
        " last_error = NULL, updated_at = :now"
        " WHERE request_id = :request_id AND status = 'awaiting_confirmation'",
        {"request_id": request_id, "now": now},
    )
    return Confirmed.NOW, request_id


async def facts(tx: Transaction, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """For each of `ids` that has them: when its email went out and when it was confirmed."""
    if not ids:
        return {}
    placeholders, params = in_list("id", ids)
    found: dict[int, dict[str, int]] = {}
    for row in await tx.fetchall(
        f"SELECT request_id, MIN(at) AS at FROM outcomes"  # noqa: S608
        f" WHERE request_id IN {placeholders} AND action = '{MESSAGE}' GROUP BY request_id",
        params,
    ):
        found.setdefault(row["request_id"], {})["messaged_at"] = int(row["at"])
    for row in await tx.fetchall(
        f"SELECT request_id, confirmed_at FROM confirmations"  # noqa: S608
        f" WHERE request_id IN {placeholders}",
        params,
    ):
        found.setdefault(row["request_id"], {})["confirmed_at"] = int(row["confirmed_at"])
    return found


async def clicks(tx: Transaction, ids: Sequence[int]) -> dict[int, ConfirmClick]:
    """The confirmation clicks of the requests in `ids` that have one."""
    if not ids:
        return {}
    placeholders, params = in_list("id", ids)
    rows: list[Row] = await tx.fetchall(
        f"SELECT request_id, confirmed_at, proof FROM confirmations"  # noqa: S608
        f" WHERE request_id IN {placeholders}",
        params,
    )
    return {row["request_id"]: _click(row) for row in rows}


def _click(row: Row) -> ConfirmClick:
    proof: dict[str, Any] = json.loads(row["proof"])
    return ConfirmClick(from_micros(row["confirmed_at"]), {k: str(v) for k, v in proof.items()})
