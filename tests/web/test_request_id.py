"""The request id: taken or made, echoed, logged once per request, followed to Intercom."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.consent import Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.log_context import current_request_id
from bridge.sandbox import Sandbox
from bridge.web.middleware.request_id import RequestIdMiddleware, request_id_from
from tests.conftest import SECRET
from tests.json_logs import JsonLines, json_logs
from tests.providers.webhooks import apply_all, bridge_with, recorded

TOKEN = "gen-3b1f0c9e7a4d4f6b8e2c5a9d1f7e3b6c"
SIGNUP = {"token": TOKEN, "types": ["93"], "consent": "agree", "id": "id"}
SIGNER_EMAIL, SIGNER_PHONE, SIGNER_NAME = "new.signer@example.org", "+353871112233", "Nora Signer"
LEAVER_EMAIL, LEAVER_PHONE = "leaving.person@example.net", "+14155550199"


@pytest.fixture
def logs() -> Iterator[JsonLines]:
    """JSON lines captured as BRIDGE_LOG_FORMAT=json writes them."""
    with json_logs() as lines:
        yield lines


def _app(clock: ManualClock) -> Starlette:
    async def echo(request: Request) -> PlainTextResponse:
        clock.advance(0.25)
        return PlainTextResponse(current_request_id() or "none")

    async def broken(request: Request) -> PlainTextResponse:
        raise RuntimeError("a bug")

    app = Starlette(routes=[Route("/echo", echo), Route("/broken", broken)])
    return RequestIdMiddleware(app, clock=clock)  # type: ignore[return-value]


def test_a_sane_client_id_is_kept_and_echoed_and_logged_once(logs: JsonLines) -> None:
    clock = ManualClock()
    with TestClient(_app(clock)) as client:
        response = client.get("/echo", headers={"X-Request-Id": "edge-7f3a:1"})
    assert response.text == response.headers["x-request-id"] == "edge-7f3a:1"
    [event] = logs.of("http_request")
    assert event["request_id"] == "edge-7f3a:1"
    assert (event["method"], event["path"], event["status"]) == ("GET", "/echo", 200)
    assert event["seconds"] == 0.25 and event["logger"] == "bridge.access"


@pytest.mark.parametrize(
    "header", ["", "a b", "jane@example.com", "x" * 129, "line\nbreak", "naïve", '"quoted"']
)
def test_an_id_that_is_not_short_and_plain_is_replaced(header: str) -> None:
    made = request_id_from(header)
    assert made != header and len(made) == 32 and made.isalnum()


def test_every_request_gets_its_own_new_id() -> None:
    with TestClient(_app(ManualClock())) as client:
        first, second = (client.get("/echo") for _ in range(2))
    assert first.text == first.headers["x-request-id"]
    assert second.text == second.headers["x-request-id"] != first.text


def test_a_request_the_app_fails_on_is_logged_as_a_500(logs: JsonLines) -> None:
    with TestClient(_app(ManualClock()), raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500
    [event] = logs.of("http_request")
    assert (event["path"], event["status"]) == ("/broken", 500)
    assert len(event["request_id"]) == 32


def _signup() -> bytes:
    fields = {"id": "signup-1", "email": SIGNER_EMAIL, "phone": SIGNER_PHONE}
    return json.dumps({**fields, "name": SIGNER_NAME, "agree": True}).encode()


def _one_click_path(email: str) -> tuple[str, str]:
    """A one-click unsubscribe path for an address, and its token."""
    claims = LinkClaims(Identity(email=email), Scope(type_ids=("37846",)))
    token = LinkSigner([SECRET]).token(Purpose.UNSUBSCRIBE, claims)
    return f"/unsubscribe/{token}", token


def _by_request(events: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("request_id") == request_id]


def test_a_posts_request_id_follows_it_to_its_intercom_calls_with_nothing_personal_logged(
    tmp_path: Path, sandbox: Sandbox, logs: JsonLines
) -> None:
    sandbox.add_contact(email=LEAVER_EMAIL, phone=LEAVER_PHONE)
    unsubscribe, link_token = _one_click_path(LEAVER_EMAIL)
    with bridge_with(tmp_path, sandbox, {"generic": SIGNUP}) as client:
        signup = client.post(
            f"/webhooks/generic?token={TOKEN}",
            content=_signup(),
            headers={"Content-Type": "application/json"},
        )
        one_click = client.post(
            unsubscribe, data={"List-Unsubscribe": "One-Click"}, headers={"X-Request-Id": "lb-42"}
        )
        assert (signup.status_code, one_click.status_code) == (200, 200)
        apply_all(client)
        ledger_ids = {r.request.source: r.id for r in recorded(client)}
    posted = {"generic": signup.headers["x-request-id"], "unsubscribe": "lb-42"}
    events = logs.events()  # every line is a JSON object
    requests = {e["request_id"]: e for e in logs.of("http_request") if e["method"] == "POST"}
    assert requests[posted["generic"]]["path"] == "/webhooks/generic?token=…"
    assert requests["lb-42"]["path"] == f"/unsubscribe/{link_token[:6]}…"
    for source, request_id in posted.items():
        [http] = _by_request(logs.of("http_request"), request_id)
        assert http["status"] == 200 and http["seconds"] >= 0
        calls = _by_request(logs.of("intercom_call"), request_id)
        assert calls, f"no Intercom call logged for {source}"
        for call in calls:
            assert call["ledger_id"] == ledger_ids[source]
            assert call["endpoint"].split()[0] in ("GET", "POST", "DELETE")
            assert call["status"] in (200, 201, 404) and call["seconds"] >= 0
            assert call["intercom_request_id"]
        [settled] = _by_request(logs.of("request_settled"), request_id)
        assert settled["ledger_id"] == ledger_ids[source] and settled["status"] == "applied"
    writes = [c["endpoint"] for c in logs.of("intercom_call")]
    assert "POST /contacts" in writes  # the signup's new lead
    assert "DELETE /contacts/{id}/subscriptions/{id}" in writes or (
        "POST /contacts/{id}/subscriptions" in writes
    )
    secrets = [SIGNER_EMAIL, SIGNER_PHONE, SIGNER_PHONE[1:], SIGNER_NAME, TOKEN, link_token]
    secrets += [LEAVER_EMAIL, LEAVER_PHONE, LEAVER_PHONE[1:], SECRET]
    assert [s for s in secrets if s in logs.text] == []
    assert all(e["time"].endswith("+00:00") for e in events)


def test_a_retried_delivery_stays_one_request_carrying_the_first_id(
    tmp_path: Path, sandbox: Sandbox, logs: JsonLines
) -> None:
    with bridge_with(tmp_path, sandbox, {"generic": SIGNUP}) as client:
        answers = [
            client.post(
                f"/webhooks/generic?token={TOKEN}",
                content=_signup(),
                headers={"Content-Type": "application/json", "X-Request-Id": request_id},
            ).text
            for request_id in ("first-try", "second-try")
        ]
        [record] = recorded(client)
    assert answers[1] == "ok: 0 recorded, 1 duplicate, 0 ignored, 0 invalid\n"
    assert record.request.context["request_id"] == "first-try"
    assert {e["request_id"] for e in logs.of("http_request")} == {"first-try", "second-try"}
