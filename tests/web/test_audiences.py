"""Every route is declared in the audiences table, and what reads the table follows it."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from bridge.web.access_log import AccessLogTokenFilter, mask_path
from bridge.web.audiences import AREAS, area_of

# Files a page loads: their errors follow the Accept header, like any unknown address's.
ASSETS = {"/brand.css", "/static"}


def _paths(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    found = []
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            found += _paths(list(route.routes), prefix + route.path)
        elif isinstance(route, Route | Mount):
            found.append(prefix + route.path)
    return found


def test_every_route_has_an_audience(app: Starlette) -> None:
    undeclared = [
        path for path in _paths(list(app.routes)) if path not in ASSETS and area_of(path) is None
    ]
    assert not undeclared, f"add these to bridge/web/audiences.py AREAS: {undeclared}"


def test_narrower_areas_come_before_the_areas_holding_them() -> None:
    # area_of takes the first match, so a narrower area listed after a wider one never matches.
    for position, earlier in enumerate(AREAS):
        shadowed = [a.prefix for a in AREAS[position + 1 :] if a.prefix.startswith(earlier.prefix)]
        assert not shadowed, f"{shadowed} must come before {earlier.prefix}"
    assert area_of("/api/v1/preferences/abc").token_in_path  # type: ignore[union-attr]
    assert not area_of("/api/v1/openapi.json").token_in_path  # type: ignore[union-attr]


@pytest.mark.parametrize("area", [a for a in AREAS if a.token_in_path], ids=lambda a: a.prefix)
def test_a_token_in_any_token_area_is_shortened_in_access_logs(area: object) -> None:
    token = "eyJhbGciOi.secret-part-of-the-token"
    path = f"{area.prefix}{token}?lang=fr"  # type: ignore[attr-defined]
    assert token not in mask_path(path) and "?lang=fr" in mask_path(path)
    record = logging.LogRecord(
        "uvicorn.access", 20, "", 0, "%s %s %s", ("1.2.3.4", "GET", path), None
    )
    assert AccessLogTokenFilter().filter(record)
    assert token not in record.getMessage()


@pytest.mark.parametrize(
    ("path", "accept", "shape"),
    [
        ("/unsubscribe/not-a-token", "*/*", "text/html"),
        ("/api/v1/preferences/not-a-token", "text/html", "application/json"),
        ("/forms/nobody", "text/html", "text/html"),
        ("/forms/nobody", "application/json", "application/json"),
        ("/webhooks/nobody", "text/html", "text/plain"),
        ("/metrics/extra", "text/html", "text/plain"),
        ("/nowhere", "text/html", "text/html"),
        ("/nowhere", "application/json", "text/plain"),
    ],
)
def test_errors_are_shaped_for_the_audience(
    client: TestClient, path: str, accept: str, shape: str
) -> None:
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code in (400, 404, 405)
    assert response.headers["content-type"].startswith(shape)


def test_only_embeddable_areas_may_be_framed(client: TestClient) -> None:
    embeddable = {a.prefix for a in AREAS if a.embeddable}
    assert embeddable == {"/preferences/", "/forms/"}
    framed = client.get("/preferences/not-a-token").headers["content-security-policy"]
    not_framed = client.get("/unsubscribe/not-a-token").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in not_framed
    assert "frame-ancestors 'none'" not in framed


def test_a_webhooks_query_loses_its_values_in_access_logs() -> None:
    # Vonage may deliver a text by GET: the sender's number and the text are in the query.
    path = "/webhooks/vonage?msisdn=14155550123&text=STOP&sig=abc123&token=secret"
    assert mask_path(path) == "/webhooks/vonage?msisdn=…&text=…&sig=…&token=…"
    assert mask_path("/forms/news?lang=fr&token=secret") == "/forms/news?lang=fr&token=…"
