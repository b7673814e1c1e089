"""Amazon SES feedback through Amazon SNS: the SES record inside a signed SNS message.

`bridge.providers.sns` checks the SNS message (allowed topic, SNS certificate, signature).
No freshness window: SNS retries resend the original message, signature and all, so a
window would refuse them; duplicates are caught by `MessageId` instead. Raw message
delivery strips the envelope and with it the signature, so such bodies are refused. A
`SubscriptionConfirmation` is completed by the endpoint once the message has verified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import httpx

from bridge.clock import Clock
from bridge.consent import ConsentRequest, Wanted

from .base import (
    Delivery,
    Malformed,
    Parsed,
    Provider,
    ProviderSettings,
    Rejected,
    email_identity,
    from_iso,
)
from .sns import SnsVerifier, envelope, pinned_certificates, sns_url, topic_arns


class SES(Provider):
    """`[providers.ses]`: `topic_arns` (the SNS topics SES publishes to), `certificates`."""

    name: ClassVar[str] = "ses"
    # An SNS message is at most 256 KB; its JSON envelope escapes the SES record's quotes.
    max_body_bytes = 512 * 1024

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        where = "BRIDGE_CONFIG.providers.ses"
        self._sns = SnsVerifier(
            topic_arns(settings.values.get("topic_arns"), f"{where}.topic_arns"),
            pinned_certificates(settings.values.get("certificates"), f"{where}.certificates"),
            clock=self.clock.monotonic,
        )

    def read(self, delivery: Delivery) -> Delivery:
        """The SNS message, parsed once: its signature covers its fields, not the bytes."""
        return replace(delivery, document=envelope(delivery.body))

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """An SNS message on an allowed topic, signed with an SNS certificate."""
        await self._sns.verify(self._message(delivery), http)

    def _message(self, delivery: Delivery) -> dict[str, Any]:
        """The SNS message, from `read` (which the endpoint runs first) or parsed now."""
        if delivery.document is None:
            delivery = self.read(delivery)
        message: dict[str, Any] = delivery.document
        return message

    def parse(self, delivery: Delivery) -> Parsed:
        """A handshake to complete, or the consent requests in the SES record of a notification."""
        try:
            message = self._message(delivery)
        except Rejected as exc:
            raise Malformed(str(exc)) from None
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            url = message.get("SubscribeURL")
            if not isinstance(url, str) or not sns_url(url, pem=False):
                raise Malformed("the SubscribeURL is not an https URL on an SNS host")
            return Parsed(confirm_url=url)
        if kind != "Notification":
            return Parsed(ignored=1)  # UnsubscribeConfirmation: nothing to do
        try:
            record = json.loads(message.get("Message", ""))
        except (TypeError, ValueError, RecursionError):
            raise Malformed("the notification's Message is not an SES record (JSON)") from None
        if not isinstance(record, dict):
            raise Malformed("the notification's Message is not an SES record (a JSON object)")
        return _Record(self, message, record).parse()


class _Record:
    """One SES record (notification or event-publishing format) and the SNS message around it."""

    def __init__(self, provider: SES, message: dict[str, Any], record: dict[str, Any]) -> None:
        self.provider = provider
        self.settings = provider.settings
        self.message_id = str(message.get("MessageId") or "")
        self.sent_at = message.get("Timestamp")
        self.record = record
        self.parsed = Parsed()

    def parse(self) -> Parsed:
        kind = self.record.get("eventType", self.record.get("notificationType"))
        if not isinstance(kind, str):
            raise Malformed("the SES record has no eventType or notificationType")
        if not self.message_id:
            raise Malformed("the SNS message has no MessageId")
        try:
            if kind == "Complaint":
                self._complaint(self._section("complaint"))
            elif kind == "Bounce":
                self._bounce(self._section("bounce"))
            elif kind == "Subscription":
                self._subscription(self._section("subscription"))
            else:
                self.parsed.ignored += 1  # deliveries, sends, opens, clicks, SES's own notices
        except (ValueError, TypeError) as exc:
            self.parsed.invalid.append(f"{kind} {self.message_id}: {exc}")
        return self.parsed

    def _section(self, key: str) -> dict[str, Any]:
        section = self.record.get(key)
        if not isinstance(section, dict):
            raise ValueError(f"no {key} object")
        return section

    def _when(self, section: dict[str, Any]) -> datetime:
        """When SES says it happened; when SNS sent it if SES's time is missing or unreadable."""
        try:
            return from_iso(section.get("timestamp"))
        except ValueError:
            return from_iso(self.sent_at)

    def _complaint(self, complaint: dict[str, Any]) -> None:
        # "not-spam" is an ISP correcting an earlier report, not a complaint.
        feedback = complaint.get("complaintFeedbackType")
        wanted = self.settings.wanted_for_complaint()
        if wanted is None or feedback == "not-spam":
            self.parsed.ignored += 1
            return
        context = {"feedback_type": feedback} if isinstance(feedback, str) else {}
        self._recipients(complaint, "complainedRecipients", "complaint", wanted, context)

    def _bounce(self, bounce: dict[str, Any]) -> None:
        # Only a permanent bounce says the address is gone; transient ones may yet be delivered.
        wanted = self.settings.wanted_for_bounce()
        if bounce.get("bounceType") != "Permanent" or wanted is None:
            self.parsed.ignored += 1
            return
        context = {"bounce_type": "Permanent"}
        if isinstance(bounce.get("bounceSubType"), str):
            context["bounce_subtype"] = bounce["bounceSubType"]
        self._recipients(bounce, "bouncedRecipients", "bounce", wanted, context)

    def _recipients(
        self, section: dict[str, Any], key: str, event: str, wanted: Wanted, context: dict[str, str]
    ) -> None:
        recipients = section.get(key)
        if not isinstance(recipients, list) or not recipients:
            raise ValueError(f"no {key}")
        occurred_at = self._when(section)
        for index, recipient in enumerate(recipients):
            email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
            try:
                self._add(event, f"{index}", email, wanted, occurred_at, context)
            except ValueError as exc:
                self.parsed.invalid.append(f"{event} {self.message_id} recipient {index}: {exc}")

    def _subscription(self, subscription: dict[str, Any]) -> None:
        """SES list management: what changed between the old and the new topic preferences."""
        contact_list = subscription.get("contactList")
        if not isinstance(contact_list, str) or not contact_list:
            raise ValueError("no contactList")
        new = subscription.get("newTopicPreferences")
        if not isinstance(new, dict):
            raise ValueError("no newTopicPreferences")
        old = subscription.get("oldTopicPreferences")
        old = old if isinstance(old, dict) else {}
        mail = self.record.get("mail")
        destination = mail.get("destination") if isinstance(mail, dict) else None
        if not isinstance(destination, list) or len(destination) != 1:
            # Which of several recipients clicked is not said; better none than the wrong one.
            raise ValueError("the mail's destination is not exactly one address")
        email = destination[0]
        occurred_at = self._when(subscription)
        source = subscription.get("source")
        context = {"via": source[:60]} if isinstance(source, str) else {}
        changed = False
        if new.get("unsubscribeAll") is True and old.get("unsubscribeAll") is not True:
            changed = True
            self._add(
                "subscription",
                "all",
                email,
                Wanted.UNSUBSCRIBED,
                occurred_at,
                context,
                contact_list,
            )
        before = _topics(old)
        for topic, status in _topics(new).items():
            if before.get(topic) == status:
                continue  # unchanged: restating it could undo a later change made elsewhere
            changed = True
            list_id = f"{contact_list}/{topic}"
            if status == "OptIn" and list_id not in self.settings.types:
                # An unmapped topic would otherwise stand for every email type.
                self.parsed.invalid.append(
                    f"subscription {self.message_id}: opt-in to topic {topic[:80]!r}, which "
                    f'has no types mapping ("{list_id[:120]}")'
                )
                continue
            wanted = Wanted.SUBSCRIBED if status == "OptIn" else Wanted.UNSUBSCRIBED
            self._add(
                "subscription", f"topic:{topic}", email, wanted, occurred_at, context, list_id
            )
        if not changed:
            self.parsed.ignored += 1

    def _add(
        self,
        event: str,
        part: str,
        email: object,
        wanted: Wanted,
        occurred_at: datetime,
        context: Mapping[str, str],
        list_id: str | None = None,
    ) -> None:
        # One SNS message can hold several requests; SNS retries keep the MessageId.
        request: ConsentRequest = self.provider.request(
            email_identity(email, event),
            wanted,
            occurred_at=occurred_at,
            event_id=f"{self.message_id}:{part}",
            event=event,
            list_id=list_id,
            **context,
        )
        self.parsed.requests.append(request)


def _topics(preferences: dict[str, Any]) -> dict[str, str]:
    """`topicSubscriptionStatus` as topic -> OptIn/OptOut, skipping entries that say neither."""
    entries = preferences.get("topicSubscriptionStatus")
    found = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        topic, status = entry.get("topicName"), entry.get("subscriptionStatus")
        if isinstance(topic, str) and topic and status in ("OptIn", "OptOut"):
            found[topic] = status
    return found
