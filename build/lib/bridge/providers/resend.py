"""Resend: one event per delivery, signed by Svix with the Standard Webhooks `v1` scheme.

Headers `svix-id`, `svix-timestamp`, `svix-signature` (the standard `webhook-*` names are
accepted too); the check is `standard_webhooks.verify_standard_webhook`, with its 5-minute
window both ways, as Resend's own SDKs apply (300 s). The timestamp is when the attempt was
sent (docs.svix.com; the spec's `webhook-timestamp`), and each retry (5 s to 10 h apart) is
signed afresh, so the window refuses replays, not retries. `svix-id` is the same on every
attempt of a message: it is the event id (with the recipient's index when there are several).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx
from starlette.datastructures import Headers

from bridge.clock import Clock
from bridge.consent import Wanted
from bridge.settings import SettingsError

from .base import (
    Delivery,
    Malformed,
    Parsed,
    Provider,
    ProviderSettings,
    email_identity,
    from_iso,
)
from .standard_webhooks import secret_key, verify_standard_webhook

# Events that can change consent; the rest (sent, delivered, opened, domain.*...) are ignored.
# `email.suppressed` is ignored too: a send skipped because of a suppression that was itself
# reported (suppression.added) when it happened.
_CONSENT_EVENTS = {"email.complained", "email.bounced", "contact.updated", "suppression.added"}


def _header(headers: Headers, name: str) -> str | None:
    """A Svix header, or its Standard Webhooks twin (`svix-id` or `webhook-id`)."""
    return headers.get(f"svix-{name}") or headers.get(f"webhook-{name}")


class Resend(Provider):
    """`[providers.resend]`: `secret` (the endpoint's `whsec_...` signing secret)."""

    name: ClassVar[str] = "resend"
    required = ("secret",)

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        try:
            secret_key(settings.secret("secret"))
        except ValueError as exc:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.resend.secret: {exc} "
                "(copy the Signing Secret from the webhook's page in Resend)"
            ) from None
        self._secret = settings.secret("secret")

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """HMAC-SHA256 over id.timestamp.body, within 5 minutes of when it arrived."""
        verify_standard_webhook(
            self._secret,
            _header(delivery.headers, "id"),
            _header(delivery.headers, "timestamp"),
            _header(delivery.headers, "signature"),
            delivery.body,
            now=delivery.received_at,
        )

    def parse(self, delivery: Delivery) -> Parsed:
        """The event's requests, one per recipient; other events are counted as ignored."""
        try:
            event = json.loads(delivery.body)
        except (ValueError, RecursionError):
            raise Malformed("the body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise Malformed("the body is not a Resend event (an object with type and data)")
        kind = event.get("type")
        parsed = Parsed()
        if not isinstance(kind, str) or kind not in _CONSENT_EVENTS:
            parsed.ignored += 1
            return parsed
        message_id = _header(delivery.headers, "id")
        data: dict[str, Any] = event["data"]
        try:
            if not message_id:
                raise ValueError("no svix-id header")
            wanted, emails, list_id = self._what(kind, data)
            if wanted is None:
                parsed.ignored += 1
                return parsed
            occurred_at = self._when(kind, event, data)
        except (ValueError, TypeError) as exc:
            parsed.invalid.append(f"{kind}: {exc}")
            return parsed
        for index, email in enumerate(emails):
            # One event can name several recipients: each gets its own id.
            event_id = f"{message_id}:{index}" if len(emails) > 1 else message_id
            try:
                parsed.requests.append(
                    self.request(
                        email_identity(email, kind),
                        wanted,
                        occurred_at=occurred_at,
                        event_id=event_id,
                        event=kind,
                        list_id=list_id,
                    )
                )
            except ValueError as exc:
                parsed.invalid.append(f"{kind}, recipient {index}: {exc}")
        return parsed

    def _what(
        self, kind: str, data: Mapping[str, Any]
    ) -> tuple[Wanted | None, list[object], object | None]:
        """What the event asks for, of which addresses, for which audience."""
        if kind == "contact.updated":
            unsubscribed = data.get("unsubscribed")
            if not isinstance(unsubscribed, bool):
                raise ValueError("no unsubscribed flag")
            audience = data.get("audience_id")
            if not unsubscribed and self.settings.types.get(str(audience)) is None:
                # Resend sends contact.updated for any change (a name, say) with the current
                # flag: resubscribing from it to every email type, opt-in ones included, would
                # subscribe people who never asked. Only a mapped audience resubscribes.
                return None, [], None
            wanted = Wanted.UNSUBSCRIBED if unsubscribed else Wanted.SUBSCRIBED
            return wanted, [data.get("email")], audience
        if kind == "suppression.added":
            origin = data.get("origin")
            if origin == "complaint":
                return self.settings.wanted_for_complaint(), [data.get("email")], None
            if origin == "bounce":
                return self.settings.wanted_for_bounce(), [data.get("email")], None
            return None, [data.get("email")], None
        recipients = data.get("to")
        if not isinstance(recipients, list) or not recipients:
            raise ValueError("no recipients in data.to")
        if kind == "email.complained":
            return self.settings.wanted_for_complaint(), recipients, None
        # email.bounced: only a Permanent bounce says the address is gone.
        bounce = data.get("bounce")
        hard = isinstance(bounce, dict) and str(bounce.get("type", "")).lower() == "permanent"
        return (self.settings.wanted_for_bounce() if hard else None), recipients, None

    @staticmethod
    def _when(kind: str, event: Mapping[str, Any], data: Mapping[str, Any]) -> datetime:
        """When it happened: a contact's update time; otherwise when Resend created the event.

        An email event's `data.created_at` is when the email was created, not when the
        complaint or bounce came, so it is only the fallback.
        """
        if kind == "contact.updated":
            return from_iso(data.get("updated_at"))
        return from_iso(event.get("created_at") or data.get("created_at"))
