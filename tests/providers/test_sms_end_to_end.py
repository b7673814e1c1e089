"""Each SMS provider end to end: a signed text from a contact's phone, through to Intercom.

Sam's phone is stored in the sandbox as he typed it, "(415) 555-0123", and the providers send
it in E.164 (or without the plus): the bridge must find him anyway. The table names what is
particular to each provider (how it signs a text, what it answers); the story is the same for
all five: a forged text is refused and changes nothing, STOP opts Sam out of every SMS type,
a retry is a duplicate, HELP changes nothing, START restores what STOP took, and free text
that reads as a revocation is held for review.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.ledger import LedgerUnavailable, Status
from bridge.sandbox import Sandbox
from tests.providers import test_messagebird, test_plivo, test_telnyx, test_twilio, test_vonage
from tests.providers.webhooks import apply_all, bridge_with, recorded

SAM = "63a07de705a32042dffac98c"
SMS_TYPES = ("108", "124")  # opt-in newsletters, opt-out appointment reminders
EMPTY_XML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass(frozen=True)
class Sms:
    name: str
    table: dict[str, Any]
    signs: ModuleType  # its test module: `inbound` and `forged_inbound`
    refused: int = 401
    # Its answer to a delivery that recorded `n` requests (Twilio and Plivo answer in XML).
    answer: Callable[[int], str] = lambda n: f"ok: {n} recorded, "
    timed: bool = True  # its texts carry the time they were sent (Twilio's and Plivo's don't)

    def post(
        self, client: TestClient, text: str, message_id: str, at: datetime, *, forged: bool = False
    ) -> httpx.Response:
        """Sam's text as the provider delivers it."""
        make = self.signs.forged_inbound if forged else self.signs.inbound
        body, headers = make(text, "+14155550123", message_id, at=at)
        return client.post(f"/webhooks/{self.name}", content=body, headers=headers)


CASES = [
    Sms(
        "twilio",
        {"auth_token": test_twilio.AUTH_TOKEN},
        test_twilio,
        403,
        lambda n: EMPTY_XML,
        False,
    ),
    Sms(
        "vonage",
        {"signature_secret": test_vonage.SECRET, "signature_method": "sha256"},
        test_vonage,
    ),
    Sms("telnyx", {"public_key": test_telnyx.PUBLIC_KEY}, test_telnyx),
    Sms(
        "plivo", {"auth_token": test_plivo.AUTH_TOKEN}, test_plivo, 401, lambda n: EMPTY_XML, False
    ),
    Sms("messagebird", {"signing_key": test_messagebird.SIGNING_KEY}, test_messagebird),
]


def receiving(sandbox: Sandbox) -> list[str]:
    """The SMS types Sam receives."""
    return [t for t in SMS_TYPES if sandbox.receives(SAM, t)]


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> Sms:
    """One SMS provider."""
    found: Sms = request.param
    return found


def test_stop_start_help_and_free_text_from_a_phone_stored_as_typed(
    case: Sms, tmp_path: Path, sandbox: Sandbox
) -> None:
    assert sandbox.contacts[SAM]["phone"] == "(415) 555-0123"
    # Sam receives both SMS types: reminders by default, newsletters because he opted in.
    sandbox.workspace.detach(SAM, "124")
    sandbox.workspace.attach(SAM, "108", "opt_in")
    assert receiving(sandbox) == ["108", "124"]
    start = datetime.now(UTC) - timedelta(minutes=10)
    with bridge_with(tmp_path, sandbox, {case.name: case.table}) as client:
        forged = case.post(client, "STOP", "m-forged", start, forged=True)
        assert forged.status_code == case.refused
        assert recorded(client) == []

        stop = case.post(client, "STOP", "m-1", start + timedelta(minutes=1))
        assert (stop.status_code, stop.text.startswith(case.answer(1))) == (200, True)
        again = case.post(client, "STOP", "m-1", start + timedelta(minutes=1))
        assert again.status_code == 200 and case.answer(0) in again.text
        apply_all(client)
        assert receiving(sandbox) == []

        help_ = case.post(client, "HELP", "m-2", start + timedelta(minutes=2))
        assert help_.status_code == 200
        assert len(recorded(client)) == 1

        restart = case.post(client, "START", "m-3", start + timedelta(minutes=3))
        assert restart.status_code == 200
        apply_all(client)
        assert receiving(sandbox) == ["108", "124"]

        free = case.post(client, "Please stop texting me.", "m-4", start + timedelta(minutes=4))
        assert free.status_code == 200
        apply_all(client)
        assert receiving(sandbox) == ["108", "124"]
        statuses = {r.request.event_id: r.status for r in recorded(client)}
    assert statuses == {"m-1": Status.APPLIED, "m-3": Status.APPLIED, "m-4": Status.REVIEW}


