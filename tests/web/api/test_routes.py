"""The JSON preferences API: reads, changes, CORS, errors, and its own OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from starlette.testclient import TestClient

from bridge.consent import Channel, Identity, Scope, Wanted
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.conftest import SECRET, make_settings
from tests.web.pages.test_preferences import recorded

JANE_ID = "63a07ddf05a32042dffac965"
JANE = Identity(contact_id=JANE_ID)
BASE = "https://consent.example.com"
MARKETER = "https://www.example.com"


def api_path(claims: LinkClaims) -> str:
    """The API path for a preferences token signed with the test key."""
    return "/api/v1/preferences/" + LinkSigner([SECRET]).token(Purpose.PREFERENCES, claims)


@pytest.fixture
def api(sandbox: Sandbox, sqlite_url: str) -> Iterator[TestClient]:
    """The bridge with one marketer's origin allowed to call the API from a browser."""
    settings = make_settings(
        sqlite_url, BRIDGE_WORKER_IN_PROCESS="false", BRIDGE_CORS_ORIGINS=MARKETER
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url=BASE) as client:
        yield client


@pytest.fixture
def openapi(api: TestClient) -> OpenAPI:
    """The bridge's own OpenAPI document, as served, checked as a valid 3.1 document."""
    document = api.get("/api/v1/openapi.json")
    assert document.status_code == 200
    return OpenAPI.from_dict(document.json())


def conforms(openapi: OpenAPI, response: httpx.Response) -> None:
    """Check a request and its response against the served OpenAPI document."""
    request = response.request
    mock = MockRequest(
        host_url=BASE,
        method=request.method.lower(),
        path=request.url.path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )
    openapi.validate_request(mock)
    openapi.validate_response(
        mock,
        MockResponse(
            data=response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers["content-type"],
        ),
    )


def test_get_returns_types_states_and_words(
    api: TestClient, sandbox: Sandbox, openapi: OpenAPI
) -> None:
    response = api.get(api_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL), "fr")))
    assert response.status_code == 200
    conforms(openapi, response)
    body = response.json()
    assert body["locale"] == "fr" and body["state_known"] is True
    assert body["scope"] == {"channel": "email"}
    by_id = {t["id"]: t for t in body["types"]}
    assert set(by_id) == {"93", "37846", "95"}
    for type_id, item in by_id.items():
        assert item["subscribed"] is sandbox.receives(JANE_ID, type_id)
        assert item["locale"] == "fr"
    assert response.headers["cache-control"] == "no-store"
    assert recorded(api) == []


def test_put_records_changed_types_and_answers_the_new_states(
    api: TestClient, openapi: OpenAPI
) -> None:
    path = api_path(LinkClaims(JANE))
    response = api.put(
        path,
        json={"types": [{"id": "95", "subscribed": True}, {"id": "37846", "subscribed": True}]},
    )
    assert response.status_code == 200
    conforms(openapi, response)
    body = response.json()
    assert body["recorded"] == 1  # 37846 was already on
    by_id = {t["id"]: t for t in body["types"]}
    assert by_id["95"]["subscribed"] is True and by_id["95"]["updating"] is True
    assert by_id["37846"]["updating"] is False
    [request] = recorded(api)
    assert request.request.scope.type_ids == ("95",)
    assert request.request.wanted is Wanted.SUBSCRIBED
    assert request.request.context["via"] == "api"
    # A later read shows the change at once, before the worker applies it.
    again = {t["id"]: t for t in api.get(path).json()["types"]}
    assert again["95"]["subscribed"] is True and again["95"]["updating"] is True


def test_put_unsubscribe_all(api: TestClient, sandbox: Sandbox, openapi: OpenAPI) -> None:
    response = api.put(api_path(LinkClaims(JANE)), json={"unsubscribe_all": True})
    conforms(openapi, response)
    assert not any(t["subscribed"] for t in response.json()["types"])
    receiving = {
        t
        for t in sandbox.types
        if sandbox.types[t]["state"] == "live" and sandbox.receives(JANE_ID, t)
    }
    assert {r.request.scope.type_ids[0] for r in recorded(api)} == receiving


def test_an_idempotency_key_makes_a_retry_record_nothing(api: TestClient) -> None:
    path = api_path(LinkClaims(JANE))
    change = {"types": [{"id": "95", "subscribed": True}]}
    headers = {"Idempotency-Key": "order-1234-retry"}
    assert api.put(path, json=change, headers=headers).json()["recorded"] == 1
    # The retry records nothing, and says so.
    assert api.put(path, json=change, headers=headers).json()["recorded"] == 0
    assert len(recorded(api)) == 1


