"""Twilio: inbound texts as signed form POSTs (and Event Streams JSON), answered with TwiML."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.providers import Rejected
from bridge.providers.twilio import twiml
from bridge.providers.twilio_signature import twilio_signature
from tests.providers.webhooks import PUBLIC_URL, delivery, make_provider, sample

AUTH_TOKEN = "twilio-auth-token-0123456789"
PATH = "/webhooks/twilio"
SAMPLE = sample("twilio-inbound-sms-stop.constructed.json")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def sample_fields(**changes: str) -> list[tuple[str, str]]:
    """The constructed inbound STOP's fields, with some changed (None-free)."""
    fields = dict(parse_qsl(SAMPLE["body"]))
    fields.update(changes)
    return list(fields.items())


def signed(
    fields: list[tuple[str, str]], *, token: str = AUTH_TOKEN, url: str = PUBLIC_URL + PATH
) -> tuple[bytes, dict[str, str]]:
    """A form as Twilio posts it to `url`, signed with `token`."""
    return urlencode(fields).encode(), {
        **FORM,
        "X-Twilio-Signature": twilio_signature(token, url, fields),
    }


def inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """A text as Twilio delivers it (Twilio sends no time: `at` is not in it)."""
    return signed(
        sample_fields(
            Body=text,
            From=sender,
            MessageSid=message_id,
            SmsMessageSid=message_id,
            SmsSid=message_id,
            OptOutType="",
        )
    )


def forged_inbound(
    text: str, sender: str, message_id: str, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The same text, signed with another account's token."""
    fields = sample_fields(Body=text, From=sender, MessageSid=message_id, OptOutType="")
    return signed(fields, token="another-accounts-token-0123")


def twilio(**table: Any) -> Any:
    """The provider from a `[providers.twilio]` table."""
    return make_provider("twilio", auth_token=AUTH_TOKEN, **table)


def read(body: bytes, headers: dict[str, str], path: str = PATH) -> Any:
    """A delivery as the endpoint reads it."""
    return twilio().read(delivery(body, headers, path=path))


async def verify(provider: Any, body: bytes, headers: dict[str, str], path: str = PATH) -> Any:
    """Read and verify a delivery; the read delivery."""
    found = provider.read(delivery(body, headers, path=path))
    async with httpx.AsyncClient() as http:
        await provider.verify(found, http)
    return found


async def test_the_samples_stop_verifies_and_unsubscribes_its_sender_from_every_sms_type() -> None:
    provider = twilio()
    found = await verify(provider, *signed(sample_fields()))
    [request] = provider.parse(found).requests
    assert request.identity == Identity(phone="+15558675310")
    assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, Scope(channel=Channel.SMS))
    assert request.event_id == "SM1234567890abcdef1234567890abcdef"
    assert request.occurred_at == found.received_at  # Twilio sends no time with a text
    assert request.context == {"event": "stop", "text": "Stop", "to": "+15017122661"}


async def test_optouttype_is_twilios_reading_and_wins() -> None:
    provider = twilio()
    found = await verify(provider, *signed(sample_fields(Body="sure thing", OptOutType="START")))
    [request] = provider.parse(found).requests
    assert request.wanted is Wanted.SUBSCRIBED


async def test_without_advanced_opt_out_the_keyword_engine_reads_the_body() -> None:
    provider = twilio()
    found = await verify(provider, *signed(sample_fields(Body="Stop please", OptOutType="")))
    [request] = provider.parse(found).requests
    assert request.wanted is Wanted.UNSUBSCRIBED


async def test_a_stop_to_a_mapped_messaging_service_changes_only_its_types() -> None:
    provider = twilio(types={"MG1234567890abcdef1234567890abcdef": ["124"]})
    found = await verify(provider, *signed(sample_fields()))
    [request] = provider.parse(found).requests
    assert request.scope == Scope(type_ids=("124",))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"Body=Stop", b"Body=Start"), headers),
        lambda body, headers: (body + b"&Extra=1", headers),
        lambda body, headers: (
            body,
            {**headers, "X-Twilio-Signature": "AAAA" + headers["X-Twilio-Signature"][4:]},
        ),
        lambda body, headers: (body, FORM),
    ],
    ids=["changed-field", "added-field", "changed-signature", "no-signature"],
)
async def test_a_tampered_or_unsigned_delivery_is_refused(tamper: Any) -> None:
    body, headers = tamper(*signed(sample_fields()))
    with pytest.raises(Rejected):
        await verify(twilio(), body, headers)


async def test_the_url_is_the_configured_one_never_the_host_header() -> None:
    configured = "https://hooks.example.org/twilio/inbound"
    body, headers = signed(sample_fields(), url=configured)
    with pytest.raises(Rejected):
        await verify(twilio(), body, headers)  # signed for another URL than ours
    await verify(twilio(url=configured), body, headers)


def event_streams(data: dict[str, Any]) -> bytes:
    """An Event Streams webhook sink's body: a list of CloudEvents."""
    event = {
        "specversion": "1.0",
        "type": "com.twilio.messaging.inbound-message.received",
        "source": "/2010-04-01/Accounts/AC0/Messages/SM0.json",
        "id": "EZ0",
        "datacontenttype": "application/json",
        "time": data["timestamp"],
        "data": data,
    }
    return json.dumps([event]).encode()


async def test_event_streams_inbound_messages_carry_optouttype_and_their_time() -> None:
    body = event_streams(sample("twilio-eventstreams-inbound-message.data.json"))
    digest = hashlib.sha256(body).hexdigest()
    path = f"{PATH}?bodySHA256={digest}"
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, PUBLIC_URL + path, []),
    }
    provider = twilio()
    found = await verify(provider, body, headers, path)
    [request] = provider.parse(found).requests
    assert request.wanted is Wanted.UNSUBSCRIBED  # optOutType STOP, though the body says "Ahoy!"
    assert request.occurred_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert request.event_id == "SM0000000000000000000000000000001"
    with pytest.raises(Rejected):
        await verify(provider, body.replace(b"Ahoy", b"Hoy!"), headers, path)


def test_twiml_is_empty_or_one_escaped_message() -> None:
    assert twiml(None) == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert twiml("Bye <3 & thanks") == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<Response><Message>Bye &lt;3 &amp; thanks</Message></Response>"
    )
