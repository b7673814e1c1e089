"""Tests for bridge.ledger.export: the proof of a request as JSON and CSV documents."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from bridge.consent import ConsentRequest, Identity, Scope, Wanted, consent_text_sha256
from bridge.ledger import ConfirmClick, KeptPayload, Outcome, RequestRecord, Status
from bridge.ledger.export import COLUMNS, request_document, to_csv, to_json

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HASH = "ab" * 32


def a_record(*, error: str | None = None) -> RequestRecord:
    """An applied subscribe from a form, with its consent text, click and one call."""
    return RequestRecord(
        id=7,
        request=ConsentRequest(
            identity=Identity(email="jane@example.com"),
            wanted=Wanted.SUBSCRIBED,
            scope=Scope(type_ids=("93",)),
            occurred_at=AT,
            source="form:news",
            event_id="e-1",
            context={"consent_text": "Yes, email me", "ip": "203.0.113.9"},
        ),
        received_at=AT,
        status=Status.APPLIED,
        attempts=1,
        next_attempt_at=AT,
        last_error=error,
        outcomes=[Outcome("c1", "93", "attach", 200, "req-1", at=AT)],
        payload_sha256=HASH,
        confirmation=ConfirmClick(AT, {"via": "email"}),
    )


def test_a_document_holds_the_whole_proof() -> None:
    document = request_document(a_record(), KeptPayload(HASH, AT, 12))
    assert set(document) == set(COLUMNS)
    assert document["consent_text"] == "Yes, email me"
    assert document["consent_text_sha256"] == consent_text_sha256("Yes, email me")
    assert document["context"] == {"ip": "203.0.113.9"}
    assert (document["payload_kept"], document["confirmed_at"]) == (True, "2024-05-01T12:00:00Z")
    assert document["outcomes"][0]["intercom_request_id"] == "req-1"
    assert request_document(a_record(), None)["payload_kept"] is False


def test_json_says_what_it_is_about() -> None:
    parsed = json.loads(to_json([a_record()], {}, about={"identities": ["email:jane@example.com"]}))
    assert parsed["identities"] == ["email:jane@example.com"]
    assert [r["id"] for r in parsed["requests"]] == [7]


def test_csv_has_a_row_per_request_and_defuses_formulas() -> None:
    text = to_csv([a_record(error='=HYPERLINK("http://evil")')], {HASH: KeptPayload(HASH, AT, 1)})
    header, row = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == COLUMNS
    cells = dict(zip(header, row, strict=True))
    assert cells["last_error"].startswith("'=")
    assert cells["payload_kept"] == "true"
    assert json.loads(cells["identity"]) == {"email": "jane@example.com"}
    assert json.loads(cells["outcomes"])[0]["http_status"] == 200
    assert cells["scope"] == '{"types":["93"]}'
