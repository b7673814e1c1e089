"""Twilio Programmable Messaging: inbound texts (form POSTs) and Event Streams (JSON), TwiML back.

An inbound text arrives as a form POST to the number's (or Messaging Service's) incoming
message URL: `From`, `To`, `Body`, `MessageSid` (the dedupe key: Twilio's retries repeat it),
`MessagingServiceSid`, and `OptOutType` (STOP, START or HELP) when the service has Advanced
Opt-Out on. Event Streams sinks post a JSON array of CloudEvents whose
`com.twilio.messaging.inbound-message.received` data carries the same, with `optOutType`.

The signature, `X-Twilio-Signature`, is an HMAC-SHA1 of the URL Twilio called and the sorted
form fields (JSON: the URL with a `bodySHA256` of the body), keyed with the account's auth
token. It has no timestamp; `MessageSid` makes a replay a duplicate, never a second change.
The URL is the one configured in Twilio (`url`, default `BRIDGE_PUBLIC_URL` + the path),
never the Host header. Twilio waits 15 s for the answer: TwiML, empty or with the `reply`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import httpx

from bridge.consent import ConsentRequest
from bridge.sms.keywords import Meaning

from .base import Answer, Delivery, Malformed, Rejected
from .sms import InboundText, SmsProvider, sent_at
from .twilio_signature import check_twilio, check_twilio_json

SIGNATURE = "X-Twilio-Signature"
INBOUND_EVENT = "com.twilio.messaging.inbound-message.received"
_OPT_OUT_TYPES = {"STOP": Meaning.STOP, "START": Meaning.START, "HELP": Meaning.HELP}


def twiml(reply: str | None) -> str:
    """A TwiML answer: nothing to send back, or one message."""
    inner = f"<Message>{escape(reply)}</Message>" if reply else ""
    body = f"<Response>{inner}</Response>" if inner else "<Response/>"
    return f'<?xml version="1.0" encoding="UTF-8"?>{body}'


def _is_json(delivery: Delivery) -> bool:
    return delivery.headers.get("content-type", "").split(";")[0].strip() == "application/json"


class Twilio(SmsProvider):
    """`[providers.twilio]`: `auth_token`; `url` if Twilio calls another URL than ours."""

    name: ClassVar[str] = "twilio"
    required = ("auth_token",)
    replies = True
    rejected_status = 403  # Twilio logs it (error 11200) and does not retry a refusal

    def read(self, delivery: Delivery) -> Delivery:
        """Form fields parsed, as the signature covers them rather than the raw bytes."""
        if _is_json(delivery):
            return delivery
        try:
            fields = parse_qsl(delivery.body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise Rejected("the form is not UTF-8, so it cannot be Twilio's") from None
        return replace(delivery, document=fields)

    def _url(self, delivery: Delivery) -> str:
        return self.settings.optional("url") or delivery.url

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The HMAC of the configured URL and the fields (or the body's hash), in constant time."""
        token = self.settings.secret("auth_token")
        signature = delivery.headers.get(SIGNATURE)
        if _is_json(delivery):
            check_twilio_json(token, self._url(delivery), delivery.body, signature)
        else:
            check_twilio(token, self._url(delivery), delivery.document or [], signature)

    def texts(self, delivery: Delivery) -> list[InboundText]:
        """One text from a form POST; every inbound message of an Event Streams batch."""
        if _is_json(delivery):
            return self._events(delivery)
        fields = dict(delivery.document or [])
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid")
        if not sid or not fields.get("From"):
            raise Malformed("an inbound message needs MessageSid and From")
        return [
            InboundText(
                sender=fields["From"],
                text=fields.get("Body", ""),
                event_id=sid,
                occurred_at=delivery.received_at,  # Twilio sends no time with a text
                receivers=_present(fields.get("To"), fields.get("MessagingServiceSid")),
                provider_meaning=_OPT_OUT_TYPES.get(fields.get("OptOutType", "").upper()),
            )
        ]

    def _events(self, delivery: Delivery) -> list[InboundText]:
        try:
            events = json.loads(delivery.body)
        except (ValueError, RecursionError):
            raise Malformed("the body is not JSON") from None
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list):
            raise Malformed("the body is not a list of events")
        found = []
        for event in events:
            if not isinstance(event, dict) or event.get("type") != INBOUND_EVENT:
                continue  # delivery receipts and other event types say nothing about consent
            data: Any = event.get("data")
            if not isinstance(data, dict) or not data.get("messageSid") or not data.get("from"):
                raise Malformed("an inbound-message event needs data.messageSid and data.from")
            found.append(
                InboundText(
                    sender=str(data["from"]),
                    text=str(data.get("body") or ""),
                    event_id=str(data["messageSid"]),
                    occurred_at=sent_at(data.get("timestamp"), delivery.received_at),
                    receivers=_present(data.get("to"), data.get("messagingServiceSid")),
                    provider_meaning=_OPT_OUT_TYPES.get(str(data.get("optOutType", "")).upper()),
                )
            )
        return found

    def answer(self, new: Sequence[ConsentRequest]) -> Answer:
        """TwiML: empty, or the confirmation for this delivery's first new STOP or START."""
        reply = self.reply_for(new)
        return Answer(200, twiml(reply[1] if reply else None), "application/xml")


def _present(*values: object) -> tuple[str, ...]:
    return tuple(str(v) for v in values if v)
