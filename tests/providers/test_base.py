"""What every provider shares: identities, its channel, the policies, the event-batch reader."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.providers import Delivery, Parsed, Provider, provider_settings
from bridge.providers.base import collect, email_identity, json_events
from tests.providers.webhooks import delivery

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Texts(Provider):
    """A made-up SMS provider: a batch of `{"type", "phone", "id"}` events."""

    name: ClassVar[str] = "texts"
    channel = Channel.SMS
    event_field = "type"
    consent_events = frozenset({"stop", "start", "complaint"})

    def parse(self, delivery: Delivery) -> Parsed:
        return collect(json_events(delivery.body), self._read)

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind == "complaint":
            return self.settings.wanted_for_complaint()
        return Wanted.UNSUBSCRIBED if kind == "stop" else Wanted.SUBSCRIBED

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        event_id = event.get("id")
        if not isinstance(event_id, str):
            raise ValueError("no id")
        return self.request(
            Identity(phone=str(event.get("phone"))),
            wanted,
            occurred_at=NOW,
            event_id=event_id,
            event=kind,
            list_id=event.get("list"),
        )


def texts(**table: Any) -> Texts:
    """The made-up provider with these settings."""
    return Texts(provider_settings("texts", table))


def test_an_email_identity_needs_an_address() -> None:
    assert email_identity(" Jane@Example.com", "unsubscribe") == Identity(email="jane@example.com")
    for unusable in (None, 7, "", "jane", ["jane@example.com"]):
        with pytest.raises(ValueError, match=r"^spam event without a usable email address$"):
            email_identity(unusable, "spam")


def test_an_unmapped_list_covers_the_providers_channel() -> None:
    provider = texts(types={"alerts": ["42"]})
    request = provider._read({"type": "stop", "phone": "+33612345678", "id": "e1"})
    assert request is not None and (request.identity, request.scope) == (
        Identity(phone="+33612345678"),
        Scope(channel=Channel.SMS),
    )
    mapped = provider._read({"type": "stop", "phone": "+336", "id": "e2", "list": "alerts"})
    assert mapped is not None and mapped.scope == Scope(type_ids=("42",))
    assert mapped.context == {"event": "stop", "list": "alerts"}
    email = provider_settings("x", {}).scope(None, Channel.EMAIL)
    assert email == Scope(channel=Channel.EMAIL)


@pytest.mark.parametrize(
    ("table", "complaint", "bounce"),
    [
        ({}, Wanted.UNSUBSCRIBED, None),
        ({"complaints": "ignore", "bounces": "unsubscribe"}, None, Wanted.UNSUBSCRIBED),
    ],
)
def test_the_policies_say_what_a_complaint_or_bounce_asks_for(
    table: dict[str, str], complaint: Wanted | None, bounce: Wanted | None
) -> None:
    settings = provider_settings("texts", table)
    assert (settings.wanted_for_complaint(), settings.wanted_for_bounce()) == (complaint, bounce)


def test_the_batch_reader_sorts_events_into_requests_ignored_and_invalid() -> None:
    body = (
        b'[{"type": "stop", "phone": "+1", "id": "a"}, {"type": "delivered"}, "junk",'
        b' {"type": "start", "phone": "+2"}, {"type": "complaint", "phone": "+3", "id": "c"}]'
    )
    parsed = texts().parse(delivery(body))
    assert [(r.event_id, r.wanted) for r in parsed.requests] == [
        ("a", Wanted.UNSUBSCRIBED),
        ("c", Wanted.UNSUBSCRIBED),
    ]
    assert parsed.ignored == 2 and len(parsed.invalid) == 1  # the start without an id
    quiet = texts(complaints="ignore").parse(delivery(body))
    assert [r.event_id for r in quiet.requests] == ["a"] and quiet.ignored == 3
