"""MessageBird (legacy) and Bird: inbound texts, signed by JWT (legacy) or HMAC (Bird).

Legacy MessageBird forwards a text to a number's webhook as form fields or JSON: `id` (the
dedupe key), `originator` (the sender), `recipient` (our number), `body` and
`createdDatetime`. Bird posts `sms.inbound` events: `payload.id`, the sender at
`payload.sender.contact.identifierValue`, our number at
`payload.receiver.connector.identifierValue`, the text at `payload.body.text.text` and
`payload.createdAt`. (No verbatim inbound sample of either was published; the fields follow the
providers' message objects, and anything else is refused as unreadable, never guessed.)

Signatures, keyed with the account's signing key (`signing_key`):
* legacy `MessageBird-Signature-JWT`: a JWT whose claims pin the full URL (`url_hash`) and the
  body (`payload_hash`), valid between its `nbf` and `exp`;
* Bird `messagebird-signature`: HMAC-SHA256 of `messagebird-request-timestamp`, the URL and the
  body's SHA-256, within a freshness window.
The URL is the one configured (`url`, default `BRIDGE_PUBLIC_URL` + the path). Bird retries
anything but a 2xx for 8 hours.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from .base import Delivery, Malformed, Rejected
from .messagebird_signature import check_bird, check_messagebird_jwt
from .sms import InboundText, SmsProvider, sent_at

LEGACY_SIGNATURE = "MessageBird-Signature-JWT"
BIRD_SIGNATURE = "messagebird-signature"
BIRD_TIMESTAMP = "messagebird-request-timestamp"


def _at(data: Any, *path: str) -> Any:
    """The value at a path of keys in nested objects, or None."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class MessageBird(SmsProvider):
    """`[providers.messagebird]`: `signing_key`; `url` if MessageBird calls another URL."""

    name: ClassVar[str] = "messagebird"
    required = ("signing_key",)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """Bird's HMAC when its headers came, else the legacy JWT; one of them is required."""
        key = self.settings.secret("signing_key")
        url = self.settings.optional("url") or delivery.url
        signature = delivery.headers.get(BIRD_SIGNATURE)
        if signature is not None:
            check_bird(
                key,
                signature,
                delivery.headers.get(BIRD_TIMESTAMP),
                url,
                delivery.body,
                delivery.received_at,
            )
            return
        token = delivery.headers.get(LEGACY_SIGNATURE)
        if token is None:
            raise Rejected(f"missing {BIRD_SIGNATURE} or {LEGACY_SIGNATURE} header")
        check_messagebird_jwt(key, token, url, delivery.body, delivery.received_at)

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """The one text of a legacy forward or of a Bird `sms.inbound` event."""
        content_type = delivery.headers.get("content-type", "").split(";")[0].strip()
        if content_type == "application/json":
            try:
                data: Any = json.loads(delivery.body)
            except (ValueError, RecursionError):
                raise Malformed("the body is not JSON") from None
            if not isinstance(data, dict):
                raise Malformed("the body is not a JSON object")
        else:
            try:
                data = dict(parse_qsl(delivery.body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                raise Malformed("the form is not UTF-8") from None
        if "payload" in data:
            return self._bird(data, delivery)
        return [self._legacy(data, delivery)]

    def _bird(self, event: dict[str, Any], delivery: Delivery) -> list[InboundText]:
        if event.get("event") not in (None, "sms.inbound"):
            return []  # delivery reports, outbound events: nothing about consent
        payload = event["payload"]
        sender = _at(payload, "sender", "contact", "identifierValue")
        if not _at(payload, "id") or not sender:
            raise Malformed("an sms.inbound event needs payload.id and its sender's number")
        created = _at(payload, "createdAt")
        return [
            InboundText(
                sender=str(sender),
                text=str(_at(payload, "body", "text", "text") or ""),
                event_id=str(payload["id"]),
                occurred_at=sent_at(created, delivery.received_at),
                receivers=tuple(
                    str(v)
                    for v in (
                        _at(payload, "receiver", "connector", "identifierValue"),
                        _at(payload, "channelId"),
                    )
                    if v
                ),
            )
        ]

    def _legacy(self, fields: dict[str, Any], delivery: Delivery) -> InboundText:
        if not fields.get("id") or not fields.get("originator"):
            raise Malformed("an inbound message needs id and originator")
        created = fields.get("createdDatetime")
        return InboundText(
            sender=str(fields["originator"]),
            text=str(fields.get("body") or ""),
            event_id=str(fields["id"]),
            occurred_at=sent_at(created, delivery.received_at),
            receivers=(str(fields["recipient"]),) if fields.get("recipient") else (),
        )
