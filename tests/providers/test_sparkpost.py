"""SparkPost: Basic or token credentials, the documented samples, the test batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Channel, Scope, Wanted
from bridge.providers import Rejected
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    basic_auth,
    bridge_with,
    delivery,
    make_provider,
    post,
    sample,
)

BASIC = {"username": "sparkpost", "password": "correct horse battery staple"}
TOKEN = "oauth-access-token-0123456789"
TEST_BATCH = b'[{"msys": {}}]'  # what SparkPost posts when a webhook is created or validated


def basic(username: str = BASIC["username"], password: str = BASIC["password"]) -> dict[str, str]:
    """An Authorization header with these Basic credentials."""
    return basic_auth(username, password)


AUTH = basic()


def filled(name: str, n: int = 1, **values: Any) -> dict[str, Any]:
    """A documented sample with its placeholders given real values (and an event_id, which
    the unsubscribe samples leave out)."""
    wrapper = sample(name)
    [(group, event)] = wrapper["msys"].items()
    event = {
        **event,
        "event_id": f"9235692769381385{n}",
        "rcpt_to": "recipient@example.com",
        "timestamp": "1700000000",
        "campaign_id": "Spring Newsletter",
        **values,
    }
    return {"msys": {group: event}}


def message_event(kind: str, n: int, **values: Any) -> dict[str, Any]:
    """A message_event (bounce, spam_complaint, ...) with the fields these tests need."""
    event = {
        "type": kind,
        "event_id": f"e{n}",
        "rcpt_to": f"{n}@example.com",
        "timestamp": "1700000000",
        "campaign_id": "",
        **values,
    }
    return {"msys": {"message_event": event}}


def body_of(*events: Any) -> bytes:
    """A batch as SparkPost posts it: a JSON array."""
    return json.dumps(list(events)).encode()


@pytest.mark.parametrize(
    ("table", "headers", "accepted"),
    [
        (BASIC, AUTH, True),
        (BASIC, {"Authorization": AUTH["Authorization"].replace("Basic", "basic")}, True),
        (BASIC, basic(password="wrong"), False),
        (BASIC, basic(username="someone"), False),
        (BASIC, basic(password=BASIC["password"] + "x"), False),
        (BASIC, {"Authorization": "Basic %%%"}, False),
        (BASIC, {"Authorization": f"Bearer {TOKEN}"}, False),
        (BASIC, {}, False),
        ({"token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, True),
        ({"token": TOKEN}, {"X-MessageSystems-Webhook-Token": TOKEN}, True),
        ({"token": TOKEN}, {"Authorization": "Bearer another-token"}, False),
        ({"token": TOKEN}, {"X-MessageSystems-Webhook-Token": TOKEN[:-1]}, False),
        ({"token": TOKEN}, {"Authorization": TOKEN}, False),
        ({"token": TOKEN}, AUTH, False),
        ({"token": TOKEN}, {}, False),
        ({**BASIC, "token": TOKEN}, AUTH, True),
        ({**BASIC, "token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}, True),
        ({**BASIC, "token": TOKEN}, basic(password="wrong"), False),
    ],
)
async def test_credentials(table: dict[str, str], headers: dict[str, str], accepted: bool) -> None:
    provider = make_provider("sparkpost", **table)
    received = delivery(TEST_BATCH, headers)
    if accepted:
        await provider.verify(received, None)  # type: ignore[arg-type]
    else:
        with pytest.raises(Rejected):
            await provider.verify(received, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({}, "providers.sparkpost: set username and password"),
        ({"username": "sparkpost"}, "providers.sparkpost.password: required"),
        ({"password": "secret"}, "providers.sparkpost.username: required"),
        ({"token": ""}, "providers.sparkpost.token: required"),
        ({"token": "x"}, "providers.sparkpost.token: too short to be secret"),
        (
            {"username": "a:b", "password": "c" * 16},
            "providers.sparkpost.username: must not contain",
        ),
    ],
)
def test_credentials_are_required_at_start_up(table: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match="BRIDGE_CONFIG") as caught:
        make_provider("sparkpost", **table)
    assert fragment in str(caught.value)


def test_the_documented_samples_as_published_are_set_aside() -> None:
    # Placeholders ("RECIPIENT_EMAIL_ADDRESS", "UNIX_TIMESTAMP") and no event_id.
    provider = make_provider("sparkpost", **BASIC)
    for name in ("sparkpost-list_unsubscribe.json", "sparkpost-link_unsubscribe.json"):
        parsed = provider.parse(delivery(body_of(sample(name)), AUTH))
        assert parsed.requests == [] and len(parsed.invalid) == 1, name


def test_the_documented_samples_become_unsubscribes() -> None:
    provider = make_provider("sparkpost", **BASIC, types={"Spring Newsletter": ["93"]})
    for n, name in enumerate(
        ["sparkpost-list_unsubscribe.json", "sparkpost-link_unsubscribe.json"]
    ):
        event = filled(name, n)
        [request] = provider.parse(delivery(body_of(event), AUTH)).requests
        [details] = event["msys"].values()
        assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, Scope(type_ids=("93",)))
        assert request.identity.email == "recipient@example.com"
        assert request.event_id == details["event_id"]
        assert request.occurred_at.timestamp() == 1_700_000_000
        assert request.context == {"event": details["type"], "list": "Spring Newsletter"}
        assert request.source == "sparkpost"
    no_campaign = filled("sparkpost-list_unsubscribe.json", campaign_id="")
    [everything] = provider.parse(delivery(body_of(no_campaign), AUTH)).requests
    assert everything.scope == Scope(channel=Channel.EMAIL)


@pytest.mark.parametrize(
    ("kind", "bounce_class", "unsubscribes"),
    [
        ("bounce", "10", True),
        ("bounce", "30", True),
        ("bounce", "90", True),
        ("bounce", 10, True),
        ("out_of_band", "10", True),
        ("bounce", "1", False),
        ("bounce", "20", False),
        ("bounce", "25", False),
        ("bounce", "50", False),
        ("bounce", None, False),
        ("delay", "10", False),
    ],
)
def test_only_hard_bounces_and_only_when_asked(
    kind: str, bounce_class: object, unsubscribes: bool
) -> None:
    body = body_of(message_event(kind, 1, bounce_class=bounce_class))
    strict = make_provider("sparkpost", **BASIC, bounces="unsubscribe")
    parsed = strict.parse(delivery(body, AUTH))
    assert [r.wanted for r in parsed.requests] == ([Wanted.UNSUBSCRIBED] if unsubscribes else [])
    assert make_provider("sparkpost", **BASIC).parse(delivery(body, AUTH)).requests == []


def test_complaints_follow_their_policy() -> None:
    body = body_of(message_event("spam_complaint", 1, fbtype="abuse"))
    [request] = make_provider("sparkpost", **BASIC).parse(delivery(body, AUTH)).requests
    assert (request.wanted, request.identity.email) == (Wanted.UNSUBSCRIBED, "1@example.com")
    quiet = make_provider("sparkpost", **BASIC, complaints="ignore")
    assert quiet.parse(delivery(body, AUTH)).requests == []


def test_the_test_batch_and_an_empty_one_record_nothing() -> None:
    provider = make_provider("sparkpost", **BASIC)
    parsed = provider.parse(delivery(TEST_BATCH, AUTH))
    assert (parsed.requests, parsed.ignored, parsed.invalid) == ([], 1, [])
    assert provider.parse(delivery(b"[]", AUTH)).requests == []


def test_one_bad_event_does_not_drop_the_others() -> None:
    good = filled("sparkpost-list_unsubscribe.json")
    [(group, details)] = good["msys"].items()

    def variant(**changes: Any) -> dict[str, Any]:
        return {"msys": {group: {**details, **changes}}}

    events = [
        variant(rcpt_to="RECIPIENT_EMAIL_ADDRESS", event_id="x1"),
        good,
        "junk",
        variant(event_id=None),
        variant(event_id="x2", timestamp="UNIX_TIMESTAMP"),
        variant(event_id="x3", timestamp=str(10**20)),
        variant(event_id="x4", type="open"),
        variant(event_id="x5", type=["list_unsubscribe"]),
        {"msys": {"track_event": {**details, "event_id": "x6", "type": "click"}}},
        {"msys": []},
        {"msys": {}},
    ]
    parsed = make_provider("sparkpost", **BASIC).parse(delivery(body_of(*events), AUTH))
    assert [r.event_id for r in parsed.requests] == [details["event_id"]]
    assert len(parsed.invalid) == 4 and parsed.ignored == 6


def test_the_test_batch_is_answered_200(tmp_path: Path, sandbox: Sandbox) -> None:
    with bridge_with(tmp_path, sandbox, {"sparkpost": BASIC}) as client:
        created = post(client, "sparkpost", TEST_BATCH, AUTH)
        assert created.status_code == 200  # or SparkPost refuses to create the webhook
        assert "0 recorded, 0 duplicate, 1 ignored" in created.text
        assert post(client, "sparkpost", TEST_BATCH).status_code == 401
