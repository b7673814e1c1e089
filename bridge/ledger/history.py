"""An operator's questions about the past: a person's or a period's requests, one request's story.

Read-only, and answered as model objects (`RequestRecord`, `RequestStory`, `Person`) so that
the CLI and an admin page show the same things. A person is found from one identity by
following what the ledger itself saw (see `person`), so a search by email also finds the
requests that named the same Intercom contact by phone, external id or contact id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from bridge.consent import Identity

from . import queries
from .codec import dump_json, from_micros, to_micros
from .database import Database, Transaction, in_list
from .models import KeptPayload, Person, RequestRecord, RequestStory, Status

Pair = tuple[str, str]  # (identity field, value), e.g. ("email", "jane@example.com")

# A person's identities are followed this many steps at most, and no further than this many
# identities: a contact id shared by mistake must not pull in the whole ledger.
MAX_STEPS = 6
MAX_IDENTITIES = 200
# Rows per page of `every`: an export of a year reads it in pages, never all at once.
PAGE = 500


class History:
    """The ledger's past, as an operator asks about it."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def person(self, identity: Identity) -> Person:
        """Every identity key and Intercom contact the ledger ties to this identity."""
        async with self._database.transaction(write=False) as tx:
            return await person(tx, identity)

    async def events(
        self,
        *,
        person: Person | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: Status | None = None,
        limit: int = 100,
        after_id: int | None = None,
        oldest_first: bool = False,
    ) -> list[RequestRecord]:
        """Requests of a person and/or that happened in [since, until), newest first."""
        if limit <= 0:
            return []
        async with self._database.transaction(write=False) as tx:
            return await queries.records(
                tx,
                contact_keys=None if person is None else sorted(person.keys),
                occurred_since=None if since is None else to_micros(since),
                occurred_until=None if until is None else to_micros(until),
                status=status,
                limit=limit,
                after_id=after_id,
                oldest_first=oldest_first,
            )

    async def every(
        self,
        *,
        person: Person | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestRecord]:
        """All the requests `events` would find, oldest first, read a page at a time."""
        found: list[RequestRecord] = []
        after: int | None = None
        while True:
            page = await self.events(
                person=person, since=since, until=until, limit=PAGE, after_id=after,
                oldest_first=True,
            )  # fmt: skip
            found.extend(page)
            if len(page) < PAGE:
                return found
            after = page[-1].id

    async def story(self, request_id: int) -> RequestStory | None:
        """One request's whole story, or None when there is no such request."""
        async with self._database.transaction(write=False) as tx:
            found = await queries.records(tx, request_id=request_id, limit=1)
            if not found:
                return None
            row = await tx.fetchone(
                "SELECT r.consent_text_sha256, s.updated_at FROM consent_requests r"
                " JOIN request_state s ON s.request_id = r.id WHERE r.id = :id",
                {"id": request_id},
            )
            record = found[0]
            kept = await kept_payloads(tx, [record.payload_sha256 or ""])
        assert row is not None  # the record above was read in this transaction
        return RequestStory(
            record=record,
            updated_at=from_micros(row["updated_at"]),
            consent_text_sha256=row["consent_text_sha256"],
            payload=kept.get(record.payload_sha256 or ""),
        )

    async def kept(self, records: Iterable[RequestRecord]) -> dict[str, KeptPayload]:
        """The raw payloads still kept of these requests, by hash."""
        hashes = sorted({r.payload_sha256 for r in records if r.payload_sha256 is not None})
        found: dict[str, KeptPayload] = {}
        async with self._database.transaction(write=False) as tx:
            for start in range(0, len(hashes), PAGE):
                found.update(await kept_payloads(tx, hashes[start : start + PAGE]))
        return found

    async def payload(self, sha256: str) -> bytes | None:
        """The raw body with this hash, if the ledger still keeps it."""
        async with self._database.transaction(write=False) as tx:
            row = await tx.fetchone("SELECT body FROM payloads WHERE sha256 = :h", {"h": sha256})
        return None if row is None else bytes(row["body"])


