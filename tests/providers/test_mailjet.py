"""Mailjet: Basic credentials, every documented sample, grouped events, end to end."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Channel, ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import LedgerUnavailable
from bridge.providers import Delivery, Malformed, Rejected
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

USER = "mailjet"
PASSWORD = "Ab3dEf6hIj9kLm2n"  # letters and digits: it travels inside the callback URL
JANE = "63a07ddf05a32042dffac965"
SAMPLES = {"unsub": "mailjet-unsub.json", "spam": "mailjet-spam.json"}
# The documented bounce event (mailjet/api-documentation guides/_event-api.md).
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


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """The Authorization header Mailjet builds from the callback URL's credentials."""
    return basic_auth(user, password)


def event(kind: str = "unsub", **changes: Any) -> dict[str, Any]:
    """A documented event, changed."""
    found: dict[str, Any] = dict(BOUNCE) if kind == "bounce" else sample(SAMPLES[kind])
    return {**found, **changes}


def body_of(*events: Any) -> bytes:
    """One event as Mailjet posts it (Version 1), or a grouped array (Version 2)."""
    return json.dumps(events[0] if len(events) == 1 else list(events)).encode()


def provider(**table: Any) -> Any:
    """Mailjet with the test credentials and these settings."""
    return make_provider("mailjet", username=USER, password=PASSWORD, **table)


async def verify(signed: Delivery) -> None:
    """Mailjet's verify (it needs no HTTP client)."""
    await provider().verify(signed, None)


async def test_the_right_credentials_are_accepted() -> None:
    await verify(delivery(sample_bytes("mailjet-unsub.json"), basic()))


@pytest.mark.parametrize(
    "headers",
    [
        basic(user="someone-else"),
        basic(password="wrong"),
        basic(password=PASSWORD[:-1]),
        {},
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic %%%not-base64"},
        {"Authorization": "Basic " + base64.b64encode(f"{USER}{PASSWORD}".encode()).decode()},
    ],
    ids=[
        "wrong user",
        "wrong password",
        "shorter password",
        "missing header",
        "not Basic",
        "bad base64",
        "no colon",
    ],
)
async def test_wrong_credentials_are_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(Rejected):
        await verify(delivery(body_of(event()), headers))


@pytest.mark.parametrize("table", [{"password": "x"}, {"username": "u"}, {"username": "a:b"}])
def test_missing_or_unusable_credentials_stop_start_up(table: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"providers\.mailjet\.(username|password)"):
        make_provider("mailjet", **table)


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
    [bounce] = parser.parse(delivery(body_of(event("bounce")))).requests
    assert bounce.event_id == "13792286917004336|bounce|1430812195"
    assert bounce.scope == Scope(channel=Channel.EMAIL)


def test_list_ids_and_message_ids() -> None:
    parser = provider(types={"7": ["95"]})

    def only(data: dict[str, Any]) -> ConsentRequest:
        [request] = parser.parse(delivery(body_of(data))).requests
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
    assert provider().parse(delivery(body_of(event("bounce")))).requests == []
    strict = provider(bounces="unsubscribe")
    for soft in (False, None, "true"):
        parsed = strict.parse(delivery(body_of(event("bounce", hard_bounce=soft))))
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
        delivery(body_of(no_email, good, "junk", no_id, bad_time, far_time, opened, blocked))
    )
    assert [r.event_id for r in parsed.requests] == ["20547674933128000|unsub|1433334941"]
    assert len(parsed.invalid) == 4 and parsed.ignored == 3


@pytest.mark.parametrize("body", [b"{not json", b'"unsub"', b"null", b"[" * 100_000])
def test_an_unreadable_body_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        provider().parse(delivery(body))


def post(client: Any, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/webhooks/mailjet",
        content=body,
        headers={"content-type": "application/json", **(basic() if headers is None else headers)},
    )


def test_end_to_end_into_the_sandbox(tmp_path: Path, sandbox: Sandbox) -> None:
    email = sandbox.contacts[JANE]["email"]
    jane = [c for c, contact in sandbox.contacts.items() if contact.get("email") == email]
    assert all(sandbox.receives(c, "37846") for c in jane)
    unsub = event(email=email.upper(), mj_list_id=12)
    spam = event("spam", email="someone@example.com")
    batch = body_of(unsub, spam, event("spam", email=None, MessageID=1))
    table = {"username": USER, "password": PASSWORD, "types": {"12": ["37846"]}}
    with bridge_with(tmp_path, sandbox, {"mailjet": table}) as client:
        response = post(client, batch)
        assert response.status_code == 200
        assert response.text == "ok: 2 recorded, 0 duplicate, 0 ignored, 1 invalid\n"
        again = post(client, batch)
        assert again.status_code == 200 and "2 duplicate" in again.text
        assert post(client, batch, basic(password="guess")).status_code == 401
        assert post(client, batch, {}).status_code == 401
        assert post(client, b"{not json").status_code == 400
        assert len(recorded(client)) == 2
        apply_all(client)
    assert not any(sandbox.receives(c, "37846") for c in jane)


def test_an_older_unsubscribe_arriving_late_does_not_win(tmp_path: Path, sandbox: Sandbox) -> None:
    # Jane opted in to offers (95) on the preference page; a Mailjet unsubscribe from an
    # hour before that arrives later (a retry after an outage). The newer choice stands.
    email = sandbox.contacts[JANE]["email"]
    now = datetime.now(UTC)
    opted_in = ConsentRequest(
        identity=Identity(email=email),
        wanted=Wanted.SUBSCRIBED,
        scope=Scope(type_ids=("95",)),
        occurred_at=now,
        source="preferences",
        event_id="opt-in-95",
    )
    older = event(email=email, mj_list_id=5, time=int((now - timedelta(hours=1)).timestamp()))
    table = {"username": USER, "password": PASSWORD, "types": {"5": ["95"]}}
    with bridge_with(tmp_path, sandbox, {"mailjet": table}) as client:
        ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
        client.portal.call(ledger.record, [opted_in])  # type: ignore[union-attr]
        assert post(client, body_of(older)).status_code == 200
        apply_all(client)
    assert sandbox.receives(JANE, "95")


def test_a_ledger_failure_is_a_503(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_record(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database is locked")

    table = {"username": USER, "password": PASSWORD}
    with bridge_with(tmp_path, sandbox, {"mailjet": table}) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        monkeypatch.setattr(services.ledger, "record", failing_record)
        assert post(client, body_of(event())).status_code == 503
