"""CORS for `fetch` to a form: each form's own origins may, and nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bridge.sandbox import Sandbox
from tests.web.forms.posting import SITE, bridge_with_forms, fetch

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox) -> Iterator[TestClient]:
    """The bridge with the test forms."""
    with bridge_with_forms(tmp_path, sandbox) as test_client:
        yield test_client


def test_a_preflight_from_one_of_the_form_s_origins_is_allowed(client: TestClient) -> None:
    response = client.options("/forms/newsletter", headers={"Origin": SITE, **PREFLIGHT})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "POST"
    assert "Content-Type" in response.headers["access-control-allow-headers"]
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/forms/newsletter", {"Origin": "https://evil.example"}, 403),
        ("/forms/newsletter", {"Origin": "https://shop.example.com"}, 403),  # choose's only
        ("/forms/newsletter", {}, 403),
        (
            "/forms/newsletter",
            {"Origin": SITE, "Access-Control-Request-Method": "DELETE"},
            403,
        ),
        ("/forms/nope", {"Origin": SITE}, 404),
        ("/forms/newsletter/thanks", {"Origin": SITE}, 404),
    ],
)
def test_other_preflights_are_refused_without_cors_headers(
    client: TestClient, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.options(path, headers={**PREFLIGHT, **headers})
    assert response.status_code == status
    assert "access-control-allow-origin" not in response.headers


def test_answers_name_an_allowed_origin_errors_included(client: TestClient) -> None:
    ok = fetch(client, "newsletter", {"email": "a@example.com"})
    bad = fetch(client, "newsletter", {"email": "not an address"})
    too_large = fetch(client, "newsletter", {"email": "a@example.com", "x": "y" * 20_000})
    for response in (ok, bad, too_large):
        assert response.headers["access-control-allow-origin"] == SITE
        assert response.headers["vary"] == "Origin"
    assert [ok.status_code, bad.status_code, too_large.status_code] == [200, 400, 413]


def test_answers_to_other_origins_name_none(client: TestClient) -> None:
    refused = fetch(client, "newsletter", {"email": "a@example.com"}, Origin="https://evil.example")
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def test_an_options_that_is_not_a_preflight_is_a_405(client: TestClient) -> None:
    response = client.options("/forms/newsletter", headers={"Origin": SITE})
    assert response.status_code == 405 and set(response.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
        "POST",
    }
