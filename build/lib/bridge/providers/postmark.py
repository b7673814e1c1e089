"""Postmark's webhooks: one JSON record per POST, protected by HTTP Basic credentials.

Postmark signs nothing; the webhook's HTTP auth username and password are the proof, checked
in constant time (`basic_auth`). The Subscription Change record says an address was added to
or removed from a Message Stream's suppression list: by the recipient (unsubscribe), by the
sender (manual suppression or reactivation), or after a hard bounce or a spam complaint. Those
two reasons follow the `bounces` and `complaints` policies in both directions: a reactivation
undoes a suppression only where the suppression was acted on. Bounce (hard only) and Spam
Complaint records follow the same policies, so either set of webhooks may be enabled.

Suppression lists are per Message Stream, so `MessageStream` is the list `types` maps.
Postmark gives records no id: a Subscription Change is keyed by RecordType, MessageID,
Recipient, ChangedAt and SuppressSending, a Bounce or Spam Complaint by RecordType, its bounce
ID, MessageID, Email and BouncedAt, joined by `|`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bridge.consent import ConsentRequest, Wanted

from .base import (
    Delivery,
    Parsed,
    collect,
    email_identity,
    from_iso,
    json_events,
)
from .basic_auth import BasicAuthProvider

# Records that change consent; everything else (Delivery, Open, Click...) is ignored.
_CONSENT_RECORDS = frozenset({"SubscriptionChange", "SpamComplaint", "Bounce"})


class Postmark(BasicAuthProvider):
    """`[providers.postmark]`: `username` and `password` (the webhook's HTTP auth)."""

    name: ClassVar[str] = "postmark"
    consent_events = _CONSENT_RECORDS
    event_field = "RecordType"
    rejected_status = 401  # retried, so deliveries refused by wrong credentials arrive after a fix
    malformed_status = 403  # stops Postmark's retries: a verified body that can't be read
    # One record, but a Bounce with "include bounce content" carries the whole bounced message
    # (Postmark sends messages of up to 10 MB). Credentials are checked before it is read.
    max_body_bytes = 12 * 1024 * 1024

    def parse(self, delivery: Delivery) -> Parsed:
        """The record of the delivery (or each of an array of them), if about consent."""
        return collect(json_events(delivery.body, one=True), self._read, label="record")

    def _suppression(self, reason: object) -> Wanted | None:
        """What a suppression for this reason asks for; None where its policy ignores it."""
        if reason == "SpamComplaint":
            return self.settings.wanted_for_complaint()
        if reason == "HardBounce":
            return self.settings.wanted_for_bounce()
        return Wanted.UNSUBSCRIBED  # an unsubscribe or a manual suppression

    def _wanted(self, kind: str, record: dict[str, Any]) -> Wanted | None:
        if kind == "SubscriptionChange":
            suppress = record.get("SuppressSending")
            if not isinstance(suppress, bool):
                raise ValueError("SuppressSending is not true or false")
            if self._suppression(record.get("SuppressionReason")) is None:
                return None
            return Wanted.UNSUBSCRIBED if suppress else Wanted.SUBSCRIBED
        # A Bounce record: only a hard bounce says the address is gone.
        if kind == "Bounce" and record.get("Type") != "HardBounce":
            return None
        return self._suppression("SpamComplaint" if kind == "SpamComplaint" else "HardBounce")

    def _request(self, kind: str, record: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        context: dict[str, Any] = {}
        if kind == "SubscriptionChange":
            email, at = record.get("Recipient"), record.get("ChangedAt")
            key = [kind, record.get("MessageID"), email, at, record.get("SuppressSending")]
            for field, name in (("Origin", "origin"), ("SuppressionReason", "reason")):
                if isinstance(record.get(field), str):
                    context[name] = record[field]
        else:
            email, at = record.get("Email"), record.get("BouncedAt")
            key = [kind, record.get("ID"), record.get("MessageID"), email, at]
        stream = record.get("MessageStream")
        occurred_at = from_iso(at)
        return self.request(
            email_identity(email, kind),
            wanted,
            occurred_at=occurred_at,
            event_id="|".join(_text(part) for part in key),
            event=kind,
            list_id=stream if isinstance(stream, str) and stream else None,
            **context,
        )


def _text(value: object) -> str:
    """One part of a composed event id: JSON's spelling for booleans, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
