"""A form's fields from urlencoded, multipart or JSON bodies, within a small limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bridge.consent import Identity
from bridge.sandbox import Sandbox
from tests.web.forms.posting import BROWSER, FETCH, bridge_with_forms, recorded

MULTIPART = {k: v for k, v in BROWSER.items() if k != "Content-Type"}


@pytest.fixture
def client(tmp_path: Path, sandbox: Sandbox) -> Iterator[TestClient]:
    """The bridge with the test forms."""
    with bridge_with_forms(tmp_path, sandbox) as test_client:
        yield test_client


def test_multipart_is_read_like_urlencoded(client: TestClient) -> None:
    response = client.post(
        "/forms/choose",
        data={"your-email": "a@example.com", "subscription": ["93", "95"]},
        files={"ignored": (None, "")},  # a text part: multipart without a file
        headers=MULTIPART,
        follow_redirects=False,
    )
    assert response.status_code == 303
    [record] = recorded(client)
    assert record.request.scope.type_ids == ("93", "95")


def test_a_file_is_refused(client: TestClient) -> None:
    response = client.post(
        "/forms/newsletter",
        data={"email": "a@example.com"},
        files={"cv": ("cv.txt", b"hello", "text/plain")},
        headers=MULTIPART,
    )
    assert response.status_code == 400 and recorded(client) == []


def test_json_takes_text_numbers_and_lists(client: TestClient) -> None:
    body = {"your-email": "a@example.com", "subscription": [93, "95"], "full-name": "Ann"}
    response = client.post("/forms/choose", json=body, headers=FETCH)
    assert response.json() == {"ok": True}
    [record] = recorded(client)
    assert record.request.identity == Identity(email="a@example.com")
    assert record.request.scope.type_ids == ("93", "95")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "The body is not valid JSON."),
        (b'["a@example.com"]', "The body must be a JSON object of fields."),
        (b'{"email": {"address": "a@example.com"}}', "The field 'email' must be text"),
        (b'{"email": true}', "The field 'email' must be text"),
        (b'{"subscription": ' + b"[" + b",".join([b'"1"'] * 51) + b"]}", "at most 50 fields"),
    ],
)
def test_json_that_is_not_a_form_s_fields_is_a_400(
    client: TestClient, content: bytes, message: str
) -> None:
    response = client.post("/forms/newsletter", content=content, headers=FETCH)
    assert response.status_code == 400
    assert message in response.json()["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_another_content_type_is_a_415(client: TestClient, content_type: str | None) -> None:
    headers = {**BROWSER, "Content-Type": content_type} if content_type else MULTIPART
    response = client.post("/forms/newsletter", content=b"email=a@example.com", headers=headers)
    assert response.status_code == 415 and recorded(client) == []


def test_a_body_over_16_kb_is_a_413(client: TestClient) -> None:
    padding = "x" * (16 * 1024)
    response = client.post(
        "/forms/newsletter", content=f"email=a%40example.com&pad={padding}", headers=BROWSER
    )
    assert response.status_code == 413 and recorded(client) == []
    assert response.headers["content-type"].startswith("text/html")  # a page for the person
