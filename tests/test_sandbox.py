"""Tests for bridge.sandbox: the in-memory Intercom workspace, over raw HTTP."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bridge.sandbox import Sandbox

TOKEN = "sandbox-token"
JANE = "63a07ddf05a32042dffac965"  # user, explicit opt-out of 93
JANE_LEAD = "63a07ddf05a32042dffac966"
AMELIE = "63a07de105a32042dffac970"  # explicit opt-in to 95 and 108
SAM = "63a07de705a32042dffac98c"  # phone typed "(415) 555-0123"
START = 1_800_000_003.0  # 3 s into a 10-second window


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """A frozen clock the sandbox reads."""
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Sandbox:
    """A seeded sandbox with a frozen clock and a seeded random generator."""
    return Sandbox(clock=clock, rng=random.Random(7))


def client_for(app: Any, token: str = TOKEN, base_url: str = "https://api.intercom.io") -> Any:
    """An httpx client speaking to an ASGI app with Intercom's headers."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=httpx.ASGITransport(app=app),
        headers={"Authorization": f"Bearer {token}", "Intercom-Version": "2.11"},
    )


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated raw HTTP client for the sandbox."""
    async with client_for(sandbox.app) as client:
        yield client


def error_of(response: httpx.Response) -> tuple[str, str]:
    """The (code, message) of an error.list answer, checking the envelope on the way."""
    body = response.json()
    assert body["type"] == "error.list"
    assert body["request_id"] == response.headers["X-Request-Id"]
    [error] = body["errors"]
    return error["code"], error["message"]


async def search(http: httpx.AsyncClient, query: dict[str, Any], **pagination: Any) -> Any:
    """POST /contacts/search and return the decoded body, asserting a 200."""
    body: dict[str, Any] = {"query": query}
    if pagination:
        body["pagination"] = pagination
    response = await http.post("/contacts/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [contact["id"] for contact in body["data"]]


# --- the seeded workspace ---------------------------------------------------------------


def test_seed_has_types_of_every_kind_with_four_translations(sandbox: Sandbox) -> None:
    kinds = {
        (t["consent_type"], tuple(t["content_types"]), t["state"]) for t in sandbox.types.values()
    }
    assert ("opt_in", ("sms_message",), "live") in kinds
    assert ("opt_out", ("sms_message",), "live") in kinds
    assert ("opt_out", ("email",), "live") in kinds
    assert ("opt_in", ("email",), "live") in kinds
    assert {t["state"] for t in sandbox.types.values()} == {"live", "draft", "archived"}
    assert sandbox.types["108"]["consent_type"] == "opt_in"
    for subscription_type in sandbox.types.values():
        locales = [t["locale"] for t in subscription_type["translations"]]
        assert {"en", "fr", "de", "es"} <= set(locales)
        assert subscription_type["default_translation"]["locale"] == "en"
        assert all(t["name"] and t["description"] for t in subscription_type["translations"])


def test_seed_contacts_have_fixed_ids_and_realistic_identities(sandbox: Sandbox) -> None:
    contacts = list(sandbox.contacts.values())
    assert all(re.fullmatch(r"[0-9a-f]{24}", c["id"]) for c in contacts)
    assert {c["role"] for c in contacts} == {"user", "lead"}
    shared = [c for c in contacts if c["email"] == "jane.doe@example.com"]
    assert sorted(c["role"] for c in shared) == ["lead", "user"]
    assert any(c["phone"] and re.fullmatch(r"\+\d{8,15}", c["phone"]) for c in contacts)
    assert any(c["external_id"] for c in contacts)
    assert Sandbox(seed=True).contacts.keys() == sandbox.contacts.keys()
    assert not Sandbox(seed=False).contacts
    assert not Sandbox(seed=False).types


def test_add_contact_gives_distinct_24_hex_ids(sandbox: Sandbox) -> None:
    first = sandbox.add_contact(email="a@example.com")
    second = sandbox.add_contact(email="a@example.com", role="lead")
    assert first["id"] != second["id"]
    assert re.fullmatch(r"[0-9a-f]{24}", first["id"])
    assert first["created_at"] == int(START)
    with pytest.raises(ValueError, match="role"):
        sandbox.add_contact(email="b@example.com", role="visitor")


def test_add_type_fills_defaults(sandbox: Sandbox) -> None:
    added = sandbox.add_type(name="Webinars", consent_type="opt_in")
    assert added["id"] not in {"", None}
    assert sandbox.types[added["id"]] is added
    assert added["type"] == "subscription"
    assert added["default_translation"]["name"] == "Webinars"
    assert added["state"] == "live"
    with pytest.raises(ValueError, match="already exists"):
        sandbox.add_type(id=added["id"])


# --- subscription types and explicit preferences ------------------------------------------


async def test_lists_every_subscription_type(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await http.get("/subscription_types")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "list"
    assert [t["id"] for t in body["data"]] == list(sandbox.types)


async def test_contact_list_holds_only_explicit_preferences(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await http.get(f"/contacts/{AMELIE}/subscriptions")
    assert response.status_code == 200
    assert [t["id"] for t in response.json()["data"]] == ["95", "108"]
    assert all(t["type"] == "subscription" for t in response.json()["data"])
    empty = await http.get(f"/contacts/{JANE_LEAD}/subscriptions")
    assert empty.json() == {"type": "list", "data": []}


async def test_attach_inserts_and_detach_removes(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    attached = await http.post(
        f"/contacts/{JANE_LEAD}/subscriptions", json={"id": "37846", "consent_type": "opt_out"}
    )
    assert attached.status_code == 200
    assert attached.json() == sandbox.types["37846"]
    assert sandbox.explicit(JANE_LEAD) == {"37846": "opt_out"}
    detached = await http.delete(f"/contacts/{JANE_LEAD}/subscriptions/37846")
    assert detached.status_code == 200
    assert detached.json()["id"] == "37846"
    assert sandbox.explicit(JANE_LEAD) == {}


async def test_attach_is_idempotent_and_accepts_an_integer_id(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    for _ in range(2):
        response = await http.post(
            f"/contacts/{JANE_LEAD}/subscriptions", json={"id": 108, "consent_type": "opt_in"}
        )
        assert response.status_code == 200
        assert response.json()["id"] == "108"
    assert sandbox.explicit(JANE_LEAD) == {"108": "opt_in"}


@pytest.mark.parametrize(
    ("type_id", "consent_type", "attached", "receives"),
    [
        ("93", "opt_out", False, True),  # opt_out, default: receiving
        ("93", "opt_out", True, False),  # opt_out, in the list: opted out
        ("95", "opt_in", False, False),  # opt_in, default: not receiving
        ("95", "opt_in", True, True),  # opt_in, in the list: opted in
    ],
)
async def test_receives_follows_the_consent_table(
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    type_id: str,
    consent_type: str,
    attached: bool,
    receives: bool,
) -> None:
    contact = sandbox.add_contact(email="table@example.com")["id"]
    if attached:
        response = await http.post(
            f"/contacts/{contact}/subscriptions", json={"id": type_id, "consent_type": consent_type}
        )
        assert response.status_code == 200
    assert sandbox.receives(contact, type_id) is receives


async def test_detach_brings_back_the_types_default(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    assert sandbox.receives(JANE, "93") is False
    assert (await http.delete(f"/contacts/{JANE}/subscriptions/93")).status_code == 200
    assert sandbox.receives(JANE, "93") is True
    assert sandbox.receives(AMELIE, "95") is True
    assert (await http.delete(f"/contacts/{AMELIE}/subscriptions/95")).status_code == 200
    assert sandbox.receives(AMELIE, "95") is False


async def test_unknown_contact_and_unknown_type_answer_404s(http: httpx.AsyncClient) -> None:
    body = {"id": "93", "consent_type": "opt_out"}
    unknown_contact = "0" * 24
    for response in (
        await http.get(f"/contacts/{unknown_contact}/subscriptions"),
        await http.post(f"/contacts/{unknown_contact}/subscriptions", json=body),
        await http.delete(f"/contacts/{unknown_contact}/subscriptions/93"),
        await http.get(f"/contacts/{unknown_contact}"),
    ):
        assert response.status_code == 404
        assert error_of(response) == ("not_found", "User Not Found")
    for response in (
        await http.post(
            f"/contacts/{JANE}/subscriptions", json={"id": "invalid_id", "consent_type": "opt_in"}
        ),
        await http.delete(f"/contacts/{JANE}/subscriptions/999999"),
    ):
        assert response.status_code == 404
        assert error_of(response) == ("not_found", "Resource Not Found")


async def test_detach_without_an_explicit_preference_is_404(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await http.delete(f"/contacts/{JANE}/subscriptions/37846")
    assert response.status_code == 404
    assert error_of(response) == ("not_found", "Resource Not Found")
    assert sandbox.explicit(JANE) == {"93": "opt_out"}


@pytest.mark.parametrize(
    "body",
    [
        {"id": "93", "consent_type": "opt_in"},  # not the type's own consent_type
        {"id": "93", "consent_type": "maybe"},
        {"id": "93"},
        {"consent_type": "opt_out"},
        {"id": True, "consent_type": "opt_out"},
        ["93"],
    ],
)
async def test_attach_refuses_malformed_bodies(
    http: httpx.AsyncClient, sandbox: Sandbox, body: Any
) -> None:
    response = await http.post(f"/contacts/{JANE_LEAD}/subscriptions", json=body)
    assert response.status_code == 400
    assert error_of(response)[0] == "parameter_invalid"
    assert sandbox.explicit(JANE_LEAD) == {}


async def test_body_that_is_not_json_is_a_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/contacts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)[0] == "bad_request"


# --- contacts: show and create ------------------------------------------------------------


async def test_show_contact_carries_explicit_preferences(http: httpx.AsyncClient) -> None:
    response = await http.get(f"/contacts/{AMELIE}")
    assert response.status_code == 200
    contact = response.json()
    assert contact["type"] == "contact"
    assert contact["role"] == "user"
    assert contact["location"]["city"] == "Paris"
    opted_in = contact["opted_in_subscription_types"]
    assert [item["id"] for item in opted_in["data"]] == ["95", "108"]
    assert opted_in["total_count"] == 2
    assert contact["opted_out_subscription_types"]["data"] == []


async def test_create_defaults_to_a_user_and_answers_200(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await http.post("/contacts", json={"email": "Joe.Bloggs@Example.com"})
    assert response.status_code == 200
    contact = response.json()
    assert contact["role"] == "user"
    assert contact["external_id"] is None
    assert contact["email_domain"] == "Example.com"
    assert sandbox.contacts[contact["id"]]["email"] == "Joe.Bloggs@Example.com"
    lead = await http.post("/contacts", json={"role": "lead", "phone": "+44 20 7946 0958"})
    assert lead.status_code == 200
    assert lead.json()["formatted_phone"] == "+442079460958"
    assert lead.json()["email"] == ""


@pytest.mark.parametrize(
    ("body", "clash"),
    [
        ({"external_id": "cust-1001", "role": "lead"}, JANE),
        ({"email": "JANE.DOE@example.com"}, JANE),
        ({"email": "jane.doe@example.com", "role": "lead"}, JANE_LEAD),
    ],
)
async def test_create_conflicts_name_the_existing_contact(
    http: httpx.AsyncClient, sandbox: Sandbox, body: dict[str, Any], clash: str
) -> None:
    before = len(sandbox.contacts)
    response = await http.post("/contacts", json=body)
    assert response.status_code == 409
    assert error_of(response) == (
        "conflict",
        f"A contact matching those details already exists with id={clash}",
    )
    assert len(sandbox.contacts) == before


async def test_create_allows_the_same_email_in_another_role(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/contacts", json={"email": "jonas.becker@example.de", "role": "lead"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"name": "No Identity"}, {"role": "visitor"}, {"email": 42}, "text"]
)
async def test_create_refuses_bodies_without_a_usable_identity(
    http: httpx.AsyncClient, body: Any
) -> None:
    response = await http.post("/contacts", json=body)
    assert response.status_code == 400
    assert error_of(response)[0] in {"parameter_invalid", "bad_request"}


# --- search --------------------------------------------------------------------------------


async def test_search_equals_is_case_insensitive_on_email(http: httpx.AsyncClient) -> None:
    body = await search(http, {"field": "email", "operator": "=", "value": "Jane.Doe@EXAMPLE.com"})
    assert sorted(ids(body)) == sorted([JANE, JANE_LEAD])
    assert body["total_count"] == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"field": "phone", "operator": "=", "value": "+33 6 12 34 56 78"}, [AMELIE]),
        ({"field": "external_id", "operator": "=", "value": "cust-1001"}, [JANE]),
        ({"field": "id", "operator": "=", "value": AMELIE}, [AMELIE]),
        (
            {"field": "external_id", "operator": "IN", "value": ["cust-1001", "cust-1002"]},
            [JANE, AMELIE],
        ),
        (
            {
                "operator": "AND",
                "value": [
                    {"field": "email", "operator": "=", "value": "jane.doe@example.com"},
                    {"field": "role", "operator": "=", "value": "lead"},
                ],
            },
            [JANE_LEAD],
        ),
        (
            {
                "operator": "AND",
                "value": [
                    {"field": "email", "operator": "=", "value": "jane.doe@example.com"},
                    {"field": "role", "operator": "!=", "value": "lead"},
                ],
            },
            [JANE],
        ),
        (
            {
                "operator": "OR",
                "value": [
                    {"field": "phone", "operator": "=", "value": "+33 6 12 34 56 78"},
                    {"field": "external_id", "operator": "=", "value": "cust-1001"},
                ],
            },
            [JANE, AMELIE],
        ),
        (
            # (user AND external_id IN ...) AND (email ends with .fr OR phone = Jane's)
            {
                "operator": "AND",
                "value": [
                    {"field": "role", "operator": "=", "value": "user"},
                    {
                        "operator": "OR",
                        "value": [
                            {"field": "email", "operator": "$", "value": ".FR"},
                            {"field": "phone", "operator": "=", "value": "+353871234567"},
                        ],
                    },
                ],
            },
            [JANE, AMELIE],
        ),
        (
            {
                "operator": "AND",
                "value": [
                    {"field": "role", "operator": "=", "value": "user"},
                    {
                        "field": "external_id",
                        "operator": "NIN",
                        "value": ["cust-1001", "cust-1002"],
                    },
                    {"field": "external_id", "operator": "!=", "value": None},
                ],
            },
            ["63a07de305a32042dffac97b", "63a07de705a32042dffac98c"],
        ),
        # Stored as typed, so the E.164 form is not equal to it.
        ({"field": "phone", "operator": "=", "value": "+14155550123"}, []),
        ({"field": "phone", "operator": "=", "value": "(415) 555-0123"}, [SAM]),
        ({"field": "phone", "operator": "IN", "value": ["+14155550123", "(415) 555-0123"]}, [SAM]),
        ({"field": "phone", "operator": "$", "value": "0123"}, [SAM]),
        ({"field": "phone", "operator": "$", "value": "56 78"}, [AMELIE]),
        ({"field": "phone", "operator": "$", "value": "5678"}, ["63a07de505a32042dffac981"]),
        ({"field": "phone", "operator": "^", "value": "(415)"}, [SAM]),
        ({"field": "phone", "operator": "~", "value": "555-01"}, [SAM]),
        (
            # An indexed field beside the `$` narrows the scan without skipping the `$`.
            {
                "operator": "AND",
                "value": [
                    {"field": "phone", "operator": "$", "value": "0123"},
                    {"field": "external_id", "operator": "=", "value": "cust-1004"},
                ],
            },
            [SAM],
        ),
        (
            {
                "operator": "AND",
                "value": [
                    {"field": "phone", "operator": "$", "value": "0124"},
                    {"field": "external_id", "operator": "=", "value": "cust-1004"},
                ],
            },
            [],
        ),
        ({"field": "email", "operator": "=", "value": "nobody@example.com"}, []),
    ],
)
async def test_search_operators_and_nesting(
    http: httpx.AsyncClient, query: dict[str, Any], expected: list[str]
) -> None:
    assert ids(await search(http, query)) == expected


async def test_a_created_phone_is_kept_as_typed(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await http.post("/contacts", json={"role": "lead", "phone": "415.555.0199"})
    contact = response.json()
    assert (contact["phone"], contact["formatted_phone"]) == ("415.555.0199", None)
    found = await search(http, {"field": "phone", "operator": "=", "value": "415.555.0199"})
    assert ids(found) == [contact["id"]]


async def test_empty_search_is_a_200_with_an_empty_page(http: httpx.AsyncClient) -> None:
    body = await search(
        http, {"field": "email", "operator": "=", "value": "nobody@example.com"}, per_page=5
    )
    assert body == {
        "type": "list",
        "data": [],
        "total_count": 0,
        "pages": {"type": "pages", "page": 1, "per_page": 5, "total_pages": 0},
    }


@pytest.mark.parametrize(
    "query",
    [
        {"field": "email", "operator": ">", "value": "a"},
        {"field": "email", "operator": "IN", "value": "a@example.com"},
        {"field": "shoe_size", "operator": "=", "value": "42"},
        {"operator": "AND", "value": []},
        {"operator": "OR", "value": [{"field": "role", "operator": "=", "value": "user"}] * 16},
        {
            "operator": "AND",
            "value": [
                {
                    "operator": "OR",
                    "value": [
                        {
                            "operator": "AND",
                            "value": [{"field": "role", "operator": "=", "value": "user"}],
                        }
                    ],
                }
            ],
        },
    ],
)
async def test_search_refuses_queries_outside_the_language(
    http: httpx.AsyncClient, query: dict[str, Any]
) -> None:
    response = await http.post("/contacts/search", json={"query": query})
    assert response.status_code == 400
    assert error_of(response)[0] == "parameter_invalid"


async def test_search_pages_with_a_cursor(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    made = [sandbox.add_contact(email=f"page{n}@paging.test", role="lead")["id"] for n in range(7)]
    query = {"field": "email", "operator": "$", "value": "@paging.test"}
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    body = await search(http, query, per_page=3)
    while True:
        seen += ids(body)
        pages.append(body["pages"])
        assert body["total_count"] == 7
        if "next" not in body["pages"]:
            break
        cursor = body["pages"]["next"]["starting_after"]
        body = await search(http, query, per_page=3, starting_after=cursor)
    assert seen == made
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert {p["total_pages"] for p in pages} == {3}
    assert pages[0]["next"] == {"per_page": 3, "starting_after": pages[0]["next"]["starting_after"]}


@pytest.mark.parametrize(
    "pagination",
    [
        {"per_page": 0},
        {"per_page": 151},
        {"per_page": "10"},
        {"per_page": 5, "starting_after": "%%"},
    ],
)
async def test_search_refuses_bad_pagination(
    http: httpx.AsyncClient, pagination: dict[str, Any]
) -> None:
    query = {"field": "role", "operator": "=", "value": "user"}
    response = await http.post("/contacts/search", json={"query": query, "pagination": pagination})
    assert response.status_code == 400


async def test_search_lag_hides_new_contacts_until_it_passes(
    http: httpx.AsyncClient, sandbox: Sandbox, clock: Clock
) -> None:
    sandbox.faults.search_lag = 60.0
    created = (await http.post("/contacts", json={"email": "fresh@example.com"})).json()
    query = {"field": "email", "operator": "=", "value": "fresh@example.com"}
    assert ids(await search(http, query)) == []
    # The contact exists all the same: it can be fetched and it blocks a duplicate.
    assert (await http.get(f"/contacts/{created['id']}")).status_code == 200
    assert (await http.post("/contacts", json={"email": "fresh@example.com"})).status_code == 409
    assert ids(await search(http, {"field": "id", "operator": "=", "value": JANE})) == [JANE]
    clock.advance(59.0)
    assert ids(await search(http, query)) == []
    clock.advance(1.0)
    assert ids(await search(http, query)) == [created["id"]]


async def test_a_lead_search_cannot_see_yet_is_named_by_the_409_to_a_second_create(
    http: httpx.AsyncClient, sandbox: Sandbox, clock: Clock
) -> None:
    sandbox.faults.search_lag = 600.0
    body = {"role": "lead", "email": "Signup@Example.com", "name": "Sign Up"}
    lead = (await http.post("/contacts", json=body)).json()
    assert lead["role"] == "lead"
    clock.advance(599.0)
    assert (
        ids(await search(http, {"field": "email", "operator": "=", "value": "signup@example.com"}))
        == []
    )
    again = await http.post("/contacts", json={**body, "email": "signup@example.com"})
    assert again.status_code == 409
    assert error_of(again)[1].endswith(f"already exists with id={lead['id']}")
    assert [c["id"] for c in sandbox.contacts.values() if c["email"] == body["email"]] == [
        lead["id"]
    ]


# --- auth, rate limits, request ids and recording ------------------------------------------


async def test_a_wrong_or_missing_token_is_401_without_rate_limit_headers(
    sandbox: Sandbox,
) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}, {}):
        async with httpx.AsyncClient(
            base_url="https://api.intercom.io", transport=httpx.ASGITransport(app=sandbox.app)
        ) as client:
            response = await client.get("/subscription_types", headers=headers)
        assert response.status_code == 401
        assert error_of(response) == ("unauthorized", "Access Token Invalid")
        assert not any(h.lower().startswith("x-ratelimit") for h in response.headers)
    assert sandbox.count(status=401) == 3


async def test_rate_limit_counts_per_fixed_window(clock: Clock) -> None:
    sandbox = Sandbox(rate_limit=3, clock=clock)
    async with client_for(sandbox.app) as http:
        answers = [await http.get("/subscription_types") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
        assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"3"}
        assert {r.headers["X-RateLimit-Reset"] for r in answers} == {"1800000010"}
        assert error_of(answers[3]) == (
            "rate_limit_exceeded",
            "Exceeded rate limit of 3 in 10_seconds",
        )
        clock.advance(6.999)  # still inside the window that ends at ...010
        assert (await http.get("/subscription_types")).status_code == 429
        clock.advance(0.001)
        fresh = await http.get("/subscription_types")
        assert fresh.status_code == 200
        assert fresh.headers["X-RateLimit-Remaining"] == "2"
        assert fresh.headers["X-RateLimit-Reset"] == "1800000020"


async def test_every_answer_has_a_request_id(http: httpx.AsyncClient) -> None:
    answers = [
        await http.get("/subscription_types"),
        await http.get("/contacts/" + "0" * 24),
        await http.get("/nowhere"),
    ]
    request_ids = [r.headers["X-Request-Id"] for r in answers]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", rid) for rid in request_ids)
    assert len(set(request_ids)) == 3


async def test_unknown_routes_and_methods_are_404_not_found(http: httpx.AsyncClient) -> None:
    for response in (
        await http.get("/nowhere"),
        await http.put(f"/contacts/{JANE}/subscriptions", json={}),
        await http.get("/contacts/search"),  # GET on a POST route reads as a contact id
    ):
        assert response.status_code == 404
        assert error_of(response)[0] == "not_found"


async def test_records_every_request_for_later_assertions(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await http.get("/subscription_types")
    await http.post(
        f"/contacts/{JANE}/subscriptions", json={"id": "37846", "consent_type": "opt_out"}
    )
    await http.delete(f"/contacts/{JANE}/subscriptions/124")
    first, second, third = sandbox.requests
    assert (first.method, first.path, first.status, first.json) == (
        "GET",
        "/subscription_types",
        200,
        None,
    )
    assert second.json == {"id": "37846", "consent_type": "opt_out"}
    assert second.headers["authorization"] == f"Bearer {TOKEN}"
    assert second.headers["intercom-version"] == "2.11"
    assert second.at == START
    assert third.status == 404
    assert sandbox.count() == 3
    assert sandbox.count("post") == 1
    assert sandbox.count(path_prefix="/contacts/") == 2
    assert sandbox.count("DELETE", f"/contacts/{JANE}", 404) == 1
    assert sandbox.count(status=200) == 2


async def test_ids_holding_a_slash_stay_one_path_segment(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await http.get(f"/contacts/{JANE}%2Fsubscriptions")
    assert response.status_code == 404
    assert error_of(response) == ("not_found", "User Not Found")
    assert sandbox.requests[-1].path == f"/contacts/{JANE}%2Fsubscriptions"


async def test_can_be_mounted_under_a_prefix(sandbox: Sandbox) -> None:
    host = Starlette(routes=[Mount("/intercom", app=sandbox.app)])
    async with client_for(host, base_url="https://proxy.test/intercom") as http:
        response = await http.get(f"/contacts/{JANE}/subscriptions")
    assert response.status_code == 200
    assert sandbox.requests[-1].path == f"/contacts/{JANE}/subscriptions"


# --- faults --------------------------------------------------------------------------------


async def test_unauthorized_fault_revokes_the_token(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.unauthorized = True
    response = await http.get("/subscription_types")
    assert response.status_code == 401
    sandbox.faults.unauthorized = False
    assert (await http.get("/subscription_types")).status_code == 200


async def test_unauthorized_comes_before_rate_limit_and_rate_limit_before_errors(
    clock: Clock,
) -> None:
    sandbox = Sandbox(rate_limit=1, clock=clock)
    sandbox.faults.error_rate = 1.0
    async with client_for(sandbox.app) as http:
        assert (await http.get("/subscription_types")).status_code in {500, 503}
        assert (await http.get("/subscription_types")).status_code == 429
        sandbox.faults.unauthorized = True
        assert (await http.get("/subscription_types")).status_code == 401


async def test_error_rate_answers_5xx_error_lists_and_changes_nothing(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.error_rate = 1.0
    statuses = set()
    for _ in range(20):
        response = await http.post(
            f"/contacts/{JANE_LEAD}/subscriptions", json={"id": "95", "consent_type": "opt_in"}
        )
        statuses.add(response.status_code)
        code, _ = error_of(response)
        assert code in {"server_error", "service_unavailable"}
        assert "X-RateLimit-Remaining" in response.headers
    assert statuses == {500, 503}
    assert sandbox.explicit(JANE_LEAD) == {}


async def test_error_rate_is_a_share_of_calls(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.faults.error_rate = 0.25
    answers = [(await http.get("/subscription_types")).status_code for _ in range(200)]
    failed = sum(status >= 500 for status in answers)
    assert 25 <= failed <= 75


async def test_timeout_fault_hangs_then_answers(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.faults.timeout_rate = 1.0
    sandbox.faults.hang_seconds = 0.05
    started = time.perf_counter()
    response = await http.get("/subscription_types")
    assert time.perf_counter() - started >= 0.05
    assert response.status_code == 200


async def test_a_caller_that_gives_up_is_recorded_as_499(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.faults.timeout_rate = 1.0
    sandbox.faults.hang_seconds = 30.0
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await http.post(
                f"/contacts/{JANE_LEAD}/subscriptions", json={"id": "95", "consent_type": "opt_in"}
            )
    assert sandbox.requests[-1].status == 499
    assert sandbox.explicit(JANE_LEAD) == {}


async def test_latency_is_added_to_every_answer(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.05
    for path in ("/subscription_types", "/nowhere"):
        started = time.perf_counter()
        await http.get(path)
        assert time.perf_counter() - started >= 0.05
