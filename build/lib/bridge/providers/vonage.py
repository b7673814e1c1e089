"""Vonage: SMS API inbound texts (GET, form POST or JSON, signed with `sig`) and Messages API JSON.

The SMS API delivers the way the dashboard says (GET query, form POST, or POST-JSON) with
`msisdn` (the sender, E.164 without the plus), `to` (our number), `text`, `messageId` (the
dedupe key), `message-timestamp` (UTC, "2025-04-11 09:30:00") and, when signed webhooks are
on, `timestamp`, `nonce` and `sig`: a hash of the sorted `&key=value` pairs by the signature
secret and `signature_method` (`md5hash`, `md5`, `sha1`, `sha256`, `sha512`, as set in the
dashboard). A long text comes in parts (`concat`, `concat-ref`, `concat-part`,
`concat-total`); each is kept until the text is whole (or waited long enough) and then read.

The Messages API posts JSON (`channel`, `message_uuid`, `from`, `to`, `text`, `timestamp`)
with `Authorization: Bearer <JWT>` signed by the same secret, whose `payload_hash` pins the body.

Vonage wants a 200 or 204 and resends anything else for 24 hours, so a resend may carry the
original `timestamp`: the window is as long as Vonage keeps trying.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from bridge.clock import Clock
from bridge.settings import SettingsError

from .base import (
    Delivery,
    Malformed,
    Parsed,
    ProviderSettings,
    Rejected,
    TextPart,
    collect,
)
from .sms import InboundText, SmsProvider, sent_at
from .vonage_signature import check_vonage_jwt, check_vonage_sig

METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
MAX_AGE = timedelta(hours=25)  # Vonage resends for 24 hours, maybe signed when first sent
_SMS_FIELDS = ("msisdn", "to", "messageId", "message-timestamp")


def _sms_time(value: object, fallback: datetime) -> datetime:
    """`message-timestamp` ("2025-04-11 09:30:00", UTC), else when the text reached us."""
    if not isinstance(value, str) or not value:
        return fallback
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return fallback


class Vonage(SmsProvider):
    """`[providers.vonage]`: `signature_secret`, `signature_method` (default `md5hash`)."""

    name: ClassVar[str] = "vonage"
    required = ("signature_secret",)
    accepts_get = True  # the SMS API's "GET" delivery method; signed like the others
    splits_texts = True

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.method = str(settings.values.get("signature_method", "md5hash")).lower()
        if self.method not in METHODS:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.vonage.signature_method: one of {', '.join(METHODS)}"
                f" (got {self.method!r})"
            )

    def read(self, delivery: Delivery) -> Delivery:
        """The parameters, wherever the delivery method put them: the signature covers them."""
        if delivery.headers.get("authorization", "").lower().startswith("bearer "):
            return delivery  # the Messages API signs the raw body
        if delivery.method == "GET":
            params = parse_qsl(urlsplit(delivery.url).query, keep_blank_values=True)
        elif delivery.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                data = json.loads(delivery.body)
            except (ValueError, RecursionError):
                raise Rejected("the body is not JSON, so its signature can't be read") from None
            if not isinstance(data, dict):
                raise Rejected("the body is not a JSON object of parameters")
            params = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()]
        else:
            try:
                params = parse_qsl(delivery.body.decode(), keep_blank_values=True)
            except UnicodeDecodeError:
                raise Rejected("the form is not UTF-8, so it cannot be Vonage's") from None
        return replace(delivery, document=dict(params))

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The `sig` of the parameters (SMS API) or the JWT over the body (Messages API)."""
        secret = self.settings.secret("signature_secret")
        if delivery.document is None:
            check_vonage_jwt(
                delivery.headers.get("authorization"), secret, delivery.body, delivery.received_at
            )
        else:
            check_vonage_sig(delivery.document, secret, self.method, delivery.received_at, MAX_AGE)

    def parse(self, delivery: Delivery) -> Parsed:
        """A whole text is read now; a part of a long one is kept until the text is whole."""
        if delivery.document is None:
            return super().parse(delivery)
        params: Mapping[str, str] = delivery.document
        if params.get("concat") != "true":
            return super().parse(delivery)
        if not params.get("messageId"):
            raise Malformed("an inbound SMS needs messageId")
        try:
            part = TextPart(
                group=f"{params['msisdn']}:{params['concat-ref']}",
                part=int(params["concat-part"]),
                total=int(params["concat-total"]),
                text=params.get("text", ""),
                fields={k: params[k] for k in _SMS_FIELDS if k in params},
            )
        except (KeyError, ValueError):
            raise Malformed("a concatenated part needs msisdn and its concat fields") from None
        if not 1 <= part.part <= part.total <= 255:
            raise Malformed(f"part {part.part} of {part.total} is not a part of a text")
        return Parsed(parts=[part])

    def join(self, parts: Sequence[TextPart]) -> Parsed:
        """One text from its parts in order (all of them, or those that came in time)."""
        ordered = sorted(parts, key=lambda p: p.part)
        first = ordered[0].fields
        whole = {**first, "text": "".join(p.text for p in ordered)}
        context = {"parts": f"{len(ordered)} of {ordered[0].total}"}
        return collect([self._sms(whole, None, context)], self.read_text, label="message")

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """The one text of an SMS API delivery or of a Messages API inbound message."""
        if delivery.document is not None:
            return [self._sms(delivery.document, delivery.received_at)]
        try:
            message: Any = json.loads(delivery.body)
        except (ValueError, RecursionError):
            raise Malformed("the body is not JSON") from None
        if not isinstance(message, dict) or message.get("channel", "sms") != "sms":
            return []  # WhatsApp, Viber...: not texts this bridge reads
        if not message.get("message_uuid") or not message.get("from"):
            raise Malformed("an inbound message needs message_uuid and from")
        return [
            InboundText(
                sender=str(message["from"]),
                text=str(message.get("text") or ""),
                event_id=str(message["message_uuid"]),
                occurred_at=sent_at(message.get("timestamp"), delivery.received_at),
                receivers=(str(message["to"]),) if message.get("to") else (),
            )
        ]

    def _sms(
        self,
        params: Mapping[str, str],
        received_at: datetime | None,
        context: Mapping[str, str] | None = None,
    ) -> InboundText:
        if not params.get("messageId") or not params.get("msisdn"):
            raise Malformed("an inbound SMS needs messageId and msisdn")
        fallback = received_at or self.clock.now()
        return InboundText(
            sender=params["msisdn"],
            text=params.get("text", ""),
            event_id=params["messageId"],
            occurred_at=_sms_time(params.get("message-timestamp"), fallback),
            receivers=(params["to"],) if params.get("to") else (),
            context=context or {},
        )
