"""SparkPost: unsigned JSON batches, authenticated by Basic credentials or a token.

SparkPost signs nothing. A webhook's `auth_type` is `basic` (username and password in
`Authorization: Basic`), `oauth2` (SparkPost fetches a token from your token URL and sends
`Authorization: Bearer <token>`), or, for webhooks made before it was deprecated, an
`auth_token` sent as `X-MessageSystems-Webhook-Token`. The bridge needs one of them set up.

The body is a JSON array of `{"msys": {"<group>_event": {...}}}`. When a webhook is created
or its target changed, SparkPost posts `[{"msys": {}}]` and refuses the webhook unless that
gets a 200: an empty `msys` is ignored and answered 200 like any batch. Each event carries a
unique `event_id`, the same on every retry, so `X-MessageSystems-Batch-ID` is not needed.
"""

from __future__ import annotations

import hmac
from typing import Any, ClassVar

import httpx
from starlette.datastructures import Headers

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
from .basic_auth import check_basic_auth, credentials

LEGACY_HEADER = "x-messagesystems-webhook-token"
_UNSUBSCRIBES = {"list_unsubscribe", "link_unsubscribe"}
_BOUNCES = {"bounce", "out_of_band"}
# The (group, type) pairs that can change consent; opens, clicks, deliveries are ignored.
_CONSENT_EVENTS = {
    *(("unsubscribe_event", kind) for kind in _UNSUBSCRIBES),
    *(("message_event", kind) for kind in {"spam_complaint", *_BOUNCES}),
}
# SparkPost's Hard bounce classes: 10 Invalid Recipient, 30 Generic Bounce: No RCPT,
# 90 Unsubscribe (support.sparkpost.com/docs/deliverability/bounce-classification-codes).
HARD_BOUNCE_CLASSES = {10, 30, 90}


class SparkPost(Provider):
    """`[providers.sparkpost]`: `username` and `password` (Basic), or `token` (OAuth 2.0)."""

    name: ClassVar[str] = "sparkpost"
    max_body_bytes = 5 * 1024 * 1024  # batches of events; credentials are checked first

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self._basic: tuple[str, str] | None = None
        self._token = settings.credential("token") if "token" in settings.values else None
        if "username" in settings.values or "password" in settings.values:
            # Both: a password left out by mistake would let in anyone who knows the user.
            self._basic = credentials(settings)
        elif self._token is None:
            raise SettingsError(
                "BRIDGE_CONFIG.providers.sparkpost: set username and password (the webhook's "
                "Basic Auth) or token (its OAuth 2.0 or deprecated X-MessageSystems token); "
                "SparkPost signs nothing, so an unauthenticated webhook is not accepted"
            )

    def check_headers(self, headers: Headers) -> None:
        """Basic credentials, a bearer token, or the X-MessageSystems token, before the body."""
        scheme, _, rest = headers.get("authorization", "").strip().partition(" ")
        if self._basic is not None and (scheme.lower() == "basic" or self._token is None):
            check_basic_auth(headers, *self._basic)
            return
        if self._token is None:
            raise Rejected("missing Authorization: Basic credentials")
        bearer = rest.strip() if scheme.lower() == "bearer" else ""
        given = headers.get(LEGACY_HEADER) or bearer
        if not given:
            raise Rejected("missing Authorization: Bearer or X-MessageSystems-Webhook-Token")
        if not hmac.compare_digest(self._token.encode(), given.encode("latin-1")):
            raise Rejected("the token does not match")

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The credentials in the headers (all there is to check)."""
        self.check_headers(delivery.headers)

    def parse(self, delivery: Delivery) -> Parsed:
        """Consent events of the batch; the rest (and SparkPost's empty test event) are ignored."""
        return collect(json_events(delivery.body), self._read)

    def _consent_event(self, item: object) -> tuple[str, dict[str, Any]] | None:
        msys = item.get("msys") if isinstance(item, dict) else None
        # One group per event; `{"msys": {}}` is SparkPost's test event.
        if not isinstance(msys, dict) or not msys:
            return None
        group, event = next(iter(msys.items()))
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(event, dict) or not isinstance(kind, str):
            return None
        return (kind, event) if (group, kind) in _CONSENT_EVENTS else None

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind in _UNSUBSCRIBES:
            return Wanted.UNSUBSCRIBED
        if kind == "spam_complaint":
            return self.settings.wanted_for_complaint()
        # A bounce: only a hard one says the address is gone; bounce_class comes as text.
        hard = str(event.get("bounce_class")) in {str(c) for c in HARD_BOUNCE_CLASSES}
        return self.settings.wanted_for_bounce() if hard else None

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        event_id = event.get("event_id")
        if not isinstance(event_id, str | int) or isinstance(event_id, bool) or not event_id:
            raise ValueError("no event_id")
        occurred_at = from_timestamp(event.get("timestamp"))
        return self.request(
            email_identity(event.get("rcpt_to"), kind),
            wanted,
            occurred_at=occurred_at,
            event_id=str(event_id),
            event=kind,
            list_id=event.get("campaign_id") or None,
        )
