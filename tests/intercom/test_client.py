"""Tests for bridge.intercom.client: the client against the sandbox and against canned answers."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bridge.consent import ConsentType, SubscriptionType
from bridge.intercom.client import (
    MAX_SEARCH_PAGES,
    REGION_URLS,
    CallResult,
    ContactExists,
    CreatedContact,
    IntercomClient,
    IntercomError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)
from bridge.sandbox import Sandbox

TOKEN = "sandbox-token"
JANE = "63a07ddf05a32042dffac965"  # user, explicit opt-out of 93
JANE_LEAD = "63a07ddf05a32042dffac966"
AMELIE = "63a07de105a32042dffac970"
NOW = 1_800_000_003.0


@pytest.fixture
def sandbox() -> Sandbox:
    """A seeded sandbox with a fixed clock."""
    return Sandbox(clock=lambda: NOW, rng=random.Random(3))


def make_client(app: Any, *, token: str = TOKEN, **kwargs: Any) -> IntercomClient:
    """A client speaking to an ASGI app through httpx's ASGI transport."""
    kwargs.setdefault("base_url", REGION_URLS["us"])
    return IntercomClient(token, transport=httpx.ASGITransport(app=app), **kwargs)


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[IntercomClient]:
    """A client for the sandbox with the right token."""
    async with make_client(sandbox.app) as intercom:
        yield intercom


def canned(
    status: int,
    body: bytes | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
    seen: list[httpx.Request] | None = None,
) -> IntercomClient:
    """A client whose every call gets the same answer."""

    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        content = json.dumps(body).encode() if isinstance(body, dict) else body
        return httpx.Response(status, content=content, headers=headers)

    return IntercomClient(
        "secret-token-123", base_url=REGION_URLS["eu"], transport=httpx.MockTransport(answer)
    )


def error_list(code: str, message: str, request_id: str = "rid-body") -> dict[str, Any]:
    return {
        "type": "error.list",
        "request_id": request_id,
        "errors": [{"code": code, "message": message}],
    }


# --- configuration and headers ---------------------------------------------------------------


def test_region_urls_are_intercoms_hosts() -> None:
    assert REGION_URLS == {
        "us": "https://api.intercom.io",
        "eu": "https://api.eu.intercom.io",
        "au": "https://api.au.intercom.io",
    }


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        IntercomClient("", base_url=REGION_URLS["us"])


