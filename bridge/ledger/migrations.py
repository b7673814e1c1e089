"""The ledger's schema as ordered migrations, and the runner that applies them once each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .database import Database, Transaction


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change: statements run in a single transaction with the dialect's terms."""

    version: int
    name: str
    statements: tuple[str, ...]
    # Run after `statements`, for the one dialect named: where the two cannot share DDL.
    dialect_statements: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# The only places the dialects differ in DDL. `id`: a generated key that is never reused, since
# ledger ids are quoted in logs and outcomes. `request_pk`: SQLite keeps an INTEGER PRIMARY KEY
# in the rowid itself, so a state row costs no second index. `bytes`: a raw payload as it came.
TERMS = {
    "sqlite": {
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "request_pk": "INTEGER PRIMARY KEY",
        "bytes": "BLOB",
    },
    "postgresql": {
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "request_pk": "BIGINT PRIMARY KEY",
        "bytes": "BYTEA",
    },
}

_STATUSES_0001 = "'pending', 'leased', 'applied', 'superseded', 'unmatched', 'dead'"
_STATUSES_0006 = f"{_STATUSES_0001}, 'awaiting_confirmation', 'expired'"
_STATUSES = f"CHECK (status IN ({_STATUSES_0006}))"
_STATUSES_0008 = f"CHECK (status IN ({_STATUSES_0006}, 'review', 'dismissed'))"


def _request_state(table: str, check: str) -> str:
    """request_state's DDL; 0006 and 0008 rebuild it on SQLite with a wider CHECK.

    Mutable processing state. contact_key and occurred_at are copied from the request (they
    never change) so the claim query and its indexes need no join.
    """
    return f"""CREATE TABLE {table} (
        request_id {{request_pk}} REFERENCES consent_requests (id),
        contact_key TEXT NOT NULL,
        occurred_at BIGINT NOT NULL,
        status TEXT NOT NULL {check},
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        last_error TEXT,
        updated_at BIGINT NOT NULL
    )"""


# The queue in claim order, and by due time (for metrics). Partial, so they stay the size of
# the queue, not of the history; the queue index leads with status so that SQLite's planner
# prefers it over request_state_status before ANALYZE has run. request_state_leased: live and
# expired leases, looked up by contact for the one-lease-per-contact rule.
_REQUEST_STATE_INDEXES = (
    "CREATE INDEX request_state_queue ON request_state (status, occurred_at, request_id)"
    " WHERE status = 'pending'",
    "CREATE INDEX request_state_due ON request_state (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX request_state_leased ON request_state (contact_key, lease_until)"
    " WHERE status = 'leased'",
    "CREATE INDEX request_state_status ON request_state (status, request_id)",
)
# Requests waiting for their person's click, by deadline: the expiry sweep reads it.
_AWAITING_INDEX = (
    "CREATE INDEX request_state_awaiting ON request_state (next_attempt_at)"
    " WHERE status = 'awaiting_confirmation'"
)


def _widen_status_check(check: str) -> dict[str, tuple[str, ...]]:
    """Statements that replace request_state's status CHECK with `check`, per dialect.

    PostgreSQL replaces the constraint it named itself. SQLite cannot change a CHECK: the
    table is rebuilt, its indexes with it; nothing references request_state, so the foreign
    keys stay on.
    """
    return {
        "postgresql": (
            "ALTER TABLE request_state DROP CONSTRAINT request_state_status_check",
            f"ALTER TABLE request_state ADD CONSTRAINT request_state_status_check {check}",
        ),
        "sqlite": (
            _request_state("request_state_new", check),
            "INSERT INTO request_state_new SELECT * FROM request_state",
            "DROP TABLE request_state",
            "ALTER TABLE request_state_new RENAME TO request_state",
            *_REQUEST_STATE_INDEXES,
        ),
    }


