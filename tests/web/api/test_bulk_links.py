"""`POST /api/v1/links`: the admin token, the batch's checks, the links, and what isn't logged."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from starlette.testclient import TestClient

from bridge.consent import Channel, Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.settings import Secret
from bridge.web.api import bulk_links
from bridge.web.api.link_batch import MAX_BODY_BYTES, MAX_PEOPLE
from bridge.web.app import create_app
from tests.conftest import SECRET, make_settings
from tests.web.api.test_routes import BASE, MARKETER, api_path, conforms

ADMIN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
JANE_ID = "63a07ddf05a32042dffac965"


@pytest.fixture
def admin_api(sandbox: Sandbox, sqlite_url: str) -> Iterator[TestClient]:
    """The bridge with the admin token set and a marketer's origin allowed for CORS."""
    settings = make_settings(
        sqlite_url,
        BRIDGE_WORKER_IN_PROCESS="false",
        BRIDGE_ADMIN_TOKEN=ADMIN,
        BRIDGE_CORS_ORIGINS=MARKETER,
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url=BASE) as client:
        yield client


@pytest.fixture
def openapi(admin_api: TestClient) -> OpenAPI:
    """The served OpenAPI document."""
    return OpenAPI.from_dict(admin_api.get("/api/v1/openapi.json").json())


