"""The ledger's public value types: statuses, results, outcomes and its one error."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

from bridge.consent import ConsentRequest


class Status(enum.StrEnum):
    """Where a recorded request is in its processing."""

    PENDING = "pending"
    LEASED = "leased"
    APPLIED = "applied"
    SUPERSEDED = "superseded"
    UNMATCHED = "unmatched"
    DEAD = "dead"
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # emailed; waits for its person's click
    EXPIRED = "expired"  # not confirmed in time: kept, never applied
    REVIEW = "review"  # held for an operator: no claim takes it until `release_held`
    DISMISSED = "dismissed"  # an operator found it no revocation: kept, never applied

    @property
    def is_terminal(self) -> bool:
        """True for the statuses a request ends in."""
        return self not in (
            Status.PENDING,
            Status.LEASED,
            Status.AWAITING_CONFIRMATION,
            Status.REVIEW,
        )


class Confirmed(enum.Enum):
    """What a confirmation click did to the request its link names."""

    NOW = enum.auto()  # it was waiting: confirmed, and due now
    BEFORE = enum.auto()  # it was confirmed already: nothing changes
    EXPIRED = enum.auto()  # its time ran out before the click
    NOT_WAITING = enum.auto()  # unknown, or not waiting for a click (not emailed yet, say)


class LedgerUnavailable(Exception):
    """The database could not be reached or could not commit; nothing was changed.

    The message is safe to show to a caller: it names the kind of failure, never the DSN.
    The driver's exception is chained as `__cause__` for the logs.
    """


@dataclass(frozen=True, slots=True)
class Recorded:
    """The ledger id of one recorded request; `duplicate` when it was already there."""

    id: int
    duplicate: bool


class Recording(Sequence[Recorded]):
    """What one `Ledger.record` did: a `Recorded` per stored request, in order, and the rest.

    `stored` are the requests that were committed (or found already there); `unstorable`
    says why each other one could not be stored (a NUL character, say), so one bad event in
    a batch never costs the batch the rest, and nothing is encoded twice to find out.
    """

    __slots__ = ("recorded", "stored", "unstorable")

    def __init__(
        self,
        stored: Sequence[ConsentRequest],
        recorded: Sequence[Recorded],
        unstorable: Sequence[str] = (),
    ) -> None:
        if len(stored) != len(recorded):
            raise ValueError("a Recorded for every stored request")
        self.stored = tuple(stored)
        self.recorded = tuple(recorded)
        self.unstorable = tuple(unstorable)

    @overload
    def __getitem__(self, index: int) -> Recorded: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Recorded]: ...
    def __getitem__(self, index: int | slice) -> Recorded | Sequence[Recorded]:
        return self.recorded[index]

    def __len__(self) -> int:
        return len(self.recorded)

    @property
    def new(self) -> list[ConsentRequest]:
        """The stored requests that were not there before (a retry's are not new)."""
        pairs = zip(self.stored, self.recorded, strict=True)
        return [request for request, saved in pairs if not saved.duplicate]

    @property
    def duplicates(self) -> int:
        """How many stored requests were already recorded."""
        return sum(saved.duplicate for saved in self.recorded)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A request leased to a worker, with the attempt number this lease counts as."""

    id: int
    request: ConsentRequest
    attempts: int
    received_at: datetime
    # Double opt-in: when the confirmation email went out, and when its link was clicked.
    messaged_at: datetime | None = None
    confirmed_at: datetime | None = None

    @property
    def since(self) -> datetime:
        """When the request became the worker's to apply: received, or confirmed."""
        return self.confirmed_at or self.received_at


@dataclass(frozen=True, slots=True)
class Outcome:
    """One Intercom call made for a request (or a decision not to make one)."""

    contact_id: str
    type_id: str
    action: str
    http_status: int
    intercom_request_id: str | None
    detail: str = ""
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A recorded request with its processing state and outcomes, oldest outcome first."""

    id: int
    request: ConsentRequest
    received_at: datetime
    status: Status
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    outcomes: list[Outcome] = field(default_factory=list)
    payload_sha256: str | None = None
    confirmation: ConfirmClick | None = None


@dataclass(frozen=True, slots=True)
class ConfirmClick:
    """A person's click on a double opt-in link: when, and the client it came from."""

    at: datetime
    proof: dict[str, str]


@dataclass(frozen=True, slots=True)
class MessagePart:
    """One part of a long SMS a provider delivers in several webhooks (Vonage's concat-*).

    `group` is the provider's reference shared by the parts, `part` counts from 1 to `total`;
    `fields` is what the provider needs to build the request once the parts are joined.
    """

    source: str
    group: str
    part: int
    total: int
    text: str
    fields: dict[str, Any]
    received_at: datetime

    def __post_init__(self) -> None:
        if not 1 <= self.part <= self.total:
            raise ValueError(f"part {self.part} of {self.total} is out of range")


@dataclass(slots=True)
class RecordStats:
    """Counters of the group commit behind `Ledger.record` (for metrics and tests)."""

    calls: int = 0
    requests: int = 0
    duplicates: int = 0
    transactions: int = 0
    failed_transactions: int = 0


@dataclass(frozen=True, slots=True)
class KeptPayload:
    """A raw payload the ledger still keeps: its hash, when it came, and its size in bytes."""

    sha256: str
    received_at: datetime
    size: int


@dataclass(frozen=True, slots=True)
class RequestStory:
    """Everything the ledger knows about one request, for an operator or an auditor.

    `payload` is None when the raw body was never kept (a page's request, retention 0) or
    has been pruned; `record.payload_sha256` names it either way. `consent_text_sha256` is
    the hash of the words the person agreed to (the words are in the request's context).
    """

    record: RequestRecord
    updated_at: datetime
    consent_text_sha256: str | None
    payload: KeptPayload | None


@dataclass(frozen=True, slots=True)
class Person:
    """Every identity key and Intercom contact the ledger ties to one person.

    Found from one identity by following what the ledger saw: requests naming several
    identities at once, and the Intercom contacts their calls went to.
    """

    keys: frozenset[str]
    contact_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one `Ledger.prune` dropped: raw payloads past retention, spent signature bindings."""

    payloads: int = 0
    payload_bytes: int = 0
    signature_uses: int = 0
