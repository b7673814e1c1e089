"""Read-only questions to the ledger: records with their outcomes, counts, ages, last applied."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from . import confirmations
from .codec import (
    OUTCOME_COLUMNS,
    REQUEST_COLUMNS,
    decode_outcome,
    decode_request,
    from_micros,
)
from .database import Row, Transaction, in_list
from .models import Outcome, RequestRecord, Status


async def request_rows(tx: Transaction, ids: Iterable[int]) -> list[Row]:
    """The request columns of the given ids, oldest event first."""
    placeholders, params = in_list("id", ids)
    return await tx.fetchall(
        f"SELECT {REQUEST_COLUMNS} FROM consent_requests r"  # noqa: S608
        f" WHERE r.id IN {placeholders} ORDER BY r.occurred_at, r.id",
        params,
    )


async def records(
    tx: Transaction,
    *,
    request_id: int | None = None,
    status: Status | None = None,
    contact_key: str | None = None,
    contact_keys: Sequence[str] | None = None,
    event: tuple[str, str] | None = None,
    occurred_since: int | None = None,
    occurred_until: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
    oldest_first: bool = False,
) -> list[RequestRecord]:
    """Requests with their state and outcomes matching every filter given, newest first.

    `event` is a (source, event_id) pair: the one request it names; `contact_keys` any of a
    person's identities; `occurred_since` and `occurred_until` a period, [since, until);
    `oldest_first` turns the order round (a queue read in the order it was recorded) and
    `after_id` then reads on from a page's last id.
    """
    where = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    if request_id is not None:
        where.append("r.id = :request_id")
        params["request_id"] = request_id
    if status is not None:
        where.append("s.status = :status")
        params["status"] = Status(status).value
    if contact_key is not None:
        where.append("r.contact_key = :contact_key")
        params["contact_key"] = contact_key
    if contact_keys is not None:
        keys, key_params = in_list("key", contact_keys)
        where.append(f"r.contact_key IN {keys}")
        params.update(key_params)
    if event is not None:
        where.append("r.source = :source AND r.event_id = :event_id")
        params["source"], params["event_id"] = event
    if occurred_since is not None:
        where.append("r.occurred_at >= :occurred_since")
        params["occurred_since"] = occurred_since
    if occurred_until is not None:
        where.append("r.occurred_at < :occurred_until")
        params["occurred_until"] = occurred_until
    if after_id is not None:
        where.append(f"r.id {'>' if oldest_first else '<'} :after_id")
        params["after_id"] = after_id
    rows = await tx.fetchall(
        f"SELECT {REQUEST_COLUMNS}, s.status, s.attempts, s.next_attempt_at, s.last_error"  # noqa: S608
        " FROM consent_requests r JOIN request_state s ON s.request_id = r.id"
        f" WHERE {' AND '.join(where)} ORDER BY r.id {'ASC' if oldest_first else 'DESC'}"
        " LIMIT :limit",
        params,
    )
    outcomes = await outcomes_of(tx, [row["id"] for row in rows])
    clicks = await confirmations.clicks(tx, [row["id"] for row in rows if row["confirm"]])
    return [
        RequestRecord(
            id=row["id"],
            request=decode_request(row),
            received_at=from_micros(row["received_at"]),
            status=Status(row["status"]),
            attempts=row["attempts"],
            next_attempt_at=from_micros(row["next_attempt_at"]),
            last_error=row["last_error"],
            outcomes=outcomes.get(row["id"], []),
            payload_sha256=row["payload_sha256"],
            confirmation=clicks.get(row["id"]),
        )
        for row in rows
    ]


async def unsettled(tx: Transaction, contact_key: str, limit: int) -> list[Row]:
    """The request columns of a person's requests not yet settled, oldest event first."""
    return await tx.fetchall(
        f"SELECT {REQUEST_COLUMNS} FROM consent_requests r"  # noqa: S608
        " JOIN request_state s ON s.request_id = r.id"
        " WHERE r.contact_key = :contact_key AND s.status IN ('pending', 'leased')"
        " ORDER BY r.occurred_at, r.id LIMIT :limit",
        {"contact_key": contact_key, "limit": limit},
    )


async def outcomes_of(tx: Transaction, ids: Sequence[int]) -> dict[int, list[Outcome]]:
    """Each request's outcomes in the order they happened."""
    if not ids:
        return {}
    placeholders, params = in_list("id", ids)
    found: dict[int, list[Outcome]] = {}
    for row in await tx.fetchall(
        f"SELECT {OUTCOME_COLUMNS} FROM outcomes o"  # noqa: S608
        f" WHERE o.request_id IN {placeholders} ORDER BY o.at, o.id",
        params,
    ):
        found.setdefault(row["request_id"], []).append(decode_outcome(row))
    return found


async def status_counts(tx: Transaction) -> dict[Status, int]:
    """How many requests are in each status, zeros included (steady metric series)."""
    counts = dict.fromkeys(Status, 0)
    for row in await tx.fetchall("SELECT status, COUNT(*) AS n FROM request_state GROUP BY status"):
        counts[Status(row["status"])] = int(row["n"])
    return counts


async def oldest_due(tx: Transaction, now: int) -> int | None:
    """When the longest-waiting due pending request became due, or None."""
    row = await tx.fetchone(
        "SELECT MIN(next_attempt_at) AS oldest FROM request_state"
        " WHERE status = 'pending' AND next_attempt_at <= :now",
        {"now": now},
    )
    return None if row is None or row["oldest"] is None else int(row["oldest"])


async def taken_away(tx: Transaction, contact_id: str) -> frozenset[str]:
    """The type ids a channel-wide unsubscribe applied by the bridge detached from this contact.

    Only a detach Intercom accepted counts (a 404 "already absent" took nothing away), and
    only one made for an unsubscribe: a subscribe's detach gave an opt-out type back. And only
    where the newest such detach of a type came from a whole channel (a STOP, a global
    unsubscribe), not from the person's own choice of that type on a page or list: a START
    gives back what a STOP took, never what the person turned off themselves.
    """
    rows = await tx.fetchall(
        "SELECT o.type_id, r.scope FROM outcomes o"
        " JOIN consent_requests r ON r.id = o.request_id"
        " WHERE o.contact_id = :contact_id AND o.action = 'detach'"
        " AND o.http_status BETWEEN 200 AND 299 AND r.wanted = 'unsubscribed'"
        " ORDER BY o.at, o.id",
        {"contact_id": contact_id},
    )
    newest = {str(row["type_id"]): str(row["scope"]) for row in rows}
    return frozenset(t for t, scope in newest.items() if "types" not in json.loads(scope))


async def last_applied(tx: Transaction, contact_id: str, type_ids: Sequence[str]) -> dict[str, int]:
    """For each type id that has one, when the newest applied event for it happened."""
    placeholders, params = in_list("type", type_ids)
    rows = await tx.fetchall(
        "SELECT type_id, occurred_at FROM last_applied"  # noqa: S608
        f" WHERE contact_id = :contact_id AND type_id IN {placeholders}",
        {**params, "contact_id": contact_id},
    )
    return {row["type_id"]: int(row["occurred_at"]) for row in rows}