def test_start_does_not_enrol_sam_in_what_he_never_had(
    case: Sms, tmp_path: Path, sandbox: Sandbox
) -> None:
    # Seeded: Sam opted out of reminders (124) and never opted in to newsletters (108).
    assert receiving(sandbox) == []
    with bridge_with(tmp_path, sandbox, {case.name: case.table}) as client:
        assert case.post(client, "START", "m-1", datetime.now(UTC)).status_code == 200
        apply_all(client)
    assert receiving(sandbox) == ["124"]  # reminders restored; no newsletter he never chose


def test_twilio_replies_once_per_stop_in_twiml(tmp_path: Path, sandbox: Sandbox) -> None:
    table = {"auth_token": test_twilio.AUTH_TOKEN, "reply": "Unsubscribed. Reply START to return."}
    twilio = Sms("twilio", table, test_twilio)
    with bridge_with(tmp_path, sandbox, {"twilio": table}) as client:
        first = twilio.post(client, "STOP", "m-1", datetime.now(UTC))
        again = twilio.post(client, "STOP", "m-1", datetime.now(UTC))
    assert first.headers["content-type"].startswith("application/xml")
    assert first.text.endswith(
        "<Response><Message>Unsubscribed. Reply START to return.</Message></Response>"
    )
    assert again.text == EMPTY_XML  # Twilio's retry: the text was already sent