def test_two_people_sending_the_same_idempotency_key_are_both_recorded(api: TestClient) -> None:
    change = {"types": [{"id": "95", "subscribed": True}]}
    headers = {"Idempotency-Key": "checkout-0001"}
    amelie = Identity(contact_id="63a07de505a32042dffac981")  # Lucía: 95 is off for her too
    for person in (JANE, amelie):
        answer = api.put(api_path(LinkClaims(person)), json=change, headers=headers)
        assert answer.json()["recorded"] == 1
    assert sorted(r.request.identity.contact_id or "" for r in recorded(api)) == sorted(
        [JANE_ID, amelie.contact_id or ""]
    )


def test_a_405_names_every_method_the_api_takes(api: TestClient) -> None:
    response = api.post(api_path(LinkClaims(JANE)), json={})
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "PUT"}
    assert response.json()["error"] == "Method not allowed"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 422, "JSON object"),
        (b'{"types": []}', 422, "non-empty list"),
        (b'{"types": [{"id": "95"}]}', 422, '"subscribed"'),
        (b'{"types": [{"id": 95, "subscribed": true}]}', 422, "id must be a string"),
        (b'{"types": [{"id": "124", "subscribed": true}]}', 422, "'124' is not on this page"),
        (b'{"types": [{"id": "95", "subscribed": "yes"}]}', 422, "true or false"),
        (b'{"unsubscribe_all": false}', 422, "may only be true"),
        (b'{"everything": true}', 422, "'everything'"),
    ],
)
def test_bad_bodies_are_refused_with_a_clear_message_and_record_nothing(
    api: TestClient, openapi: OpenAPI, body: bytes, status: int, message: str
) -> None:
    response = api.put(
        api_path(LinkClaims(JANE, Scope(channel=Channel.EMAIL))),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status
    assert message in response.json()["message"]
    assert recorded(api) == []
    if status == 422:
        openapi.validate_response(
            MockRequest(BASE, "put", response.request.url.path),
            MockResponse(response.content, status_code=status, content_type="application/json"),
        )


def test_a_body_that_is_not_json_is_415(api: TestClient) -> None:
    # A text/plain body is the one a cross-site page could send without a CORS preflight.
    response = api.put(
        api_path(LinkClaims(JANE)),
        content=b'{"unsubscribe_all": true}',
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert recorded(api) == []


def test_a_bad_token_is_400_json(api: TestClient) -> None:
    response = api.get("/api/v1/preferences/forged.token.value")
    assert response.status_code == 400
    assert response.json()["error"] == "This link isn't valid"


def test_cors_allows_the_configured_origin_only(api: TestClient) -> None:
    path = api_path(LinkClaims(JANE))
    preflight = api.options(
        path,
        headers={
            "Origin": MARKETER,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == MARKETER
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    refused = api.options(
        path,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    read = api.get(path, headers={"Origin": MARKETER})
    assert read.headers["access-control-allow-origin"] == MARKETER
    # Errors carry the CORS headers too, or the marketer's script could not read them.
    error = api.get("/api/v1/preferences/forged", headers={"Origin": MARKETER})
    assert error.status_code == 400
    assert error.headers["access-control-allow-origin"] == MARKETER


def test_without_an_allow_list_no_origin_is_allowed(client: TestClient) -> None:
    response = client.get(api_path(LinkClaims(JANE)), headers={"Origin": MARKETER})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_the_openapi_document_describes_both_operations(api: TestClient) -> None:
    document: dict[str, Any] = api.get("/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": f"{BASE}/api/v1"}]
    operations = document["paths"]["/preferences/{token}"]
    assert {operations["get"]["operationId"], operations["put"]["operationId"]} == {
        "getPreferences",
        "changePreferences",
    }


def test_intercom_down_put_still_records_when_types_are_cached(
    api: TestClient, sandbox: Sandbox
) -> None:
    path = api_path(LinkClaims(JANE))
    api.get(path)
    sandbox.faults.error_rate = 1.0
    response = api.put(path, json={"types": [{"id": "95", "subscribed": True}]})
    assert response.status_code == 200
    body = response.json()
    assert body["state_known"] is False
    states = {t["id"]: t["subscribed"] for t in body["types"]}
    assert states.pop("95") is True  # the change itself is known
    assert set(states.values()) == {None}
    assert [r.request.scope.type_ids for r in recorded(api)] == [("95",)]


def test_a_body_over_the_limit_is_a_json_413(api: TestClient) -> None:
    response = api.put(
        api_path(LinkClaims(JANE)),
        content=b'{"types": []}' + b" " * 70_000,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "Request too large"
    assert recorded(api) == []
