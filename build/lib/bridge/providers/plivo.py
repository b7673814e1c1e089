"""Plivo: inbound texts as form POSTs, signed V3 (or V2), answered with Plivo's XML.

A text arrives at the application's `message_url` as form fields: `From`, `To`, `Text` (SMS;
`Body` for MMS and WhatsApp), `Type`, `MessageUUID` (the dedupe key) and `MessageIntent`,
Plivo's own reading of it (`optout`, `optin`, `help`, or blank), which wins where given.

The signature is HMAC-SHA256 keyed with the auth token: V3 (`X-Plivo-Signature-V3` and its
nonce) over the URL, the sorted fields and the nonce; V2 (`X-Plivo-Signature-V2`) over the URL
without its query and the nonce. Neither signs a time, so a captured delivery verifies
forever; `MessageUUID` makes its replay a duplicate, never a second change. V2 does not sign
the fields at all, so a V2 signature is bound, in the ledger, to the fields it first came with:
the same signature with any other text or sender is refused. The URL is the one
configured in Plivo (`url`, default `BRIDGE_PUBLIC_URL` + the path), never the Host header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import ClassVar
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

import httpx

from bridge.consent import ConsentRequest
from bridge.sms.keywords import Meaning

from .base import Answer, Delivery, Malformed, Rejected, SignatureUse
from .plivo_signature import check_plivo
from .sms import InboundText, SmsProvider

# A V2 signature covers the URL and nonce, never the fields, and never expires: it stays bound
# to the first fields it came with for as long as anyone could still be holding it.
V2_BINDING = timedelta(days=3650)
_INTENTS = {"optout": Meaning.STOP, "optin": Meaning.START, "help": Meaning.HELP}


def plivo_xml(reply: tuple[str, str, str] | None) -> str:
    """Plivo's answer: nothing to send back, or one message (from our number, to the sender)."""
    if reply is None:
        return '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    source, destination, text = reply
    message = (
        f"<Message src={quoteattr(source)} dst={quoteattr(destination)}>{escape(text)}</Message>"
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'


class Plivo(SmsProvider):
    """`[providers.plivo]`: `auth_token`; `url` if Plivo calls another URL than ours."""

    name: ClassVar[str] = "plivo"
    required = ("auth_token",)
    replies = True

    def read(self, delivery: Delivery) -> Delivery:
        """Form fields parsed, as the V3 signature covers them rather than the raw bytes."""
        try:
            fields = parse_qsl(delivery.body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise Rejected("the form is not UTF-8, so it cannot be Plivo's") from None
        return replace(delivery, document=fields)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """A V3 or V2 signature of the configured URL (and fields), in constant time."""
        check_plivo(
            [self.settings.secret("auth_token")],
            delivery.method,
            self.settings.optional("url") or delivery.url,
            delivery.document or [],
            delivery.headers,
        )

    def signature_use(self, delivery: Delivery) -> SignatureUse | None:
        """A V2 signature (no V3 came) binds to the fields it first arrived with."""
        headers = delivery.headers
        if headers.get("X-Plivo-Signature-V3") or headers.get("X-Plivo-Signature-Ma-V3"):
            return None  # V3 signs the fields themselves
        signed = "|".join(
            headers.get(name, "")
            for name in (
                "X-Plivo-Signature-V2",
                "X-Plivo-Signature-Ma-V2",
                "X-Plivo-Signature-V2-Nonce",
            )
        )
        return SignatureUse(
            signature=hashlib.sha256(signed.encode()).hexdigest(),
            payload_sha256=hashlib.sha256(delivery.body).hexdigest(),
            expires_at=delivery.received_at + V2_BINDING,
        )

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """The one text of an inbound-message POST."""
        fields = dict(delivery.document or [])
        uuid, sender = fields.get("MessageUUID"), fields.get("From")
        if not uuid or not sender:
            raise Malformed("an inbound message needs MessageUUID and From")
        return [
            InboundText(
                sender=sender,
                text=fields.get("Text") or fields.get("Body") or "",
                event_id=uuid,
                occurred_at=delivery.received_at,  # Plivo sends no time with a text
                receivers=tuple(v for v in (fields.get("To"), fields.get("PowerpackUUID")) if v),
                provider_meaning=_INTENTS.get(fields.get("MessageIntent", "").strip().lower()),
            )
        ]

    def answer(self, new: Sequence[ConsentRequest]) -> Answer:
        """Plivo's XML: empty, or the confirmation for this delivery's first new STOP or START."""
        reply = self.reply_for(new)
        if reply is None:
            return Answer(200, plivo_xml(None), "application/xml")
        request, text = reply
        ours, sender = request.context.get("to"), request.identity.phone
        if not ours or not sender:
            return Answer(200, plivo_xml(None), "application/xml")
        return Answer(200, plivo_xml((str(ours), sender, text)), "application/xml")
