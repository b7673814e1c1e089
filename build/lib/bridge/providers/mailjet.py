"""Mailjet's Event API: one JSON event per POST, or an array (Version 2, "grouped" events).

Mailjet signs nothing; the proof is the Basic credentials in the callback URL
(`https://user:pass@host/webhooks/mailjet`), which Mailjet sends as an `Authorization` header,
checked in constant time (`basic_auth`).

`unsub` maps its `mj_list_id` (the contact list) through `types`, or covers the email channel;
`spam` follows the `complaints` policy and a `bounce` with `hard_bounce` the `bounces` policy,
both over the email channel. Events have no id: each is keyed by MessageID, event and time,
joined by `|`. MessageID is an integer above 2**53; Python's JSON keeps it exact, and it is
kept as its digits (grouped events may carry only the string `mj_message_id`, used then).
"""

from __future__ import annotations

from typing import Any, ClassVar

from bridge.consent import ConsentRequest, Wanted

from .base import (
    Delivery,
    Parsed,
    collect,
    email_identity,
    from_timestamp,
    json_events,
)
from .basic_auth import BasicAuthProvider

# Events that change consent; everything else (sent, open, click, blocked...) is ignored.
_CONSENT_EVENTS = frozenset({"unsub", "spam", "bounce"})


class Mailjet(BasicAuthProvider):
    """`[providers.mailjet]`: `username` and `password` (the callback URL's credentials)."""

    name: ClassVar[str] = "mailjet"
    consent_events = _CONSENT_EVENTS
    max_body_bytes = 2 * 1024 * 1024  # grouped events (Version 2); credentials checked first
    # Mailjet retries anything but 200, so the defaults: 401 (refused), 400 (unreadable).

    def parse(self, delivery: Delivery) -> Parsed:
        """Consent events of the delivery (one object, or an array of them); others ignored."""
        return collect(json_events(delivery.body, one=True), self._read)

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind == "unsub":
            return Wanted.UNSUBSCRIBED
        if kind == "spam":
            return self.settings.wanted_for_complaint()
        # A bounce: only a hard one says the address is gone.
        return self.settings.wanted_for_bounce() if event.get("hard_bounce") is True else None

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        time = event.get("time")
        occurred_at = from_timestamp(time)
        context: dict[str, Any] = {}
        if kind == "spam" and isinstance(event.get("source"), str):
            context["feedback_loop"] = event["source"]
        message_id = _message_id(event)
        return self.request(
            email_identity(event.get("email"), kind),
            wanted,
            occurred_at=occurred_at,
            event_id=f"{message_id}|{kind}|{time}",
            event=kind,
            list_id=(event.get("mj_list_id") or None) if kind == "unsub" else None,
            **context,
        )


def _message_id(event: dict[str, Any]) -> str:
    """The event's MessageID as digits (exact: never through a float)."""
    for value in (event.get("MessageID"), event.get("mj_message_id")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
            return value
    raise ValueError("no MessageID")
