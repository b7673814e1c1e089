"""HubSpot: the v3 signature (the official SDK's vector), its window, a workflow's body."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.providers import Rejected
from bridge.providers.hubspot import sign_hubspot, signed_uri
from tests.providers.webhooks import (
    PUBLIC_URL,
    assert_laura_signs_up,
    delivery,
    form_tool,
    sample,
    vectors,
)

VECTOR: dict[str, Any] = vectors("hubspot")  # type: ignore[assignment]
SECRET = "hubspot-client-secret-0123456789"
SAMPLE: dict[str, Any] = sample("hubspot-workflow-webhook.constructed.json")
SIGNUP = {
    "client_secret": SECRET,
    "types": ["93"],
    "consent": "properties.newsletter_opt_in.value",
    "occurred_at": "properties.lastmodifieddate.value",
}
URL = f"{PUBLIC_URL}/webhooks/hubspot"


def contact(email: str | None = None, at_ms: int | None = None) -> dict[str, Any]:
    """The sample contact, with its email and modification time changed."""
    found = copy.deepcopy(SAMPLE)
    if email is not None:
        found["properties"]["email"]["value"] = email
    if at_ms is not None:
        found["properties"]["lastmodifieddate"]["value"] = str(at_ms)
    return found


def signed(body: bytes, secret: str = SECRET, url: str = URL) -> dict[str, str]:
    """The headers HubSpot sends, timed now."""
    timestamp = str(int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-v3": sign_hubspot(secret, "POST", url, body, timestamp),
    }


async def test_the_sdk_v3_vector_verifies_at_its_time_and_tampering_does_not() -> None:
    provider = form_tool("hubspot", {**SIGNUP, "client_secret": VECTOR["client_secret"]})
    at = datetime.fromtimestamp(int(VECTOR["v3_timestamp_ms"]) / 1000, UTC)
    headers = {
        "X-HubSpot-Request-Timestamp": VECTOR["v3_timestamp_ms"],
        "X-HubSpot-Signature-v3": VECTOR["v3_b64"],
    }
    body = VECTOR["request_body"].encode()
    genuine = dataclasses.replace(delivery(body, headers, received_at=at), url=VECTOR["url"])
    await provider.verify(genuine, None)  # type: ignore[arg-type]
    later = str(int(VECTOR["v3_timestamp_ms"]) + 1)
    tampered = [
        dataclasses.replace(genuine, body=body + b" "),
        dataclasses.replace(genuine, url=VECTOR["url"] + "x"),
        dataclasses.replace(genuine, method="PUT"),
        dataclasses.replace(genuine, received_at=at + timedelta(minutes=5, seconds=1)),
        dataclasses.replace(genuine, received_at=at - timedelta(minutes=5, seconds=1)),
        delivery(body, {**headers, "X-HubSpot-Request-Timestamp": later}, received_at=at),
        delivery(body, {"X-HubSpot-Request-Timestamp": VECTOR["v3_timestamp_ms"]}),
    ]
    for wrong in tampered:
        with pytest.raises(Rejected):
            await provider.verify(wrong, None)  # type: ignore[arg-type]
    with pytest.raises(Rejected):
        await form_tool("hubspot", SIGNUP).verify(genuine, None)  # type: ignore[arg-type]


def test_the_uri_is_signed_with_hubspots_characters_decoded() -> None:
    assert (
        signed_uri("https://a.example/w?x=a%40b%2Cc%3a%20d") == "https://a.example/w?x=a@b,c:%20d"
    )


def test_a_workflow_contact_maps_by_dotted_path_with_its_defaults() -> None:
    body = json.dumps(SAMPLE).encode()
    [request] = form_tool("hubspot", SIGNUP).parse(delivery(body)).requests
    assert_laura_signs_up(request)
    assert request.source == "hubspot"
    assert request.occurred_at == datetime.fromtimestamp(1_693_657_500, UTC)  # milliseconds
    unticked = contact()
    unticked["properties"]["newsletter_opt_in"]["value"] = "false"
    assert form_tool("hubspot", SIGNUP).parse(delivery(json.dumps(unticked).encode())).ignored == 1