async def test_every_request_carries_auth_version_and_identity_headers(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    await client.list_subscription_types()
    await client.attach_subscription(JANE, "37846", ConsentType.OPT_OUT)
    get, post = sandbox.requests
    for seen in (get, post):
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["intercom-version"] == "2.11"
        assert seen.headers["accept"] == "application/json"
        assert seen.headers["user-agent"] == "intercom-consent-bridge/0.1"
    assert "content-type" not in get.headers
    assert post.headers["content-type"] == "application/json"


async def test_version_and_region_are_configurable(sandbox: Sandbox) -> None:
    async with make_client(sandbox.app, version="2.10", base_url=REGION_URLS["au"]) as client:
        await client.list_subscription_types()
    seen = sandbox.requests[-1]
    assert seen.headers["intercom-version"] == "2.10"
    assert seen.headers["host"] == "api.au.intercom.io"


async def test_base_url_may_carry_a_path_prefix(sandbox: Sandbox) -> None:
    proxy = Starlette(routes=[Mount("/intercom", app=sandbox.app)])
    async with make_client(proxy, base_url="https://proxy.test/intercom/") as client:
        types = await client.list_subscription_types()
    assert types
    assert sandbox.requests[-1].path == "/subscription_types"


def test_repr_does_not_show_the_token() -> None:
    client = IntercomClient("secret-token-123", base_url=REGION_URLS["us"])
    assert "secret-token-123" not in repr(client)
    assert "api.intercom.io" in repr(client)


async def test_context_manager_closes_the_client(sandbox: Sandbox) -> None:
    async with make_client(sandbox.app) as client:
        await client.list_subscription_types()
    with pytest.raises(RuntimeError):
        await client.list_subscription_types()


# --- each method ---------------------------------------------------------------------------


async def test_list_subscription_types_parses_every_type(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    types = await client.list_subscription_types()
    assert [t.id for t in types] == list(sandbox.types)
    by_id = {t.id: t for t in types}
    assert by_id["108"] == SubscriptionType.from_api(sandbox.types["108"])
    assert by_id["108"].consent_type is ConsentType.OPT_IN
    assert by_id["108"].content_types == ("sms_message",)
    assert {t.locale for t in by_id["93"].translations} >= {"en", "fr", "de", "es"}
    assert not by_id["88"].is_live
    assert sandbox.count("GET", "/subscription_types") == 1


async def test_list_contact_subscriptions_returns_explicit_preferences(
    client: IntercomClient,
) -> None:
    assert [t.id for t in await client.list_contact_subscriptions(AMELIE)] == ["95", "108"]
    assert await client.list_contact_subscriptions(JANE_LEAD) == []


async def test_attach_and_detach_change_explicit_preferences(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    attached = await client.attach_subscription(JANE_LEAD, "95", ConsentType.OPT_IN)
    assert isinstance(attached, CallResult)
    assert attached.status == 200
    assert attached.request_id
    assert sandbox.requests[-1].json == {"id": "95", "consent_type": "opt_in"}
    assert sandbox.requests[-1].path == f"/contacts/{JANE_LEAD}/subscriptions"
    assert sandbox.receives(JANE_LEAD, "95")
    detached = await client.detach_subscription(JANE_LEAD, "95")
    assert detached.status == 200
    assert detached.request_id != attached.request_id
    assert sandbox.requests[-1].method == "DELETE"
    assert sandbox.requests[-1].path == f"/contacts/{JANE_LEAD}/subscriptions/95"
    assert not sandbox.receives(JANE_LEAD, "95")


async def test_create_contact_makes_a_lead_with_only_the_fields_given(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    created = await client.create_contact(
        email="new.lead@example.com", phone="+353871234567", name="New Lead"
    )
    assert isinstance(created, CreatedContact)
    assert created.status == 200 and created.request_id
    assert sandbox.requests[-1].method == "POST" and sandbox.requests[-1].path == "/contacts"
    assert sandbox.requests[-1].json == {
        "role": "lead",
        "email": "new.lead@example.com",
        "phone": "+353871234567",
        "name": "New Lead",
    }
    lead = sandbox.contacts[created.id]
    assert (lead["role"], lead["email"], lead["name"]) == (
        "lead",
        "new.lead@example.com",
        "New Lead",
    )
    by_phone = await client.create_contact(phone="+442079460958")
    assert sandbox.requests[-1].json == {"role": "lead", "phone": "+442079460958"}
    assert sandbox.contacts[by_phone.id]["role"] == "lead"
    user = await client.create_contact(role="user", email="new.user@example.com")
    assert sandbox.contacts[user.id]["role"] == "user"


async def test_create_contact_refuses_a_role_intercom_does_not_have(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    with pytest.raises(ValueError, match="role"):
        await client.create_contact(role="visitor", email="v@example.com")
    assert sandbox.requests == []


async def test_a_duplicate_create_names_the_contact_already_there(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    with pytest.raises(ContactExists) as caught:
        await client.create_contact(email="JANE.DOE@example.com")
    error = caught.value
    assert (error.status, error.code, error.existing_id) == (409, "conflict", JANE_LEAD)
    assert not error.retryable and not error.archived
    assert error.request_id
    assert JANE_LEAD in str(error)


@pytest.mark.parametrize(
    ("message", "existing_id", "archived"),
    [
        (
            "A contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83",
            "6762f0dd1bb69f9f2193bb83",
            False,
        ),
        (
            "An archived contact matching those details already exists with id=6762f0dd1bb6",
            "6762f0dd1bb6",
            True,
        ),
    ],
)
async def test_a_409_naming_a_contact_is_contact_exists(
    message: str, existing_id: str, archived: bool
) -> None:
    with pytest.raises(ContactExists) as caught:
        await canned(409, error_list("conflict", message)).create_contact(email="a@example.com")
    assert (caught.value.existing_id, caught.value.archived) == (existing_id, archived)


async def test_a_409_naming_no_contact_is_a_plain_refusal() -> None:
    with pytest.raises(IntercomError) as caught:
        await canned(409, error_list("conflict", "Conflict")).create_contact(email="a@example.com")
    assert type(caught.value) is IntercomError
    assert not caught.value.retryable


@pytest.mark.parametrize("body", [{"type": "contact"}, {"id": 42}, b"[]", b""])
async def test_a_create_answer_without_a_contact_id_is_an_error(body: Any) -> None:
    with pytest.raises(IntercomError, match="no contact id") as caught:
        await canned(200, body).create_contact(email="a@example.com")
    assert type(caught.value) is IntercomError


async def test_find_contact_ids_by_each_field(client: IntercomClient, sandbox: Sandbox) -> None:
    assert sorted(await client.find_contact_ids(email="jane.doe@example.com")) == sorted(
        [JANE, JANE_LEAD]
    )
    assert await client.find_contact_ids(phone="+33612345678") == [AMELIE]
    assert await client.find_contact_ids(external_id="cust-1001") == [JANE]
    assert await client.find_contact_ids(external_id="nobody") == []
    assert sandbox.requests[-1].json == {
        "query": {"field": "external_id", "operator": "=", "value": "nobody"},
        "pagination": {"per_page": 50},
    }


async def test_a_phone_that_is_no_number_is_searched_only_as_given(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    assert await client.find_contact_ids(phone="+1555") == []
    assert [r.json["query"] for r in sandbox.requests] == [
        {"field": "phone", "operator": "=", "value": "+1555"}
    ]


@pytest.mark.parametrize(
    "fields", [{}, {"email": "a@example.com", "phone": "+33612345678"}, {"email": None}]
)
async def test_find_contact_ids_needs_exactly_one_field(
    client: IntercomClient, sandbox: Sandbox, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await client.find_contact_ids(**fields)
    assert sandbox.requests == []


async def test_search_follows_pages(client: IntercomClient, sandbox: Sandbox) -> None:
    made = [sandbox.add_contact(email=f"p{n}@paging.test")["id"] for n in range(12)]
    query = {"field": "email", "operator": "$", "value": "@paging.test"}
    found = await client.search_contacts(query, per_page=5)
    assert [c["id"] for c in found] == made
    searches = [r for r in sandbox.requests if r.path == "/contacts/search"]
    assert len(searches) == 3
    assert "starting_after" not in searches[0].json["pagination"]
    assert searches[1].json["pagination"]["starting_after"]


async def test_search_stops_at_the_page_cap(
    client: IntercomClient, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(40):
        sandbox.add_contact(email=f"p{n}@paging.test")
    query = {"field": "email", "operator": "$", "value": "@paging.test"}
    with caplog.at_level(logging.WARNING, logger="bridge.intercom.client"):
        found = await client.search_contacts(query, per_page=5)
    assert len(found) == 5 * MAX_SEARCH_PAGES
    assert sandbox.count("POST", "/contacts/search") == MAX_SEARCH_PAGES
    assert "more remain" in caplog.text


# --- typed errors ----------------------------------------------------------------------------


async def test_bad_token_is_unauthorized_and_never_echoed(sandbox: Sandbox) -> None:
    async with make_client(sandbox.app, token="wrong-secret-token") as client:
        with pytest.raises(Unauthorized) as caught:
            await client.list_subscription_types()
    error = caught.value
    assert (error.status, error.code, error.message) == (
        401,
        "unauthorized",
        "Access Token Invalid",
    )
    assert error.retryable is False
    assert error.request_id
    assert "wrong-secret-token" not in str(error)
    assert "wrong-secret-token" not in repr(error)
    assert client.rate_limit is None  # 401s carry no rate-limit headers


async def test_not_found_tells_contact_from_resource(client: IntercomClient) -> None:
    with pytest.raises(NotFound) as contact:
        await client.list_contact_subscriptions("0" * 24)
    assert contact.value.missing == "contact"
    with pytest.raises(NotFound) as resource:
        await client.attach_subscription(JANE, "999999", ConsentType.OPT_IN)
    assert resource.value.missing == "resource"
    with pytest.raises(NotFound) as no_preference:
        await client.detach_subscription(JANE, "37846")
    assert no_preference.value.missing == "resource"
    assert "DELETE" in str(no_preference.value)
    assert "Resource Not Found" in str(no_preference.value)


async def test_contact_ids_are_quoted_into_one_path_segment(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    with pytest.raises(NotFound) as caught:
        await client.list_contact_subscriptions(f"{JANE}/subscriptions?x=1")
    assert caught.value.missing == "contact"
    assert sandbox.requests[-1].path == f"/contacts/{JANE}%2Fsubscriptions%3Fx%3D1/subscriptions"
    with pytest.raises(NotFound):
        await client.detach_subscription(JANE, "93/../95")
    assert sandbox.requests[-1].path == f"/contacts/{JANE}/subscriptions/93%2F..%2F95"
    assert sandbox.explicit(JANE) == {"93": "opt_out"}


async def test_rate_limited_carries_the_reset_time() -> None:
    sandbox = Sandbox(rate_limit=2, clock=lambda: NOW, rng=random.Random(3))
    async with make_client(sandbox.app) as client:
        await client.list_subscription_types()
        assert client.rate_limit is not None
        assert (client.rate_limit.limit, client.rate_limit.remaining) == (2, 1)
        assert client.rate_limit.reset_at == 1_800_000_010
        await client.list_subscription_types()
        with pytest.raises(RateLimited) as caught:
            await client.list_subscription_types()
    error = caught.value
    assert error.retryable is True
    assert error.status == 429
    assert error.code == "rate_limit_exceeded"
    assert error.reset_at == 1_800_000_010
    assert error.message == "Exceeded rate limit of 2 in 10_seconds"
    assert client.rate_limit is not None
    assert client.rate_limit.remaining == 0
    assert client.calls_sent == 3


async def test_server_errors_are_retryable(client: IntercomClient, sandbox: Sandbox) -> None:
    sandbox.faults.error_rate = 1.0
    with pytest.raises(ServerError) as caught:
        await client.attach_subscription(JANE_LEAD, "95", ConsentType.OPT_IN)
    assert caught.value.status in {500, 503}
    assert caught.value.retryable is True
    assert sandbox.explicit(JANE_LEAD) == {}


async def test_timeout_applies_over_the_asgi_transport(sandbox: Sandbox) -> None:
    sandbox.faults.timeout_rate = 1.0
    sandbox.faults.hang_seconds = 30.0
    async with make_client(sandbox.app, timeout=0.05) as client:
        with pytest.raises(TransportError) as caught:
            await client.detach_subscription(JANE, "93")
        assert client.calls_sent == 1
    error = caught.value
    assert (error.status, error.retryable) == (0, True)
    assert "timed out after 0.05s" in str(error)
    assert sandbox.requests[-1].status == 499
    assert sandbox.explicit(JANE) == {"93": "opt_out"}


async def test_connection_errors_are_transport_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = IntercomClient(
        "secret-token-123", base_url=REGION_URLS["us"], transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(TransportError) as caught:
        await client.list_contact_subscriptions(JANE)
    assert caught.value.status == 0
    assert "ConnectError" in str(caught.value)
    assert client.calls_sent == 1


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "in_message"),
    [
        (422, {"error_key": "some_error"}, IntercomError, "some_error", "some_error"),
        (502, b"<html><body>Bad gateway</body></html>", ServerError, None, "Bad gateway"),
        (503, b"", ServerError, None, "empty body"),
        (404, b"", NotFound, None, "empty body"),
        (401, b"<html>Unauthorized</html>", Unauthorized, None, "Unauthorized"),
        (429, b"slow down", RateLimited, None, "slow down"),
        (400, error_list("parameter_invalid", "bad"), IntercomError, "parameter_invalid", "bad"),
        (
            403,
            error_list("api_plan_restricted", "Active subscription needed."),
            IntercomError,
            "api_plan_restricted",
            "Active",
        ),
        (409, {"errors": "not a list"}, IntercomError, None, "not a list"),
    ],
)
async def test_bodies_that_are_not_error_lists_still_give_typed_errors(
    status: int, body: Any, kind: type[IntercomError], code: str | None, in_message: str
) -> None:
    client = canned(status, body)
    with pytest.raises(IntercomError) as caught:
        await client.list_contact_subscriptions(JANE)
    error = caught.value
    assert type(error) is kind
    assert error.status == status
    assert error.code == code
    assert in_message in error.message
    assert error.retryable is (status >= 500 or status == 429)


async def test_request_id_falls_back_to_the_body() -> None:
    with pytest.raises(NotFound) as caught:
        await canned(
            404, error_list("not_found", "User Not Found", "rid-42")
        ).list_contact_subscriptions(JANE)
    assert caught.value.request_id == "rid-42"
    with pytest.raises(NotFound) as header_wins:
        await canned(
            404, error_list("not_found", "User Not Found", "rid-42"), {"X-Request-Id": "rid-h"}
        ).list_contact_subscriptions(JANE)
    assert header_wins.value.request_id == "rid-h"
    result = await canned(200, {"type": "subscription", "request_id": "rid-7"}).detach_subscription(
        JANE, "93"
    )
    assert result == CallResult(200, "rid-7")


async def test_a_429_without_headers_has_no_reset_time() -> None:
    with pytest.raises(RateLimited) as caught:
        await canned(429, error_list("rate_limit_exceeded", "slow")).list_subscription_types()
    assert caught.value.reset_at is None


async def test_the_token_never_appears_in_error_text() -> None:
    echo = f"invalid token secret-token-123 for {'x' * 200}"
    cases: list[tuple[Callable[[], IntercomClient], type[IntercomError]]] = [
        (lambda: canned(401, error_list("unauthorized", echo)), Unauthorized),
        (lambda: canned(500, ("Bearer secret-token-123 " * 10).encode()), ServerError),
        (lambda: canned(200, b"secret-token-123"), IntercomError),
    ]
    for make, kind in cases:
        with pytest.raises(kind) as caught:
            await make().list_subscription_types()
        assert "secret-token-123" not in str(caught.value)
        assert "secret-token" not in caught.value.message


async def test_malformed_success_bodies_are_errors() -> None:
    with pytest.raises(IntercomError, match="malformed subscription type list"):
        await canned(200, {"type": "list", "data": [{"id": "1"}]}).list_subscription_types()
    with pytest.raises(IntercomError, match="expected a JSON object"):
        await canned(200, b"[]").list_contact_subscriptions(JANE)


async def test_rate_limit_and_calls_sent_track_every_response(
    client: IntercomClient, sandbox: Sandbox
) -> None:
    assert client.rate_limit is None
    assert client.calls_sent == 0
    await client.list_subscription_types()
    first = client.rate_limit
    assert first is not None
    with pytest.raises(NotFound):
        await client.list_contact_subscriptions("0" * 24)
    assert client.rate_limit is not None
    assert client.rate_limit.remaining == first.remaining - 1
    assert client.rate_limit.observed_at >= first.observed_at
    assert client.calls_sent == 2 == len(sandbox.requests)


async def test_client_never_retries(client: IntercomClient, sandbox: Sandbox) -> None:
    sandbox.faults.error_rate = 1.0
    with pytest.raises(ServerError):
        await client.list_subscription_types()
    assert len(sandbox.requests) == 1


async def test_debug_log_names_the_call_but_not_the_token(
    client: IntercomClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="bridge.intercom.client"):
        await client.detach_subscription(JANE, "93")
    [record] = [r for r in caplog.records if r.name == "bridge.intercom.client"]
    text = record.getMessage()
    assert f"DELETE /contacts/{JANE}/subscriptions/93 -> 200" in text
    assert "request_id=" in text
    assert TOKEN not in caplog.text
