"""Liveness, readiness and metrics: what they tell whom, and what a scrape costs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.clock import ManualClock
from bridge.consent import Identity, Scope
from bridge.intercom.client import endpoint_of
from bridge.ledger import LedgerUnavailable
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.metrics import Metrics
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.conftest import SECRET, make_settings

TOKEN = "metrics-token-0123456789"
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def guarded(sandbox: Sandbox, sqlite_url: str) -> Iterator[TestClient]:
    """The bridge with BRIDGE_METRICS_TOKEN set."""
    settings = make_settings(
        sqlite_url, BRIDGE_WORKER_IN_PROCESS="false", BRIDGE_METRICS_TOKEN=TOKEN
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url="https://consent.example.com") as client:
        yield client


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}]
)
def test_metrics_need_the_token_when_one_is_set(
    guarded: TestClient, headers: dict[str, str]
) -> None:
    response = guarded.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "bridge_" not in response.text


def test_metrics_answer_the_tokens_bearer(guarded: TestClient) -> None:
    response = guarded.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert 'bridge_ledger_requests{status="pending"}' in response.text


def test_readyz_tells_others_one_word_and_the_operator_everything(guarded: TestClient) -> None:
    public = guarded.get("/readyz")
    assert public.status_code == 200
    assert public.text == "ready\n"
    detailed = guarded.get("/readyz", headers=BEARER)
    assert detailed.json() == {"ready": True, "checks": {"database": "ok", "intercom": "ok"}}


def test_without_a_token_both_are_open(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200
    assert client.get("/readyz").json()["ready"] is True


def test_the_queue_is_read_at_most_every_fifteen_seconds(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    clock = ManualClock()
    services.metrics = Metrics(clock=clock)
    reads = 0
    counts = services.ledger.status_counts

    async def counting() -> object:
        nonlocal reads
        reads += 1
        return await counts()

    monkeypatch.setattr(services.ledger, "status_counts", counting)
    for _ in range(5):
        assert client.get("/metrics").status_code == 200
    assert reads == 1
    clock.advance(16)
    client.get("/metrics")
    assert reads == 2


def test_the_oldest_due_request_is_measured(client: TestClient) -> None:
    token = LinkSigner([SECRET]).token(
        Purpose.UNSUBSCRIBE, LinkClaims(Identity(contact_id="63a07ddf05a32042dffac965"), Scope())
    )
    assert (
        client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    metrics = client.get("/metrics").text
    oldest = "bridge_oldest_due_request_seconds "
    [line] = [row for row in metrics.splitlines() if row.startswith(oldest)]
    assert float(line.split()[1]) > 0


def test_every_intercom_call_is_counted_by_endpoint_and_status(client: TestClient) -> None:
    # Page views' searches and reads counted too, not only the worker's writes (the review
    # found hundreds of searches that no metric showed).
    token = LinkSigner([SECRET]).token(
        Purpose.PREFERENCES, LinkClaims(Identity(email="jane.doe@example.com"))
    )
    assert client.get(f"/preferences/{token}").status_code == 200
    metrics = client.get("/metrics").text
    for endpoint in (
        "GET /subscription_types",
        "POST /contacts/search",
        "GET /contacts/{id}/subscriptions",
    ):
        line = f'bridge_intercom_calls_total{{endpoint="{endpoint}",status="200"}}'
        assert line in metrics, endpoint


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("GET", "/subscription_types", "GET /subscription_types"),
        ("POST", "/contacts/search", "POST /contacts/search"),
        ("POST", "/contacts/63a0/subscriptions", "POST /contacts/{id}/subscriptions"),
        ("DELETE", "/contacts/63a0/subscriptions/93", "DELETE /contacts/{id}/subscriptions/{id}"),
        ("GET", "/contacts/63a0", "GET /contacts/{id}"),
    ],
)
def test_an_endpoint_is_named_without_its_ids(method: str, path: str, endpoint: str) -> None:
    assert endpoint_of(method, path) == endpoint


def test_metrics_are_served_when_the_queue_cannot_be_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]

    async def down() -> object:
        raise LedgerUnavailable("the ledger database is unavailable (OperationalError)")

    monkeypatch.setattr(services.ledger, "status_counts", down)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "bridge_intercom_halted" in response.text