_WIDEN_0006 = _widen_status_check(_STATUSES)
_WIDEN_0008 = _widen_status_check(_STATUSES_0008)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "0001_ledger",
        (
            # Append-only: what was asked, when, by whom. JSON is kept as text, not jsonb, so the
            # stored evidence is byte-for-byte what was written.
            """CREATE TABLE consent_requests (
                id {id},
                source TEXT NOT NULL,
                event_id TEXT NOT NULL,
                received_at BIGINT NOT NULL,
                occurred_at BIGINT NOT NULL,
                contact_key TEXT NOT NULL,
                identity TEXT NOT NULL,
                wanted TEXT NOT NULL,
                scope TEXT NOT NULL,
                context TEXT NOT NULL,
                payload_sha256 TEXT,
                CONSTRAINT consent_requests_event UNIQUE (source, event_id)
            )""",
            "CREATE INDEX consent_requests_contact ON consent_requests (contact_key, occurred_at)",
            # Mutable processing state. contact_key and occurred_at are copied from the request
            # (they never change) so the claim query and its indexes need no join.
            _request_state("request_state", f"CHECK (status IN ({_STATUSES_0001}))"),
            *_REQUEST_STATE_INDEXES,
            # Append-only: every Intercom call made, with Intercom's request id.
            """CREATE TABLE outcomes (
                id {id},
                request_id BIGINT NOT NULL REFERENCES consent_requests (id),
                at BIGINT NOT NULL,
                contact_id TEXT NOT NULL,
                type_id TEXT NOT NULL,
                action TEXT NOT NULL,
                http_status INTEGER NOT NULL,
                intercom_request_id TEXT,
                detail TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX outcomes_request ON outcomes (request_id)",
            # The newest applied event per Intercom contact and type: older events lose.
            """CREATE TABLE last_applied (
                contact_id TEXT NOT NULL,
                type_id TEXT NOT NULL,
                occurred_at BIGINT NOT NULL,
                request_id BIGINT NOT NULL REFERENCES consent_requests (id),
                PRIMARY KEY (contact_id, type_id)
            )""",
        ),
    ),
    Migration(
        2,
        "0002_contact_leases",
        (
            # One request at a time per Intercom contact, whichever identity led to it. A lease
            # names its request, so two requests in one worker exclude each other too, and its
            # owner, whose heartbeat extends it and who hands it back on stopping.
            """CREATE TABLE contact_leases (
                contact_id TEXT PRIMARY KEY,
                request_id BIGINT NOT NULL REFERENCES consent_requests (id),
                lease_owner TEXT NOT NULL,
                lease_until BIGINT NOT NULL
            )""",
            # Settling a request drops its leases by request id.
            "CREATE INDEX contact_leases_request ON contact_leases (request_id)",
        ),
    ),
    Migration(
        3,
        "0003_signature_uses",
        (
            # A signature that does not cover its payload (Mailgun's), bound to the payload it
            # first came with while it would still verify. Rows outlive nothing: swept once
            # expired. The signature is stored as a digest, never as it was sent.
            """CREATE TABLE signature_uses (
                provider TEXT NOT NULL,
                signature TEXT NOT NULL,
                payload_sha256 TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                PRIMARY KEY (provider, signature)
            )""",
            "CREATE INDEX signature_uses_expiry ON signature_uses (expires_at)",
        ),
    ),
    Migration(
        4,
        "0004_ledger_meta",
        (
            # Facts about the ledger itself: `mode = demo` marks the ledger `bridge demo` made,
            # which a real `serve` or `worker` refuses to use.
            """CREATE TABLE ledger_meta (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        5,
        "0005_create_contact",
        (
            # A request's leave to create a lead when no contact matches (`NewContact` as
            # JSON); NULL for every request without it, and so for every one recorded before.
            "ALTER TABLE consent_requests ADD COLUMN create_contact TEXT",
        ),
    ),
    Migration(
        6,
        "0006_confirmation",
        (
            # A request's need to be confirmed by email first (`Confirmation` as JSON); NULL
            # for every request without it, and so for every one recorded before.
            "ALTER TABLE consent_requests ADD COLUMN confirm TEXT",
            # Append-only: the person's confirmation click, the proof that the request is theirs.
            """CREATE TABLE confirmations (
                request_id {request_pk} REFERENCES consent_requests (id),
                confirmed_at BIGINT NOT NULL,
                proof TEXT NOT NULL
            )""",
        ),
        # Two statuses more, and the index of the requests waiting for a click.
        {dialect: (*widen, _AWAITING_INDEX) for dialect, widen in _WIDEN_0006.items()},
    ),
    Migration(
        7,
        "0007_consent_texts",
        (
            # The words a person agreed to, kept once however many requests quote them; a
            # request names its text by hash (NULL: none, or recorded before this kept them
            # once, when the text stayed in the request's context).
            "ALTER TABLE consent_requests ADD COLUMN consent_text_sha256 TEXT",
            """CREATE TABLE consent_texts (
                sha256 TEXT PRIMARY KEY,
                text TEXT NOT NULL,
                first_seen BIGINT NOT NULL
            )""",
        ),
    ),
    Migration(
        8,
        "0008_review",
        (
            # A request held for an operator's review before it applies (an SMS in free
            # text): it starts `review`, not `pending`. FALSE for every request recorded before.
            "ALTER TABLE consent_requests ADD COLUMN hold BOOLEAN NOT NULL DEFAULT FALSE",
            # The parts of a long SMS delivered in several webhooks, until they are joined.
            # Transient: dropped once the joined message is recorded.
            """CREATE TABLE message_parts (
                source TEXT NOT NULL,
                group_ref TEXT NOT NULL,
                part INTEGER NOT NULL,
                total INTEGER NOT NULL,
                text TEXT NOT NULL,
                fields TEXT NOT NULL,
                received_at BIGINT NOT NULL,
                PRIMARY KEY (source, group_ref, part)
            )""",
            # What the bridge took away from a contact, asked when an SMS "START" restores.
            "CREATE INDEX outcomes_contact ON outcomes (contact_id, type_id)",
        ),
        # Two statuses more: `review` (held) and `dismissed`; the rebuild keeps every index.
        {
            dialect: (*widen, _AWAITING_INDEX) if dialect == "sqlite" else widen
            for dialect, widen in _WIDEN_0008.items()
        },
    ),
    Migration(
        9,
        "0009_payloads",
        (
            # The raw bodies requests came in, once each however many requests a body held,
            # by the hash their requests name. Dropped after BRIDGE_PAYLOAD_RETENTION_DAYS
            # (`retention.prune`); the requests keep the hash, so the proof outlives the body.
            """CREATE TABLE payloads (
                sha256 TEXT PRIMARY KEY,
                body {bytes} NOT NULL,
                received_at BIGINT NOT NULL
            )""",
            # The prune reads the oldest bodies first.
            "CREATE INDEX payloads_received ON payloads (received_at)",
        ),
    ),
)

