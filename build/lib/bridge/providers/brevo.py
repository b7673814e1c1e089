"""Brevo (Sendinblue): unsigned JSON events, authenticated by a bearer token Brevo sends.

Brevo signs nothing; a webhook created with `auth: {type: bearer, token}` sends
`Authorization: Bearer <token>`, compared here in constant time. The body is one event, or
an array of them when the webhook is `batched`. Brevo has no event id (`id` is the webhook's),
so the id is built from the message (`message-id`, or the campaign for marketing events),
the address, the event and its time. Event names can come in camelCase or snake_case
(`hardBounce`, `hard_bounce`); they are compared without case or underscores.

Brevo drops an event for good on any 4xx but 429 (developers.brevo.com/docs/retry-mechanism):
a wrong token (401) or an unreadable body (400) is lost, not retried.
"""

from __future__ import annotations

import hmac
from typing import Any, ClassVar

import httpx
from starlette.datastructures import Headers

from bridge.consent import ConsentRequest, Wanted

from .base import (
    Delivery,
    Parsed,
    Provider,
    Rejected,
    collect,
    email_identity,
    from_timestamp,
    json_events,
)

# Email events that change consent, normalised; delivered, opened, click, softBounce,
# blocked, listAddition and the SMS events (keyed by phone number) are ignored.
_CONSENT_EVENTS = {"unsubscribed", "spam", "hardbounce"}


def _normalised(kind: object) -> str | None:
    """`hardBounce`, `hard_bounce` and `HARD-BOUNCE` all as `hardbounce`."""
    if not isinstance(kind, str):
        return None
    return kind.replace("_", "").replace("-", "").lower()


class Brevo(Provider):
    """`[providers.brevo]`: `token` (the bearer token given when creating the webhook)."""

    name: ClassVar[str] = "brevo"
    required = ("token",)
    max_body_bytes = 2 * 1024 * 1024  # batched webhooks send arrays; the token is checked first

    def check_headers(self, headers: Headers) -> None:
        """The Authorization header must be `Bearer <token>`; checked before the body is read."""
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Rejected("missing Authorization: Bearer <token>")
        expected = self.settings.secret("token").encode()
        if not hmac.compare_digest(expected, token.strip().encode("latin-1")):
            raise Rejected("the bearer token does not match")

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The bearer token (all there is to check)."""
        self.check_headers(delivery.headers)

    def parse(self, delivery: Delivery) -> Parsed:
        """Consent events of the delivery (one object, or an array when batched)."""
        return collect(json_events(delivery.body, one=True), self._read)

    def _consent_event(self, event: object) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(event, dict):
            return None
        kind = _normalised(event.get("event"))
        return (kind, event) if kind in _CONSENT_EVENTS else None

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind == "unsubscribed":
            return Wanted.UNSUBSCRIBED
        if kind == "spam":
            return self.settings.wanted_for_complaint()
        return self.settings.wanted_for_bounce()

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        email = event.get("email")
        # When it happened: ts_event (seconds), else ts_epoch (milliseconds), else ts.
        if event.get("ts_event") is not None:
            stamp = event["ts_event"]
            occurred_at = from_timestamp(stamp)
        elif event.get("ts_epoch") is not None:
            stamp = event["ts_epoch"]
            occurred_at = from_timestamp(float(stamp) / 1000)
        else:
            stamp = event.get("ts")
            occurred_at = from_timestamp(stamp)
        # Transactional events name their message; marketing ones only their campaign.
        message = event.get("message-id")
        if not message and event.get("camp_id") is not None:
            message = f"campaign-{event['camp_id']}"
        if not message:
            raise ValueError("neither message-id nor camp_id")
        name = str(event.get("event"))
        return self.request(
            email_identity(email, name),
            wanted,
            occurred_at=occurred_at,
            # One message can go to several addresses, so the address is part of the id.
            event_id=f"{message}|{str(email).lower()}|{kind}|{stamp}",
            event=name,
            list_id=self._list(event.get("list_id")),
        )

    def _list(self, value: object) -> object | None:
        """The event's list (`list_id`, a field name Brevo's docs don't show for these events).

        A single id is used as it is; from an array, the first that `types` maps.
        """
        ids = value if isinstance(value, list) else [value]
        usable = [v for v in ids if isinstance(v, str | int) and not isinstance(v, bool)]
        if not isinstance(value, list):
            return usable[0] if usable else None
        mapped = [v for v in usable if str(v) in self.settings.types]
        return mapped[0] if mapped else None
