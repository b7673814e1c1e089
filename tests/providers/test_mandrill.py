"""Mandrill: the constructed sample's signature, the signed URL, tags, full batches."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.providers import Rejected
from bridge.providers.mandrill import mandrill_signature
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    PUBLIC_URL,
    bridge_with,
    delivery,
    make_provider,
    post,
    recorded,
)
from tests.providers.webhooks import sample as load_sample

SAMPLE = load_sample("mandrill-unsub-spam.constructed.json")
KEY: str = SAMPLE["webhook_key"]  # per its _note: the key and URL the signature was made with
SAMPLE_URL: str = SAMPLE["url"]
SAMPLE_EVENTS: list[dict[str, Any]] = json.loads(SAMPLE["form"]["mandrill_events"])
SIGNATURE = "X-Mandrill-Signature"
URL = PUBLIC_URL + "/webhooks/mandrill"  # what the bridge signs by default


def form(*events: Any) -> bytes:
    """A body as Mandrill posts it: one form field holding the JSON array."""
    return urlencode({"mandrill_events": json.dumps(events)}).encode()


def signed(body: bytes, url: str = URL, key: str = KEY) -> dict[str, str]:
    """The headers Mandrill sends with `body` for a webhook registered at `url`."""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        SIGNATURE: mandrill_signature(key, url, parse_qsl(body.decode())),
    }


def unsub(n: int, email: str, ts: int = 1_700_000_000, tags: list[str] | None = None) -> Any:
    """An unsub event for message `m{n}`."""
    return {
        "event": "unsub",
        "_id": f"m{n}",
        "ts": ts,
        "msg": {"email": email, "tags": tags or [], "_id": f"m{n}", "state": "sent"},
    }


async def test_the_constructed_sample_carries_a_good_signature() -> None:
    assert set(SAMPLE["form"]) == {"mandrill_events"}
    provider = make_provider("mandrill", webhook_key=KEY, url=SAMPLE_URL)
    body = SAMPLE["body"].encode()
    await provider.verify(delivery(body, SAMPLE["headers"], path="/webhooks/mandrill"), None)  # type: ignore[arg-type]
    # Without the `url` setting the bridge signs its own public URL, which is not the sample's.
    default = make_provider("mandrill", webhook_key=KEY)
    with pytest.raises(Rejected, match=re.escape(f"signed URL {URL}")):
        await default.verify(delivery(body, SAMPLE["headers"], path="/webhooks/mandrill"), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "key", "url", "query", "no signature", "not a form", "extra field"],
)
async def test_tampered_deliveries_are_rejected(tamper: str) -> None:
    body = SAMPLE["body"].encode()
    headers = dict(SAMPLE["headers"])
    key, url, path = KEY, SAMPLE_URL, "/webhooks/mandrill"
    if tamper == "body":
        body = body.replace(b"unsub", b"open")
    elif tamper == "signature":
        headers[SIGNATURE] = signed(body + b"x", SAMPLE_URL)[SIGNATURE]
    elif tamper == "key":
        key = "another-webhook-key"
    elif tamper == "url":
        url = "https://example.com/webhooks/mandrill/"
    elif tamper == "query":
        url, path = "", "/webhooks/mandrill?source=attacker"  # default URL: the public one
        headers = signed(body, URL)
    elif tamper == "no signature":
        del headers[SIGNATURE]
    elif tamper == "not a form":
        body = b"\xff\xfe"
    else:
        body += b"&mandrill_events_extra=1"
    table = {"webhook_key": key, **({"url": url} if url else {})}
    with pytest.raises(Rejected):
        await make_provider("mandrill", **table).verify(delivery(body, headers, path=path), None)  # type: ignore[arg-type]


async def test_the_signed_url_is_the_public_one_with_its_query() -> None:
    body = form(unsub(1, "a@example.com"))
    provider = make_provider("mandrill", webhook_key=KEY)
    path = "/webhooks/mandrill?account=7"
    await provider.verify(delivery(body, signed(body, URL + "?account=7"), path=path), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["", "example.com/webhooks/mandrill", 7])
def test_a_bad_url_setting_stops_start_up(url: object) -> None:
    with pytest.raises(SettingsError, match=r"providers\.mandrill\.url"):
        make_provider("mandrill", webhook_key=KEY, url=url)


def test_the_key_is_required() -> None:
    with pytest.raises(SettingsError, match=r"providers\.mandrill\.webhook_key: required"):
        make_provider("mandrill")


def test_the_sample_becomes_the_right_requests() -> None:
    provider = make_provider("mandrill", webhook_key=KEY)
    parsed = provider.parse(delivery(SAMPLE["body"].encode()))
    assert [(r.wanted, r.context["event"]) for r in parsed.requests] == [
        (Wanted.UNSUBSCRIBED, "unsub"),
        (Wanted.UNSUBSCRIBED, "spam"),
    ]
    for request, event in zip(parsed.requests, SAMPLE_EVENTS, strict=True):
        assert request.identity.email == event["msg"]["email"]
        assert request.event_id == f"{event['_id']}:{event['event']}:{event['ts']}"
        assert request.occurred_at.timestamp() == event["ts"]
        assert request.scope == Scope(channel=Channel.EMAIL)  # its tag is not mapped
        assert request.source == "mandrill"


def test_the_first_mapped_tag_picks_the_types() -> None:
    provider = make_provider(
        "mandrill", webhook_key=KEY, types={"newsletter": ["93"], "digest": ["37846"]}
    )
    body = form(unsub(1, "a@example.com", tags=["welcome", "newsletter", "digest"]))
    [request] = provider.parse(delivery(body)).requests
    assert request.scope == Scope(type_ids=("93",))
    assert request.context == {"event": "unsub", "list": "newsletter"}
    [sample_request, _] = provider.parse(delivery(SAMPLE["body"].encode())).requests
    assert sample_request.scope == Scope(channel=Channel.EMAIL)


def test_policies_for_complaints_and_bounces() -> None:
    spam, hard, soft = (
        {**SAMPLE_EVENTS[1], "event": kind, "_id": kind}
        for kind in ("spam", "hard_bounce", "soft_bounce")
    )
    body = form(spam, hard, soft)
    default = make_provider("mandrill", webhook_key=KEY).parse(delivery(body))
    assert [r.context["event"] for r in default.requests] == ["spam"]
    quiet = make_provider("mandrill", webhook_key=KEY, complaints="ignore", bounces="unsubscribe")
    parsed = quiet.parse(delivery(body))
    assert [r.context["event"] for r in parsed.requests] == ["hard_bounce"]
    assert parsed.ignored == 2  # the spam (by policy) and the soft bounce (always)


def test_one_bad_event_does_not_drop_the_others() -> None:
    good = unsub(1, "a@example.com")
    no_email = {**unsub(2, "a@example.com"), "msg": {"tags": []}}
    no_id = {**unsub(3, "a@example.com"), "_id": None}
    no_msg = {**unsub(4, "a@example.com"), "msg": "gone"}
    bad_time = {**unsub(5, "a@example.com"), "ts": "yesterday"}
    huge_time = {**unsub(6, "a@example.com"), "ts": 10**20}
    opened = {**unsub(7, "a@example.com"), "event": "open"}
    sync = {"type": "blacklist", "action": "add", "reject": {"email": "a@example.com"}}
    listed = {**unsub(8, "a@example.com"), "event": ["unsub"]}
    body = form(no_email, good, "junk", no_id, no_msg, bad_time, huge_time, opened, sync, listed)
    parsed = make_provider("mandrill", webhook_key=KEY).parse(delivery(body))
    assert [r.event_id for r in parsed.requests] == ["m1:unsub:1700000000"]
    assert len(parsed.invalid) == 5 and parsed.ignored == 4


def test_an_empty_batch_is_fine() -> None:
    parsed = make_provider("mandrill", webhook_key=KEY).parse(delivery(form()))
    assert parsed.requests == [] and parsed.ignored == 0


def test_the_host_header_does_not_change_the_signed_url(tmp_path: Path, sandbox: Sandbox) -> None:
    body = form(unsub(1, "a@example.com"))
    # Let the Host check pass these names, to see that the signature ignores them anyway.
    hosts = {"BRIDGE_ALLOWED_HOSTS": "attacker.example,example.com"}
    with bridge_with(tmp_path, sandbox, {"mandrill": {"webhook_key": KEY}}, env=hosts) as client:
        spoofed = {"Host": "attacker.example"}
        # Signed for the public URL: accepted whatever Host the request claims.
        ok = post(client, "mandrill", body, {**signed(body), **spoofed})
        assert ok.status_code == 200
        # Signed for the URL the Host header would give: refused.
        theirs = signed(body, "https://attacker.example/webhooks/mandrill")
        refused = post(client, "mandrill", body, {**theirs, **spoofed})
        assert refused.status_code == 401
    with bridge_with(
        tmp_path, sandbox, {"mandrill": {"webhook_key": KEY, "url": SAMPLE_URL}}, env=hosts
    ) as client:
        for host in ("example.com", "consent.example.com", "attacker.example"):
            response = post(client, "mandrill", body, {**signed(body, SAMPLE_URL), "Host": host})
            assert response.status_code == 200, host


def test_a_full_batch_is_recorded_in_one_transaction(tmp_path: Path, sandbox: Sandbox) -> None:
    events = [unsub(i, f"person{i}@example.com") for i in range(1000)]
    body = form(*events)
    with bridge_with(tmp_path, sandbox, {"mandrill": {"webhook_key": KEY}}) as client:
        stats = client.app.state.services.ledger.stats  # type: ignore[attr-defined]
        before = stats.transactions
        response = post(client, "mandrill", body, signed(body))
        assert response.status_code == 200
        assert "1000 recorded, 0 duplicate, 0 ignored, 0 invalid" in response.text
        assert stats.transactions == before + 1
        assert len(recorded(client)) == 1000