async def kept_payloads(tx: Transaction, hashes: Sequence[str]) -> dict[str, KeptPayload]:
    """Which of these raw payloads are still kept: when each came, and its size."""
    placeholders, params = in_list("h", hashes)
    rows = await tx.fetchall(
        "SELECT sha256, received_at, LENGTH(body) AS size FROM payloads"  # noqa: S608
        f" WHERE sha256 IN {placeholders}",
        params,
    )
    return {
        row["sha256"]: KeptPayload(row["sha256"], from_micros(row["received_at"]), int(row["size"]))
        for row in rows
    }


async def person(tx: Transaction, identity: Identity) -> Person:
    """The identities tied to `identity`, followed step by step through what the ledger saw.

    Two identities are one person when one request named both (an identity with an email
    and a contact id, say), or when calls made for their requests went to the same Intercom
    contact; a contact id is an identity too. Requests whose calls found no contact tie
    nothing together.
    """
    pairs: set[Pair] = set(identity.to_dict().items())
    done: set[Pair] = set()
    for _ in range(MAX_STEPS):
        todo = pairs - done
        if not todo or len(pairs) > MAX_IDENTITIES:
            break
        done |= todo
        for found in await _carrying(tx, todo):
            pairs |= set(found.to_dict().items())
        for contact_id in await _contacts_of(tx, [f"{f}:{v}" for f, v in sorted(todo)]):
            pairs.add(("contact_id", contact_id))
        reached = [value for field, value in todo if field == "contact_id"]
        for found in await _called(tx, reached):
            pairs |= set(found.to_dict().items())
    return Person(
        keys=frozenset(f"{field}:{value}" for field, value in pairs),
        contact_ids=frozenset(value for field, value in pairs if field == "contact_id"),
    )


async def _carrying(tx: Transaction, pairs: Iterable[Pair]) -> list[Identity]:
    """The stored identities that hold any of these fields with exactly that value."""
    wanted = sorted(pairs)
    clauses, params = [], {}
    for i, (field, value) in enumerate(wanted):
        # The stored JSON is compact, so the field appears as it is dumped here.
        fragment = dump_json({field: value}, "identity")[1:-1]
        escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"identity LIKE :like{i} ESCAPE '\\'")
        params[f"like{i}"] = f"%{escaped}%"
    rows = await tx.fetchall(
        f"SELECT DISTINCT identity FROM consent_requests WHERE {' OR '.join(clauses)}",  # noqa: S608
        params,
    )
    found = [Identity.from_dict(json.loads(row["identity"])) for row in rows]
    # LIKE is blind to case on SQLite and to JSON's nesting: keep exact matches only.
    return [i for i in found if any(i.to_dict().get(f) == v for f, v in wanted)]


async def _contacts_of(tx: Transaction, keys: list[str]) -> list[str]:
    """The Intercom contacts calls were made to for requests of these identity keys."""
    placeholders, params = in_list("key", keys)
    rows = await tx.fetchall(
        "SELECT DISTINCT o.contact_id FROM outcomes o"  # noqa: S608
        " JOIN consent_requests r ON r.id = o.request_id"
        f" WHERE r.contact_key IN {placeholders} AND o.contact_id <> ''",
        params,
    )
    return [str(row["contact_id"]) for row in rows]


async def _called(tx: Transaction, contact_ids: list[str]) -> list[Identity]:
    """The identities of the requests whose calls went to these Intercom contacts."""
    if not contact_ids:
        return []
    placeholders, params = in_list("contact", contact_ids)
    rows = await tx.fetchall(
        "SELECT DISTINCT r.identity FROM consent_requests r"  # noqa: S608
        " JOIN outcomes o ON o.request_id = r.id"
        f" WHERE o.contact_id IN {placeholders}",
        params,
    )
    return [Identity.from_dict(json.loads(row["identity"])) for row in rows]
