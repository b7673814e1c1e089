"""SendGrid: the SDK's signature vectors, every documented sample, tampering, resubscribes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.consent import Channel, Scope, Wanted
from bridge.providers import Rejected
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    apply_all,
    bridge_with,
    delivery,
    make_provider,
    post,
    sample,
    sample_bytes,
    vectors,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class Signer:
    """A P-256 key pair standing in for SendGrid's, to sign our own deliveries."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str = "1700000000") -> dict[str, str]:
        """The headers SendGrid would send with `body`."""
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: timestamp}


@pytest.fixture
def signer() -> Signer:
    """A fresh signing key."""
    return Signer()


def body_of(*events: Any) -> bytes:
    """A batch as SendGrid writes it: events joined by `,\\r\\n`, ending `\\r\\n`."""
    return ("[" + ",\r\n".join(json.dumps(e) for e in events) + "]\r\n").encode()


@pytest.mark.parametrize("vector", vectors("sendgrid_ecdsa"), ids=lambda v: v["source"][:40])
async def test_sdk_signature_vectors(vector: dict[str, Any]) -> None:
    provider = make_provider("sendgrid", public_key=vector["public_key_b64_der"])
    headers = {
        SIGNATURE: vector["header_X-Twilio-Email-Event-Webhook-Signature"],
        TIMESTAMP: vector["header_X-Twilio-Email-Event-Webhook-Timestamp"],
    }
    signed = delivery(vector["raw_body"].encode(), headers)
    if vector["expected"]:
        await provider.verify(signed, None)  # type: ignore[arg-type]
    else:
        with pytest.raises(Rejected):
            await provider.verify(signed, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "timestamp", "key", "no signature", "no timestamp", "not base64"],
)
async def test_tampered_deliveries_are_rejected(tamper: str, signer: Signer) -> None:
    body = sample_bytes("sendgrid-unsubscribe.json")
    headers = signer.headers(body)
    key = signer.public_key
    if tamper == "body":
        body = body.replace(b"example@test.com", b"attacker@test.com")
    elif tamper == "signature":
        headers[SIGNATURE] = signer.headers(body + b" ")[SIGNATURE]
    elif tamper == "timestamp":
        headers[TIMESTAMP] = "1700000001"
    elif tamper == "key":
        key = Signer().public_key
    elif tamper == "no signature":
        del headers[SIGNATURE]
    elif tamper == "no timestamp":
        del headers[TIMESTAMP]
    else:
        headers[SIGNATURE] = "%%%"
    with pytest.raises(Rejected):
        await make_provider("sendgrid", public_key=key).verify(delivery(body, headers), None)  # type: ignore[arg-type]


def test_an_old_timestamp_is_accepted(signer: Signer) -> None:
    # SendGrid retries for 24 hours with the original signature: no freshness window.
    assert signer.headers(b"[]", timestamp="1000000000")[TIMESTAMP] == "1000000000"


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"not a key").decode(), ""])
def test_a_bad_public_key_stops_start_up(key: str) -> None:
    with pytest.raises(SettingsError, match=r"providers\.sendgrid\.public_key"):
        make_provider("sendgrid", public_key=key)


def test_each_documented_sample_becomes_the_right_request(signer: Signer) -> None:
    provider = make_provider(
        "sendgrid", public_key=signer.public_key, types={"10": ["93", "37846"]}
    )
    expectations = {
        "sendgrid-unsubscribe.json": (Wanted.UNSUBSCRIBED, Scope(channel=Channel.EMAIL)),
        "sendgrid-group_unsubscribe.json": (Wanted.UNSUBSCRIBED, Scope(type_ids=("93", "37846"))),
        "sendgrid-group_resubscribe.json": (Wanted.SUBSCRIBED, Scope(type_ids=("93", "37846"))),
        "sendgrid-spamreport.json": (Wanted.UNSUBSCRIBED, Scope(channel=Channel.EMAIL)),
    }
    for name, (wanted, scope) in expectations.items():
        [event] = sample(name)
        parsed = provider.parse(delivery(sample_bytes(name)))
        [request] = parsed.requests
        assert (request.wanted, request.scope) == (wanted, scope), name
        assert request.identity.email == event["email"].lower()
        assert request.event_id == event["sg_event_id"]
        assert request.occurred_at.timestamp() == event["timestamp"]
        assert request.source == "sendgrid"
        assert request.context["event"] == event["event"]
    for name in ("sendgrid-bounce.json", "sendgrid-dropped.json"):
        parsed = provider.parse(delivery(sample_bytes(name)))
        assert parsed.requests == [] and parsed.ignored == 1, name


def test_policies_for_complaints_and_bounces(signer: Signer) -> None:
    quiet = make_provider("sendgrid", public_key=signer.public_key, complaints="ignore")
    assert quiet.parse(delivery(sample_bytes("sendgrid-spamreport.json"))).requests == []
    strict = make_provider("sendgrid", public_key=signer.public_key, bounces="unsubscribe")
    [bounce] = strict.parse(delivery(sample_bytes("sendgrid-bounce.json"))).requests
    assert bounce.wanted is Wanted.UNSUBSCRIBED
    blocked = {**sample("sendgrid-bounce.json")[0], "type": "blocked"}
    assert strict.parse(delivery(body_of(blocked))).requests == []  # not a hard bounce


def test_one_bad_event_does_not_drop_the_others(signer: Signer) -> None:
    good = sample("sendgrid-unsubscribe.json")[0]
    no_email = {**good, "sg_event_id": "x1", "email": None}
    no_id = {**good, "sg_event_id": None}
    opened = {**good, "event": "open", "sg_event_id": "x2"}
    odd_kind = {**good, "event": ["unsubscribe"], "sg_event_id": "x3"}
    parsed = make_provider("sendgrid", public_key=signer.public_key).parse(
        delivery(body_of(no_email, good, "junk", no_id, opened, odd_kind))
    )
    assert [r.event_id for r in parsed.requests] == [good["sg_event_id"]]
    assert len(parsed.invalid) == 2 and parsed.ignored == 3


def test_an_older_resubscribe_does_not_undo_a_newer_unsubscribe(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    jane = "63a07ddf05a32042dffac965"
    email = sandbox.contacts[jane]["email"]
    unsubscribe = {**sample("sendgrid-unsubscribe.json")[0], "email": email}
    resubscribe = {
        **sample("sendgrid-group_resubscribe.json")[0],
        "email": email,
        "timestamp": unsubscribe["timestamp"] - 60,  # happened before the unsubscribe
    }
    body = body_of(unsubscribe, resubscribe)
    providers = {"sendgrid": {"public_key": signer.public_key, "types": {"10": ["95"]}}}
    with bridge_with(tmp_path, sandbox, providers) as client:
        response = post(client, "sendgrid", body, signer.headers(body))
        assert response.status_code == 200 and "2 recorded" in response.text
        apply_all(client)
    live_email = [
        t
        for t, v in sandbox.types.items()
        if v["state"] == "live" and "email" in v["content_types"]
    ]
    # The older resubscribe to 95 arrived with a newer unsubscribe from everything: nobody
    # among Jane's contacts receives any email type, 95 included.
    for contact_id, contact in sandbox.contacts.items():
        if contact.get("email") == email:
            assert not any(sandbox.receives(contact_id, t) for t in live_email), contact_id
