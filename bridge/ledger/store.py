"""The Ledger: durable consent requests, their processing state, outcomes and ordering."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from bridge.clock import Clock, SystemClock
from bridge.consent import ConsentRequest, Wanted
from bridge.logsafe import event_ref

from . import (
    clocks,
    confirmations,
    contact_leases,
    leases,
    message_parts,
    migrations,
    queries,
    retention,
    review,
    signatures,
)
from .codec import (
    checked_text,
    decode_request,
    encode_request,
    from_micros,
    scrubbed,
    to_micros,
)
from .database import DEFAULT_URL, Database, in_list, open_database
from .history import History
from .models import (
    Claimed,
    Confirmed,
    MessagePart,
    Outcome,
    Pruned,
    Recording,
    RecordStats,
    RequestRecord,
    Status,
)
from .recorder import Recorder

T = TypeVar("T")


async def open_ledger(url: str = DEFAULT_URL, *, clock: Clock | None = None) -> Ledger:
    """Connect to the ledger a database URL names; the schema is left as it is (see migrate)."""
    ledger = Ledger(await open_database(url), clock=clock or SystemClock())
    ledger.start()
    return ledger


class Ledger:
    """What was asked and what was done about it, on SQLite or PostgreSQL alike."""

    def __init__(self, database: Database, *, clock: Clock) -> None:
        self.database = database
        self.clock = clock  # when a caller does not say when something happened
        self.dialect = database.dialect
        self.stats = RecordStats()
        self._recorder = Recorder(database, self.stats)
        self.history = History(database)  # an operator's questions about the past

    def start(self) -> None:
        """Start the group-commit writer (`open_ledger` does this)."""
        self._recorder.start()

    async def close(self) -> None:
        """Commit what `record()` has queued, then disconnect."""
        try:
            await self._recorder.close()
        finally:
            await self.database.close()

    async def ping(self) -> None:
        """Raise `LedgerUnavailable` unless the database answers (readiness)."""
        await self.database.ping()

    async def pending_migrations(self) -> list[str]:
        """Names of the migrations not yet applied, in order."""
        return [migration.name for migration in await migrations.pending(self.database)]

    async def migrate(self) -> list[str]:
        """Apply pending migrations; the names applied (none when up to date)."""
        return await migrations.migrate(self.database, now=to_micros(self.clock.now()))

    async def record(
        self,
        requests: Sequence[ConsentRequest],
        *,
        payload_sha256: str | None = None,
        payload: bytes | None = None,
        received_at: datetime | None = None,
    ) -> Recording:
        """Commit the requests that can be stored (all or none of them); durable on return.

        A request whose (source, event_id) is already recorded changes nothing and comes back
        with the existing id and `duplicate=True`. A request that cannot be stored (a NUL
        character, say) is left out and named in `unstorable`. A new request starts `pending`,
        or `review` when it is to be held for an operator (`hold`). The raw `payload` the
        requests came in, if given, is kept once in the same transaction, by its hash (which
        `payload_sha256` must then be, if given too). Concurrent callers share transactions.
        Raises `LedgerUnavailable` when the commit fails.
        """
        if payload is not None:
            digest = hashlib.sha256(payload).hexdigest()
            if payload_sha256 is not None and not hmac.compare_digest(digest, payload_sha256):
                raise ValueError("payload_sha256 is not the payload's hash")
            payload_sha256 = digest
        received = to_micros(received_at or self.clock.now())
        stored, rows, unstorable = [], [], []
        for request in requests:
            try:
                rows.append(
                    encode_request(
                        request,
                        received_at=received,
                        payload_sha256=payload_sha256,
                        payload=payload,
                    )
                )
            except ValueError as exc:
                unstorable.append(f"{event_ref(request.event_id)}: {exc}")
            else:
                stored.append(request)
        recorded = await self._recorder.record(rows) if rows else []
        return Recording(stored, recorded, unstorable)

    async def bind_signature(
        self,
        provider: str,
        signature: str,
        payload_sha256: str,
        *,
        expires_at: datetime,
        now: datetime,
    ) -> bool:
        """Bind a signature to the payload it came with; False if it came before with another.

        The binding lasts until `expires_at` (when the signature stops verifying); the same
        payload again (a retry) is True.
        """
        async with self.database.transaction() as tx:
            return await signatures.bind(
                tx,
                provider=checked_text(provider, "provider"),
                signature=checked_text(signature, "signature"),
                payload_sha256=checked_text(payload_sha256, "hash"),
                expires_at=to_micros(expires_at),
                now=to_micros(now),
            )

    async def prune(self, now: datetime, *, keep_payloads_for: timedelta) -> Pruned:
        """Drop raw payloads received `keep_payloads_for` or longer before `now`, and spent
        signature bindings; never a request, outcome, confirmation or consent text."""
        return await retention.prune(
            self.database, now=to_micros(now), cutoff=to_micros(now - keep_payloads_for)
        )

    async def claim(
        self, owner: str, *, limit: int, lease_seconds: float, now: datetime
    ) -> list[Claimed]:
        """Lease up to `limit` due requests, at most one per contact, oldest event first."""
        at = to_micros(now)
        async with self.database.transaction() as tx:
            # Expiry rides on the claims: every worker polls, on its clock, at no extra commit.
            await confirmations.expire(tx, self.dialect, now=at)
            leased = await leases.claim(
                tx,
                self.dialect,
                owner=owner,
                limit=limit,
                lease_until=at + _micros(lease_seconds),
                now=at,
            )
            rows = await queries.request_rows(tx, leased) if leased else []
            # Requests that email their person: whether the email went out already.
            emailing = [
                row["id"]
                for row in rows
                if row["confirm"] is not None or row["wanted"] == Wanted.LINK.value
            ]
            facts = await confirmations.facts(tx, emailing)
        return [
            Claimed(
                id=row["id"],
                request=decode_request(row),
                attempts=leased[row["id"]],
                received_at=from_micros(row["received_at"]),
                messaged_at=_moment(facts.get(row["id"], {}).get("messaged_at")),
                confirmed_at=_moment(facts.get(row["id"], {}).get("confirmed_at")),
            )
            for row in rows
        ]

    async def extend_leases(
        self, owner: str, ids: Sequence[int], *, lease_seconds: float, now: datetime
    ) -> None:
        """Push back the end of the leases `owner` still holds among `ids`, contacts' too."""
        if not ids:
            return
        at = to_micros(now)
        until = at + _micros(lease_seconds)
        async with self.database.transaction() as tx:
            await leases.extend(tx, owner=owner, ids=ids, lease_until=until, now=at)
            await contact_leases.extend(
                tx, self.dialect, owner=owner, request_ids=ids, lease_until=until
            )

    async def take_contacts(
        self,
        request_id: int,
        owner: str,
        contact_ids: Sequence[str],
        type_ids: Sequence[str],
        *,
        lease_seconds: float,
        now: datetime,
    ) -> dict[str, dict[str, datetime]] | None:
        """Lease every Intercom contact to the request, and read their `last_applied` with it.

        Returns, per contact, when the newest applied event of each of `type_ids` that has
        one happened; None, leasing nothing, when another request holds one of the contacts.
        Settling the request (`finish`, `retry_later`, `release`) gives them up; a crashed
        worker's leases lapse after `lease_seconds` unless `extend_leases` pushes them back.
        """
        at = to_micros(now)
        async with self.database.transaction() as tx:
            taken = await contact_leases.take(
                tx,
                request_id=request_id,
                owner=owner,
                contact_ids=contact_ids,
                lease_until=at + _micros(lease_seconds),
                now=at,
            )
            if not taken:
                return None
            # Read under the lease, in its transaction: one round of commits fewer per request.
            found = {
                contact_id: await queries.last_applied(tx, contact_id, type_ids) if type_ids else {}
                for contact_id in contact_ids
            }
        return {
            contact_id: {type_id: from_micros(micros) for type_id, micros in newest.items()}
            for contact_id, newest in found.items()
        }

    async def finish(
        self,
        request_id: int,
        owner: str,
        status: Status,
        *,
        outcomes: Sequence[Outcome] = (),
        applied: Sequence[tuple[str, str]] = (),
        occurred_at: datetime | None = None,
        error: str | None = None,
        now: datetime,
    ) -> bool:
        """Settle a leased request for good; False (and no change) if `owner` lost the lease.

        Each (contact_id, type_id) in `applied` moves `last_applied` forward to `occurred_at`
        (default: the request's) unless a newer event is already there. The request's contact
        leases end in the same transaction, so whoever takes a contact next sees that move.
        """
        status = Status(status)
        if not status.is_terminal:
            raise ValueError(f"finish needs a terminal status, not {status.value!r}")
        at = to_micros(now)
        async with self.database.transaction() as tx:
            stored = await leases.settle(
                tx,
                request_id,
                owner=owner,
                status=status.value,
                next_attempt_at=None,
                error=None if error is None else scrubbed(error),
                refund=False,
                now=at,
            )
            if stored is None:
                return False
            await contact_leases.release_request(tx, self.dialect, request_id)
            await leases.add_outcomes(tx, request_id, outcomes, at)
            newest = stored if occurred_at is None else to_micros(occurred_at)
            await leases.advance_last_applied(tx, request_id, applied, newest)
        return True

    async def retry_later(
        self,
        request_id: int,
        owner: str,
        *,
        error: str,
        next_attempt_at: datetime,
        outcomes: Sequence[Outcome] = (),
        refund_attempt: bool = False,
        now: datetime,
    ) -> bool:
        """Back to pending until `next_attempt_at`, its contacts freed; False if not held."""
        return await self._park(
            request_id,
            owner,
            Status.PENDING,
            until=next_attempt_at,
            error=scrubbed(error),
            refund=refund_attempt,
            outcomes=outcomes,
            now=now,
        )

    async def await_confirmation(
        self,
        request_id: int,
        owner: str,
        *,
        until: datetime,
        outcomes: Sequence[Outcome] = (),
        now: datetime,
    ) -> bool:
        """Park a leased request until its person confirms, `until` at most; False if not held.

        No claim takes it meanwhile: `confirm` makes it due, or a claim after `until` makes it
        `expired`. Its contacts are freed and the calls made so far (the email) recorded.
        """
        return await self._park(
            request_id,
            owner,
            Status.AWAITING_CONFIRMATION,
            until=until,
            error=None,
            refund=False,
            outcomes=outcomes,
            now=now,
        )

    async def _park(
        self,
        request_id: int,
        owner: str,
        status: Status,
        *,
        until: datetime,
        error: str | None,
        refund: bool,
        outcomes: Sequence[Outcome],
        now: datetime,
    ) -> bool:
        """End `owner`'s lease with a status that comes back at `until`; False if not held."""
        at = to_micros(now)
        async with self.database.transaction() as tx:
            stored = await leases.settle(
                tx,
                request_id,
                owner=owner,
                status=status.value,
                next_attempt_at=to_micros(until),
                error=error,
                refund=refund,
                now=at,
            )
            if stored is None:
                return False
            await contact_leases.release_request(tx, self.dialect, request_id)
            await leases.add_outcomes(tx, request_id, outcomes, at)
        return True

    async def confirm(
        self, source: str, event_id: str, *, proof: dict[str, str], now: datetime
    ) -> tuple[Confirmed, int | None]:
        """A person's click on the confirmation link of request (source, event_id).

        Waiting and in time: the click is kept as proof and the request is due now. Returns
        what happened and the request's id (None when there is no such request).
        """
        async with self.database.transaction() as tx:
            return await confirmations.confirm(
                tx, source=source, event_id=event_id, proof=proof, now=to_micros(now)
            )

    async def release(self, owner: str, ids: Sequence[int] | None = None, *, now: datetime) -> int:
        """Hand `owner`'s leases (all, or those in `ids`) back at once; how many."""
        async with self.database.transaction() as tx:
            # Request rows before contact rows, in every transaction that writes both.
            released = await leases.release(tx, owner=owner, ids=ids, now=to_micros(now))
            await contact_leases.release_owner(tx, self.dialect, owner=owner, request_ids=ids)
        return released

    async def replay(
        self,
        *,
        ids: Sequence[int] = (),
        statuses: Sequence[Status] = (),
        now: datetime | None = None,
    ) -> int:
        """Make requests pending again, attempts 0, due `now`; how many.

        Picks the given ids and/or statuses; with neither, every dead and unmatched request.
        Leased requests are never touched: a worker is on them; nor are requests waiting for
        their person's confirmation or expired without it: only the person can move them; nor
        held or dismissed ones: only an operator's review moves them (`release_held`).
        """
        wanted = [Status(status) for status in statuses]
        if not ids and not wanted:
            wanted = [Status.DEAD, Status.UNMATCHED]
        id_list, id_params = in_list("id", ids)
        status_list, status_params = in_list("status", [status.value for status in wanted])
        where = [
            "status NOT IN ('leased', 'awaiting_confirmation', 'expired', 'review', 'dismissed')"
        ]
        if ids:
            where.append(f"request_id IN {id_list}")
        if wanted:
            where.append(f"status IN {status_list}")
        async with self.database.transaction() as tx:
            return await tx.execute(
                "UPDATE request_state SET status = 'pending', attempts = 0,"  # noqa: S608
                " next_attempt_at = :now, lease_owner = NULL, lease_until = NULL,"
                f" updated_at = :now WHERE {' AND '.join(where)}",
                {**id_params, **status_params, "now": to_micros(now or self.clock.now())},
            )

    async def held(self, limit: int = 100) -> list[RequestRecord]:
        """The requests held for an operator's review, oldest first."""
        if limit <= 0:
            return []
        async with self.database.transaction(write=False) as tx:
            return await queries.records(tx, status=Status.REVIEW, limit=limit, oldest_first=True)

    async def release_held(self, request_id: int, *, now: datetime) -> bool:
        """A held request goes to the queue, due `now`; False if it was not held."""
        async with self.database.transaction() as tx:
            return await review.release(tx, request_id, now=to_micros(now))

    async def dismiss_held(
        self, request_id: int, *, now: datetime, note: str | None = None
    ) -> bool:
        """A held request is dismissed for good, `note` saying why; False if it was not held."""
        note = None if note is None else scrubbed(note)
        async with self.database.transaction() as tx:
            return await review.dismiss(tx, request_id, now=to_micros(now), note=note)

    async def taken_away(self, contact_id: str) -> frozenset[str]:
        """The type ids an unsubscribe the bridge applied detached from this Intercom contact."""
        async with self.database.transaction(write=False) as tx:
            return await queries.taken_away(tx, contact_id)

    async def add_message_part(self, part: MessagePart) -> list[MessagePart] | None:
        """Commit one part of a long SMS; all its group's parts, by number, once complete.

        A repeat of the same (source, group, part) changes nothing. Raises ValueError when
        the part cannot be stored (a NUL character, fields that are not JSON).
        """
        async with self.database.transaction() as tx:
            return await message_parts.add(tx, self.dialect, part)

    async def overdue_message_parts(
        self, received_before: datetime, *, limit: int = 100
    ) -> list[list[MessagePart]]:
        """The groups whose first part arrived before `received_before`, each by part number.

        Incomplete groups waited out, and any complete one whose joined message was never
        dropped (its process stopped in between): the caller matches what arrived.
        """
        if limit <= 0:
            return []
        async with self.database.transaction(write=False) as tx:
            return await message_parts.overdue(tx, before=to_micros(received_before), limit=limit)

    async def drop_message_parts(self, source: str, group: str) -> None:
        """Forget a group's parts, once the message they make is recorded."""
        async with self.database.transaction() as tx:
            await message_parts.drop(tx, source=source, group=group)

    async def meta(self, name: str) -> str | None:
        """A fact about the ledger itself (e.g. `mode`), or None."""
        async with self.database.transaction(write=False) as tx:
            row = await tx.fetchone(
                "SELECT value FROM ledger_meta WHERE name = :name", {"name": name}
            )
        return None if row is None else str(row["value"])

    async def set_meta(self, name: str, value: str) -> None:
        """Record a fact about the ledger itself."""
        async with self.database.transaction() as tx:
            await tx.execute(
                "INSERT INTO ledger_meta (name, value) VALUES (:name, :value)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                {"name": name, "value": value},
            )

    async def update_meta(self, name: str, change: Callable[[str | None], tuple[str, T]]) -> T:
        """Rewrite a ledger_meta row with `change` (old text -> new text, result), one at a time."""
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""  # SQLite: one writer
        async with self.database.transaction() as tx:
            # Made first, so the row exists to be locked: two first callers both wait on it.
            await tx.execute(
                "INSERT INTO ledger_meta (name, value) VALUES (:name, '')"
                " ON CONFLICT (name) DO NOTHING",
                {"name": name},
            )
            row = await tx.fetchone(
                f"SELECT value FROM ledger_meta WHERE name = :name{lock}",  # noqa: S608
                {"name": name},
            )
            value, result = change(None if row is None or not row["value"] else str(row["value"]))
            await tx.execute(
                "UPDATE ledger_meta SET value = :value WHERE name = :name",
                {"name": name, "value": value},
            )
        return result

    async def count_for(self, contact_keys: Sequence[str]) -> int:
        """How many requests name any of these people (by `Identity.key`)."""
        if not contact_keys:
            return 0
        keys, params = in_list("key", contact_keys)
        async with self.database.transaction(write=False) as tx:
            row = await tx.fetchone(
                f"SELECT COUNT(*) AS n FROM consent_requests WHERE contact_key IN {keys}",  # noqa: S608
                params,
            )
        return 0 if row is None else int(row["n"])

    async def unsettled(self, contact_key: str, *, limit: int = 200) -> list[ConsentRequest]:
        """A person's requests still waiting for the worker (pending or leased), oldest first."""
        async with self.database.transaction(write=False) as tx:
            rows = await queries.unsettled(tx, contact_key, limit)
        return [decode_request(row) for row in rows]

    async def status_counts(self) -> dict[Status, int]:
        """How many requests are in each status (every status present, zeros included)."""
        async with self.database.transaction(write=False) as tx:
            return await queries.status_counts(tx)

    async def get(self, request_id: int) -> RequestRecord | None:
        """One request with its state and outcomes, or None."""
        async with self.database.transaction(write=False) as tx:
            found = await queries.records(tx, request_id=request_id, limit=1)
        return found[0] if found else None

    async def find(self, source: str, event_id: str) -> RequestRecord | None:
        """The request (source, event_id) names, with its state and outcomes, or None."""
        async with self.database.transaction(write=False) as tx:
            found = await queries.records(tx, event=(source, event_id), limit=1)
        return found[0] if found else None

    async def list_requests(
        self, *, status: Status | None = None, contact_key: str | None = None, limit: int = 100
    ) -> list[RequestRecord]:
        """Requests matching the filters, most recently recorded first."""
        if limit <= 0:
            return []
        async with self.database.transaction(write=False) as tx:
            return await queries.records(tx, status=status, contact_key=contact_key, limit=limit)

    async def oldest_due_age(self, now: datetime) -> float | None:
        """Seconds the longest-waiting due pending request has waited, or None (metrics)."""
        at = to_micros(now)
        async with self.database.transaction(write=False) as tx:
            oldest = await queries.oldest_due(tx, at)
        return None if oldest is None else (at - oldest) / 1_000_000

    async def optout_clocks(self) -> clocks.OptoutClocks:
        """When the oldest unapplied opt-out per channel and the oldest held request came in."""
        async with self.database.transaction(write=False) as tx:
            return await clocks.optout_clocks(tx, self.dialect)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _micros(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError("a lease must last a positive number of seconds")
    return round(seconds * 1_000_000)
