"""Postmark: Basic credentials, every documented sample, policies, late reactivations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.providers.base import from_iso
from bridge.sandbox import Sandbox
from tests.providers.webhooks import (
    apply_all,
    basic_auth,
    bridge_with,
    delivery,
    json_body,
    make_provider,
    post,
    sample,
    sample_bytes,
)

USER = "postmark-webhook"
PASSWORD = "correct horse: battery staple"  # a colon is fine in a password (RFC 7617)
JANE = "63a07ddf05a32042dffac965"
SAMPLES = {
    "SubscriptionChange": "postmark-SubscriptionChange.json",
    "SpamComplaint": "postmark-SpamComplaint.json",
    "Bounce": "postmark-Bounce.json",
}


def record(kind: str = "SubscriptionChange", **changes: Any) -> dict[str, Any]:
    """A documented record, changed."""
    found: dict[str, Any] = sample(SAMPLES[kind])
    return {**found, **changes}


# Postmark with the test credentials and the settings given.
provider = partial(make_provider, "postmark", username=USER, password=PASSWORD)


def test_each_documented_sample_becomes_the_right_request() -> None:
    parser = provider(types={"broadcast": ["93", "37846"]}, bounces="unsubscribe")
    expectations = {
        # A recipient's unsubscribe from the broadcast stream: that stream's types.
        "SubscriptionChange": (
            Scope(type_ids=("93", "37846")),
            "SubscriptionChange|883953f4-6105-42a2-a16a-77a8eac79483|john@example.com"
            "|2025-04-05T16:33:54.9070259Z|true",
        ),
        # Complaints and bounces from the (unmapped) outbound stream: the email channel.
        "SpamComplaint": (
            Scope(channel=Channel.EMAIL),
            "SpamComplaint|42|883953f4-6105-42a2-a16a-77a8eac79483|john@example.com"
            "|2025-04-05T16:33:54.9070259Z",
        ),
        "Bounce": (
            Scope(channel=Channel.EMAIL),
            "Bounce|42|883953f4-6105-42a2-a16a-77a8eac79483|john@example.com"
            "|2025-04-05T16:33:54.9070259Z",
        ),
    }
    for kind, (scope, event_id) in expectations.items():
        data = sample(SAMPLES[kind])
        [request] = parser.parse(delivery(sample_bytes(SAMPLES[kind]))).requests
        assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, scope), kind
        assert request.identity.email == (data.get("Recipient") or data["Email"]).lower()
        assert request.event_id == event_id
        at = data.get("ChangedAt") or data["BouncedAt"]
        assert request.occurred_at == from_iso(at)
        assert request.occurred_at == datetime(2025, 4, 5, 16, 33, 54, 907025, tzinfo=UTC)
        assert request.source == "postmark"
        assert request.context["event"] == kind
        assert request.context["list"] == data["MessageStream"]
    [change] = parser.parse(delivery(sample_bytes(SAMPLES["SubscriptionChange"]))).requests
    assert change.context["origin"] == "Recipient"
    assert change.context["reason"] == "ManualSuppression"
    # Bounces are ignored by default (`bounces = "ignore"`).
    parsed = provider().parse(delivery(sample_bytes(SAMPLES["Bounce"])))
    assert parsed.requests == [] and parsed.ignored == 1


def test_a_reactivation_is_a_resubscribe_with_its_own_id() -> None:
    parser = provider(types={"broadcast": ["95"]})
    reactivated = record(SuppressSending=False, Origin="Customer", MessageID=None)
    [request] = parser.parse(delivery(json_body(reactivated))).requests
    assert request.wanted is Wanted.SUBSCRIBED
    assert request.scope == Scope(type_ids=("95",))
    assert request.event_id == (
        "SubscriptionChange||john@example.com|2025-04-05T16:33:54.9070259Z|false"
    )


def test_an_email_is_lowercased() -> None:
    [request] = provider().parse(delivery(json_body(record(Recipient="John@Example.COM")))).requests
    assert request.identity.email == "john@example.com"


@pytest.mark.parametrize("suppress", [True, False])
def test_policies_for_complaints_and_bounces(suppress: bool) -> None:
    wanted = Wanted.UNSUBSCRIBED if suppress else Wanted.SUBSCRIBED
    complaint = record(SuppressionReason="SpamComplaint", SuppressSending=suppress)
    bounce = record(SuppressionReason="HardBounce", SuppressSending=suppress)
    # A suppression after a complaint or a bounce, and its reactivation, follow the policy:
    # with `bounces = "ignore"` (the default) neither the bounce nor its undoing changes Intercom.
    default = provider()
    assert [r.wanted for r in default.parse(delivery(json_body(complaint))).requests] == [wanted]
    assert default.parse(delivery(json_body(bounce))).requests == []
    quiet = provider(complaints="ignore", bounces="unsubscribe")
    assert quiet.parse(delivery(json_body(complaint))).requests == []
    assert [r.wanted for r in quiet.parse(delivery(json_body(bounce))).requests] == [wanted]


def test_complaint_and_bounce_records_follow_the_policies() -> None:
    quiet = provider(complaints="ignore")
    assert quiet.parse(delivery(sample_bytes(SAMPLES["SpamComplaint"]))).requests == []
    strict = provider(bounces="unsubscribe")
    for kind in ("SoftBounce", "Transient", "SpamNotification", None):
        parsed = strict.parse(delivery(json_body(record("Bounce", Type=kind))))
        assert parsed.requests == [] and parsed.ignored == 1, kind  # not a hard bounce


def test_other_records_are_ignored_and_unusable_ones_are_invalid() -> None:
    parser = provider()
    for kind in ("Delivery", "Open", "Click", None):
        parsed = parser.parse(delivery(json_body(record(RecordType=kind))))
        assert parsed.requests == [] and parsed.ignored == 1, kind
    for changes in (
        {"Recipient": None},
        {"Recipient": "not an address"},
        {"SuppressSending": "true"},
        {"ChangedAt": "yesterday"},
        {"ChangedAt": None},
        {"ChangedAt": "99999-01-01T00:00:00Z"},
    ):
        parsed = parser.parse(delivery(json_body(record(**changes))))
        assert parsed.requests == [] and len(parsed.invalid) == 1, changes


def test_an_array_of_records_keeps_the_good_ones() -> None:
    good = record()
    no_email = record(Recipient=None)
    opened = record(RecordType="Open")
    parsed = provider().parse(delivery(json_body(no_email, good, "junk", opened)))
    assert [r.identity.email for r in parsed.requests] == ["john@example.com"]
    assert len(parsed.invalid) == 1 and parsed.ignored == 2


def test_an_older_reactivation_arriving_late_does_not_win(tmp_path: Path, sandbox: Sandbox) -> None:
    email = sandbox.contacts[JANE]["email"]
    jane = [c for c, contact in sandbox.contacts.items() if contact.get("email") == email]
    assert all(sandbox.receives(c, "37846") for c in jane)
    now = datetime.now(UTC)
    unsubscribe = record(Recipient=email.upper(), ChangedAt=now.isoformat())
    # An older reactivation, delivered after the newer unsubscribe (a Postmark retry).
    reactivation = record(
        Recipient=email,
        ChangedAt=(now - timedelta(hours=1)).isoformat(),
        SuppressSending=False,
        Origin="Customer",
    )
    table = {"username": USER, "password": PASSWORD, "types": {"broadcast": ["37846"]}}
    with bridge_with(tmp_path, sandbox, {"postmark": table}) as client:
        for change in (unsubscribe, reactivation):
            response = post(client, "postmark", json_body(change), basic_auth(USER, PASSWORD))
            assert response.status_code == 200 and "1 recorded" in response.text
        apply_all(client)
    # The older reactivation arrived last but happened first: Jane stays unsubscribed.
    assert not any(sandbox.receives(c, "37846") for c in jane)
