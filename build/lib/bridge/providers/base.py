"""What every provider module shares: a delivery as received, its settings, and the result.

A delivery goes through four steps, each refusing what it can as early as it can:

1. `check_headers`: credentials that travel in headers alone (Basic, bearer tokens) are
   checked before the body is even read, so an unauthenticated caller never gets a body parsed.
2. `read`: where the signature covers parsed fields rather than raw bytes (Mailgun's JSON
   signature block, SNS's JSON fields, Mandrill's form fields), the body is parsed once here.
   The endpoint runs it off the event loop when the body is large.
3. `verify`: the signature, on the raw bytes or on what `read` parsed, in constant time.
4. `parse`: the verified delivery into consent requests (off the event loop when large).

Each provider has a body limit that fits its real payloads (`max_body_bytes`). All steps are
pure where the scheme allows; only Amazon SNS needs the network (its signing certificate and
the subscription handshake), and it gets an HTTP client for that.
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

from bridge.clock import Clock, SystemClock
from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.settings import SettingsError

T = TypeVar("T")
# Shorter than this, a shared secret can be guessed or is a placeholder left in by mistake.
MIN_SECRET_LENGTH = 16


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
    received_at: datetime  # by the service's clock: the "now" of freshness windows
    # The body as `Provider.read` parsed it, for providers that sign parsed fields.
    document: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SignatureUse:
    """A signature that does not cover the whole payload, and the payload it arrived with.

    The ledger binds the signature to the first payload seen with it until `expires_at`, so a
    captured signature cannot carry any other payload while it would still verify.
    """

    signature: str  # a digest naming the signature (never the secret material itself)
    payload_sha256: str
    expires_at: datetime


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

    def credential(self, key: str) -> str:
        """A required secret, refused when too short to be one (a placeholder, a typo)."""
        value = self.secret(key)
        if len(value) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"BRIDGE_CONFIG.providers.{self.name}.{key}: too short to be secret "
                f"({len(value)} characters; use at least {MIN_SECRET_LENGTH}, e.g. "
                'python3 -c "import secrets; print(secrets.token_urlsafe(24))")'
            )
        return value

    def optional(self, key: str) -> str | None:
        """An optional text setting."""
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise SettingsError(f"BRIDGE_CONFIG.providers.{self.name}.{key}: must be text")
        return value

    def wanted_for_complaint(self) -> Wanted | None:
        """What a spam complaint asks for under the `complaints` policy (None: nothing)."""
        return Wanted.UNSUBSCRIBED if self.complaints is Policy.UNSUBSCRIBE else None

    def wanted_for_bounce(self) -> Wanted | None:
        """What a hard bounce asks for under the `bounces` policy (None: nothing)."""
        return Wanted.UNSUBSCRIBED if self.bounces is Policy.UNSUBSCRIBE else None

    def scope(self, list_id: object | None, channel: Channel) -> Scope:
        """The Intercom types a provider list or group maps to; all of `channel` otherwise."""
        if list_id is not None:
            mapped = self.types.get(str(list_id))
            if mapped:
                return Scope(type_ids=mapped)
        return Scope(channel=channel)


@dataclass(frozen=True)
class TextPart:
    """One part of a text the provider split in several deliveries (Vonage's concatenation).

    Kept in the ledger until every part is in (or they have waited long enough), then joined
    by `Provider.join` and read as one message: a STOP split across parts still counts.
    """

    group: str  # the provider's id for the whole message, with the sender: parts share it
    part: int  # 1-based
    total: int
    text: str
    fields: dict[str, Any]  # what `join` needs to build the request (JSON-able)


@dataclass
class Parsed:
    """What a delivery asks for: consent requests, and how much of it was set aside."""

    requests: list[ConsentRequest] = field(default_factory=list)
    ignored: int = 0  # events that say nothing about consent (opens, clicks, deliveries)
    invalid: list[str] = field(default_factory=list)  # events skipped, and why
    confirm_url: str | None = None  # a subscription handshake to complete (Amazon SNS)
    parts: list[TextPart] = field(default_factory=list)  # to keep until their text is whole


@dataclass(frozen=True)
class Answer:
    """A provider's own answer to a delivery it accepted (TwiML, Plivo's XML, a bare 204)."""

    status: int
    body: str = ""
    media_type: str = "text/plain"


class Provider:
    """One provider's webhook: verify, then parse. Subclasses set `name` and the rest."""

    name: ClassVar[str]
    # What the provider's events reach people by: an event with no mapped list covers it all.
    channel: ClassVar[Channel] = Channel.EMAIL
    # The answers to a refused and to an unreadable delivery; a provider sets its own where its
    # retry rules need others (Mailgun stops retrying only on a 406).
    rejected_status: ClassVar[int] = 401
    malformed_status: ClassVar[int] = 400
    # Secrets the provider needs (checked at start-up, at least `MIN_SECRET_LENGTH` long),
    # beyond the common settings.
    required: ClassVar[Sequence[str]] = ()
    accepts_head: ClassVar[bool] = False  # answer HEAD with 200 (Mandrill checks the URL so)
    # Deliveries may come as signed GETs (Vonage's SMS API can be set to deliver so); for every
    # other provider a GET is refused, as a link fetched by a mail scanner must change nothing.
    accepts_get: ClassVar[bool] = False
    splits_texts: ClassVar[bool] = False  # delivers long texts in parts (see `join`)
    # The largest body the provider's real deliveries come to, with margin; more is refused
    # with 413 before it is read. `max_body_bytes` in its table overrides it.
    max_body_bytes: ClassVar[int] = 256 * 1024
    # The field naming an event's kind, and the kinds that can change consent (see `_read`).
    event_field: ClassVar[str] = "event"
    consent_events: ClassVar[frozenset[str]] = frozenset()
    # `types` maps the provider's lists to type ids; form tools take a plain list of type ids
    # and read their whole table themselves.
    list_types: ClassVar[bool] = True

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()  # the process's one clock, from Services
        for key in self.required:
            settings.credential(key)

    def body_limit(self, default: int | None) -> int:
        """This provider's body limit: its table's, else `default` (the operator's), else ours."""
        configured = self.settings.values.get("max_body_bytes")
        if configured is not None:
            return int(configured)
        return self.max_body_bytes if default is None else default

    def check_headers(self, headers: Headers) -> None:
        """Raise Rejected when the headers alone show the delivery is not from the provider.

        Runs before the body is read; providers whose credentials are all in the headers
        check them here, and their `verify` repeats it for callers that use it alone.
        """

    def read(self, delivery: Delivery) -> Delivery:
        """The delivery with its body parsed where verification needs it (default: as is)."""
        return delivery

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """Raise Rejected unless the delivery comes from the provider."""
        raise NotImplementedError

    def signature_use(self, delivery: Delivery) -> SignatureUse | None:
        """For a signature that does not cover the payload: what to bind it to (default none)."""
        return None

    def parse(self, delivery: Delivery) -> Parsed:
        """The consent requests in a verified delivery; Malformed if it can't be read at all."""
        raise NotImplementedError

    def join(self, parts: Sequence[TextPart]) -> Parsed:
        """The request a split text makes once its parts are together (or waited long enough)."""
        raise NotImplementedError(f"{self.name} does not split texts")

    def answer(self, new: Sequence[ConsentRequest]) -> Answer | None:
        """The provider's own answer to an accepted delivery (None: the plain-text summary).

        `new` are the requests this delivery recorded for the first time (a retry's are not).
        """
        return None

    # A delivery that is a batch of events is parsed by `collect(events, self._read)`; the
    # provider says, in the three steps `_read` takes, which events are about consent (by
    # default those whose `event_field` names one of its `consent_events`), what each asks
    # for, and the request it becomes.

    def _read(self, event: object) -> ConsentRequest | None:
        """One event as a request; None where it is not about consent or its policy ignores it."""
        found = self._consent_event(event)
        if found is None:
            return None
        kind, fields = found
        wanted = self._wanted(kind, fields)
        return None if wanted is None else self._request(kind, fields, wanted)

    def _consent_event(self, event: object) -> tuple[str, dict[str, Any]] | None:
        """(its kind, the event) when an event is one that can change consent."""
        return consent_event(event, self.event_field, self.consent_events)

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        """What a consent event asks for; None where a policy says to ignore it."""
        raise NotImplementedError

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        """The request a consent event makes; ValueError (set aside) if it lacks what that needs."""
        raise NotImplementedError

    def request(
        self,
        identity: Identity,
        wanted: Wanted,
        *,
        occurred_at: datetime,
        event_id: str,
        event: str,
        list_id: object | None = None,
        **context: Any,
    ) -> ConsentRequest:
        """A consent request from this provider about one person, on its channel or a list."""
        return ConsentRequest(
            identity=identity,
            wanted=wanted,
            scope=self.settings.scope(list_id, self.channel),
            occurred_at=occurred_at,
            source=self.name,
            event_id=event_id,
            context={
                "event": event,
                **({"list": str(list_id)} if list_id is not None else {}),
                **context,
            },
        )


def email_identity(address: object, event: str) -> Identity:
    """The person an event names by email address; ValueError (the event set aside) if it can't."""
    if not isinstance(address, str) or "@" not in address:
        raise ValueError(f"{event} event without a usable email address")
    return Identity(email=address)


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
