"""Webflow: hex HMAC over `timestamp:body` in a 5-minute window; the documented sample."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.consent import NewContact, Scope, Wanted
from bridge.providers import Rejected
from bridge.providers.webflow import sign_webflow
from tests.providers.webhooks import (
    delivery,
    form_tool,
    sample,
)

SECRET = "webflow-webhook-secret-0123456789"
SAMPLE: dict[str, Any] = sample("webflow-form_submission.json")
SIGNUP = {"secret": SECRET, "types": ["93"], "name": ["First Name", "Last Name"]}
# Computed apart from the bridge's code: printf '%s' 'TIMESTAMP:BODY' | openssl dgst -sha256
# -hmac SECRET.
OPENSSL_TIMESTAMP = "1700000000000"
OPENSSL_BODY = b'{"triggerType":"form_submission"}'
OPENSSL_SIGNATURE = "5880af3b40bcc0af476f3d89209a6024462105ae1910344995f25164bdecd19c"
AT = datetime.fromtimestamp(1_700_000_000, UTC)


def submission(email: str | None = None, **changes: Any) -> dict[str, Any]:
    """The sample, with its email and payload fields changed."""
    found = copy.deepcopy(SAMPLE)
    found["payload"].update(changes)
    if email is not None:
        found["payload"]["data"]["email"] = email
    return found


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """The headers Webflow sends, timed now unless `at` (Unix seconds) is given."""
    timestamp = str(int((time.time() if at is None else at) * 1000))
    return {
        "Content-Type": "application/json",
        "x-webflow-timestamp": timestamp,
        "x-webflow-signature": sign_webflow(secret, timestamp, body),
    }


async def test_the_signature_covers_the_timestamp_and_the_body_within_five_minutes() -> None:
    provider = form_tool("webflow", SIGNUP)
    headers = {"x-webflow-timestamp": OPENSSL_TIMESTAMP, "x-webflow-signature": OPENSSL_SIGNATURE}
    await provider.verify(delivery(OPENSSL_BODY, headers, received_at=AT), None)  # type: ignore[arg-type]
    later = OPENSSL_TIMESTAMP[:-1] + "1"
    refused = [
        (OPENSSL_BODY + b" ", headers, AT),
        (OPENSSL_BODY, {**headers, "x-webflow-timestamp": later}, AT),
        (OPENSSL_BODY, {**headers, "x-webflow-signature": OPENSSL_SIGNATURE[:-1] + "0"}, AT),
        (OPENSSL_BODY, {**headers, "x-webflow-timestamp": "1700000000"}, AT),  # seconds
        (OPENSSL_BODY, headers, AT + timedelta(minutes=5, seconds=1)),
        (OPENSSL_BODY, headers, AT - timedelta(minutes=5, seconds=1)),
        (OPENSSL_BODY, {"x-webflow-timestamp": OPENSSL_TIMESTAMP}, AT),
    ]
    for body, changed, when in refused:
        with pytest.raises(Rejected):
            await provider.verify(delivery(body, changed, received_at=when), None)  # type: ignore[arg-type]
    with pytest.raises(Rejected):
        other = form_tool("webflow", {**SIGNUP, "secret": "another-secret-0123456789"})
        await other.verify(delivery(OPENSSL_BODY, headers, received_at=AT), None)  # type: ignore[arg-type]


def test_the_documented_sample_maps_by_field_name() -> None:
    parsed = form_tool("webflow", SIGNUP).parse(delivery(json.dumps(SAMPLE).encode()))
    [request] = parsed.requests
    # The sample's phone is a bare number (15550000000): not international, so it is left
    # out and noted, and the email carries the signup.
    assert (request.identity.email, request.identity.phone) == ("zaphod@heartofgold.ai", None)
    assert "phone_unusable" in request.context
    assert (request.wanted, request.scope, request.create) == (
        Wanted.SUBSCRIBED,
        Scope(type_ids=("93",)),
        NewContact(name="Zaphod Beeblebrox"),
    )
    assert (request.event_id, request.context["form"]) == (
        "6321ca84df3949bfc6752327",
        "65429eadebe8a9f3a30f62d0",
    )
    assert request.occurred_at.isoformat() == "2022-09-14T12:35:16.117000+00:00"


def test_other_triggers_and_an_unticked_box_are_ignored() -> None:
    other = {**SAMPLE, "triggerType": "site_publish"}
    assert form_tool("webflow", SIGNUP).parse(delivery(json.dumps(other).encode())).ignored == 1
    found = submission()
    found["payload"]["data"]["Newsletter"] = "false"
    parsed = form_tool("webflow", {**SIGNUP, "consent": "Newsletter"}).parse(
        delivery(json.dumps(found).encode())
    )
    assert (parsed.requests, parsed.ignored) == ([], 1)
