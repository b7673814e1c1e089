"""Postmark: Basic credentials, every documented sample, policies, end to end."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.ledger import LedgerUnavailable
from bridge.providers import Delivery, Malformed, Rejected
from bridge.providers.base import from_iso
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    apply_all,
    basic_auth,
    bridge_with,
    delivery,
    make_provider,
    recorded,
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


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """The Authorization header Postmark sends for the webhook's HTTP auth."""
    return basic_auth(user, password)


def record(kind: str = "SubscriptionChange", **changes: Any) -> dict[str, Any]:
    """A documented record, changed."""
    found: dict[str, Any] = sample(SAMPLES[kind])
    return {**found, **changes}


def body_of(*records: Any) -> bytes:
    """One record as Postmark posts it, or an array of them."""
    return json.dumps(records[0] if len(records) == 1 else list(records)).encode()


def provider(**table: Any) -> Any:
    """Postmark with the test credentials and these settings."""
    return make_provider("postmark", username=USER, password=PASSWORD, **table)


async def verify(signed: Delivery) -> None:
    """Postmark's verify (it needs no HTTP client)."""
    await provider().verify(signed, None)


async def test_the_right_credentials_are_accepted() -> None:
    await verify(delivery(sample_bytes("postmark-Bounce.json"), basic()))
    lower = {"authorization": basic()["Authorization"].replace("Basic", "basic")}
    await verify(delivery(b"{}", lower))


@pytest.mark.parametrize(
    "headers",
    [
        basic(user="someone-else"),
        basic(password="wrong"),
        basic(password=PASSWORD + "x"),
        basic(user=USER.upper()),
        basic(user="", password=""),
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer " + basic()["Authorization"].split()[1]},
        {"Authorization": "Basic"},
        {"Authorization": "Basic %%%not-base64"},
        {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},  # no colon
        {"Authorization": "Basic " + base64.b64encode(PASSWORD.encode()).decode()},
        {"Authorization": "Basic é"},
    ],
    ids=[
        "wrong user",
        "wrong password",
        "longer password",
        "user in another case",
        "empty",
        "missing header",
        "empty header",
        "not Basic",
        "no credentials",
        "bad base64",
        "user only",
        "password only",
        "not ascii",
    ],
)
async def test_wrong_credentials_are_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(Rejected):
        await verify(delivery(body_of(record()), headers))


@pytest.mark.parametrize("table", [{"password": "x"}, {"username": "u"}, {"username": "a:b"}])
def test_missing_or_unusable_credentials_stop_start_up(table: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"providers\.postmark\.(username|password)"):
        make_provider("postmark", **table)


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
    [request] = parser.parse(delivery(body_of(reactivated))).requests
    assert request.wanted is Wanted.SUBSCRIBED
    assert request.scope == Scope(type_ids=("95",))
    assert request.event_id == (
        "SubscriptionChange||john@example.com|2025-04-05T16:33:54.9070259Z|false"
    )


def test_an_email_is_lowercased() -> None:
    [request] = provider().parse(delivery(body_of(record(Recipient="John@Example.COM")))).requests
    assert request.identity.email == "john@example.com"


@pytest.mark.parametrize("suppress", [True, False])
def test_policies_for_complaints_and_bounces(suppress: bool) -> None:
    wanted = Wanted.UNSUBSCRIBED if suppress else Wanted.SUBSCRIBED
    complaint = record(SuppressionReason="SpamComplaint", SuppressSending=suppress)
    bounce = record(SuppressionReason="HardBounce", SuppressSending=suppress)
    # A suppression after a complaint or a bounce, and its reactivation, follow the policy:
    # with `bounces = "ignore"` (the default) neither the bounce nor its undoing changes Intercom.
    default = provider()
    assert [r.wanted for r in default.parse(delivery(body_of(complaint))).requests] == [wanted]
    assert default.parse(delivery(body_of(bounce))).requests == []
    quiet = provider(complaints="ignore", bounces="unsubscribe")
    assert quiet.parse(delivery(body_of(complaint))).requests == []
    assert [r.wanted for r in quiet.parse(delivery(body_of(bounce))).requests] == [wanted]


def test_complaint_and_bounce_records_follow_the_policies() -> None:
    quiet = provider(complaints="ignore")
    assert quiet.parse(delivery(sample_bytes(SAMPLES["SpamComplaint"]))).requests == []
    strict = provider(bounces="unsubscribe")
    for kind in ("SoftBounce", "Transient", "SpamNotification", None):
        parsed = strict.parse(delivery(body_of(record("Bounce", Type=kind))))
        assert parsed.requests == [] and parsed.ignored == 1, kind  # not a hard bounce


def test_other_records_are_ignored_and_unusable_ones_are_invalid() -> None:
    parser = provider()
    for kind in ("Delivery", "Open", "Click", None):
        parsed = parser.parse(delivery(body_of(record(RecordType=kind))))
        assert parsed.requests == [] and parsed.ignored == 1, kind
    for changes in (
        {"Recipient": None},
        {"Recipient": "not an address"},
        {"SuppressSending": "true"},
        {"ChangedAt": "yesterday"},
        {"ChangedAt": None},
        {"ChangedAt": "99999-01-01T00:00:00Z"},
    ):
        parsed = parser.parse(delivery(body_of(record(**changes))))
        assert parsed.requests == [] and len(parsed.invalid) == 1, changes


def test_an_array_of_records_keeps_the_good_ones() -> None:
    good = record()
    no_email = record(Recipient=None)
    opened = record(RecordType="Open")
    parsed = provider().parse(delivery(body_of(no_email, good, "junk", opened)))
    assert [r.identity.email for r in parsed.requests] == ["john@example.com"]
    assert len(parsed.invalid) == 1 and parsed.ignored == 2


@pytest.mark.parametrize("body", [b"{not json", b'"a string"', b"42", b"[" * 100_000])
def test_an_unreadable_body_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        provider().parse(delivery(body))


def post(client: Any, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/webhooks/postmark",
        content=body,
        headers={"content-type": "application/json", **(basic() if headers is None else headers)},
    )


def test_end_to_end_into_the_sandbox(tmp_path: Path, sandbox: Sandbox) -> None:
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
            response = post(client, body_of(change))
            assert response.status_code == 200 and "1 recorded" in response.text
        again = post(client, body_of(unsubscribe))
        assert again.status_code == 200 and "1 duplicate" in again.text
        assert post(client, body_of(unsubscribe), basic(password="guess")).status_code == 401
        assert post(client, body_of(unsubscribe), {}).status_code == 401
        assert post(client, b"{not json").status_code == 403
        assert len(recorded(client)) == 2
        apply_all(client)
    # The older reactivation arrived last but happened first: Jane stays unsubscribed.
    assert not any(sandbox.receives(c, "37846") for c in jane)


def test_a_ledger_failure_is_a_503(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_record(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database is locked")

    table = {"username": USER, "password": PASSWORD}
    with bridge_with(tmp_path, sandbox, {"postmark": table}) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        monkeypatch.setattr(services.ledger, "record", failing_record)
        assert post(client, body_of(record())).status_code == 503
