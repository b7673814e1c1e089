"""Only the bridge's own host names are answered; no slash redirects built from Host."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from bridge.web.middleware.host_check import host_name
from tests.conftest import make_settings


@pytest.mark.parametrize("path", ["/healthz/", "/healthz", "/unsubscribe/x/", "/nope"])
def test_a_foreign_host_is_refused_and_never_redirected_to(client: TestClient, path: str) -> None:
    # The review: `GET /healthz/` with `Host: evil.example` answered 307 to evil.example.
    response = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_trailing_slash_is_a_404_not_a_redirect(client: TestClient) -> None:
    response = client.get("/healthz/", follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "host",
    ["consent.example.com", "CONSENT.example.com:443", "localhost:8000", "127.0.0.1", "[::1]:8000"],
)
def test_the_public_host_and_localhost_are_answered(client: TestClient, host: str) -> None:
    assert client.get("/healthz", headers={"host": host}).status_code == 200


def test_extra_hosts_and_subdomains_can_be_allowed(sandbox: Sandbox, sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url,
        BRIDGE_WORKER_IN_PROCESS="false",
        BRIDGE_ALLOWED_HOSTS="bridge.internal, *.example.org",
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url="https://consent.example.com") as client:
        for host in ("bridge.internal", "a.example.org", "b.c.example.org"):
            assert client.get("/healthz", headers={"host": host}).status_code == 200, host
        for host in ("example.org", "bridge.internal.evil", "evilexample.org"):
            assert client.get("/healthz", headers={"host": host}).status_code == 400, host


@pytest.mark.parametrize(
    ("header", "name"),
    [("Example.COM:8443", "example.com"), ("[::1]:80", "::1"), ("::1", "::1"), ("", "")],
)
def test_host_name_strips_the_port(header: str, name: str) -> None:
    assert host_name(header) == name
