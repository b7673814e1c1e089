"""Typeform: `sha256=` base64 HMAC over the raw body; answers mapped by ref; the checkbox."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bridge.consent import NewContact
from bridge.providers import Rejected
from bridge.providers.body_hmac import sign_body
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    assert_laura_signs_up,
    delivery,
    form_tool,
    sample,
)

SECRET = "typeform-webhook-secret-0123456789"
SAMPLE: dict[str, Any] = sample("typeform-form_response.constructed.json")
SIGNUP = {
    "secret": SECRET,
    "types": ["93"],
    "consent": "newsletter_ok",
    "name": ["first_name", "last_name"],
    "consent_text": "Send me the newsletter",
}
# Computed apart from the bridge's code: printf '%s' BODY | openssl dgst -sha256 -hmac SECRET
# -binary | base64.
OPENSSL_BODY = b'{"event_id":"LtWXD3crgy","event_type":"form_response"}'
OPENSSL_SIGNATURE = "sha256=DhdPHbuwS3ASC6Z8UK1lYfde9Fp1d6PITS5hIhZNF5Y="


def response(**changes: Any) -> dict[str, Any]:
    """The sample response, with `form_response` fields changed."""
    event = copy.deepcopy(SAMPLE)
    event["form_response"].update(changes)
    return event


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The headers Typeform sends."""
    return {
        "Content-Type": "application/json",
        "Typeform-Signature": sign_body(secret, body, "sha256="),
    }


async def test_the_signature_is_checked_on_the_raw_body() -> None:
    provider = form_tool("typeform", SIGNUP)
    await provider.verify(delivery(OPENSSL_BODY, {"Typeform-Signature": OPENSSL_SIGNATURE}), None)  # type: ignore[arg-type]
    refused = [
        (OPENSSL_BODY + b" ", OPENSSL_SIGNATURE),
        (OPENSSL_BODY, OPENSSL_SIGNATURE.removeprefix("sha256=")),
        (OPENSSL_BODY, OPENSSL_SIGNATURE[:-2] + "A="),
        (OPENSSL_BODY, "sha256=not base64!"),
        (OPENSSL_BODY, sign_body("another-secret-0123456789", OPENSSL_BODY, "sha256=")),
    ]
    for body, header in refused:
        with pytest.raises(Rejected):
            await provider.verify(delivery(body, {"Typeform-Signature": header}), None)  # type: ignore[arg-type]
    with pytest.raises(Rejected, match="missing"):
        await provider.verify(delivery(OPENSSL_BODY), None)  # type: ignore[arg-type]


def test_the_sample_maps_by_ref_with_its_proof() -> None:
    [request] = form_tool("typeform", SIGNUP).parse(delivery(json.dumps(SAMPLE).encode())).requests
    assert_laura_signs_up(request)
    assert (request.event_id, request.source) == ("LtWXD3crgy", "typeform")
    assert request.occurred_at.isoformat() == "2018-01-18T18:17:02+00:00"
    assert request.context["form"] == "lT4Z3j"
    assert request.context["consent_text"] == "Send me the newsletter"


def test_an_unticked_box_a_partial_response_and_mapping_by_id_or_hidden_field() -> None:
    unticked = response()
    unticked["form_response"]["answers"][4]["boolean"] = False
    parsed = form_tool("typeform", SIGNUP).parse(delivery(json.dumps(unticked).encode()))
    assert (parsed.requests, parsed.ignored) == ([], 1)
    partial = {**SAMPLE, "event_type": "form_response_partial"}
    assert form_tool("typeform", SIGNUP).parse(delivery(json.dumps(partial).encode())).ignored == 1
    by_id = form_tool(
        "typeform", {"secret": SECRET, "types": ["93"], "email": "SMEUb7VJz92Q", "name": "source"}
    )
    [request] = by_id.parse(delivery(json.dumps(SAMPLE).encode())).requests
    assert (request.identity.email, request.create) == ("laura@example.com", NewContact(name="ads"))


def test_start_up_refuses_a_short_secret() -> None:
    with pytest.raises(SettingsError, match=r"providers\.typeform\.secret: too short"):
        form_tool("typeform", {**SIGNUP, "secret": "short"})
