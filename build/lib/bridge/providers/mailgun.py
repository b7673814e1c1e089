"""Mailgun's webhooks: one JSON event per POST, signed inside the body.

The body is `{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}`, and the
signature is hex HMAC-SHA256(webhook signing key, timestamp + token). Events from a subaccount
also carry `parent-signature`, the same HMAC with the parent account's key; either may match.
The body is parsed to find the signature, so a body that isn't JSON is refused as unsigned.

The signature covers the timestamp and token only, never `event-data`, and the signing key is
account-wide: whoever holds a recent signature block (another receiver of the account's
webhooks, a log of one) can attach any event to it. Two rules bound that:

* Freshness: a block signed more than `MAX_AGE` ago, or more than `MAX_AHEAD` ahead of this
  server's clock, is refused. The SDK's 300 s would refuse genuine retries: Mailgun retries a
  failed POST for 8 hours (5, 10, 15 min, 1, 2, 4 h), its docs don't say that a retry is
  re-signed (third-party references say the original block is resent), and they warn of
  delivery delays "outside of Mailgun's control". So the window is the retry schedule with
  margin: no retry Mailgun makes is refused, and an old leaked block is worthless.
* Binding: a signature block is bound, in the ledger, to the first `event-data` it arrived
  with (a digest of it, keys sorted), for as long as the block would verify. A retry repeats
  the same event-data and passes (the ledger then records it once, by `event-data.id`); the
  same block with any other event-data (new event ids, other people, an ignored event turned
  into an unsubscribe) is refused. The ledger holds the binding, so it holds across processes.
  What no receiver can refuse is a block it has never seen carrying forged event-data, the
  residual risk of Mailgun's scheme; the only events mapped here are unsubscribes, so such a
  forgery can stop mail, never start it.

`unsubscribed` follows the message's tags and mailing list through `types`: Mailgun's
`%tag_unsubscribe_url%` unsubscribes from every tag of the message, so the scope is every type
that any of its tags (or `event-data.mailing-list.address`) maps to; with none mapped, the
email channel. Mailgun's complaint and bounce lists are domain-wide, so complaints and
permanent failures cover the email channel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from bridge.clock import Clock
from bridge.consent import ConsentRequest, Scope, Wanted

from .base import (
    Delivery,
    Malformed,
    Parsed,
    Provider,
    ProviderSettings,
    Rejected,
    SignatureUse,
    collect,
    email_identity,
    from_timestamp,
)

MAX_AGE = timedelta(hours=12)  # Mailgun's 8 hours of retries, with margin for its queues
MAX_AHEAD = timedelta(minutes=5)  # clock skew between Mailgun and this server
# Permanent failures that are not bounces: sends Mailgun dropped because of an earlier
# unsubscribe or complaint, which arrived as their own events (`suppress-bounce` is an address
# that bounced before, so it stays a bounce).
_NOT_BOUNCES = {"suppress-unsubscribe", "suppress-complaint"}


class Mailgun(Provider):
    """`[providers.mailgun]`: `signing_key` (the HTTP webhook signing key, not the API key)."""

    name: ClassVar[str] = "mailgun"
    required = ("signing_key",)
    max_body_bytes = 256 * 1024  # one event per POST, parsed before it can be verified
    rejected_status = 401  # retried, so deliveries refused by a wrong key arrive after a fix
    malformed_status = 406  # "rejected, do not retry": a verified body that can't be read
    # Events that change consent; the rest (accepted, delivered, opened, clicked...) are ignored.
    consent_events = frozenset({"unsubscribed", "complained", "failed"})

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self._key = settings.secret("signing_key").encode()

    def read(self, delivery: Delivery) -> Delivery:
        """The JSON envelope, parsed once: the signature is inside it."""
        try:
            envelope = json.loads(delivery.body)
        except (ValueError, RecursionError):
            raise Rejected("the body is not JSON, so it carries no Mailgun signature") from None
        if not isinstance(envelope, dict):
            raise Rejected("the body has no signature block")
        return replace(delivery, document=envelope)

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """HMAC over timestamp + token from the body's signature block, then freshness."""
        timestamp, token, block = _signed(_envelope(self, delivery))
        expected = hmac.new(self._key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
        given = [block.get("signature"), block.get("parent-signature")]
        # Both are compared, whichever matches, so the time taken says nothing about which.
        matches = [
            hmac.compare_digest(expected.encode(), signature.strip().lower().encode())
            for signature in given
            if isinstance(signature, str)
        ]
        if not any(matches):
            raise Rejected("signature does not match")
        _check_fresh(timestamp, delivery.received_at)

    def signature_use(self, delivery: Delivery) -> SignatureUse:
        """The block binds to the event-data it first came with, while it would verify."""
        envelope = _envelope(self, delivery)
        timestamp, token, _ = _signed(envelope)
        canonical = json.dumps(
            envelope.get("event-data"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return SignatureUse(
            signature=hashlib.sha256(f"{timestamp}:{token}".encode()).hexdigest(),
            payload_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
            expires_at=datetime.fromtimestamp(int(timestamp), UTC) + MAX_AGE,
        )

    def parse(self, delivery: Delivery) -> Parsed:
        """The one event of the delivery, if it is about consent."""
        try:
            envelope = _envelope(self, delivery)
        except Rejected:
            raise Malformed("the body is not JSON") from None
        event = envelope.get("event-data")
        if not isinstance(event, dict):
            raise Malformed("the body has no event-data object")
        return collect([event], self._read)

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind == "unsubscribed":
            return Wanted.UNSUBSCRIBED
        if kind == "complained":
            return self.settings.wanted_for_complaint()
        # A failure: only a permanent one says the address is gone.
        bounce = event.get("severity") == "permanent" and event.get("reason") not in _NOT_BOUNCES
        return self.settings.wanted_for_bounce() if bounce else None

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("no event-data.id")
        tags = event.get("tags")
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        lists = event.get("mailing-list")
        address = lists.get("address") if isinstance(lists, dict) else None
        address = address if isinstance(address, str) and address else None
        context: dict[str, Any] = {}
        if tags:
            context["tags"] = tags
        if address:
            context["mailing_list"] = address
        # Only an unsubscribe is about some of the mail; see the module's docstring.
        keys = [*([address] if address else []), *tags] if kind == "unsubscribed" else []
        mapped = [key for key in keys if key in self.settings.types]
        occurred_at = from_timestamp(event.get("timestamp"))
        request = self.request(
            email_identity(event.get("recipient"), kind),
            wanted,
            occurred_at=occurred_at,
            event_id=event_id,
            event=kind,
            list_id=mapped[0] if mapped else None,
            **context,
        )
        if len(mapped) > 1:
            type_ids = (t for key in mapped for t in self.settings.types[key])
            request = replace(request, scope=Scope(type_ids=tuple(dict.fromkeys(type_ids))))
        return request


def _envelope(provider: Mailgun, delivery: Delivery) -> dict[str, Any]:
    """The parsed body, from `read` (which the endpoint runs first) or parsed now."""
    if delivery.document is None:
        delivery = provider.read(delivery)
    document: dict[str, Any] = delivery.document
    return document


def _signed(envelope: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The signed timestamp and token, and the block they are in; Rejected without them."""
    block = envelope.get("signature")
    if not isinstance(block, dict):
        raise Rejected("the body has no signature block")
    timestamp, token = block.get("timestamp"), block.get("token")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not isinstance(timestamp, str) or not isinstance(token, str) or not token:
        raise Rejected("the signature block lacks its timestamp or token")
    return timestamp, token, block


def _check_fresh(timestamp: str, now: datetime) -> None:
    """Refuse a block signed too long ago or too far ahead of this server's clock."""
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Rejected("the signature timestamp is not Unix seconds")
    age = now.timestamp() - int(timestamp)
    if age > MAX_AGE.total_seconds():
        raise Rejected(f"signed more than {MAX_AGE.total_seconds() / 3600:g} hours ago")
    if -age > MAX_AHEAD.total_seconds():
        raise Rejected("signed in the future: check this server's clock")
