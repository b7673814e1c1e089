"""The proof as documents: a person's or a period's requests as JSON or CSV, for an auditor.

One document per request, built from the ledger's models (so the CLI and an admin page
export the same thing): what was asked, by whom, when, what became of it, the proof of
consent (the words agreed to and their hash, the confirmation click, the client's proof
fields in the context), the hash of the raw payload and whether it is still kept, and every
Intercom call with Intercom's request id. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bridge.consent import consent_text_sha256

from .codec import CONSENT_TEXT
from .models import KeptPayload, Outcome, RequestRecord

COLUMNS = (
    "id",
    "source",
    "event_id",
    "occurred_at",
    "received_at",
    "contact_key",
    "identity",
    "wanted",
    "scope",
    "status",
    "attempts",
    "last_error",
    "payload_sha256",
    "payload_kept",
    "consent_text_sha256",
    "consent_text",
    "confirmed_at",
    "confirmation_proof",
    "context",
    "outcomes",
)
# A spreadsheet runs a cell starting with these as a formula: a person's own text (an SMS,
# an error quoting it) must not. OWASP's advice: a leading quote. JSON keeps values as they are.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def iso(moment: datetime | None) -> str | None:
    """A time as the documents write it: ISO 8601 in UTC, `Z` for the zone."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def outcome_document(outcome: Outcome) -> dict[str, Any]:
    """One Intercom call (or decision not to call) as the documents show it."""
    return {
        "at": iso(outcome.at),
        "contact_id": outcome.contact_id,
        "type_id": outcome.type_id,
        "action": outcome.action,
        "http_status": outcome.http_status,
        "intercom_request_id": outcome.intercom_request_id,
        "detail": outcome.detail,
    }


def request_document(record: RequestRecord, kept: KeptPayload | None) -> dict[str, Any]:
    """One request's proof, every column of `COLUMNS`, nested values as they are."""
    request = record.request
    context = dict(request.context)
    text = context.pop(CONSENT_TEXT, None)
    words = text if isinstance(text, str) else None
    click = record.confirmation
    return {
        "id": record.id,
        "source": request.source,
        "event_id": request.event_id,
        "occurred_at": iso(request.occurred_at),
        "received_at": iso(record.received_at),
        "contact_key": request.identity.key,
        "identity": request.identity.to_dict(),
        "wanted": request.wanted.value,
        "scope": request.scope.to_dict(),
        "status": record.status.value,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "payload_sha256": record.payload_sha256,
        "payload_kept": kept is not None,
        "consent_text_sha256": None if words is None else consent_text_sha256(words),
        "consent_text": words,
        "confirmed_at": None if click is None else iso(click.at),
        "confirmation_proof": None if click is None else click.proof,
        "context": context,
        "outcomes": [outcome_document(outcome) for outcome in record.outcomes],
    }


def to_json(
    records: Sequence[RequestRecord],
    kept: Mapping[str, KeptPayload],
    *,
    about: Mapping[str, Any],
) -> str:
    """The export as one JSON document: what it is `about` (who, when), then the requests."""
    documents = [request_document(r, kept.get(r.payload_sha256 or "")) for r in records]
    return json.dumps({**about, "requests": documents}, ensure_ascii=False, indent=2) + "\n"


def to_csv(records: Sequence[RequestRecord], kept: Mapping[str, KeptPayload]) -> str:
    """The export as CSV: a header of `COLUMNS`, a row per request, nested values as JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for record in records:
        document = request_document(record, kept.get(record.payload_sha256 or ""))
        writer.writerow(_cell(document[column]) for column in COLUMNS)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
