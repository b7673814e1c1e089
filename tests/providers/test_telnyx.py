"""Telnyx: `message.received` events signed with Ed25519, fresh within 300 s."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bridge.consent import Identity, Scope, Wanted
from bridge.providers import Rejected
from bridge.settings import SettingsError
from tests.providers.webhooks import delivery, make_provider, sample

# The provider reference's key: seed bytes(range(32)); its public key is checked below.
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SAMPLE = sample("telnyx-message.received.json")
NOW = datetime.now(UTC)


def event(text: str, sender: str, event_id: str, *, at: datetime) -> dict[str, Any]:
    """The documented message.received event with another text, sender, id and time."""
    found = copy.deepcopy(SAMPLE)
    found["data"].update(id=event_id, occurred_at=at.isoformat().replace("+00:00", "Z"))
    found["data"]["payload"].update(text=text)
    found["data"]["payload"]["from"]["phone_number"] = sender
    return found


def signed(body: bytes, *, key: Ed25519PrivateKey = KEY, at: datetime = NOW) -> dict[str, str]:
    """The headers Telnyx sends with `body`."""
    timestamp = str(int(at.timestamp()))
    signature = key.sign(timestamp.encode() + b"|" + body)
    return {
        "Content-Type": "application/json",
        "telnyx-timestamp": timestamp,
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
    }


def inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A text as Telnyx delivers it, signed now."""
    body = json.dumps(event(text, sender, message_id, at=at)).encode()
    return body, signed(body, at=datetime.now(UTC))


def forged_inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The same, signed by another key."""
    body = json.dumps(event(text, sender, message_id, at=at)).encode()
    return body, signed(body, key=OTHER_KEY, at=datetime.now(UTC))


def telnyx(**table: Any) -> Any:
    """The provider from a `[providers.telnyx]` table."""
    return make_provider("telnyx", public_key=PUBLIC_KEY, **table)


async def verify(provider: Any, body: bytes, headers: dict[str, str]) -> Any:
    """Verify a delivery arriving now; the delivery."""
    found = provider.read(delivery(body, headers, path="/webhooks/telnyx", received_at=NOW))
    async with httpx.AsyncClient() as http:
        await provider.verify(found, http)
    return found


def test_the_reference_key_is_the_one_these_tests_sign_with() -> None:
    assert PUBLIC_KEY == "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="


async def test_the_documented_event_signed_verifies_and_its_text_is_read() -> None:
    body = json.dumps(SAMPLE).encode()
    provider = telnyx()
    found = await verify(provider, body, signed(body))
    parsed = provider.parse(found)
    assert (parsed.requests, parsed.ignored) == ([], 1)  # "Hello, World!" asks nothing


async def test_a_stop_unsubscribes_its_sender_at_the_events_time() -> None:
    at = datetime(2026, 4, 11, 9, 30, tzinfo=UTC)
    body = json.dumps(event("STOP", "+14155550123", "ev-1", at=at)).encode()
    provider = telnyx(types={"+18445550001": ["124"]})
    [request] = provider.parse(await verify(provider, body, signed(body))).requests
    assert request.identity == Identity(phone="+14155550123")
    assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, Scope(type_ids=("124",)))
    assert (request.event_id, request.occurred_at) == ("ev-1", at)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"STOP", b"STAR"), headers),
        lambda body, headers: (
            body,
            {**headers, "telnyx-timestamp": str(int(headers["telnyx-timestamp"]) + 1)},
        ),
        lambda body, headers: (body, signed(body, key=OTHER_KEY)),
        lambda body, headers: (body, signed(body, at=NOW - timedelta(minutes=6))),
        lambda body, headers: (body, {"Content-Type": "application/json"}),
    ],
    ids=["changed-body", "changed-timestamp", "other-key", "stale", "unsigned"],
)
async def test_a_tampered_stale_or_unsigned_delivery_is_refused(tamper: Any) -> None:
    body = json.dumps(event("STOP", "+14155550123", "ev-1", at=NOW)).encode()
    with pytest.raises(Rejected):
        await verify(telnyx(), *tamper(body, signed(body)))


def test_a_public_key_that_is_not_one_stops_the_start() -> None:
    with pytest.raises(SettingsError, match="public_key"):
        make_provider("telnyx", public_key="bm90IGEga2V5IGF0IGFsbCwgbm90IGF0IGFsbA==")
