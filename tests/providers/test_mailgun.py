"""Mailgun: the SDK's signature vector, every documented sample, tampering, the binding."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.providers import Delivery, Rejected
from bridge.providers.mailgun import MAX_AGE, MAX_AHEAD
from bridge.sandbox import Sandbox
from tests.providers.webhooks import (
    bridge_with,
    delivery,
    make_provider,
    post,
    recorded,
    sample,
    vectors,
)

KEY = "key-test-0123456789abcdef0123456789"
TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
SAMPLES = {
    "unsubscribed": "mailgun-unsubscribed.event-data.json",
    "complained": "mailgun-complained.event-data.json",
    "failed": "mailgun-failed.event-data.json",
}


def signature_block(
    key: str = KEY, timestamp: str | None = None, token: str = TOKEN
) -> dict[str, str]:
    """A signature block as Mailgun writes it, signed now unless told otherwise."""
    timestamp = timestamp or str(int(time.time()))
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def envelope(event_data: Any, block: dict[str, Any] | None = None) -> bytes:
    """A webhook body: the signature block and the event."""
    return json.dumps(
        {"signature": signature_block() if block is None else block, "event-data": event_data}
    ).encode()


def at(signed: Delivery, unix: float) -> Delivery:
    """The delivery as if it arrived at `unix` seconds (the freshness rule's clock)."""
    return dataclasses.replace(signed, received_at=datetime.fromtimestamp(unix, UTC))


def event(kind: str = "unsubscribed", **changes: Any) -> dict[str, Any]:
    """A documented event-data sample, changed."""
    found: dict[str, Any] = sample(SAMPLES[kind])
    return {**found, **changes}


async def verify(signed: Delivery, key: str = KEY) -> None:
    """Mailgun's verify with this key (it needs no HTTP client)."""
    await make_provider("mailgun", signing_key=key).verify(signed, None)  # type: ignore[arg-type]


async def test_sdk_signature_vector() -> None:
    vector = cast(dict[str, Any], vectors("mailgun_hmac_sha256"))  # one vector, not a list
    key = vector["signing_key"]
    block = {
        "timestamp": vector["timestamp"],
        "token": vector["token"],
        "signature": vector["expected_signature_hex"],
    }
    signed_at = int(vector["timestamp"])
    body = envelope(event(), block)
    await verify(at(delivery(body), signed_at + 60), key)
    upper = envelope(event(), {**block, "signature": block["signature"].upper()})
    await verify(at(delivery(upper), signed_at + 60), key)
    negative = envelope(event(), {**block, "token": vector["negative_token"]})
    with pytest.raises(Rejected, match="does not match"):
        await verify(at(delivery(negative), signed_at + 60), key)
    # The production clock is today's: a block signed in 2014 is refused as stale.
    with pytest.raises(Rejected, match="hours ago"):
        await verify(delivery(body), key)


@pytest.mark.parametrize(
    "tamper",
    [
        "signature",
        "timestamp",
        "token",
        "key",
        "no signature",
        "no timestamp",
        "no token",
        "signature not ascii",
        "not json",
        "no signature block",
        "signature block not an object",
        "timestamp not digits",
    ],
)
async def test_tampered_deliveries_are_rejected(tamper: str) -> None:
    block: dict[str, Any] = signature_block()
    body = None
    if tamper == "signature":
        block["signature"] = signature_block(token=TOKEN[::-1])["signature"]
    elif tamper == "timestamp":
        block["timestamp"] = str(int(block["timestamp"]) - 1)
    elif tamper == "token":
        block["token"] = TOKEN[::-1]
    elif tamper == "key":
        block = signature_block(key=KEY + "x")
    elif tamper.startswith("no ") and tamper != "no signature block":
        del block[tamper.removeprefix("no ")]
    elif tamper == "signature not ascii":
        block["signature"] = "é" * 64
    elif tamper == "not json":
        body = b"signature=" + json.dumps(block).encode()
    elif tamper == "no signature block":
        body = json.dumps({"event-data": event()}).encode()
    elif tamper == "signature block not an object":
        body = json.dumps({"signature": "x", "event-data": event()}).encode()
    else:
        # Validly signed, but full-width digits are not Unix seconds.
        block = signature_block(timestamp="\uff11\uff17" + "\uff10" * 8)
    signed = delivery(body if body is not None else envelope(event(), block))
    with pytest.raises(Rejected):
        await verify(signed)


async def test_freshness_window_covers_mailguns_retries_only() -> None:
    signed_at = 1_700_000_000
    body = envelope(event(), signature_block(timestamp=str(signed_at)))
    # Mailgun retries for 8 hours with the original block: the last retry is accepted...
    for late in (0, 8 * 3600 + 300, MAX_AGE.total_seconds() - 1):
        await verify(at(delivery(body), signed_at + late))
    await verify(at(delivery(body), signed_at - 60))
    # ...a block older than the window, or from the future beyond clock skew, is not.
    with pytest.raises(Rejected, match="hours ago"):
        await verify(at(delivery(body), signed_at + MAX_AGE.total_seconds() + 1))
    with pytest.raises(Rejected, match="future"):
        await verify(at(delivery(body), signed_at - MAX_AHEAD.total_seconds() - 1))


async def test_an_integer_timestamp_and_a_parent_signature_verify() -> None:
    block: dict[str, Any] = signature_block(timestamp="1700000000")
    block["timestamp"] = 1_700_000_000  # the docs type it as an int
    await verify(at(delivery(envelope(event(), block)), 1_700_000_000))
    # A subaccount's event: its own key signs `signature`, the parent's `parent-signature`.
    sub = signature_block(key="key-of-the-subaccount", timestamp="1700000000")
    sub["parent-signature"] = signature_block(timestamp="1700000000")["signature"]
    await verify(at(delivery(envelope(event(), sub)), 1_700_000_000))
    sub["parent-signature"] = sub["signature"]
    with pytest.raises(Rejected):
        await verify(at(delivery(envelope(event(), sub)), 1_700_000_000))


async def test_event_data_is_not_signed() -> None:
    # Mailgun signs timestamp + token only: a changed event verifies (see the module's
    # docstring for what bounds this: the freshness window and deduplication).
    block = signature_block()
    await verify(delivery(envelope(event(), block)))
    forged = event(recipient="someone-else@example.com")
    await verify(delivery(envelope(forged, block)))


async def test_the_composed_envelope_parses_but_does_not_verify() -> None:
    composed = sample("mailgun-webhook-envelope-unsubscribed.composed.json")
    body = json.dumps(composed).encode()
    signed_at = int(composed["signature"]["timestamp"])
    vector = cast(dict[str, Any], vectors("mailgun_hmac_sha256"))
    for key in (KEY, vector["signing_key"]):
        with pytest.raises(Rejected, match="does not match"):
            await verify(at(delivery(body), signed_at), key)
    [request] = make_provider("mailgun", signing_key=KEY).parse(delivery(body)).requests
    assert request.wanted is Wanted.UNSUBSCRIBED
    assert request.event_id == composed["event-data"]["id"]


def test_each_documented_sample_becomes_the_right_request() -> None:
    provider = make_provider("mailgun", signing_key=KEY, bounces="unsubscribe")
    for kind, name in SAMPLES.items():
        data = sample(name)
        [request] = provider.parse(delivery(envelope(data))).requests
        assert request.wanted is Wanted.UNSUBSCRIBED, name
        assert request.scope == Scope(channel=Channel.EMAIL), name
        assert request.identity.email == data["recipient"].lower()
        assert request.event_id == data["id"]
        assert request.occurred_at == datetime.fromtimestamp(data["timestamp"], UTC)
        assert request.source == "mailgun"
        assert request.context["event"] == kind
    # Failures are ignored by default (`bounces = "ignore"`).
    parsed = make_provider("mailgun", signing_key=KEY).parse(delivery(envelope(event("failed"))))
    assert parsed.requests == [] and parsed.ignored == 1


def test_an_email_is_lowercased() -> None:
    provider = make_provider("mailgun", signing_key=KEY)
    body = envelope(event(recipient=" Recipient@Example.COM"))
    [request] = provider.parse(delivery(body)).requests
    assert request.identity.email == "recipient@example.com"


def test_tags_and_mailing_lists_map_to_types() -> None:
    types = {"newsletter": ["93"], "offers": ["95", "93"], "news@mg.example.com": ["37846"]}
    provider = make_provider("mailgun", signing_key=KEY, types=types)

    def scope_of(data: dict[str, Any]) -> tuple[Scope, dict[str, Any]]:
        [request] = provider.parse(delivery(envelope(data))).requests
        return request.scope, dict(request.context)

    scope, context = scope_of(event(tags=["newsletter"]))
    assert scope == Scope(type_ids=("93",))
    assert context["list"] == "newsletter" and context["tags"] == ["newsletter"]
    # A tag unsubscribe leaves every tag of the message: every mapped tag's types, once each.
    scope, context = scope_of(event(tags=["welcome", "newsletter", "offers"]))
    assert scope == Scope(type_ids=("93", "95"))
    assert context["tags"] == ["welcome", "newsletter", "offers"]
    scope, context = scope_of(event(**{"mailing-list": {"address": "news@mg.example.com"}}))
    assert scope == Scope(type_ids=("37846",))
    assert context["mailing_list"] == "news@mg.example.com"
    # Nothing mapped: the email channel.
    assert scope_of(event(tags=["welcome"]))[0] == Scope(channel=Channel.EMAIL)
    assert scope_of(event(tags=[]))[0] == Scope(channel=Channel.EMAIL)
    assert scope_of(event(tags="newsletter"))[0] == Scope(channel=Channel.EMAIL)  # not a list
    # A complaint is domain-wide in Mailgun, whatever the message's tags.
    assert scope_of(event("complained", tags=["newsletter"]))[0] == Scope(channel=Channel.EMAIL)


def test_policies_for_complaints_and_bounces() -> None:
    quiet = make_provider("mailgun", signing_key=KEY, complaints="ignore")
    parsed = quiet.parse(delivery(envelope(event("complained"))))
    assert parsed.requests == [] and parsed.ignored == 1
    strict = make_provider("mailgun", signing_key=KEY, bounces="unsubscribe")
    [bounce] = strict.parse(delivery(envelope(event("failed", reason="bounce")))).requests
    assert bounce.wanted is Wanted.UNSUBSCRIBED and bounce.context["event"] == "failed"
    # Not bounces: a temporary failure, and sends dropped for an earlier unsubscribe or complaint.
    for changes in (
        {"severity": "temporary", "reason": "generic"},
        {"reason": "suppress-unsubscribe"},
        {"reason": "suppress-complaint"},
    ):
        parsed = strict.parse(delivery(envelope(event("failed", **changes))))
        assert parsed.requests == [] and parsed.ignored == 1, changes


def test_other_events_are_ignored_and_unusable_ones_are_invalid() -> None:
    provider = make_provider("mailgun", signing_key=KEY)
    # A kind that is not text (a list, an object) is no consent event either, not a crash.
    for kind in ("delivered", "opened", "clicked", "accepted", None, ["unsubscribed"], {}):
        parsed = provider.parse(delivery(envelope(event(event=kind))))
        assert parsed.requests == [] and parsed.ignored == 1, kind
    for changes in ({"recipient": None}, {"id": ""}, {"timestamp": "soon"}, {"timestamp": 1e20}):
        parsed = provider.parse(delivery(envelope(event(**changes))))
        assert parsed.requests == [] and len(parsed.invalid) == 1, changes


def test_a_stale_block_or_a_body_that_is_not_json_is_refused(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    # Freshness is judged by the endpoint's clock when the delivery arrives.
    stale = signature_block(timestamp=str(int(time.time() - MAX_AGE.total_seconds() - 60)))
    with bridge_with(tmp_path, sandbox, {"mailgun": {"signing_key": KEY}}) as client:
        assert post(client, "mailgun", envelope(event(id="stale"), stale)).status_code == 401
        assert post(client, "mailgun", b"not json").status_code == 401
        assert recorded(client) == []


def test_one_signature_block_carries_one_event_only(tmp_path: Path, sandbox: Sandbox) -> None:
    # The review's finding: one signed block carried two invented unsubscribes for other
    # people, with new event ids. The block is bound to the event-data it first came with.
    block = signature_block(token="c" * 50)
    first = envelope(event(), block)
    with bridge_with(tmp_path, sandbox, {"mailgun": {"signing_key": KEY}}) as client:
        assert post(client, "mailgun", first).status_code == 200
        for forged in (
            event(id="invented-1", recipient="victim@example.com"),
            event(id="invented-2", recipient="other@example.com"),
            {**event(), "event": "opened"},  # the same block turned into anything else, too
        ):
            refused = post(client, "mailgun", envelope(forged, block))
            assert refused.status_code == 401
            assert "already used for another event" in refused.text
        # Mailgun's own retry of the first delivery is the same event-data: accepted once more.
        retry = post(client, "mailgun", first)
        assert retry.status_code == 200 and "1 duplicate" in retry.text
        assert [r.request.event_id for r in recorded(client)] == [event()["id"]]


def test_a_block_first_seen_on_an_ignored_event_cannot_become_an_unsubscribe(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    block = signature_block(token="d" * 50)
    opened = {**event(), "event": "opened"}
    with bridge_with(tmp_path, sandbox, {"mailgun": {"signing_key": KEY}}) as client:
        assert "1 ignored" in post(client, "mailgun", envelope(opened, block)).text
        # Same event id, now an unsubscribe for someone else: refused, nothing recorded.
        turned = {**opened, "event": "unsubscribed", "recipient": "victim@example.com"}
        assert post(client, "mailgun", envelope(turned, block)).status_code == 401
        assert recorded(client) == []


def test_the_binding_holds_across_processes(tmp_path: Path, sandbox: Sandbox) -> None:
    # Two bridges on one ledger, as two web processes: the second sees the first's binding.
    block = signature_block(token="e" * 50)
    providers = {"mailgun": {"signing_key": KEY}}
    with bridge_with(tmp_path, sandbox, providers) as first:
        assert post(first, "mailgun", envelope(event(), block)).status_code == 200
    with bridge_with(tmp_path, sandbox, providers) as second:
        forged = envelope(event(id="invented", recipient="victim@example.com"), block)
        assert post(second, "mailgun", forged).status_code == 401
