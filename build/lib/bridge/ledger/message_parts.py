"""The parts of a long SMS, kept until they are all in (or waited for long enough).

Vonage delivers a long SMS as several webhooks, each a part of a group. Each part is
committed before its webhook is answered; the message is matched once the group is complete,
or after a timeout with what arrived, and the group is then dropped. Joining is the
provider's business: the ledger only keeps the parts, once each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .codec import checked_text, dump_json, from_micros, to_micros
from .database import Row, Transaction
from .models import MessagePart

_COLUMNS = "source, group_ref, part, total, text, fields, received_at"

# PostgreSQL: the parts of one group are added one after the other, so that of two last
# parts arriving together one sees the other (class 1836081523 is "mpas" in ASCII).
# SQLite's BEGIN IMMEDIATE already serialises writers.
_PG_LOCK_GROUP = (
    "SELECT pg_advisory_xact_lock(1836081523,"
    " hashtext(CAST(:source AS text) || ' ' || CAST(:group_ref AS text)))"
)

# The groups whose first part came before :before, oldest first, with all their parts.
_OVERDUE = """SELECT p.source, p.group_ref, p.part, p.total, p.text, p.fields, p.received_at
FROM message_parts p
JOIN (
    SELECT source, group_ref, MIN(received_at) AS first_at FROM message_parts
    GROUP BY source, group_ref HAVING MIN(received_at) < :before
    ORDER BY first_at, source, group_ref LIMIT :limit
) g ON g.source = p.source AND g.group_ref = p.group_ref
ORDER BY g.first_at, p.source, p.group_ref, p.part"""


async def add(tx: Transaction, dialect: str, part: MessagePart) -> list[MessagePart] | None:
    """Keep one part (a repeat is a no-op); every part of its group once complete, else None."""
    key = {
        "source": checked_text(part.source, "source"),
        "group_ref": checked_text(part.group, "group"),
    }
    if dialect == "postgresql":
        await tx.execute(_PG_LOCK_GROUP, key)
    await tx.execute(
        f"INSERT INTO message_parts ({_COLUMNS})"  # noqa: S608
        " VALUES (:source, :group_ref, :part, :total, :text, :fields, :received_at)"
        " ON CONFLICT (source, group_ref, part) DO NOTHING",
        {
            **key,
            "part": part.part,
            "total": part.total,
            "text": checked_text(part.text, "text"),
            "fields": dump_json(part.fields, "fields"),
            "received_at": to_micros(part.received_at),
        },
    )
    rows = await tx.fetchall(
        f"SELECT {_COLUMNS} FROM message_parts"  # noqa: S608
        " WHERE source = :source AND group_ref = :group_ref ORDER BY part",
        key,
    )
    parts = [_decode(row) for row in rows]
    return parts if _complete(parts) else None


async def overdue(tx: Transaction, *, before: int, limit: int) -> list[list[MessagePart]]:
    """The groups still kept whose first part came before `before`, oldest first."""
    groups: dict[tuple[str, str], list[MessagePart]] = {}
    for row in await tx.fetchall(_OVERDUE, {"before": before, "limit": limit}):
        part = _decode(row)
        groups.setdefault((part.source, part.group), []).append(part)
    return list(groups.values())


async def drop(tx: Transaction, *, source: str, group: str) -> None:
    """Forget every part of a group."""
    await tx.execute(
        "DELETE FROM message_parts WHERE source = :source AND group_ref = :group_ref",
        {"source": source, "group_ref": group},
    )


def _complete(parts: Sequence[MessagePart]) -> bool:
    """Whether the parts are 1 to `total` (as the last-numbered part says), each once."""
    numbers = [part.part for part in parts]
    return bool(numbers) and numbers == list(range(1, max(p.total for p in parts) + 1))


def _decode(row: Row) -> MessagePart:
    return MessagePart(
        source=row["source"],
        group=row["group_ref"],
        part=int(row["part"]),
        total=int(row["total"]),
        text=row["text"],
        fields=json.loads(row["fields"]),
        received_at=from_micros(row["received_at"]),
    )
