"""`standard`: our own small JSON body, signed with any Standard Webhooks library.

For users' own systems (a CRM, a checkout, a partner's form) that want to say "this person
subscribed to these types" without a form tool in between. The body (docs/providers/standard.md):

    {"email": "ada@example.com", "phone": "+353871234567", "external_id": "u-42",
     "name": "Ada Lovelace", "subscribe": ["93"], "unsubscribe": ["95"] or "email",
     "occurred_at": "2026-11-28T10:00:00Z", "consent_text": "Yes, send me the newsletter"}

At least one of `email`, `phone`, `external_id`; at least one of `subscribe`, `unsubscribe`
(a list of type ids, or a channel: "email", "sms"). The `webhook-id` header is the same on
every retry: each request's event id is it and its direction, so retries apply once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from bridge.clock import Clock
from bridge.consent import (
    Channel,
    ConsentRequest,
    Identity,
    NewContact,
    Scope,
    Wanted,
    consent_text_sha256,
)
from bridge.forms.settings import MAX_CONSENT_TEXT, FormAction, Table, read_create
from bridge.forms.submission import InvalidField, clean_name
from bridge.identities import InvalidIdentity, check_email, check_id, check_phone
from bridge.settings import SettingsError

from .base import Delivery, Malformed, Parsed, Provider, ProviderSettings, from_iso
from .form_tool import check_confirm
from .standard_webhooks import secret_key, verify_standard_webhook

_KEYS = ("secret", "create", "confirm", "max_body_bytes")
_BODY = (
    "email",
    "phone",
    "external_id",
    "name",
    "subscribe",
    "unsubscribe",
    "occurred_at",
    "consent_text",
)
_CHECKS = {"email": check_email, "phone": check_phone, "external_id": check_id}
MAX_TYPES = 100


def _identity(body: Mapping[str, Any]) -> Identity:
    found = {}
    for key, check in _CHECKS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Malformed(f"{key} must be a string")
        try:
            found[key] = check(value)
        except InvalidIdentity as exc:
            raise Malformed(f"{key} {exc}") from None
    if not found:
        raise Malformed("name the person: email, phone or external_id")
    return Identity(**found)


def _scope(key: str, value: object) -> Scope | None:
    if value is None or value == []:
        return None
    if isinstance(value, str):
        try:
            return Scope(channel=Channel(value))
        except ValueError:
            raise Malformed(f'{key} must be a list of type ids, "email" or "sms"') from None
    if (
        not isinstance(value, list)
        or len(value) > MAX_TYPES
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
    ):
        raise Malformed(f"{key} must be a list of at most {MAX_TYPES} type ids")
    ids = [str(v).strip() for v in value]
    if not all(ids) or any(any(c.isspace() for c in i) for i in ids):
        raise Malformed(f"{key} holds an empty or spaced type id")
    return Scope(type_ids=tuple(dict.fromkeys(ids)))


def _text(body: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Malformed(f"{key} must be a string of at most {limit} characters")
    return value


class Standard(Provider):
    """`[providers.standard]`: `secret` (`whsec_...`); `create` (default true), `confirm`."""

    name: ClassVar[str] = "standard"
    required = ("secret",)
    list_types: ClassVar[bool] = False
    max_body_bytes: ClassVar[int] = 64 * 1024  # one person's choice: a few hundred bytes

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        table = Table(self.name, settings.values, section="providers")
        unknown = sorted(set(settings.values) - set(_KEYS))
        if unknown:
            raise table.error(unknown[0], f"unknown setting (known: {', '.join(_KEYS)})")
        check_confirm(table)
        self.create = read_create(table, FormAction.SUBSCRIBE)
        self._secret = settings.secret("secret")
        try:
            secret_key(self._secret)
        except ValueError as exc:
            raise SettingsError(f"BRIDGE_CONFIG.providers.standard.secret: {exc}") from None

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """HMAC-SHA256 over id.timestamp.body, within 5 minutes of when it arrived."""
        headers = delivery.headers
        verify_standard_webhook(
            self._secret,
            headers.get("webhook-id"),
            headers.get("webhook-timestamp"),
            headers.get("webhook-signature"),
            delivery.body,
            now=delivery.received_at,
        )

    def parse(self, delivery: Delivery) -> Parsed:
        """One request per direction the body asks for; Malformed where it breaks the format."""
        try:
            body = json.loads(delivery.body)
        except (ValueError, RecursionError):
            raise Malformed("the body is not JSON") from None
        if not isinstance(body, dict):
            raise Malformed("the body is not a JSON object")
        unknown = sorted(set(body) - set(_BODY))
        if unknown:
            raise Malformed(f"unknown field {unknown[0][:40]!r} (known: {', '.join(_BODY)})")
        identity = _identity(body)
        message_id = delivery.headers.get("webhook-id", "")
        occurred_at = self._when(body, delivery.received_at)
        name = _text(body, "name", 1_000)
        try:
            name = clean_name("name", name) if name else None
        except InvalidField as exc:
            raise Malformed(str(exc)) from None
        consent_text = _text(body, "consent_text", MAX_CONSENT_TEXT)
        context: dict[str, Any] = {"via": self.name}
        if consent_text is not None:
            context["consent_text"] = consent_text
            context["consent_text_sha256"] = consent_text_sha256(consent_text)
        # A lead is made from an email or phone; an external id alone names no one Intercom
        # could create.
        can_create = self.create and bool(identity.email or identity.phone)
        parsed = Parsed()
        for key, wanted in (("subscribe", Wanted.SUBSCRIBED), ("unsubscribe", Wanted.UNSUBSCRIBED)):
            scope = _scope(key, body.get(key))
            if scope is None:
                continue
            subscribe = wanted is Wanted.SUBSCRIBED
            parsed.requests.append(
                ConsentRequest(
                    identity=identity,
                    wanted=wanted,
                    scope=scope,
                    occurred_at=occurred_at,
                    source=self.name,
                    event_id=f"{message_id}:{key}",
                    context={**context, "action": key},
                    create=NewContact(name=name) if subscribe and can_create else None,
                )
            )
        if not parsed.requests:
            raise Malformed("nothing asked: give subscribe or unsubscribe")
        return parsed

    @staticmethod
    def _when(body: Mapping[str, Any], received_at: datetime) -> datetime:
        """`occurred_at` when given (ISO 8601), else when the delivery arrived."""
        if body.get("occurred_at") is None:
            return received_at
        try:
            return from_iso(body["occurred_at"])
        except ValueError:
            raise Malformed("occurred_at must be an ISO 8601 time") from None
