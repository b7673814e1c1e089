"""Twilio SendGrid's Event Webhook: ECDSA P-256 signed JSON arrays of events.

The signature (base64 DER) covers the timestamp header followed by the raw body, checked with
the public key from SendGrid's settings (base64 DER SubjectPublicKeyInfo). No freshness window:
SendGrid retries a failed batch for up to 24 hours with the original signature and timestamp,
so a tolerance would refuse genuine retries; duplicates are caught by `sg_event_id` instead.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from bridge.clock import Clock
from bridge.consent import ConsentRequest, Wanted
from bridge.settings import SettingsError

from .base import (
    Delivery,
    Parsed,
    Provider,
    ProviderSettings,
    Rejected,
    collect,
    email_identity,
    from_timestamp,
    json_events,
)

SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
# Events that change consent; everything else (processed, delivered, open, click...) is ignored.
_UNSUBSCRIBES = {"unsubscribe", "group_unsubscribe"}
_CONSENT_EVENTS = frozenset({*_UNSUBSCRIBES, "group_resubscribe", "spamreport", "bounce"})


class SendGrid(Provider):
    """`[providers.sendgrid]`: `public_key` (base64 DER, from SendGrid's Mail Settings)."""

    name: ClassVar[str] = "sendgrid"
    consent_events = _CONSENT_EVENTS
    # "Events post every 30 seconds or when the batch size reaches 768 kilobytes": the batch
    # that crosses 768 KB is sent whole, so allow well past it.
    max_body_bytes = 2 * 1024 * 1024

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        encoded = settings.secret("public_key")  # a public key: required, but no secret
        try:
            key = load_der_public_key(base64.b64decode(encoded, validate=True))
        except (ValueError, binascii.Error):
            raise SettingsError(
                "BRIDGE_CONFIG.providers.sendgrid.public_key: not a base64 DER public key "
                "(copy the Verification Key from SendGrid's Signed Event Webhook settings)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise SettingsError("BRIDGE_CONFIG.providers.sendgrid.public_key: not a P-256 key")
        self._key = key

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """ECDSA over timestamp + raw body, as SendGrid signs it."""
        signature = delivery.headers.get(SIGNATURE)
        timestamp = delivery.headers.get(TIMESTAMP)
        if not signature or not timestamp:
            raise Rejected("missing X-Twilio-Email-Event-Webhook-Signature or -Timestamp")
        try:
            der = base64.b64decode(signature, validate=True)
            self._key.verify(der, timestamp.encode() + delivery.body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise Rejected("signature does not match") from None

    def parse(self, delivery: Delivery) -> Parsed:
        """Consent events of the batch; the rest are counted as ignored."""
        return collect(json_events(delivery.body), self._read)

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind in _UNSUBSCRIBES:
            return Wanted.UNSUBSCRIBED
        if kind == "group_resubscribe":
            return Wanted.SUBSCRIBED
        if kind == "spamreport":
            return self.settings.wanted_for_complaint()
        # A bounce: only a hard one ("bounce", not "blocked") says the address is gone.
        hard = event.get("type", "bounce") == "bounce"
        return self.settings.wanted_for_bounce() if hard else None

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        event_id = event.get("sg_event_id")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("no sg_event_id")
        # A global unsubscribe covers every email type; a group maps through `types`.
        group = event.get("asm_group_id") if kind != "unsubscribe" else None
        occurred_at = from_timestamp(event.get("timestamp"))
        return self.request(
            email_identity(event.get("email"), kind),
            wanted,
            occurred_at=occurred_at,
            event_id=event_id,
            event=kind,
            list_id=group,
        )
