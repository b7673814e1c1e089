"""MessageBird (legacy JWT) and Bird (HMAC): inbound texts, verified and read."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from bridge.consent import Identity, Wanted
from bridge.providers import Rejected
from bridge.providers.messagebird_signature import bird_signature
from tests.providers.webhooks import PUBLIC_URL, delivery, make_provider

SIGNING_KEY = "messagebird-signing-key-0123456789"
PATH = "/webhooks/messagebird"
URL = PUBLIC_URL + PATH
NOW = datetime.now(UTC)


def bird_event(text: str, sender: str, message_id: str, *, at: datetime) -> bytes:
    """A Bird `sms.inbound` event."""
    return json.dumps({
        "service": "channels", "event": "sms.inbound",
        "payload": {
            "id": message_id, "channelId": "c0ffee00-0000-4000-8000-000000000001",
            "sender": {"contact": {"identifierKey": "phonenumber", "identifierValue": sender}},
            "receiver": {"connector": {"identifierValue": "+14155550100"}},
            "body": {"type": "text", "text": {"text": text}},
            "createdAt": at.isoformat().replace("+00:00", "Z"), "direction": "incoming",
        },
    }).encode()  # fmt: skip


def bird_signed(body: bytes, *, key: str = SIGNING_KEY, at: datetime = NOW) -> dict[str, str]:
    """The headers Bird sends with `body`."""
    timestamp = str(int(at.timestamp()))
    return {
        "Content-Type": "application/json",
        "messagebird-request-timestamp": timestamp,
        "messagebird-signature": bird_signature(key, timestamp, URL, body),
    }


def inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A text as Bird delivers it, signed now."""
    body = bird_event(text, sender, message_id, at=at)
    return body, bird_signed(body, at=datetime.now(UTC))


def forged_inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The same, signed with another key."""
    body = bird_event(text, sender, message_id, at=at)
    return body, bird_signed(body, key="another-signing-key-0123456", at=datetime.now(UTC))


def legacy(text: str) -> tuple[bytes, dict[str, str]]:
    """A legacy MessageBird forward (form fields) with its signature JWT."""
    body = urlencode({
        "id": "e8077d803532c0b5937c639b60216938", "recipient": "14155550100",
        "originator": "14155550123", "body": text, "createdDatetime": "2026-04-11T09:30:00+00:00",
    }).encode()  # fmt: skip
    claims = {
        "iss": "MessageBird", "nbf": int(NOW.timestamp()) - 1, "exp": int(NOW.timestamp()) + 60,
        "jti": "59a244dc-e9ad-4e23-9778-371faa238f72",
        "url_hash": hashlib.sha256(URL.encode()).hexdigest(),
        "payload_hash": hashlib.sha256(body).hexdigest(),
    }  # fmt: skip
    token = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "MessageBird-Signature-JWT": token,
    }


def messagebird(**table: Any) -> Any:
    """The provider from a `[providers.messagebird]` table."""
    return make_provider("messagebird", signing_key=SIGNING_KEY, **table)


async def verify(provider: Any, body: bytes, headers: dict[str, str]) -> Any:
    """Verify a delivery arriving now; the delivery."""
    found = provider.read(delivery(body, headers, path=PATH, received_at=NOW))
    async with httpx.AsyncClient() as http:
        await provider.verify(found, http)
    return found


async def test_a_bird_stop_unsubscribes_its_sender_at_its_time() -> None:
    at = datetime(2026, 4, 11, 9, 30, tzinfo=UTC)
    provider = messagebird()
    body = bird_event("STOP", "+14155550123", "msg-1", at=at)
    [request] = provider.parse(await verify(provider, body, bird_signed(body))).requests
    assert request.identity == Identity(phone="+14155550123")
    assert (request.wanted, request.event_id, request.occurred_at) == (
        Wanted.UNSUBSCRIBED,
        "msg-1",
        at,
    )
    assert request.context["to"] == "+14155550100"


async def test_a_legacy_forward_signed_by_jwt_is_read() -> None:
    provider = messagebird()
    [request] = provider.parse(await verify(provider, *legacy("START"))).requests
    assert request.identity == Identity(phone="+14155550123")
    assert (request.wanted, request.event_id) == (
        Wanted.SUBSCRIBED,
        "e8077d803532c0b5937c639b60216938",
    )
    body, headers = legacy("START")
    with pytest.raises(Rejected):
        await verify(provider, body.replace(b"START", b"STOPS"), headers)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"STOP", b"STAR"), headers),
        lambda body, headers: (body, bird_signed(body, key="another-signing-key-0123456")),
        lambda body, headers: (body, bird_signed(body, at=NOW - timedelta(hours=10))),
        lambda body, headers: (body, {"Content-Type": "application/json"}),
    ],
    ids=["changed-body", "other-key", "stale", "unsigned"],
)
async def test_a_tampered_stale_or_unsigned_delivery_is_refused(tamper: Any) -> None:
    body = bird_event("STOP", "+14155550123", "msg-1", at=NOW)
    with pytest.raises(Rejected):
        await verify(messagebird(), *tamper(body, bird_signed(body)))
