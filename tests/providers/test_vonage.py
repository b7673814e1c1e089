"""Vonage: SMS API inbound texts (GET, form, JSON; signed `sig`), Messages API JSON (JWT), parts."""

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
from bridge.providers import Rejected, TextPart
from bridge.providers.vonage_signature import vonage_sig
from bridge.settings import SettingsError
from tests.providers.webhooks import delivery, make_provider

SECRET = "vonage-signature-secret-0123456789"
PATH = "/webhooks/vonage"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NOW = datetime.now(UTC)


def params(
    text: str = "STOP",
    msisdn: str = "14155550123",
    message_id: str = "0A0000000123ABCD1",
    *,
    at: datetime = NOW,
    **more: str,
) -> dict[str, str]:
    """An inbound SMS's parameters as the SMS API sends them, signed with `sha256`."""
    found = {
        "msisdn": msisdn, "to": "14155550100", "messageId": message_id, "text": text,
        "type": "text", "keyword": text.split()[0].upper() if text else "",
        "message-timestamp": at.strftime("%Y-%m-%d %H:%M:%S"),
        "timestamp": str(int(at.timestamp())), "nonce": "a5e5c4f3-1", **more,
    }  # fmt: skip
    return {**found, "sig": vonage_sig(found, SECRET, "sha256")}


def form(found: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Parameters as a form POST."""
    return urlencode(found).encode(), FORM


def inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A text as the SMS API posts it (`msisdn` without the plus)."""
    return form(params(text, sender.lstrip("+"), message_id, at=at))


def forged_inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The same text with its `sig` made by another secret."""
    found = params(text, sender.lstrip("+"), message_id, at=at)
    del found["sig"]
    return form({**found, "sig": vonage_sig(found, "another-secret-0123456789", "sha256")})


def vonage(**table: Any) -> Any:
    """The provider from a `[providers.vonage]` table."""
    return make_provider("vonage", signature_secret=SECRET, signature_method="sha256", **table)


async def verify(
    provider: Any, body: bytes, headers: dict[str, str], *, method: str = "POST", path: str = PATH
) -> Any:
    """Read and verify a delivery (now); the read delivery."""
    found = provider.read(delivery(body, headers, path=path, method=method, received_at=NOW))
    async with httpx.AsyncClient() as http:
        await provider.verify(found, http)
    return found


async def test_a_signed_stop_posted_as_a_form_unsubscribes_its_sender_at_its_time() -> None:
    provider = vonage()
    found = await verify(provider, *form(params()))
    [request] = provider.parse(found).requests
    assert request.identity == Identity(phone="+14155550123")
    assert request.wanted is Wanted.UNSUBSCRIBED
    assert request.event_id == "0A0000000123ABCD1"
    assert request.occurred_at == NOW.replace(microsecond=0)


async def test_the_get_and_json_delivery_methods_are_read_and_verified_alike() -> None:
    provider = vonage()
    query = urlencode(params("START"))
    found = await verify(provider, b"", {}, method="GET", path=f"{PATH}?{query}")
    assert provider.parse(found).requests[0].wanted is Wanted.SUBSCRIBED
    body = json.dumps(params("START")).encode()
    found = await verify(provider, body, {"Content-Type": "application/json"})
    assert provider.parse(found).requests[0].wanted is Wanted.SUBSCRIBED


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "text": "START"},
        lambda p: {**p, "msisdn": "14155550199"},
        lambda p: {k: v for k, v in p.items() if k != "sig"},
        lambda p: {**p, "sig": "0" * 64},
    ],
    ids=["changed-text", "changed-sender", "no-sig", "wrong-sig"],
)
async def test_a_tampered_or_unsigned_delivery_is_refused(tamper: Any) -> None:
    with pytest.raises(Rejected):
        await verify(vonage(), *form(tamper(params())))


async def test_a_delivery_signed_long_ago_is_refused() -> None:
    with pytest.raises(Rejected):
        await verify(vonage(), *form(params(at=NOW - timedelta(days=2))))


def test_an_unknown_signature_method_stops_the_start() -> None:
    with pytest.raises(SettingsError, match="signature_method: one of md5hash, md5, sha1"):
        make_provider("vonage", signature_secret=SECRET, signature_method="crc32")


def messages_api(text: str, *, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """A Messages API inbound SMS with its bearer JWT pinning the body."""
    body = json.dumps({
        "channel": "sms", "message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
        "to": "14155550100", "from": "14155550123", "text": text,
        "timestamp": "2026-04-11T09:30:00Z", "message_type": "text",
    }).encode()  # fmt: skip
    claims = {
        "iat": int(NOW.timestamp()),
        "jti": "j-1",
        "payload_hash": hashlib.sha256(body).hexdigest(),
    }
    token = jwt.encode(claims, secret, algorithm="HS256")
    return body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


async def test_a_messages_api_inbound_text_is_verified_by_its_jwt() -> None:
    provider = vonage()
    body, headers = messages_api("STOP")
    found = await verify(provider, body, headers)
    [request] = provider.parse(found).requests
    assert (request.identity.phone, request.event_id) == (
        "+14155550123",
        "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
    )
    assert request.occurred_at == datetime(2026, 4, 11, 9, 30, tzinfo=UTC)
    with pytest.raises(Rejected):
        await verify(provider, body.replace(b"STOP", b"SURE"), headers)
    with pytest.raises(Rejected):
        await verify(provider, *messages_api("STOP", secret="another-vonage-signature-secret-0123"))


async def test_a_long_text_comes_in_parts_that_are_kept_then_read_whole() -> None:
    provider = vonage()
    parts = []
    for n, piece in enumerate(["Please stop tex", "ting me, thank you"], start=1):
        extra = {"concat": "true", "concat-ref": "17", "concat-total": "2", "concat-part": str(n)}
        found = await verify(provider, *form(params(piece, message_id=f"0A-{n}", **extra)))
        parsed = provider.parse(found)
        assert parsed.requests == []
        parts.extend(parsed.parts)
    assert [(p.group, p.part, p.total) for p in parts] == [
        ("14155550123:17", 1, 2),
        ("14155550123:17", 2, 2),
    ]
    [request] = provider.join(list(reversed(parts))).requests
    assert request.context["text"] == "Please stop texting me, thank you"
    assert request.context["parts"] == "2 of 2"
    assert request.hold  # free text: held for review
    assert request.event_id == "0A-1"


def test_parts_that_waited_too_long_are_read_as_they_are() -> None:
    part = TextPart(
        "14155550123:9",
        1,
        3,
        "STOP",
        {"msisdn": "14155550123", "messageId": "0A-9", "to": "14155550100"},
    )
    [request] = vonage().join([part]).requests
    assert request.wanted is Wanted.UNSUBSCRIBED
    assert request.context["parts"] == "1 of 3"
