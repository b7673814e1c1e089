"""Group commit: concurrent `record()` callers share one transaction, so one fsync."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .database import Database, Params, Transaction, values_rows
from .models import LedgerUnavailable, Recorded, RecordStats

logger = logging.getLogger(__name__)

Key = tuple[str, str]

_REQUEST_FIELDS = (
    "source",
    "event_id",
    "received_at",
    "occurred_at",
    "contact_key",
    "identity",
    "wanted",
    "scope",
    "context",
    "payload_sha256",
    "create_contact",
    "confirm",
    "consent_text_sha256",
    "hold",
)
_TEXT_FIELDS = ("sha256", "text", "first_seen")
_PAYLOAD_FIELDS = ("sha256", "body", "received_at")
_STATE_FIELDS = (
    "request_id",
    "contact_key",
    "occurred_at",
    "status",
    "attempts",
    "next_attempt_at",
    "updated_at",
)

# Rows per INSERT: well under both databases' parameter limits (SQLite 32766, PostgreSQL 65535).
_CHUNK = 500


@dataclass(slots=True)
class _Call:
    rows: Sequence[Params]
    future: asyncio.Future[list[Recorded]]


class Recorder:
    """A background writer that commits everything queued in one transaction, then repeats.

    Nothing waits on purpose: while one transaction commits, new callers queue up and go
    together in the next, so batches grow exactly as fast as the database is slow.
    """

    def __init__(self, database: Database, stats: RecordStats, *, max_batch: int = 2000) -> None:
        self._database = database
        self._stats = stats
        self._max_batch = max_batch
        self._queue: deque[_Call] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: list[_Call] = []

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.create_task(self._run(), name="ledger-recorder")

    async def record(self, rows: Sequence[Params]) -> list[Recorded]:
        """Queue encoded requests; their ids once the transaction holding them has committed."""
        if self._closing or self._task is None or self._task.done():
            raise LedgerUnavailable("the ledger is closed")
        future: asyncio.Future[list[Recorded]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(rows, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        try:
            while not (self._closing and not self._queue):
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    self._inflight = self._take()
                    await self._commit(self._inflight)
                    self._inflight = []
        finally:
            # Only reached early if the task is cancelled: no caller may wait forever.
            for call in [*self._inflight, *self._queue]:
                if not call.future.done():
                    call.future.set_exception(LedgerUnavailable("the ledger is closed"))
            self._queue.clear()

    def _take(self) -> list[_Call]:
        batch: list[_Call] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].rows) <= self._max_batch):
            call = self._queue.popleft()
            if call.future.done():
                continue  # the caller was cancelled before we got to it; nothing was promised
            batch.append(call)
            size += len(call.rows)
        return batch

    async def _commit(self, batch: list[_Call]) -> None:
        if not batch:
            return
        try:
            results = await self._write(batch)
        except Exception as exc:
            self._stats.failed_transactions += 1
            logger.error("ledger: a group commit of %d calls failed", len(batch), exc_info=exc)
            message = str(exc) if isinstance(exc, LedgerUnavailable) else "the ledger failed"
            for call in batch:
                if not call.future.done():
                    error = LedgerUnavailable(message)
                    error.__cause__ = exc.__cause__ if isinstance(exc, LedgerUnavailable) else exc
                    call.future.set_exception(error)
            return
        self._stats.transactions += 1
        self._stats.calls += len(batch)
        for call, recorded in zip(batch, results, strict=True):
            self._stats.requests += len(recorded)
            self._stats.duplicates += sum(r.duplicate for r in recorded)
            if not call.future.done():
                call.future.set_result(recorded)

    async def _write(self, batch: list[_Call]) -> list[list[Recorded]]:
        unique: dict[Key, Params] = {}
        for call in batch:
            for row in call.rows:
                unique.setdefault((row["source"], row["event_id"]), row)
        # Sorted, so concurrent writers in other processes take unique-index locks in the same
        # order and cannot deadlock each other.
        rows = [unique[key] for key in sorted(unique)]
        ids: dict[Key, int] = {}
        new: set[Key] = set()
        async with self._database.transaction() as tx:
            for start in range(0, len(rows), _CHUNK):
                await _insert(tx, rows[start : start + _CHUNK], ids, new)
        results = []
        seen: set[Key] = set()
        for call in batch:
            recorded = []
            for row in call.rows:
                key = (row["source"], row["event_id"])
                recorded.append(Recorded(ids[key], duplicate=key not in new or key in seen))
                seen.add(key)
            results.append(recorded)
        return results


async def _insert(tx: Transaction, rows: list[Params], ids: dict[Key, int], new: set[Key]) -> None:
    # Each text the batch quotes, once (a request names it by hash; see codec.encode_request).
    texts = {
        row["consent_text_sha256"]: {
            "sha256": row["consent_text_sha256"],
            "text": row["consent_text"],
            "first_seen": row["received_at"],
        }
        for row in rows
        if row.get("consent_text") is not None
    }
    await _insert_once(tx, "consent_texts", _TEXT_FIELDS, texts)
    values, params = values_rows(_REQUEST_FIELDS, rows)
    inserted = await tx.fetchall(
        f"INSERT INTO consent_requests ({', '.join(_REQUEST_FIELDS)}) VALUES {values}"  # noqa: S608
        " ON CONFLICT (source, event_id) DO NOTHING RETURNING id, source, event_id",
        params,
    )
    for row in inserted:
        key = (row["source"], row["event_id"])
        ids[key] = row["id"]
        new.add(key)
    # RETURNING is silent about rows that were already there: look their ids up.
    missing = [row for row in rows if (row["source"], row["event_id"]) not in ids]
    if missing:
        values, params = values_rows(("source", "event_id"), missing)
        for row in await tx.fetchall(
            "SELECT id, source, event_id FROM consent_requests"  # noqa: S608
            f" WHERE (source, event_id) IN (VALUES {values})",
            params,
        ):
            ids[(row["source"], row["event_id"])] = row["id"]
    # New requests start pending, due the moment they were received; a held one waits for
    # an operator's review instead (`Ledger.release_held` makes it pending).
    fresh = [
        {
            **row,
            "request_id": ids[key],
            "status": "review" if row["hold"] else "pending",
            "attempts": 0,
            "next_attempt_at": row["received_at"],
            "updated_at": row["received_at"],
        }
        for row in rows
        if (key := (row["source"], row["event_id"])) in new
    ]
    if fresh:
        values, params = values_rows(_STATE_FIELDS, fresh)
        await tx.execute(
            f"INSERT INTO request_state ({', '.join(_STATE_FIELDS)}) VALUES {values}",  # noqa: S608
            params,
        )
        # The raw body each new request came in, once (a retry's was kept already, or pruned).
        bodies = {
            row["payload_sha256"]: {
                "sha256": row["payload_sha256"],
                "body": row["payload"],
                "received_at": row["received_at"],
            }
            for row in fresh
            if row["payload"] is not None
        }
        await _insert_once(tx, "payloads", _PAYLOAD_FIELDS, bodies)


async def _insert_once(
    tx: Transaction, table: str, fields: Sequence[str], by_hash: Mapping[str, Params]
) -> None:
    """Insert each row of `by_hash` whose `sha256` is not in `table` yet."""
    if not by_hash:
        return
    # Sorted, as the requests are: concurrent writers take the key's locks in one order.
    values, params = values_rows(fields, [by_hash[key] for key in sorted(by_hash)])
    await tx.execute(
        f"INSERT INTO {table} ({', '.join(fields)}) VALUES {values}"  # noqa: S608
        " ON CONFLICT (sha256) DO NOTHING",
        params,
    )