_CREATE_BOOKKEEPING = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)"""

# Whether the bookkeeping table exists, asked without creating it (a read-only check).
_BOOKKEEPING_EXISTS = {
    "sqlite": "SELECT 1 AS found FROM sqlite_master"
    " WHERE type = 'table' AND name = 'schema_migrations'",
    "postgresql": "SELECT 1 AS found WHERE to_regclass('schema_migrations') IS NOT NULL",
}

# PostgreSQL only: processes starting together migrate one after the other. SQLite's
# BEGIN IMMEDIATE already serialises them. The key is "bridgeLM" as ASCII.
_PG_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(7093848243014290509)"


async def applied_versions(database: Database) -> set[int]:
    """The versions recorded in `schema_migrations` (none when it does not exist yet)."""
    async with database.transaction(write=False) as tx:
        if await tx.fetchone(_BOOKKEEPING_EXISTS[database.dialect]) is None:
            return set()
        return {
            row["version"] for row in await tx.fetchall("SELECT version FROM schema_migrations")
        }


async def pending(database: Database) -> list[Migration]:
    """The migrations not applied yet, in order."""
    done = await applied_versions(database)
    return [migration for migration in MIGRATIONS if migration.version not in done]


async def migrate(database: Database, *, now: int) -> list[str]:
    """Apply each pending migration in its own transaction; the names applied."""
    async with database.transaction() as tx:
        await _lock(database, tx)
        await tx.execute(_CREATE_BOOKKEEPING)
    applied = []
    terms = TERMS[database.dialect]
    for migration in MIGRATIONS:
        async with database.transaction() as tx:
            await _lock(database, tx)
            # Asked again under the lock: another process may have applied it while we waited.
            done = await tx.fetchone(
                "SELECT version FROM schema_migrations WHERE version = :version",
                {"version": migration.version},
            )
            if done is not None:
                continue
            for statement in migration.statements:
                await tx.execute(statement.format(**terms))
            for statement in migration.dialect_statements.get(database.dialect, ()):
                await tx.execute(statement.format(**terms))
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)"
                " VALUES (:version, :name, :now)",
                {"version": migration.version, "name": migration.name, "now": now},
            )
        applied.append(migration.name)
    return applied


async def _lock(database: Database, tx: Transaction) -> None:
    if database.dialect == "postgresql":
        await tx.execute(_PG_MIGRATION_LOCK)
