"""`standard`: our documented JSON body, signed with Standard Webhooks; create and consent."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Channel, NewContact, Scope, Wanted
from bridge.providers import Malformed, Rejected
from bridge.providers.standard_webhooks import sign_standard_webhook
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    apply_all,
    bridge_with,
    delivery,
    make_provider,
    post,
    recorded,
    sample,
)

VECTOR: dict[str, Any] = sample("sdk-test-vectors.json")["standard_webhooks_and_svix"]
SECRET: str = VECTOR["secret"]
OTHER = "whsec_" + "A" * 32
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def body(**fields: Any) -> bytes:
    """A standard body."""
    return json.dumps(fields).encode()


def signed(
    payload: bytes, *, msg_id: str = "msg_1", timestamp: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    """The headers any Standard Webhooks library sends with `payload`, signed now by default."""
    timestamp = timestamp or str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign_standard_webhook(secret, msg_id, timestamp, payload),
    }


async def test_the_sdk_vector_verifies_through_the_provider_at_its_time() -> None:
    provider = make_provider("standard", secret=SECRET)
    payload = VECTOR["payload"].encode()
    at = datetime.fromtimestamp(int(VECTOR["timestamp"]), UTC)
    headers = {
        "webhook-id": VECTOR["msg_id"],
        "webhook-timestamp": VECTOR["timestamp"],
        "webhook-signature": VECTOR["expected_signature"],
    }
    await provider.verify(delivery(payload, headers, received_at=at), None)  # type: ignore[arg-type]
    tampered = [
        (payload + b" ", headers, at),
        (payload, {**headers, "webhook-id": "msg_other"}, at),
        (payload, {**headers, "webhook-timestamp": str(int(VECTOR["timestamp"]) + 1)}, at),
        (payload, {k: v for k, v in headers.items() if k != "webhook-signature"}, at),
        (payload, headers, at + timedelta(minutes=6)),
    ]
    for changed, changed_headers, when in tampered:
        with pytest.raises(Rejected):
            await provider.verify(delivery(changed, changed_headers, received_at=when), None)  # type: ignore[arg-type]
    wrong_key = make_provider("standard", secret=OTHER)
    with pytest.raises(Rejected):
        await wrong_key.verify(delivery(payload, headers, received_at=at), None)  # type: ignore[arg-type]


def test_a_body_becomes_one_request_per_direction_with_its_proof() -> None:
    provider = make_provider("standard", secret=SECRET)
    payload = body(
        email="Ada@Example.com",
        external_id="u-42",
        name="  Ada   Lovelace ",
        subscribe=["93", 37846],
        unsubscribe="sms",
        occurred_at="2026-11-28T10:00:00Z",
        consent_text="Yes, send me the newsletter",
    )
    parsed = provider.parse(delivery(payload, {"webhook-id": "msg_9"}, received_at=NOW))
    sub, unsub = parsed.requests
    assert (sub.wanted, sub.scope, sub.event_id) == (
        Wanted.SUBSCRIBED,
        Scope(type_ids=("93", "37846")),
        "msg_9:subscribe",
    )
    assert sub.create == NewContact(name="Ada Lovelace")
    assert sub.identity.email == "ada@example.com" and sub.identity.external_id == "u-42"
    assert sub.occurred_at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert sub.context["consent_text"] == "Yes, send me the newsletter"
    assert (unsub.wanted, unsub.scope, unsub.event_id) == (
        Wanted.UNSUBSCRIBED,
        Scope(channel=Channel.SMS),
        "msg_9:unsubscribe",
    )
    assert unsub.create is None  # nothing to unsubscribe a stranger from


def test_without_occurred_at_it_happened_when_it_arrived_and_create_can_be_off() -> None:
    provider = make_provider("standard", secret=SECRET, create=False)
    parsed = provider.parse(
        delivery(
            body(phone="+353871234567", subscribe=["108"]), {"webhook-id": "m"}, received_at=NOW
        )
    )
    [request] = parsed.requests
    assert (request.occurred_at, request.create, request.identity.phone) == (
        NOW,
        None,
        "+353871234567",
    )


def test_an_external_id_alone_makes_no_lead() -> None:
    provider = make_provider("standard", secret=SECRET)
    payload = body(external_id="u-42", subscribe=["93"])
    [request] = provider.parse(delivery(payload, {"webhook-id": "m"}, received_at=NOW)).requests
    assert (request.identity.external_id, request.create) == ("u-42", None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"subscribe": ["93"]}, "name the person"),
        ({"email": "a@example.com"}, "nothing asked"),
        ({"email": "not-an-address", "subscribe": ["93"]}, "email"),
        ({"email": "a@example.com", "subscribe": "all"}, "subscribe must be"),
        ({"email": "a@example.com", "subscribe": [True]}, "subscribe must be"),
        ({"email": "a@example.com", "subscribe": ["93"], "occurred_at": "yesterday"}, "ISO"),
        ({"email": "a@example.com", "subscribe": ["93"], "types": ["1"]}, "unknown field"),
    ],
)
def test_a_body_outside_the_format_is_malformed(fields: dict[str, Any], problem: str) -> None:
    provider = make_provider("standard", secret=SECRET)
    with pytest.raises(Malformed, match=problem):
        provider.parse(delivery(body(**fields), {"webhook-id": "m"}))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "secret: required"),
        ({"secret": "whsec_not base64!"}, "secret: not a whsec_"),
        ({"secret": SECRET, "confirm": "email"}, "confirm: .*not built yet"),
        ({"secret": SECRET, "types": ["93"]}, "types: unknown setting"),
    ],
)
def test_start_up_refuses_a_wrong_table(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsError, match=f"providers.standard.{problem}"):
        make_provider("standard", **table)


def test_a_signup_for_a_stranger_makes_a_lead_that_receives_the_type(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    payload = body(email="new.person@example.org", name="New Person", subscribe=["93"])
    with bridge_with(tmp_path, sandbox, {"standard": {"secret": SECRET}}) as client:
        assert post(client, "standard", payload, signed(payload, secret=OTHER)).status_code == 401
        response = post(client, "standard", payload, signed(payload, msg_id="msg_new"))
        assert response.text == "ok: 1 recorded, 0 duplicate, 0 ignored, 0 invalid\n"
        retry = post(client, "standard", payload, signed(payload, msg_id="msg_new"))
        assert retry.text == "ok: 0 recorded, 1 duplicate, 0 ignored, 0 invalid\n"
        bad = body(email="x@example.org", subscribe="all")
        assert post(client, "standard", bad, signed(bad)).status_code == 400
        apply_all(client)
        [record] = recorded(client)
    assert record.request.create == NewContact(name="New Person")
    [lead] = [c for c, v in sandbox.contacts.items() if v.get("email") == "new.person@example.org"]
    assert sandbox.contacts[lead]["name"] == "New Person"
    assert sandbox.receives(lead, "93")
