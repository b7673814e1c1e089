"""What every provider module shares: a delivery as received, its settings, and the result.

A provider verifies a delivery on its raw bytes (or, where the provider signs parsed form
fields or JSON fields, on exactly those), then parses it into consent requests. Both are pure
where the scheme allows; only Amazon SNS needs the network (its signing certificate and the
subscription handshake), and it gets an HTTP client for that.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
from starlette.datastructures import Headers

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.settings import SettingsError

_EMAIL = Scope(channel=Channel.EMAIL)
T = TypeVar("T")


class Rejected(Exception):
    """The delivery is not from the provider: bad or missing signature or credentials."""


class Unreachable(Exception):
    """Verification needs something that can't be had right now (Amazon SNS's certificate).

    Answered 503, so the provider retries: a genuine delivery must not be lost to a network
    blip on our side.
    """


class Malformed(Exception):
    """The delivery is from the provider (it verified) but could not be read."""


class Policy(enum.StrEnum):
    """What a complaint or a bounce does to the person's subscriptions."""

    UNSUBSCRIBE = "unsubscribe"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Delivery:
    """One webhook request as it arrived: the public URL it was sent to, headers, raw body."""

    method: str
    url: str  # rebuilt from BRIDGE_PUBLIC_URL, never from the Host header
    headers: Headers
    body: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class ProviderSettings:
    """One `[providers.NAME]` table: the common settings, and the rest as given."""

    name: str
    types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    complaints: Policy = Policy.UNSUBSCRIBE
    bounces: Policy = Policy.IGNORE
    values: Mapping[str, Any] = field(default_factory=dict)

    def secret(self, key: str) -> str:
        """A required text setting (a secret or a URL); SettingsError naming it if missing."""
        value = self.values.get(key)
        if not isinstance(value, str) or not value:
            raise SettingsError(f"BRIDGE_CONFIG.providers.{self.name}.{key}: required")
        return value

    def optional(self, key: str) -> str | None:
        """An optional text setting."""
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise SettingsError(f"BRIDGE_CONFIG.providers.{self.name}.{key}: must be text")
        return value

    def scope(self, list_id: object | None) -> Scope:
        """The Intercom types a provider list or group maps to; the email channel otherwise."""
        if list_id is not None:
            mapped = self.types.get(str(list_id))
            if mapped:
                return Scope(type_ids=mapped)
        return _EMAIL


@dataclass
class Parsed:
    """What a delivery asks for: consent requests, and how much of it was set aside."""

    requests: list[ConsentRequest] = field(default_factory=list)
    ignored: int = 0  # events that say nothing about consent (opens, clicks, deliveries)
    invalid: list[str] = field(default_factory=list)  # events skipped, and why
    confirm_url: str | None = None  # a subscription handshake to complete (Amazon SNS)


class Provider:
    """One email provider's webhook: verify, then parse. Subclasses set `name` and the rest."""

    name: ClassVar[str]
    # Status codes where the provider's retry rules differ from DESIGN section 5.
    rejected_status: ClassVar[int] = 401
    malformed_status: ClassVar[int] = 400
    # Secret settings the provider needs (checked at start-up), beyond the common ones.
    required: ClassVar[Sequence[str]] = ()
    accepts_head: ClassVar[bool] = False  # answer HEAD with 200 (Mandrill checks the URL so)

    def __init__(self, settings: ProviderSettings, public_url: str) -> None:
        self.settings = settings
        self.public_url = public_url
        for key in self.required:
            settings.secret(key)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """Raise Rejected unless the delivery comes from the provider."""
        raise NotImplementedError

    def parse(self, delivery: Delivery) -> Parsed:
        """The consent requests in a verified delivery; Malformed if it can't be read at all."""
        raise NotImplementedError

    def request(
        self,
        email: object,
        wanted: Wanted,
        *,
        occurred_at: datetime,
        event_id: str,
        event: str,
        list_id: object | None = None,
        **context: Any,
    ) -> ConsentRequest:
        """A consent request from this provider about one email address."""
        if not isinstance(email, str) or "@" not in email:
            raise ValueError(f"{event} event without a usable email address")
        return ConsentRequest(
            identity=Identity(email=email),
            wanted=wanted,
            scope=self.settings.scope(list_id),
            occurred_at=occurred_at,
            source=self.name,
            event_id=event_id,
            context={
                "event": event,
                **({"list": str(list_id)} if list_id is not None else {}),
                **context,
            },
        )


def json_events(body: bytes | str, *, what: str = "the body", one: bool = False) -> list[Any]:
    """A JSON array of events (or, with `one`, a single event object too); else Malformed."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # deeply nested junk must not become a 500
        raise Malformed(f"{what} is not JSON") from None
    if one and isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise Malformed(f"{what} is not a JSON array of events")
    return data


def consent_event(
    event: object, field: str, known: Container[str]
) -> tuple[str, dict[str, Any]] | None:
    """(its type, the event) when `event[field]` names one of the `known` consent events."""
    if not isinstance(event, dict):
        return None
    kind = event.get(field)
    return (kind, event) if isinstance(kind, str) and kind in known else None


def collect(
    events: Iterable[T], read: Callable[[T], ConsentRequest | None], *, label: str = "event"
) -> Parsed:
    """Each event read into a request, or counted as ignored (None) or invalid (ValueError).

    One unusable event is set aside with its reason; the rest of the batch goes on.
    """
    parsed = Parsed()
    for position, event in enumerate(events):
        try:
            made = read(event)
        except (ValueError, TypeError, OverflowError) as exc:
            parsed.invalid.append(f"{label} {position}: {exc}")
            continue
        if made is None:
            parsed.ignored += 1
        else:
            parsed.requests.append(made)
    return parsed


def from_timestamp(value: object) -> datetime:
    """A Unix timestamp (seconds, int, float or digits) as an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a timestamp: {value!r}")
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError):
        raise ValueError(f"timestamp out of range: {str(value)[:40]}") from None


def from_iso(value: object) -> datetime:
    """An ISO 8601 time (with Z or an offset) as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
