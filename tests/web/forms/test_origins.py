"""Which sites may post a form: its origins and the bridge's own; every other is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bridge.sandbox import Sandbox
from tests.web.forms.posting import PUBLIC_URL, SITE, bridge_with_forms, post, posts, recorded


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox) -> Iterator[TestClient]:
    """The bridge with the test forms."""
    with bridge_with_forms(tmp_path, sandbox) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://www.example.com.evil.example"},
        {"Origin": "http://www.example.com"},  # another scheme is another origin
        {"Origin": None, "Sec-Fetch-Site": "cross-site"},
        {"Origin": None, "Sec-Fetch-Site": "same-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": None},
    ],
    ids=["other-site", "suffix", "scheme", "cross-site", "same-site", "null", "null-old"],
)
def test_a_post_from_another_site_is_a_403_and_changes_nothing(
    client: TestClient, headers: dict[str, str | None]
) -> None:
    response = post(client, "newsletter", **headers)
    assert response.status_code == 403
    assert "Not allowed from this website" in response.text
    assert recorded(client) == [] and posts(client, "newsletter", "refused") == 1


def test_one_form_s_origin_may_not_post_another_s(client: TestClient) -> None:
    shop = "https://shop.example.com"
    fields = [("your-email", "a@example.com"), ("subscription", "93")]
    assert post(client, "choose", fields, Origin=shop).status_code == 303
    assert post(client, "newsletter", Origin=shop).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": SITE.upper()},
        {"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # the bridge's own pages
        {"Origin": None, "Sec-Fetch-Site": None},  # a script on a server
        {"Origin": None, "Sec-Fetch-Site": "none"},
    ],
    ids=["case", "own", "own-no-referrer", "script", "typed"],
)
def test_the_form_s_sites_the_bridge_itself_and_scripts_may_post(
    client: TestClient, headers: dict[str, str | None]
) -> None:
    assert post(client, "newsletter", **headers).status_code == 303
    assert len(recorded(client)) == 1


def test_a_refusal_is_json_for_fetch(client: TestClient) -> None:
    response = client.post(
        "/forms/newsletter",
        json={"email": "a@example.com"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Mode": "cors"},
    )
    assert response.status_code == 403
    assert response.json()["message"] == (
        "Form 'newsletter' does not take posts from https://evil.example."
    )
