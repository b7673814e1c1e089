"""Consent requests and the pure plan that turns one into Intercom calls.

Nothing here does I/O: the worker feeds in the workspace's subscription types and, when it
has read them, the contact's explicit preferences, and gets back the calls to make.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Wanted(enum.StrEnum):
    """What the person asked for."""

    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIBED = "subscribed"
    # "Send me my preference link" (a `manage` form): the worker emails the person their
    # link and changes no subscription; `plan` refuses it.
    LINK = "link"


class Channel(enum.StrEnum):
    """A scope naming every live type that can reach a person one way."""

    EMAIL = "email"
    SMS = "sms"

    @property
    def content_type(self) -> str:
        """The `content_types` value Intercom uses for this channel."""
        return "sms_message" if self is Channel.SMS else "email"


class ConsentType(enum.StrEnum):
    """A subscription type's default: opt_out types reach everyone until they opt out."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class Action(enum.StrEnum):
    """The two Intercom calls that change a contact's explicit preferences."""

    ATTACH = "attach"
    DETACH = "detach"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is about; the first known field in this order identifies them."""

    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None

    def __post_init__(self) -> None:
        if not (self.contact_id or self.email or self.phone or self.external_id):
            raise ValueError("an identity needs a contact id, email, phone or external id")
        if self.email is not None:
            object.__setattr__(self, "email", self.email.strip().lower())

    @property
    def key(self) -> str:
        """A stable string that orders this person's requests (e.g. `email:jane@example.com`)."""
        for name in ("contact_id", "external_id", "email", "phone"):
            value = getattr(self, name)
            if value:
                return f"{name}:{value}"
        raise AssertionError("unreachable: __post_init__ requires one field")

    def to_dict(self) -> dict[str, str]:
        """The fields that are set, for storage."""
        return {
            name: value
            for name in ("contact_id", "email", "phone", "external_id")
            if (value := getattr(self, name))
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        """The inverse of `to_dict`."""
        return cls(**{k: data.get(k) for k in ("contact_id", "email", "phone", "external_id")})


@dataclass(frozen=True, slots=True)
class Scope:
    """Which subscription types a request covers: explicit ids, a channel, or (neither) all."""

    type_ids: tuple[str, ...] = ()
    channel: Channel | None = None

    def __post_init__(self) -> None:
        if self.type_ids and self.channel is not None:
            raise ValueError("a scope names type ids or a channel, not both")
        object.__setattr__(self, "type_ids", tuple(str(t) for t in self.type_ids))

    @property
    def is_all(self) -> bool:
        """True when the scope covers every type."""
        return not self.type_ids and self.channel is None

    def to_dict(self) -> dict[str, Any]:
        """A compact form for storage."""
        if self.type_ids:
            return {"types": list(self.type_ids)}
        if self.channel is not None:
            return {"channel": self.channel.value}
        return {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        """The inverse of `to_dict`."""
        channel = data.get("channel")
        return cls(
            type_ids=tuple(data.get("types", ())),
            channel=Channel(channel) if channel else None,
        )

    def __str__(self) -> str:
        if self.type_ids:
            return "types " + ",".join(self.type_ids)
        return f"channel {self.channel}" if self.channel else "all types"


@dataclass(frozen=True, slots=True)
class NewContact:
    """A request's leave to create the person's contact when Intercom has none: a lead.

    The lead gets the identity's email and phone, and this name. Signups carry it (a form's
    `create` setting); unsubscribes never do: there is nothing to unsubscribe a stranger from.
    """

    name: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The fields that are set, for storage."""
        return {"name": self.name} if self.name else {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewContact:
        """The inverse of `to_dict`."""
        return cls(name=data.get("name"))


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A request's need to be confirmed by its person first (double opt-in), and how.

    The worker emails the person a signed link from the Intercom admin `admin_id`, in
    `locale`, and the request waits until they click it, `days` at most. The words they
    agreed to are the request's own proof (`context["consent_text"]`).
    """

    admin_id: str
    days: int = 7
    locale: str | None = None

    def __post_init__(self) -> None:
        if not self.admin_id or self.days < 1:
            raise ValueError("a confirmation needs an admin id and at least one day")

    def to_dict(self) -> dict[str, Any]:
        """A compact form for storage."""
        found: dict[str, Any] = {"admin_id": self.admin_id, "days": self.days}
        if self.locale:
            found["locale"] = self.locale
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Confirmation:
        """The inverse of `to_dict`."""
        return cls(str(data["admin_id"]), int(data.get("days", 7)), data.get("locale"))


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """One thing a person asked for, from one source, at one moment."""

    identity: Identity
    wanted: Wanted
    scope: Scope
    occurred_at: datetime
    source: str
    event_id: str
    context: Mapping[str, Any] = field(default_factory=dict)
    create: NewContact | None = None  # create a lead when no contact matches
    confirm: Confirmation | None = None  # applied only once the person confirms by email
    # Held for an operator's review before it applies (a free-text SMS such as "please stop
    # texting me"): recorded, never dropped, applied only once `bridge review apply` says so.
    hold: bool = False

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if not self.source or not self.event_id:
            raise ValueError("a consent request needs a source and an event id")


@dataclass(frozen=True, slots=True)
class Translation:
    """A subscription type's name and description in one locale."""

    name: str
    description: str
    locale: str


@dataclass(frozen=True, slots=True)
class SubscriptionType:
    """The parts of Intercom's `subscription` object that planning and pages need."""

    id: str
    state: str
    consent_type: ConsentType
    content_types: tuple[str, ...]
    default_translation: Translation
    translations: tuple[Translation, ...] = ()

    @property
    def is_live(self) -> bool:
        """Only live types are acted on by default; drafts and archived ones are not."""
        return self.state == "live"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SubscriptionType:
        """Build from Intercom's JSON, ignoring fields this code does not use."""

        def translation(item: Mapping[str, Any]) -> Translation:
            return Translation(
                name=str(item.get("name", "")),
                description=str(item.get("description") or ""),
                locale=str(item.get("locale", "")),
            )

        return cls(
            id=str(data["id"]),
            state=str(data["state"]),
            consent_type=ConsentType(data["consent_type"]),
            content_types=tuple(data.get("content_types") or ()),
            default_translation=translation(data["default_translation"]),
            translations=tuple(translation(t) for t in data.get("translations") or ()),
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One Intercom subscription call for a contact."""

    action: Action
    type_id: str
    consent_type: ConsentType


class UnknownTypes(ValueError):
    """A request named subscription type ids the workspace does not have (or not live)."""

    def __init__(self, type_ids: Iterable[str]) -> None:
        self.type_ids = tuple(type_ids)
        super().__init__("unknown or not live subscription types: " + ", ".join(self.type_ids))


def select_types(
    scope: Scope, types: Sequence[SubscriptionType], *, include_non_live: bool = False
) -> list[SubscriptionType]:
    """The workspace types a scope covers, in the workspace's order.

    Explicit ids that are missing (or not live) raise `UnknownTypes`, because silently
    dropping part of what a person asked for is worse than parking the request.
    """
    usable = [t for t in types if include_non_live or t.is_live]
    if scope.type_ids:
        by_id = {t.id: t for t in usable}
        missing = [i for i in scope.type_ids if i not in by_id]
        if missing:
            raise UnknownTypes(missing)
        return [by_id[i] for i in dict.fromkeys(scope.type_ids)]
    if scope.channel is not None:
        wanted = scope.channel.content_type
        return [t for t in usable if wanted in t.content_types]
    return usable


def call_for(wanted: Wanted, subscription_type: SubscriptionType) -> Call:
    """The call that puts a contact into the wanted state for one type.

    A contact's subscription list holds its explicit choices: on an opt-out type an entry
    means "opted out" (attach to unsubscribe, detach to receive again); on an opt-in type it
    means "opted in" (attach to subscribe, detach to unsubscribe).
    """
    opted_out_wanted = wanted is Wanted.UNSUBSCRIBED
    is_opt_out_type = subscription_type.consent_type is ConsentType.OPT_OUT
    # An explicit entry means "opted out" on an opt_out type and "opted in" on an opt_in type.
    action = Action.ATTACH if opted_out_wanted == is_opt_out_type else Action.DETACH
    return Call(action, subscription_type.id, subscription_type.consent_type)


def receives(subscription_type: SubscriptionType, explicit: frozenset[str]) -> bool:
    """Whether a contact with these explicit preferences receives this type."""
    in_list = subscription_type.id in explicit
    return in_list if subscription_type.consent_type is ConsentType.OPT_IN else not in_list


def plan(
    wanted: Wanted,
    types: Sequence[SubscriptionType],
    explicit: frozenset[str] | None,
) -> list[Call]:
    """The calls that bring a contact to `wanted` for each type.

    `explicit` is the set of type ids in the contact's subscription list, or None when it was
    not read; then every call is planned, which is safe because attach and detach are
    idempotent in effect.
    """
    if wanted is Wanted.LINK:
        raise ValueError("a request for a preference link changes no subscription")
    want_receive = wanted is Wanted.SUBSCRIBED
    return [
        call_for(wanted, t)
        for t in types
        if explicit is None or receives(t, explicit) != want_receive
    ]


def restores_only(request: ConsentRequest) -> bool:
    """Whether a request may only give back what was taken away (see `restorable`).

    A subscribe to a channel or to all types ("START") names no type the person saw, so it
    must never opt them into something they were not receiving; explicit type ids (a mapped
    list, a preference page choice, a form's types) apply as asked.
    """
    return request.wanted is Wanted.SUBSCRIBED and not request.scope.type_ids


def restorable(
    request: ConsentRequest, types: Sequence[SubscriptionType], taken_away: frozenset[str]
) -> list[SubscriptionType]:
    """The types a request may change: for a restoring one, opt-in types only if taken away.

    Receiving an opt-out type again is its default, so a restore always may; an opt-in type
    comes back only when the bridge itself detached it from the contact (`taken_away`).
    """
    if not restores_only(request):
        return list(types)
    return [t for t in types if t.consent_type is ConsentType.OPT_OUT or t.id in taken_away]


def utcnow() -> datetime:
    """The current time, timezone-aware; the one clock the pure core accepts from callers."""
    return datetime.now(UTC)


def consent_text_sha256(text: str) -> str:
    """The hash that names the words a person agreed to, in the proof and in the ledger."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
