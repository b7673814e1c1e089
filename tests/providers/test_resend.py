"""Resend: Svix signatures (the Standard Webhooks vector), every event kind, their order."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.ledger import Status
from bridge.providers import Rejected
from bridge.providers.standard_webhooks import sign_standard_webhook
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    apply_all,
    bridge_with,
    delivery,
    make_provider,
    post,
    recorded,
    sample,
    sample_bytes,
)

# One group, not a list: the shared sign() vector and the large-payload cases.
VECTOR: dict[str, Any] = sample("sdk-test-vectors.json")["standard_webhooks_and_svix"]
SECRET: str = VECTOR["secret"]
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
OTHER = "whsec_" + "A" * 32  # a key that is not the endpoint's
COMPLAINED = sample("resend-email.complained.json")
AMELIE = "63a07de105a32042dffac970"  # opted in to type 95 in the sandbox


def signed(
    body: bytes,
    *,
    msg_id: str = MSG_ID,
    timestamp: str | None = None,
    secret: str = SECRET,
    prefix: str = "svix",
) -> dict[str, str]:
    """The headers Resend (Svix) sends with `body`, signed now unless a timestamp is given."""
    timestamp = timestamp or str(int(time.time()))
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": timestamp,
        f"{prefix}-signature": sign_standard_webhook(secret, msg_id, timestamp, body),
    }


def event(kind: str, created_at: str = "2024-02-22T23:41:12.126Z", **data: Any) -> bytes:
    """A Resend event body."""
    return json.dumps({"type": kind, "created_at": created_at, "data": data}).encode()


def contact(unsubscribed: bool, updated_at: str, email: str = "jane@example.com") -> bytes:
    """A contact.updated event for audience `aud-1`."""
    return event(
        "contact.updated",
        id="c-1",
        audience_id="aud-1",
        segment_ids=[],
        email=email,
        unsubscribed=unsubscribed,
        created_at="2024-01-01T00:00:00.000Z",
        updated_at=updated_at,
    )


@pytest.mark.parametrize("prefix", ["svix", "webhook"])
async def test_the_sdk_vector_verifies_at_its_time(prefix: str) -> None:
    provider = make_provider("resend", secret=VECTOR["secret"])
    headers = {
        f"{prefix}-id": VECTOR["msg_id"],
        f"{prefix}-timestamp": VECTOR["timestamp"],
        f"{prefix}-signature": VECTOR["expected_signature"],
    }
    then = datetime.fromtimestamp(int(VECTOR["timestamp"]), UTC)
    signed_then = dataclasses.replace(
        delivery(VECTOR["payload"].encode(), headers), received_at=then
    )
    await provider.verify(signed_then, None)  # type: ignore[arg-type]
    with pytest.raises(Rejected, match="old"):  # the same delivery replayed today
        await provider.verify(dataclasses.replace(signed_then, received_at=datetime.now(UTC)), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "timestamp", "id", "key", "stale", "future", "no id", "no signature"],
)
async def test_tampered_deliveries_are_rejected(tamper: str) -> None:
    body = sample_bytes("resend-email.complained.json")
    headers = signed(body)
    secret = SECRET
    now = int(time.time())
    if tamper == "body":
        body = body.replace(b"delivered@resend.dev", b"attacker@resend.dev")
    elif tamper == "signature":
        headers["svix-signature"] = signed(body + b" ")["svix-signature"]
    elif tamper == "timestamp":
        headers["svix-timestamp"] = str(now - 1)
    elif tamper == "id":
        headers["svix-id"] = "msg_other"
    elif tamper == "key":
        secret = OTHER
    elif tamper == "stale":
        headers = signed(body, timestamp=str(now - 301))
    elif tamper == "future":
        headers = signed(body, timestamp=str(now + 301))
    elif tamper == "no id":
        del headers["svix-id"]
    else:
        del headers["svix-signature"]
    with pytest.raises(Rejected):
        await make_provider("resend", secret=secret).verify(delivery(body, headers), None)  # type: ignore[arg-type]


async def test_a_retry_re_signed_hours_later_is_accepted_as_the_same_event() -> None:
    provider = make_provider("resend", secret=SECRET)
    body = sample_bytes("resend-email.complained.json")
    first = delivery(body, signed(body))
    # Svix's last retry comes about a day later, signed with that attempt's time.
    later = datetime.now(UTC) + timedelta(hours=27)
    retry = dataclasses.replace(
        delivery(body, signed(body, timestamp=str(int(later.timestamp())))), received_at=later
    )
    await provider.verify(first, None)  # type: ignore[arg-type]
    await provider.verify(retry, None)  # type: ignore[arg-type]
    [a], [b] = provider.parse(first).requests, provider.parse(retry).requests
    assert a.event_id == b.event_id == MSG_ID


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", ""])
def test_a_bad_secret_stops_start_up(secret: str) -> None:
    with pytest.raises(SettingsError, match=r"providers\.resend\.secret"):
        make_provider("resend", secret=secret)


def test_the_documented_complaint_becomes_an_unsubscribe() -> None:
    provider = make_provider("resend", secret=SECRET)
    body = sample_bytes("resend-email.complained.json")
    [request] = provider.parse(delivery(body, signed(body))).requests
    assert request.wanted is Wanted.UNSUBSCRIBED
    assert request.scope == Scope(channel=Channel.EMAIL)
    assert request.identity.email == COMPLAINED["data"]["to"][0]
    assert request.event_id == MSG_ID
    # When Resend created the event, not when the email was sent (data.created_at).
    assert request.occurred_at == datetime(2024, 2, 22, 23, 41, 12, 126000, UTC)
    assert (request.source, request.context["event"]) == ("resend", "email.complained")
    quiet = make_provider("resend", secret=SECRET, complaints="ignore")
    assert quiet.parse(delivery(body, signed(body))).requests == []


def test_each_recipient_of_an_event_gets_its_own_id() -> None:
    body = event(
        "email.complained", to=["a@example.com", "not an address", "c@example.com"], email_id="e"
    )
    parsed = make_provider("resend", secret=SECRET).parse(delivery(body, signed(body)))
    assert [(r.identity.email, r.event_id) for r in parsed.requests] == [
        ("a@example.com", f"{MSG_ID}:0"),
        ("c@example.com", f"{MSG_ID}:2"),
    ]
    assert len(parsed.invalid) == 1  # the bad address, not the whole event


@pytest.mark.parametrize(
    ("bounce", "bounces", "unsubscribes"),
    [
        ({"type": "Permanent", "subType": "General", "message": "gone"}, "unsubscribe", True),
        ({"type": "Transient", "subType": "MailboxFull", "message": "full"}, "unsubscribe", False),
        ({"type": "Undetermined", "subType": "Undetermined", "message": "?"}, "unsubscribe", False),
        (None, "unsubscribe", False),
        ({"type": "Permanent", "subType": "General", "message": "gone"}, "ignore", False),
    ],
)
def test_only_permanent_bounces_and_only_when_asked(
    bounce: dict[str, str] | None, bounces: str, unsubscribes: bool
) -> None:
    body = event("email.bounced", to=["a@example.com"], email_id="e", bounce=bounce)
    provider = make_provider("resend", secret=SECRET, bounces=bounces)
    parsed = provider.parse(delivery(body, signed(body)))
    assert [r.wanted for r in parsed.requests] == ([Wanted.UNSUBSCRIBED] if unsubscribes else [])
    assert parsed.ignored == (0 if unsubscribes else 1)


def test_contact_updates_unsubscribe_and_resubscribe_a_mapped_audience() -> None:
    mapped = make_provider("resend", secret=SECRET, types={"aud-1": ["95"]})
    unmapped = make_provider("resend", secret=SECRET)
    off = contact(True, "2024-03-01T10:00:00.000Z")
    on = contact(False, "2024-03-02T10:00:00.000Z")
    [stop] = mapped.parse(delivery(off, signed(off))).requests
    assert (stop.wanted, stop.scope) == (Wanted.UNSUBSCRIBED, Scope(type_ids=("95",)))
    assert stop.occurred_at == datetime(2024, 3, 1, 10, tzinfo=UTC)  # data.updated_at
    assert stop.context == {"event": "contact.updated", "list": "aud-1"}
    [start] = mapped.parse(delivery(on, signed(on))).requests
    assert (start.wanted, start.scope) == (Wanted.SUBSCRIBED, Scope(type_ids=("95",)))
    # Unmapped: an unsubscribe covers every email type; a "subscribed" flag subscribes no one.
    [everything] = unmapped.parse(delivery(off, signed(off))).requests
    assert everything.scope == Scope(channel=Channel.EMAIL)
    parsed = unmapped.parse(delivery(on, signed(on)))
    assert parsed.requests == [] and parsed.ignored == 1


@pytest.mark.parametrize(
    ("origin", "table", "unsubscribes"),
    [
        ("complaint", {}, True),
        ("complaint", {"complaints": "ignore"}, False),
        ("bounce", {}, False),
        ("bounce", {"bounces": "unsubscribe"}, True),
        ("manual", {"bounces": "unsubscribe"}, False),
    ],
)
def test_suppressions_follow_the_policies(
    origin: str, table: dict[str, str], unsubscribes: bool
) -> None:
    body = event(
        "suppression.added",
        id="s-1",
        email="a@example.com",
        origin=origin,
        source_id=None,
        created_at="2024-03-01T10:00:00.000Z",
    )
    parsed = make_provider("resend", secret=SECRET, **table).parse(delivery(body, signed(body)))
    assert [(r.identity.email, r.wanted) for r in parsed.requests] == (
        [("a@example.com", Wanted.UNSUBSCRIBED)] if unsubscribes else []
    )


@pytest.mark.parametrize(
    "kind", ["email.delivered", "email.opened", "email.suppressed", "contact.deleted", "nope"]
)
def test_other_events_are_ignored(kind: str) -> None:
    body = event(kind, to=["a@example.com"], email="a@example.com", unsubscribed=True)
    parsed = make_provider("resend", secret=SECRET).parse(delivery(body, signed(body)))
    assert parsed.requests == [] and parsed.ignored == 1 and parsed.invalid == []


@pytest.mark.parametrize(
    "body",
    [
        event("email.complained", email_id="e"),  # no recipients
        event("email.complained", to=["a@example.com"], created_at="yesterday"),
        json.dumps({"type": "contact.updated", "data": {"email": "a@example.com"}}).encode(),
    ],
)
def test_an_unusable_consent_event_is_set_aside(body: bytes) -> None:
    parsed = make_provider("resend", secret=SECRET).parse(delivery(body, signed(body)))
    assert parsed.requests == [] and len(parsed.invalid) == 1


def test_out_of_order_contact_updates_end_to_end(tmp_path: Path, sandbox: Sandbox) -> None:
    email = sandbox.contacts[AMELIE]["email"]
    assert sandbox.receives(AMELIE, "95")
    newer_off = contact(True, "2024-03-02T10:00:00.000Z", email)
    older_on = contact(False, "2024-03-01T10:00:00.000Z", email)
    providers = {"resend": {"secret": SECRET, "types": {"aud-1": ["95"]}}}
    with bridge_with(tmp_path, sandbox, providers) as client:
        first = post(client, "resend", newer_off, signed(newer_off, msg_id="msg_b"))
        assert first.status_code == 200
        apply_all(client)
        assert not sandbox.receives(AMELIE, "95")
        # The older "subscribed" state arrives late (Svix does not keep order).
        late = post(client, "resend", older_on, signed(older_on, msg_id="msg_a"))
        assert late.status_code == 200 and "1 recorded" in late.text
        apply_all(client)
        statuses = {r.request.event_id: r.status for r in recorded(client)}
    assert statuses == {"msg_b": Status.APPLIED, "msg_a": Status.SUPERSEDED}
    assert not sandbox.receives(AMELIE, "95")
