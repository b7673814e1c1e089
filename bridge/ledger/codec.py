"""Conversions between Python values and ledger columns: times, JSON and consent requests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.consent import (
    Confirmation,
    ConsentRequest,
    Identity,
    NewContact,
    Scope,
    Wanted,
    consent_text_sha256,
)

from .models import Outcome

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The columns `decode_request` reads, for SELECTs that build ConsentRequests.
REQUEST_COLUMNS = (
    "r.id, r.source, r.event_id, r.received_at, r.occurred_at, r.identity, r.wanted, "
    "r.scope, r.context, r.payload_sha256, r.create_contact, r.confirm, r.hold, "
    "(SELECT t.text FROM consent_texts t WHERE t.sha256 = r.consent_text_sha256) AS consent_text"
)
# The context key whose text is kept once, in consent_texts, and named by hash in the request.
CONSENT_TEXT = "consent_text"
OUTCOME_COLUMNS = (
    "o.request_id, o.at, o.contact_id, o.type_id, o.action, o.http_status, "
    "o.intercom_request_id, o.detail"
)


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch; integer arithmetic, so nothing is rounded."""
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The inverse of `to_micros`, in UTC."""
    return EPOCH + timedelta(microseconds=micros)


def checked_text(value: str, what: str) -> str:
    """`value`, refused when the database could not store it.

    PostgreSQL rejects NUL characters and neither driver can encode lone surrogates; checking
    here fails only the caller that sent them instead of the whole group commit.
    """
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text") from None
    return value


def scrubbed(value: str) -> str:
    """Free diagnostic text made storable: NULs and lone surrogates become U+FFFD."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


# Built once: json.dumps with non-default options builds a new encoder on every call, which
# was a third of the cost of recording a 2,000-event webhook batch.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dump_json(value: Mapping[str, Any], what: str) -> str:
    """Compact JSON as stored: stored as text, not jsonb, so it is kept exactly as written."""
    try:
        text = _COMPACT.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from None
    return checked_text(text, what)


def encode_request(
    request: ConsentRequest,
    *,
    received_at: int,
    payload_sha256: str | None,
    payload: bytes | None = None,
) -> dict[str, Any]:
    """The column values of one consent request (`received_at` in microseconds).

    The words the person agreed to (`context["consent_text"]`) leave the context: they are
    kept once in `consent_texts` (the recorder writes `consent_text`, which is no column of
    `consent_requests`), and the request names them by hash. So does the raw `payload`,
    kept once in `payloads` by `payload_sha256` (every request of a batch shares the bytes).
    """
    context = dict(request.context)
    text = context.pop(CONSENT_TEXT, None)
    if text is not None and not isinstance(text, str):
        raise ValueError("consent text is not text")
    return {
        "source": checked_text(request.source, "source"),
        "event_id": checked_text(request.event_id, "event id"),
        "received_at": received_at,
        "occurred_at": to_micros(request.occurred_at),
        "contact_key": checked_text(request.identity.key, "identity"),
        "identity": dump_json(request.identity.to_dict(), "identity"),
        "wanted": request.wanted.value,
        "scope": dump_json(request.scope.to_dict(), "scope"),
        "context": dump_json(context, "context"),
        "consent_text": None if text is None else checked_text(text, "consent text"),
        "consent_text_sha256": None if text is None else consent_text_sha256(text),
        "payload_sha256": None if payload_sha256 is None else checked_text(payload_sha256, "hash"),
        "payload": payload,
        # NULL: no leave to create a contact; "{}": leave, with nothing but the identity.
        "create_contact": (
            None if request.create is None else dump_json(request.create.to_dict(), "new contact")
        ),
        # NULL: applied as it comes; otherwise only once its person confirms by email.
        "confirm": (
            None
            if request.confirm is None
            else dump_json(request.confirm.to_dict(), "confirmation")
        ),
        # Held for an operator: recorded `review`, not `pending` (see the recorder).
        "hold": request.hold,
    }


def _context(row: Mapping[str, Any]) -> dict[str, Any]:
    """The request's context, with its consent text back in place when it is kept apart."""
    context: dict[str, Any] = json.loads(row["context"])
    if row.get("consent_text") is not None:
        context[CONSENT_TEXT] = row["consent_text"]
    return context


def decode_request(row: Mapping[str, Any]) -> ConsentRequest:
    """A ConsentRequest from a row holding `REQUEST_COLUMNS`."""
    return ConsentRequest(
        identity=Identity.from_dict(json.loads(row["identity"])),
        wanted=Wanted(row["wanted"]),
        scope=Scope.from_dict(json.loads(row["scope"])),
        occurred_at=from_micros(row["occurred_at"]),
        source=row["source"],
        event_id=row["event_id"],
        context=_context(row),
        create=(
            None
            if row["create_contact"] is None
            else NewContact.from_dict(json.loads(row["create_contact"]))
        ),
        confirm=(
            None if row["confirm"] is None else Confirmation.from_dict(json.loads(row["confirm"]))
        ),
        hold=bool(row["hold"]),  # SQLite keeps a boolean as 0 or 1
    )


def encode_outcome(outcome: Outcome, *, request_id: int, now: int) -> dict[str, Any]:
    """The column values of one outcome; an outcome without a time happened `now`."""
    return {
        "request_id": request_id,
        "at": now if outcome.at is None else to_micros(outcome.at),
        "contact_id": scrubbed(outcome.contact_id),
        "type_id": scrubbed(outcome.type_id),
        "action": scrubbed(outcome.action),
        "http_status": outcome.http_status,
        "intercom_request_id": (
            None if outcome.intercom_request_id is None else scrubbed(outcome.intercom_request_id)
        ),
        "detail": scrubbed(outcome.detail),
    }


def decode_outcome(row: Mapping[str, Any]) -> Outcome:
    """An Outcome from a row holding `OUTCOME_COLUMNS`."""
    return Outcome(
        contact_id=row["contact_id"],
        type_id=row["type_id"],
        action=row["action"],
        http_status=row["http_status"],
        intercom_request_id=row["intercom_request_id"],
        detail=row["detail"],
        at=from_micros(row["at"]),
    )
