"""Plivo: inbound texts as form POSTs signed V3 (or V2), answered with Plivo's XML."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bridge.consent import Identity, Wanted
from bridge.providers import Rejected
from bridge.providers.plivo import plivo_xml
from bridge.providers.plivo_signature import plivo_v2, plivo_v3
from tests.providers.webhooks import PUBLIC_URL, delivery, make_provider

AUTH_TOKEN = "plivo-auth-token-0123456789"
PATH = "/webhooks/plivo"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NONCE = "31627761595286130198"


def fields(
    text: str = "STOP", sender: str = "14155550123", uuid: str = "e5a1f1a0-1", **more: str
) -> list[tuple[str, str]]:
    """An inbound SMS as Plivo posts it (numbers without the plus, as Plivo writes them)."""
    return [
        ("From", sender), ("To", "14155550100"), ("Text", text), ("Type", "sms"),
        ("MessageUUID", uuid), ("Units", "1"), ("TotalRate", "0.00000"), ("TotalAmount", "0.00000"),
        ("MessageIntent", ""), *more.items(),
    ]  # fmt: skip


def signed_v3(
    form: list[tuple[str, str]], *, token: str = AUTH_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """A form as Plivo posts it, with its V3 signature."""
    signature = plivo_v3(token, "POST", PUBLIC_URL + PATH, form, NONCE)
    return urlencode(form).encode(), {
        **FORM,
        "X-Plivo-Signature-V3": signature,
        "X-Plivo-Signature-V3-Nonce": NONCE,
    }


def signed_v2(
    form: list[tuple[str, str]], *, token: str = AUTH_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """A form with only the V2 signature (the messaging docs' scheme)."""
    signature = plivo_v2(token, PUBLIC_URL + PATH, NONCE)
    return urlencode(form).encode(), {
        **FORM,
        "X-Plivo-Signature-V2": signature,
        "X-Plivo-Signature-V2-Nonce": NONCE,
    }


def inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A text as Plivo delivers it (Plivo sends no time)."""
    return signed_v3(fields(text, sender.lstrip("+"), message_id))


def forged_inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The same, signed with another account's token."""
    return signed_v3(
        fields(text, sender.lstrip("+"), message_id), token="another-accounts-token-0123"
    )


def plivo(**table: Any) -> Any:
    """The provider from a `[providers.plivo]` table."""
    return make_provider("plivo", auth_token=AUTH_TOKEN, **table)


async def verify(provider: Any, body: bytes, headers: dict[str, str]) -> Any:
    """Read and verify a delivery; the read delivery."""
    found = provider.read(delivery(body, headers, path=PATH))
    async with httpx.AsyncClient() as http:
        await provider.verify(found, http)
    return found


@pytest.mark.parametrize("sign", [signed_v3, signed_v2], ids=["v3", "v2"])
async def test_a_signed_stop_unsubscribes_its_sender(sign: Any) -> None:
    provider = plivo()
    found = await verify(provider, *sign(fields()))
    [request] = provider.parse(found).requests
    assert request.identity == Identity(phone="+14155550123")
    assert request.wanted is Wanted.UNSUBSCRIBED
    assert (request.event_id, request.context["to"]) == ("e5a1f1a0-1", "14155550100")


async def test_messageintent_is_plivos_reading_and_wins() -> None:
    provider = plivo()
    found = await verify(provider, *signed_v3(fields("ok then", MessageIntent="optin")))
    [request] = provider.parse(found).requests
    assert request.wanted is Wanted.SUBSCRIBED
    found = await verify(provider, *signed_v3(fields("STOP", MessageIntent="help")))
    assert provider.parse(found).requests == []


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"Text=STOP", b"Text=START"), headers),
        lambda body, headers: (body, {**headers, "X-Plivo-Signature-V3-Nonce": "1"}),
        lambda body, headers: (body, FORM),
    ],
    ids=["changed-field", "changed-nonce", "no-signature"],
)
async def test_a_tampered_or_unsigned_delivery_is_refused(tamper: Any) -> None:
    body, headers = tamper(*signed_v3(fields()))
    with pytest.raises(Rejected):
        await verify(plivo(), body, headers)


def test_the_answer_is_plivo_xml_from_our_number_to_the_sender() -> None:
    assert plivo_xml(None) == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert plivo_xml(("14155550100", "+14155550123", "Bye & thanks")) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Message src="14155550100" dst="+14155550123">Bye &amp; thanks</Message></Response>'
    )


async def test_a_reply_is_addressed_from_the_number_that_received_the_stop() -> None:
    provider = plivo(reply="You are unsubscribed.")
    found = await verify(provider, *signed_v3(fields()))
    answer = provider.answer(provider.parse(found).requests)
    assert answer.media_type == "application/xml"
    assert 'src="14155550100" dst="+14155550123">You are unsubscribed.<' in answer.body


def test_a_v2_signature_binds_to_the_fields_it_first_came_with() -> None:
    provider = plivo()
    body, headers = signed_v2(fields())
    use = provider.signature_use(delivery(body, headers, path=PATH))
    other = provider.signature_use(delivery(body.replace(b"STOP", b"HELLO"), headers, path=PATH))
    assert use is not None and other is not None
    assert use.signature == other.signature
    assert use.payload_sha256 != other.payload_sha256
    assert provider.signature_use(delivery(*signed_v3(fields()), path=PATH)) is None