def post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST a batch with the admin token (unless `headers` says otherwise)."""
    return client.post("/api/v1/links", json=body, headers=AUTH if headers is None else headers)


def answer_conforms(openapi: OpenAPI, response: httpx.Response) -> None:
    """Check an answer against the document (a refused request may not conform itself)."""
    openapi.validate_response(
        MockRequest(BASE, "post", "/api/v1/links"),
        MockResponse(
            response.content,
            status_code=response.status_code,
            content_type=response.headers["content-type"],
        ),
    )


def claims_of(url: str, purpose: Purpose) -> LinkClaims:
    """What a returned link says."""
    return LinkSigner([SECRET]).claims(purpose, url.rsplit("/", 1)[1])


# The admin token


def test_without_the_admin_token_the_route_does_not_exist(client: TestClient) -> None:
    for method in ("POST", "GET"):
        response = client.request(method, "/api/v1/links", json={"people": []}, headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"] == "Not found"
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token-0123456789", f"Basic {ADMIN}", f"Bearer {ADMIN}x"],
)
def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(
    admin_api: TestClient, openapi: OpenAPI, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = post(admin_api, {"people": [{"contact_id": JANE_ID}]}, headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="bridge admin"'
    assert response.json()["message"] == "Send Authorization: Bearer <BRIDGE_ADMIN_TOKEN>."
    answer_conforms(openapi, response)


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def recording(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return compare(given, expected)

    monkeypatch.setattr(bulk_links.hmac, "compare_digest", recording)
    assert bulk_links.bears(f"bearer {ADMIN}", Secret(ADMIN))
    assert not bulk_links.bears("Bearer guess", Secret(ADMIN))
    assert compared == [(ADMIN.encode(), ADMIN.encode()), (b"guess", ADMIN.encode())]


# The links


def test_each_person_gets_both_links_and_the_rfc_8058_headers_in_order(
    admin_api: TestClient, openapi: OpenAPI
) -> None:
    people = [
        {"contact_id": JANE_ID},
        {"email": " Jane.Doe@Example.com ", "locale": "de"},
        {"phone": "+353 87 123 4567", "channel": "sms"},
        {"external_id": "cust-1001", "subscription": ["95"]},
    ]
    response = post(admin_api, {"people": people, "subscription": ["93"], "locale": "fr"})
    assert response.status_code == 200
    conforms(openapi, response)
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    body = response.json()
    assert body["warnings"] == []
    links = body["links"]
    assert [{k: v for k, v in link.items() if k in {"contact_id", "email", "phone", "external_id"}}
            for link in links] == [
        {"contact_id": JANE_ID},
        {"email": "jane.doe@example.com"},
        {"phone": "+353871234567"},
        {"external_id": "cust-1001"},
    ]  # fmt: skip
    expected = [
        LinkClaims(Identity(contact_id=JANE_ID), Scope(type_ids=("93",)), "fr"),
        LinkClaims(Identity(email="jane.doe@example.com"), Scope(type_ids=("93",)), "de"),
        LinkClaims(Identity(phone="+353871234567"), Scope(channel=Channel.SMS), "fr"),
        LinkClaims(Identity(external_id="cust-1001"), Scope(type_ids=("95",)), "fr"),
    ]
    for link, claims in zip(links, expected, strict=True):
        assert claims_of(link["unsubscribe_url"], Purpose.UNSUBSCRIBE) == claims
        assert claims_of(link["preferences_url"], Purpose.PREFERENCES) == claims
        assert link["unsubscribe_url"].startswith(f"{BASE}/unsubscribe/")
        assert link["list_unsubscribe"] == f"<{link['unsubscribe_url']}>"
        assert link["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"


def test_each_link_opens_its_page_for_that_person(admin_api: TestClient) -> None:
    response = post(admin_api, {"people": [{"email": "jane.doe@example.com"}], "channel": "email"})
    [link] = response.json()["links"]
    unsubscribe = admin_api.get(urlsplit(link["unsubscribe_url"]).path)
    assert unsubscribe.status_code == 200
    assert unsubscribe.template.name == "unsubscribe/confirm.html"  # type: ignore[attr-defined]
    assert "j***@example.com" in unsubscribe.text
    preferences = admin_api.get(urlsplit(link["preferences_url"]).path)
    assert preferences.status_code == 200
    assert "j***@example.com" in preferences.text
    assert "Product updates" in preferences.text  # an email type of the workspace


def test_ten_thousand_people_are_answered_and_ten_thousand_and_one_refused(
    admin_api: TestClient,
) -> None:
    people = [{"contact_id": f"{index:024x}"} for index in range(MAX_PEOPLE + 1)]
    response = post(admin_api, {"people": people[:MAX_PEOPLE], "channel": "email"})
    assert response.status_code == 200
    links = response.json()["links"]
    assert len(links) == MAX_PEOPLE
    assert links[-1]["contact_id"] == people[MAX_PEOPLE - 1]["contact_id"]
    refused = post(admin_api, {"people": people})
    assert refused.status_code == 422
    assert refused.json()["field"] == "people"
    assert "holds 10001 people; at most 10000" in refused.json()["message"]


def test_the_body_limit_fits_ten_thousand_of_the_longest_people(admin_api: TestClient) -> None:
    longest = "a" * 64 + "@" + ("b" * 63 + ".") * 2 + "c" * 53 + ".example"
    assert len(longest) == 254
    person = {"email": longest, "locale": "pt-BR", "subscription": ["93", "95", "37846"]}
    body = json.dumps({"people": [person] * MAX_PEOPLE}, indent=1).encode()
    assert len(body) <= MAX_BODY_BYTES
    response = admin_api.post(
        "/api/v1/links", content=body, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 200
    assert len(response.json()["links"]) == MAX_PEOPLE


def test_a_body_over_the_links_limit_is_a_json_413(admin_api: TestClient) -> None:
    response = admin_api.post(
        "/api/v1/links",
        content=b'{"people": []}' + b" " * MAX_BODY_BYTES,
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "Request too large"


def test_the_larger_limit_is_the_links_route_s_alone(admin_api: TestClient) -> None:
    response = admin_api.put(
        api_path(LinkClaims(Identity(contact_id=JANE_ID))),
        content=b"{}" + b" " * 100_000,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


# The batch's checks


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"people": [{"email": "jane"}]}, "people[0].email", "'jane' has no @"),
        ({"people": [{"phone": "0871234567"}]}, "people[0].phone", "is not in international"),
        ({"people": [{}]}, "people[0]", "names nobody: give exactly one of contact_id"),
        (
            {"people": [{"email": "a@example.com", "contact_id": "1"}]},
            "people[0]",
            "names contact_id and email",
        ),
        ({"people": [{"contact_id": 7}]}, "people[0].contact_id", "must be a string"),
        ({"people": [{"contact_id": "1", "nickname": "J"}]}, "people[0]", "'nickname'"),
        ({"people": [{"contact_id": "1", "channel": "fax"}]}, "people[0].channel", "'fax'"),
        ({"people": [{"contact_id": "1"}], "subscription": []}, "subscription", "non-empty"),
        ({"people": [{"contact_id": "1"}], "subscription": ["~e"]}, "subscription", "'~e' is not"),
        ({"people": [{"contact_id": "1"}], "locale": "fr_FR!"}, "locale", "not a language tag"),
        (
            {"people": [{"contact_id": "1"}], "channel": "sms", "subscription": ["93"]},
            "body",
            "not both",
        ),
        ({"people": []}, "people", "non-empty list"),
        ({"folks": []}, "body", "unknown field 'folks'"),
        ([], "body", "JSON object"),
    ],
)
def test_a_mistake_is_422_naming_its_place(
    admin_api: TestClient, openapi: OpenAPI, body: Any, field: str, message: str
) -> None:
    response = post(admin_api, body)
    assert response.status_code == 422
    answer_conforms(openapi, response)
    assert response.json()["field"] == field
    assert message in response.json()["message"]


def test_every_mistake_is_named_up_to_ten_and_the_rest_counted(admin_api: TestClient) -> None:
    people = [{"contact_id": "1"}] + [{"email": f"nobody-{i}"} for i in range(12)]
    body = post(admin_api, {"people": people}).json()
    assert body["field"] == "people[1].email"
    assert body["message"].count("has no @") == 10
    assert "people[10].email" in body["message"] and body["message"].endswith("; and 2 more")


def test_type_ids_that_are_not_live_are_refused_naming_the_first_person_with_them(
    admin_api: TestClient,
) -> None:
    people = [{"contact_id": "1"}, {"contact_id": "2", "subscription": ["93", "131"]}]
    response = post(admin_api, {"people": people})
    assert response.status_code == 422
    assert response.json()["field"] == "people[1].subscription"
    assert response.json()["message"].startswith(
        "people[1].subscription: 131 (draft) is not a live subscription type in this workspace"
    )


def test_a_channel_without_live_types_is_refused(sqlite_url: str) -> None:
    emails_only = Sandbox(token="sandbox-token", seed=False)
    emails_only.add_type(id="7", name="Monthly")
    settings = make_settings(sqlite_url, BRIDGE_WORKER_IN_PROCESS="false", BRIDGE_ADMIN_TOKEN=ADMIN)
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=emails_only.app))
    with TestClient(app, base_url=BASE) as client:
        response = post(client, {"people": [{"contact_id": "1"}], "channel": "sms"})
    assert response.status_code == 422
    assert response.json()["message"] == (
        "channel: the workspace has no live sms subscription types; live types: 7 Monthly"
    )


def test_the_workspace_is_asked_for_its_types_once_per_call(
    admin_api: TestClient, sandbox: Sandbox
) -> None:
    people = [{"contact_id": str(i), "subscription": [t]} for i, t in enumerate(["93", "95"] * 5)]
    assert post(admin_api, {"people": people}).status_code == 200
    listed = [r for r in sandbox.requests if r.path == "/subscription_types"]
    assert len(listed) == 1


def test_when_intercom_cannot_answer_links_are_made_with_a_warning(
    admin_api: TestClient, sandbox: Sandbox
) -> None:
    sandbox.faults.error_rate = 1.0
    response = post(admin_api, {"people": [{"contact_id": JANE_ID}], "subscription": ["93"]})
    assert response.status_code == 200
    [warning] = response.json()["warnings"]
    assert warning.startswith("types 93: not checked against the workspace: ")
    assert len(response.json()["links"]) == 1


def test_a_send_waits_on_a_slow_intercom_no_longer_than_the_check_allows(
    admin_api: TestClient, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_links, "CHECK_WITHIN", 0.2)
    sandbox.faults.timeout_rate = 1.0
    sandbox.faults.hang_seconds = 5.0
    response = post(admin_api, {"people": [{"contact_id": JANE_ID}], "channel": "email"})
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "channel email: not checked against the workspace: no answer within 0.2 s"
    ]


def test_a_locale_the_pages_do_not_speak_is_kept_with_a_warning(admin_api: TestClient) -> None:
    response = post(admin_api, {"people": [{"contact_id": JANE_ID, "locale": "sv"}]})
    assert response.json()["warnings"] == [
        "locale sv: the pages have no sv translation; they will follow the person's browser, "
        "or be in English"
    ]
    [link] = response.json()["links"]
    assert claims_of(link["unsubscribe_url"], Purpose.UNSUBSCRIBE).locale == "sv"


def test_a_body_that_is_not_json_is_400_and_another_type_415(admin_api: TestClient) -> None:
    broken = admin_api.post(
        "/api/v1/links", content=b"{", headers={**AUTH, "content-type": "application/json"}
    )
    assert broken.status_code == 400
    text = admin_api.post(
        "/api/v1/links", content=b"{}", headers={**AUTH, "content-type": "text/plain"}
    )
    assert text.status_code == 415


# Not for browsers, and never in the logs


def test_no_browser_may_call_it(admin_api: TestClient) -> None:
    preflight = admin_api.options(
        "/api/v1/links",
        headers={
            "Origin": MARKETER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = post(admin_api, {"people": [{"contact_id": JANE_ID}]}, {**AUTH, "Origin": MARKETER})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_tokens_and_emails_are_never_logged(
    admin_api: TestClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults.error_rate = 1.0  # the warning path logs too
    response = post(
        admin_api, {"people": [{"email": "jane.doe@example.com"}], "subscription": ["93"]}
    )
    [link] = response.json()["links"]
    tokens = [link[key].rsplit("/", 1)[1] for key in ("unsubscribe_url", "preferences_url")]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records  # the Intercom failure was logged
    for secret in (*tokens, "jane.doe@example.com", ADMIN):
        assert secret not in logged
