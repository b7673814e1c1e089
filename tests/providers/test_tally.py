"""Tally: base64 HMAC over the raw body (or its compact JSON); fields by key or label."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bridge.providers import Rejected
from bridge.providers.body_hmac import sign_body
from tests.providers.webhooks import (
    assert_laura_signs_up,
    delivery,
    form_tool,
    sample,
)

SECRET = "tally-signing-secret-0123456789"
SAMPLE: dict[str, Any] = sample("tally-form_response.constructed.json")
SIGNUP = {"signing_secret": SECRET, "types": ["93"], "consent": "Newsletter", "name": "First name"}
# Computed apart from the bridge's code: printf '%s' BODY | openssl dgst -sha256 -hmac SECRET
# -binary | base64.
OPENSSL_BODY = b'{"eventId":"a4b2","eventType":"FORM_RESPONSE"}'
OPENSSL_SIGNATURE = "s+lB9F4h0CGiaZgOoJSeTVLNjYQl3n0NajQmKswxAjQ="


def event(email: str | None = None, **changes: Any) -> dict[str, Any]:
    """The sample event, with its email and top-level fields changed."""
    found = copy.deepcopy(SAMPLE)
    found.update(changes)
    if email is not None:
        found["data"]["fields"][1]["value"] = email
    return found


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The headers Tally sends."""
    return {"Content-Type": "application/json", "Tally-Signature": sign_body(secret, body)}


async def test_the_signature_is_checked_on_the_raw_body_or_its_compact_json() -> None:
    provider = form_tool("tally", SIGNUP)
    await provider.verify(delivery(OPENSSL_BODY, {"Tally-Signature": OPENSSL_SIGNATURE}), None)  # type: ignore[arg-type]
    # The same JSON, spaced: what JSON.stringify of the parsed body gives still verifies.
    spaced = b'{"eventId": "a4b2", "eventType": "FORM_RESPONSE"}'
    await provider.verify(delivery(spaced, {"Tally-Signature": OPENSSL_SIGNATURE}), None)  # type: ignore[arg-type]
    refused = [
        (b'{"eventId":"a4b3","eventType":"FORM_RESPONSE"}', OPENSSL_SIGNATURE),
        (OPENSSL_BODY, "sha256=" + OPENSSL_SIGNATURE),
        (OPENSSL_BODY, sign_body("another-secret-0123456789", OPENSSL_BODY)),
        (OPENSSL_BODY, "%%%"),
    ]
    for body, header in refused:
        with pytest.raises(Rejected):
            await provider.verify(delivery(body, {"Tally-Signature": header}), None)  # type: ignore[arg-type]
    with pytest.raises(Rejected, match="missing"):
        await provider.verify(delivery(OPENSSL_BODY), None)  # type: ignore[arg-type]


def test_the_sample_maps_by_label_and_by_type() -> None:
    [request] = form_tool("tally", SIGNUP).parse(delivery(json.dumps(SAMPLE).encode())).requests
    assert_laura_signs_up(request, name="Laura")
    assert (request.event_id, request.source, request.context["form"]) == (
        SAMPLE["eventId"],
        "tally",
        "VwbNEw",
    )
    assert request.occurred_at.isoformat() == "2023-06-28T15:00:21+00:00"
    by_key = form_tool(
        "tally", {"signing_secret": SECRET, "types": ["93"], "email": "question_nPpDr6"}
    )
    assert by_key.parse(delivery(json.dumps(SAMPLE).encode())).requests[0].identity.email


def test_an_unticked_box_and_other_events_are_ignored() -> None:
    unticked = event()
    unticked["data"]["fields"][3]["value"] = []
    parsed = form_tool("tally", SIGNUP).parse(delivery(json.dumps(unticked).encode()))
    assert (parsed.requests, parsed.ignored) == ([], 1)
    per_option = {**SIGNUP, "consent": "question_w4Q6Ny_5c1fca9c-2b1b-4b0a-8c4e-6a0b9fb1b2f3"}
    unticked["data"]["fields"][4]["value"] = False
    assert (
        form_tool("tally", per_option).parse(delivery(json.dumps(unticked).encode())).ignored == 1
    )
    other = event(eventType="FORM_DELETED")
    assert form_tool("tally", SIGNUP).parse(delivery(json.dumps(other).encode())).ignored == 1
