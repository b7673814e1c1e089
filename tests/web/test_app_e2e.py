"""End to end through the app factory: acknowledgements survive restarts and Intercom outages."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

import httpx
import pytest
from starlette.testclient import TestClient

from bridge.consent import Identity, Scope
from bridge.ledger import Status
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.services import MigrationsPending
from bridge.settings import Settings
from bridge.web.app import create_app
from tests.conftest import SANDBOX_TOKEN, SECRET, SEED, make_settings

BASE = "https://consent.example.com"  # BRIDGE_PUBLIC_URL's host: the only one it answers to


def unsubscribe_path(contact_id: str, type_id: str = "37846") -> str:
    """A one-click unsubscribe path for one contact and type."""
    token = LinkSigner([SECRET]).token(
        Purpose.UNSUBSCRIBE, LinkClaims(Identity(contact_id=contact_id), Scope(type_ids=(type_id,)))
    )
    return f"/unsubscribe/{token}"


def fast_worker(settings: Settings, **changes: object) -> Settings:
    """The same settings with a worker that retries within a test's patience."""
    worker = dataclasses.replace(
        settings.worker,
        backoff_base_seconds=0.05,
        backoff_max_seconds=0.2,
        poll_seconds=0.05,
        **changes,
    )
    return dataclasses.replace(settings, worker=worker)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until the condition holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def counts(client: TestClient) -> dict[Status, int]:
    """The ledger's requests by status."""
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    every = client.portal.call(ledger.status_counts)  # type: ignore[union-attr]
    return {status: n for status, n in every.items() if n}


def one_click(client: TestClient, path: str) -> int:
    """POST an RFC 8058 one-click body; the status code."""
    return client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code


def test_requests_acknowledged_before_a_restart_are_all_applied_after(
    sqlite_url: str, sandbox: Sandbox
) -> None:
    people = [sandbox.add_contact(email=f"r{i}@example.com")["id"] for i in range(20)]
    transport = httpx.ASGITransport(app=sandbox.app)
    stopped = make_settings(sqlite_url, BRIDGE_WORKER_IN_PROCESS="false")
    with TestClient(create_app(stopped, intercom_transport=transport), base_url=BASE) as client:
        assert [one_click(client, unsubscribe_path(p)) for p in people] == [200] * 20
    assert all(sandbox.receives(p, "37846") for p in people)  # nothing applied yet
    restarted = fast_worker(make_settings(sqlite_url))
    with TestClient(create_app(restarted, intercom_transport=transport), base_url=BASE) as client:
        wait_for(lambda: counts(client).get(Status.APPLIED) == 20)
    assert not any(sandbox.receives(p, "37846") for p in people)


@pytest.mark.slow  # retries in real time until Intercom recovers
# The seed is in the test id: the sandbox's faults and the worker's jitter draw from it.
@pytest.mark.parametrize("seed", [SEED], ids=lambda seed: f"seed={seed}")
def test_acknowledgements_go_on_while_intercom_fails_and_everything_applies_after(
    sqlite_url: str, seed: int
) -> None:
    sandbox = Sandbox(token=SANDBOX_TOKEN, rng=random.Random(seed))
    people = [sandbox.add_contact(email=f"o{i}@example.com")["id"] for i in range(24)]
    settings = fast_worker(make_settings(sqlite_url, BRIDGE_INTERCOM_TIMEOUT_SECONDS="0.2"))
    sandbox.faults.error_rate = 0.5
    sandbox.faults.timeout_rate = 0.3
    sandbox.faults.hang_seconds = 1.0
    sandbox.rate_limit = 5
    sandbox.window_seconds = 1.0
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url=BASE) as client:
        client.app.state.services.worker.rng.seed(seed)  # type: ignore[attr-defined]
        for person in people:
            assert one_click(client, unsubscribe_path(person)) == 200
        wait_for(
            lambda: sum(r.status >= 500 or r.status in (429, 499) for r in sandbox.requests) >= 5
        )
        sandbox.faults.error_rate = sandbox.faults.timeout_rate = 0.0
        sandbox.rate_limit = 1000
        wait_for(lambda: counts(client).get(Status.APPLIED) == 24, timeout=40)
    assert not any(sandbox.receives(p, "37846") for p in people)


def test_a_one_click_is_acknowledged_on_commit_without_asking_intercom(
    settings: Settings, sandbox: Sandbox
) -> None:
    # Intercom is down; with no worker running, nothing but the POST could call it.
    sandbox.faults.error_rate = 1.0
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url=BASE) as client:
        assert one_click(client, unsubscribe_path("63a07ddf05a32042dffac965")) == 200
        assert counts(client) == {Status.PENDING: 1}
    assert sandbox.requests == []


def test_a_rejected_token_fails_readiness_and_keeps_requests(
    sqlite_url: str, sandbox: Sandbox
) -> None:
    settings = fast_worker(make_settings(sqlite_url))
    sandbox.faults.unauthorized = True
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with TestClient(app, base_url=BASE) as client:
        assert one_click(client, unsubscribe_path("63a07ddf05a32042dffac965")) == 200
        wait_for(lambda: client.app.state.services.worker.halted)  # type: ignore[attr-defined]
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["intercom"] == "token rejected (401)"
        assert counts(client) == {Status.PENDING: 1}
        metrics = client.get("/metrics").text
        assert "bridge_intercom_halted 1.0" in metrics
        assert 'bridge_ledger_requests{status="pending"} 1.0' in metrics


def test_health_and_readiness_when_all_is_well(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"database": "ok", "intercom": "ok"}}


def test_serving_refuses_a_database_behind_when_auto_migrate_is_off(
    sqlite_url: str, sandbox: Sandbox
) -> None:
    settings = make_settings(sqlite_url, BRIDGE_AUTO_MIGRATE="false")
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with pytest.raises(MigrationsPending, match=r"run `bridge migrate`"), TestClient(app):
        pass


def test_readiness_without_a_worker_asks_intercom_once_and_reports_401(
    client: TestClient, sandbox: Sandbox
) -> None:
    sandbox.faults.unauthorized = True
    for _ in range(3):
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["intercom"] == "token rejected (401)"
    # Failures are remembered for a few seconds: probes do not pile calls onto Intercom.
    assert sandbox.count(path_prefix="/subscription_types") == 1