def test_a_plivo_v2_signature_carries_only_the_fields_it_first_came_with(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with bridge_with(tmp_path, sandbox, {"plivo": {"auth_token": test_plivo.AUTH_TOKEN}}) as client:
        body, headers = test_plivo.signed_v2(test_plivo.fields("HELLO", uuid="u-1"))
        assert client.post("/webhooks/plivo", content=body, headers=headers).status_code == 200
        again = client.post("/webhooks/plivo", content=body, headers=headers)
        assert again.status_code == 200  # Plivo's retry: the same fields
        other, _ = test_plivo.signed_v2(test_plivo.fields("STOP", uuid="u-2"))
        forged = client.post("/webhooks/plivo", content=other, headers=headers)
        assert forged.status_code == 401
        assert recorded(client) == []


def test_vonage_delivers_by_get_too(tmp_path: Path, sandbox: Sandbox) -> None:
    table = {"signature_secret": test_vonage.SECRET, "signature_method": "sha256"}
    providers = {"vonage": table, "twilio": {"auth_token": test_twilio.AUTH_TOKEN}}
    with bridge_with(tmp_path, sandbox, providers) as client:
        query = urlencode(test_vonage.params("STOP", message_id="g-1", at=datetime.now(UTC)))
        assert client.get(f"/webhooks/vonage?{query}").status_code == 200
        refused = client.get(f"/webhooks/twilio?{query}")  # Twilio delivers by POST only
        assert (refused.status_code, refused.text) == (405, "twilio delivers with POST.\n")
        assert refused.headers["allow"] == "POST"
        assert client.head("/webhooks/vonage").headers["allow"] == "GET, POST"
        forged = query.replace("STOP", "START")
        assert client.get(f"/webhooks/vonage?{forged}").status_code == 401
        [record] = recorded(client)
    assert record.request.event_id == "g-1"


def vonage_part(client: TestClient, text: str, part: int, total: int) -> httpx.Response:
    """One part of a long text from Sam, as Vonage posts it."""
    concat = {"concat": "true", "concat-ref": "42", "concat-total": str(total)}
    found = test_vonage.params(
        text, message_id=f"p-{part}", at=datetime.now(UTC), **concat, **{"concat-part": str(part)}
    )
    body, headers = test_vonage.form(found)
    return client.post("/webhooks/vonage", content=body, headers=headers)


def test_vonage_parts_are_kept_until_the_text_is_whole_then_read(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    table = {"signature_secret": test_vonage.SECRET, "signature_method": "sha256"}
    with bridge_with(tmp_path, sandbox, {"vonage": table}) as client:
        second = vonage_part(client, "ting me, thanks", 2, 2)
        assert (second.status_code, second.text.split(",")[0]) == (200, "ok: 0 recorded")
        assert recorded(client) == []
        first = vonage_part(client, "Please stop tex", 1, 2)
        assert first.text.startswith("ok: 1 recorded")
        [record] = recorded(client)
        assert vonage_part(client, "Please stop tex", 1, 2).text.startswith("ok: 0 recorded")
    assert record.request.context["text"] == "Please stop texting me, thanks"
    assert (record.status, record.request.event_id) == (Status.REVIEW, "p-1")


def test_vonage_parts_that_wait_too_long_are_read_as_they_are(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    table = {"signature_secret": test_vonage.SECRET, "signature_method": "sha256"}
    with bridge_with(tmp_path, sandbox, {"vonage": table}, worker=True) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services._part_sweep is not None  # the in-process worker sweeps them
        assert vonage_part(client, "STOP", 1, 3).status_code == 200
        assert client.portal.call(services.flush_parts) == 0  # type: ignore[union-attr]
        flushed = client.portal.call(  # type: ignore[union-attr]
            lambda: services.flush_parts(waited=timedelta(0))
        )
        assert flushed == 1
        [record] = recorded(client)
    assert record.request.context["parts"] == "1 of 3"
    assert record.request.wanted.value == "unsubscribed"


def test_a_ledger_that_cannot_commit_is_a_503_so_the_provider_retries(
    case: Sms, tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_record(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database is locked")

    with bridge_with(tmp_path, sandbox, {case.name: case.table}) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        monkeypatch.setattr(services.ledger, "record", failing_record)
        response = case.post(client, "STOP", "m-1", datetime.now(UTC))
    assert (response.status_code, response.headers["retry-after"]) == (503, "30")


@pytest.mark.parametrize("case", [c for c in CASES if c.timed], ids=lambda c: c.name)
def test_a_stop_sent_before_a_start_but_arriving_after_it_does_not_win(
    case: Sms, tmp_path: Path, sandbox: Sandbox
) -> None:
    sandbox.workspace.detach(SAM, "124")
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    with bridge_with(tmp_path, sandbox, {case.name: case.table}) as client:
        assert case.post(client, "START", "m-2", earlier + timedelta(minutes=1)).status_code == 200
        apply_all(client)
        assert case.post(client, "STOP", "m-1", earlier).status_code == 200  # a late retry
        apply_all(client)
        statuses = {r.request.event_id: r.status for r in recorded(client)}
        attached = sandbox.count(method="POST", path_prefix=f"/contacts/{SAM}/subscriptions")
    # The late STOP lost to the START on 124 (no attach of an opt-out entry), and a STOP has
    # nothing to do on 108, which Sam never chose.
    assert statuses["m-2"] is Status.APPLIED
    assert statuses["m-1"] in (Status.SUPERSEDED, Status.APPLIED)
    assert attached == 0
    assert sandbox.receives(SAM, "124")
