"""How form posts are answered: 303 or JSON, one answer for everyone, never an open redirect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.sandbox import Sandbox
from tests.web.forms.posting import SITE, bridge_with_forms, fetch, post, posts, recorded

THANKS = "/forms/newsletter/thanks"


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox) -> Iterator[TestClient]:
    """The bridge with the test forms."""
    with bridge_with_forms(tmp_path, sandbox) as test_client:
        yield test_client


def test_a_browser_is_sent_to_the_thank_you_page_and_fetch_gets_json(client: TestClient) -> None:
    browser = post(client, "newsletter")
    assert (browser.status_code, browser.headers["location"]) == (303, THANKS)
    assert browser.headers["cache-control"] == "no-store"
    asked = post(client, "newsletter", [("email", "b@example.com")], Accept="application/json")
    assert (asked.status_code, asked.json()) == (200, {"ok": True})
    fetched = fetch(client, "newsletter", {"email": "c@example.com", "ignored": None})
    assert (fetched.status_code, fetched.json()) == (200, {"ok": True})
    assert len(recorded(client)) == 3


def test_the_thank_you_page_keeps_the_language_the_form_asked_for(client: TestClient) -> None:
    response = client.post(
        "/forms/newsletter?lang=fr",
        content="email=a%40example.com",
        headers={"Origin": SITE, "Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"{THANKS}?lang=fr"
    page = client.get(response.headers["location"])
    assert page.template.name == "forms/thanks.html"  # type: ignore[attr-defined]
    assert page.context["title"] == "Merci"  # type: ignore[attr-defined]
    assert "Votre inscription est faite" in page.text


@pytest.mark.parametrize(
    ("form", "language", "words"),
    [
        ("newsletter", "en", "You're signed up"),
        ("newsletter", "de", "Sie sind angemeldet"),
        ("leave", "es", "Ya te has dado de baja"),
    ],
)
def test_the_thank_you_page_says_what_the_form_did_in_the_person_s_language(
    client: TestClient, form: str, language: str, words: str
) -> None:
    page = client.get(f"/forms/{form}/thanks", headers={"Accept-Language": language})
    assert page.status_code == 200 and page.headers["content-language"] == language
    assert words in page.text.replace("&#39;", "'")


def test_the_configured_thank_you_url_is_where_a_browser_goes(client: TestClient) -> None:
    response = post(client, "leave", [("email", "jane.doe@example.com")])
    assert (response.status_code, response.headers["location"]) == (303, f"{SITE}/bye")


@pytest.mark.parametrize(
    "attempt",
    [
        {"fields": [("redirect", "https://evil.example/")]},
        {"fields": [("next", "https://evil.example/"), ("return_to", "//evil.example")]},
        {"query": "?next=https://evil.example/&redirect=https://evil.example/"},
        {"headers": {"Referer": "https://evil.example/", "X-Forwarded-Host": "evil.example"}},
        {"query": "?lang=/../../evil.example"},
    ],
    ids=["redirect-field", "next-fields", "query", "headers", "lang"],
)
def test_nothing_in_the_request_chooses_where_the_browser_goes(
    client: TestClient, attempt: dict[str, object]
) -> None:
    fields = [("email", "a@example.com"), *attempt.get("fields", [])]  # type: ignore[misc]
    response = client.post(
        f"/forms/newsletter{attempt.get('query', '')}",
        content=httpx.QueryParams(fields).__str__(),
        headers={
            "Origin": SITE,
            "Content-Type": "application/x-www-form-urlencoded",
            **attempt.get("headers", {}),  # type: ignore[dict-item]
        },
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, THANKS)
    leave = post(client, "leave", fields)
    assert leave.headers["location"] == f"{SITE}/bye"


def test_the_answer_is_the_same_for_a_contact_that_exists_a_stranger_and_a_repeat(
    client: TestClient,
) -> None:
    def answer(response: httpx.Response) -> tuple[object, ...]:
        # Every answer has its own date and request id; neither tells one person from another.
        headers = {k: v for k, v in response.headers.items() if k not in ("date", "x-request-id")}
        return response.status_code, headers, response.content

    known = post(client, "newsletter", [("email", "jane.doe@example.com")])
    stranger = post(client, "newsletter", [("email", "nobody@example.com")])
    again = post(client, "newsletter", [("email", "jane.doe@example.com")])
    assert answer(known) == answer(stranger) == answer(again)
    as_json = [
        answer(fetch(client, "newsletter", {"email": email}))
        for email in ("jane.doe@example.com", "nobody.else@example.com")
    ]
    assert as_json[0] == as_json[1]


@pytest.mark.parametrize(
    ("form", "body", "field", "message"),
    [
        ("newsletter", {}, "email", "email: an email address is required"),
        ("newsletter", {"email": "jane@example"}, "email", "email: 'jane@example' needs"),
        ("newsletter", {"email": "a@b.io", "phone": "12345"}, "phone", "phone: '12345' is not"),
        ("choose", {"your-email": "a@b.io"}, "subscription", "subscription: tick at least"),
        (
            "choose",
            {"your-email": "a@b.io", "subscription": ["93", "108"]},
            "subscription",
            "subscription: '108' is not one of this form's choices",
        ),
        ("choose", {"email": "a@b.io", "subscription": "93"}, "your-email", "your-email: an"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_nothing_is_recorded(
    client: TestClient, form: str, body: dict[str, object], field: str, message: str
) -> None:
    response = fetch(client, form, body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(message)
    assert recorded(client) == [] and posts(client, form, "invalid") == 1


def test_a_browser_is_told_which_field_in_its_language(client: TestClient) -> None:
    response = post(client, "newsletter", [("email", "jane@")], **{"Accept-Language": "fr"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert response.context["title"] == "Vérifiez votre adresse e-mail"  # type: ignore[attr-defined]


def test_an_unknown_form_is_a_404_for_fetch_and_for_a_browser(client: TestClient) -> None:
    as_json = fetch(client, "nope", {"email": "a@b.io"})
    assert as_json.status_code == 404
    assert as_json.json()["message"] == "There is no form named 'nope'."
    page = post(client, "nope")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert client.get("/forms/nope/thanks").status_code == 404
    assert recorded(client) == []
