"""Telnyx: `message.received` events, signed with Ed25519.

An inbound text arrives as JSON: `data.event_type` is `message.received`, `data.id` the event
(the dedupe key: Telnyx's retries repeat it), `data.occurred_at` its time, and in
`data.payload` the sender (`from.phone_number`), the text, our number (`to[0].phone_number`)
and the messaging profile (`messaging_profile_id`). Telnyx sends no reading of the text of its
own (its profile-level STOP block is separate), so the keyword engine reads every one.

The signature, `telnyx-signature-ed25519`, is Ed25519 over `telnyx-timestamp` + "|" + the raw
body, by the account's key (`public_key`, base64, from the portal), and the timestamp must be
within the SDK's 300 s: a captured delivery is worthless after that. Telnyx wants a 2xx within
2 seconds, else it retries and then tries the failover URL.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

from bridge.clock import Clock

from .base import Delivery, Malformed, ProviderSettings
from .sms import InboundText, SmsProvider, sent_at
from .telnyx_signature import check_telnyx, load_telnyx_key

SIGNATURE = "telnyx-signature-ed25519"
TIMESTAMP = "telnyx-timestamp"


class Telnyx(SmsProvider):
    """`[providers.telnyx]`: `public_key`, the base64 Ed25519 key from the Telnyx portal."""

    name: ClassVar[str] = "telnyx"
    required = ("public_key",)

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        load_telnyx_key(settings.secret("public_key"))  # a typo stops the start, not a webhook

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """Ed25519 over the timestamp and the raw body, within 300 s of now."""
        check_telnyx(
            self.settings.secret("public_key"),
            delivery.headers.get(SIGNATURE),
            delivery.headers.get(TIMESTAMP),
            delivery.body,
            delivery.received_at,
        )

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """The text of a `message.received` event; nothing for Telnyx's other events."""
        try:
            event = json.loads(delivery.body)
        except (ValueError, RecursionError):
            raise Malformed("the body is not JSON") from None
        data: Any = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict):
            raise Malformed("the body has no data object")
        if data.get("event_type") != "message.received":
            return []  # delivery reports and the like: nothing about consent
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise Malformed("a message.received event needs a payload object")
        sender = payload.get("from")
        if not data.get("id") or not isinstance(sender, dict) or not sender.get("phone_number"):
            raise Malformed("a message.received event needs data.id and payload.from.phone_number")
        to = payload.get("to")
        first = to[0] if isinstance(to, list) and to else None
        ours = first.get("phone_number") if isinstance(first, dict) else None
        return [
            InboundText(
                sender=str(sender["phone_number"]),
                text=str(payload.get("text") or ""),
                event_id=str(data["id"]),
                occurred_at=sent_at(data.get("occurred_at"), delivery.received_at),
                receivers=tuple(str(v) for v in (ours, payload.get("messaging_profile_id")) if v),
            )
        ]
