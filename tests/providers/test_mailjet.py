"""Mailjet: Basic credentials, every documented sample, grouped events, ids and lists."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from bridge.consent import Channel, ConsentRequest, Scope, Wanted
from tests.providers.webhooks import (
    delivery,
    json_body,
    make_provider,
    sample,
    sample_bytes,
)

USER = "mailjet"
PASSWORD = "Ab3dEf6hIj9kLm2n"  # letters and digits: it travels inside the callback URL
SAMPLES = {"unsub": "mailjet-unsub.json", "spam": "mailjet-spam.json"}
# The documented bounce event (github.com/mailjet/api-documentation, guides/_event-api.md).
BOUNCE = {
    "event": "bounce",
    "time": 1430812195,
    "MessageID": 13792286917004336,
    "email": "bounce@mailjet.com",
    "mj_campaign_id": 0,
    "mj_contact_id": 0,
    "customcampaign": "",
    "CustomID": "helloworld",
    "Payload": "",
    "blocked": True,
    "hard_bounce": True,
    "error_related_to": "recipient",
    "error": "user unknown",
}


def event(kind: str = "unsub", **changes: Any) -> dict[str, Any]:
    """A documented event, changed."""
    found: dict[str, Any] = dict(BOUNCE) if kind == "bounce" else sample(SAMPLES[kind])
    return {**found, **changes}


# Mailjet with the test credentials and the settings given.
provider = partial(make_provider, "mailjet", username=USER, password=PASSWORD)


def test_each_documented_sample_becomes_the_right_request() -> None:
    parser = provider(types={"1": ["93", "37846"]}, bounces="unsubscribe")
    expectations = {
        "mailjet-unsub.json": (Scope(type_ids=("93", "37846")), "20547674933128000"),
        "mailjet-spam.json": (Scope(channel=Channel.EMAIL), "13792286917004336"),
    }
    for name, (scope, message_id) in expectations.items():
        data = sample(name)
        # The MessageID is kept exactly as written, digit for digit (it is above 2**53).
        assert f'"MessageID": {message_id},' in sample_bytes(name).decode()
        [request] = parser.parse(delivery(sample_bytes(name))).requests
        assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, scope), name
        assert request.identity.email == data["email"].lower()
        assert request.event_id == f"{message_id}|{data['event']}|{data['time']}"
        assert request.occurred_at == datetime.fromtimestamp(data["time"], UTC)
        assert request.source == "mailjet"
        assert request.context["event"] == data["event"]
    [spam] = parser.parse(delivery(sample_bytes("mailjet-spam.json"))).requests
    assert spam.context["feedback_loop"] == "JMRPP"
    [unsub] = parser.parse(delivery(sample_bytes("mailjet-unsub.json"))).requests
    assert unsub.context["list"] == "1"
    [bounce] = parser.parse(delivery(json_body(event("bounce")))).requests
    assert bounce.event_id == "13792286917004336|bounce|1430812195"
    assert bounce.scope == Scope(channel=Channel.EMAIL)


def test_list_ids_and_message_ids() -> None:
    parser = provider(types={"7": ["95"]})

    def only(data: dict[str, Any]) -> ConsentRequest:
        [request] = parser.parse(delivery(json_body(data))).requests
        return request

    assert only(event(mj_list_id=7)).scope == Scope(type_ids=("95",))
    assert only(event(mj_list_id="7")).scope == Scope(type_ids=("95",))
    for unlisted in (0, "", None, 8):
        assert only(event(mj_list_id=unlisted)).scope == Scope(channel=Channel.EMAIL), unlisted
    assert "list" not in only(event(mj_list_id=0)).context
    # Grouped events may carry only the string `mj_message_id`.
    grouped = {k: v for k, v in event().items() if k != "MessageID"}
    grouped["mj_message_id"] = "19421777835146490"
    assert only(grouped).event_id == "19421777835146490|unsub|1433334941"
    assert only(event(email="API@Mailjet.com")).identity.email == "api@mailjet.com"


def test_policies_for_complaints_and_bounces() -> None:
    quiet = provider(complaints="ignore")
    parsed = quiet.parse(delivery(sample_bytes("mailjet-spam.json")))
    assert parsed.requests == [] and parsed.ignored == 1
    # Bounces are ignored by default, and only hard ones count when they are not.
    assert provider().parse(delivery(json_body(event("bounce")))).requests == []
    strict = provider(bounces="unsubscribe")
    for soft in (False, None, "true"):
        parsed = strict.parse(delivery(json_body(event("bounce", hard_bounce=soft))))
        assert parsed.requests == [] and parsed.ignored == 1, soft


def test_one_bad_event_does_not_drop_the_others() -> None:
    good = event()
    no_email = {**good, "time": good["time"] + 1, "email": None}
    no_id = {**good, "MessageID": None}
    bad_time = {**good, "time": "later"}
    far_time = {**good, "time": 1e20}
    opened = {**good, "event": "open"}
    blocked = event("bounce", event="blocked")
    parsed = provider().parse(
        delivery(json_body(no_email, good, "junk", no_id, bad_time, far_time, opened, blocked))
    )
    assert [r.event_id for r in parsed.requests] == ["20547674933128000|unsub|1433334941"]
    assert len(parsed.invalid) == 4 and parsed.ignored == 3
