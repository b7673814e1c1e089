"""What a preference page shows and what saving it records: pure, no I/O.

A contact's state per type comes from Intercom (the explicit choices and each type's
consent_type), overlaid with the requests the ledger holds but the worker has not applied
yet, so a choice shows as made the moment it is saved. Saving records one consent request
per type whose state changed, carrying the words the person was shown: the proof of consent
GDPR Art. 7(1) asks a controller to be able to produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.consent import (
    Channel,
    ConsentRequest,
    ConsentType,
    Identity,
    Scope,
    SubscriptionType,
    UnknownTypes,
    Wanted,
    receives,
    select_types,
)
from bridge.i18n import localise


@dataclass(frozen=True, slots=True)
class Choice:
    """One subscription type as a person sees it: its words, and whether they receive it."""

    id: str
    name: str
    description: str
    locale: str
    channel: Channel | None
    consent_type: ConsentType
    subscribed: bool | None  # None: Intercom could not say just now
    updating: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON API's form of this choice."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "locale": self.locale,
            "channel": self.channel.value if self.channel else None,
            "consent_type": self.consent_type.value,
            "subscribed": self.subscribed,
            "updating": self.updating,
        }


def channel_of(subscription_type: SubscriptionType) -> Channel | None:
    """The channel a type reaches people on (SMS wins for a type that lists both)."""
    if Channel.SMS.content_type in subscription_type.content_types:
        return Channel.SMS
    if Channel.EMAIL.content_type in subscription_type.content_types:
        return Channel.EMAIL
    return None


def overlay(
    types: Sequence[SubscriptionType], pending: Iterable[ConsentRequest]
) -> dict[str, bool]:
    """What the not-yet-applied requests (oldest event first) will set, per type id."""
    states: dict[str, bool] = {}
    for request in sorted(pending, key=lambda r: r.occurred_at):
        if request.wanted is Wanted.LINK:
            continue  # asks for an email, not a change
        scope = request.scope
        if scope.type_ids:
            # Tolerate ids that are no longer live: the page shows only what exists.
            known = {t.id for t in types}
            scope = Scope(type_ids=tuple(i for i in scope.type_ids if i in known))
            if not scope.type_ids:
                continue
        try:
            covered = select_types(scope, types)
        except UnknownTypes:  # pragma: no cover - filtered above
            continue
        for subscription_type in covered:
            states[subscription_type.id] = request.wanted is Wanted.SUBSCRIBED
    return states


def choices(
    types: Sequence[SubscriptionType],
    explicit: Sequence[frozenset[str]] | None,
    pending: Iterable[ConsentRequest],
    preferred_locales: Sequence[str],
) -> list[Choice]:
    """Each type's words in the person's language and its state, pending requests included.

    `explicit` holds the subscription list of each of the person's contacts (a lead and a
    user may share an email); they receive a type if any of their contacts does. It is None
    when the lists could not be read: states are then unknown, except where a pending
    request will set them.
    """
    pending_states = overlay(types, pending)
    found = []
    for subscription_type in types:
        words = localise(subscription_type, preferred_locales)
        now = (
            None
            if explicit is None
            else any(receives(subscription_type, one) for one in explicit or [frozenset()])
        )
        will = pending_states.get(subscription_type.id, now)
        found.append(
            Choice(
                id=subscription_type.id,
                name=words.name,
                description=words.description,
                locale=words.locale,
                channel=channel_of(subscription_type),
                consent_type=subscription_type.consent_type,
                subscribed=will,
                updating=subscription_type.id in pending_states and will != now,
            )
        )
    return found


def changes(shown: Mapping[str, bool | None], wanted: Mapping[str, bool]) -> dict[str, bool]:
    """The types whose wanted state differs from what was shown (or was not known)."""
    return {type_id: state for type_id, state in wanted.items() if shown.get(type_id) is not state}


def proof(
    choice: Choice, *, via: str, page_locale: str, client: Mapping[str, str]
) -> dict[str, Any]:
    """What is kept with a request as evidence of what the person saw and chose."""
    return {
        "via": via,
        "locale": page_locale,
        "shown": {
            "name": choice.name,
            "description": choice.description,
            "locale": choice.locale,
        },
        **client,
    }


def requests_for(
    identity: Identity,
    changed: Mapping[str, bool],
    by_id: Mapping[str, Choice],
    *,
    occurred_at: datetime,
    source: str,
    event_prefix: str,
    via: str,
    page_locale: str,
    client: Mapping[str, str],
) -> list[ConsentRequest]:
    """One consent request per changed type, each with its proof of consent.

    Event ids are `event_prefix` plus the type and direction, so a form submitted twice
    (same nonce) records once, while toggling back and forth records each change.
    """
    return [
        ConsentRequest(
            identity=identity,
            wanted=Wanted.SUBSCRIBED if subscribed else Wanted.UNSUBSCRIBED,
            scope=Scope(type_ids=(type_id,)),
            occurred_at=occurred_at,
            source=source,
            event_id=f"{event_prefix}:{type_id}:{'on' if subscribed else 'off'}",
            context=proof(by_id[type_id], via=via, page_locale=page_locale, client=client),
        )
        for type_id, subscribed in changed.items()
    ]
