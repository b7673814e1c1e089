"""`bridge worker --metrics-port`: a lone worker's operator routes, over its own parts."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from bridge.cli.worker_metrics import operator_app, serving_metrics
from bridge.sandbox import Sandbox
from bridge.services import Services
from tests.conftest import make_settings

TOKEN = "metrics-token-0123456789abcdef"


async def test_the_workers_own_intercom_calls_are_in_its_metrics(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'ledger.db'}", BRIDGE_METRICS_TOKEN=TOKEN)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with Services.open(settings, intercom_transport=transport) as services:
        await services.type_cache.get()  # a call this process made to Intercom
        app = httpx.ASGITransport(app=operator_app(services))
        async with httpx.AsyncClient(transport=app, base_url="http://worker") as client:
            assert (await client.get("/healthz")).text == "ok\n"
            assert (await client.get("/metrics")).status_code == 401
            metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert 'bridge_intercom_calls_total{endpoint="GET /subscription_types",status="200"} 1.0' in (
        metrics.text
    )


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_routes_are_served_on_their_port_while_the_worker_runs(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'ledger.db'}")
    port = free_port()
    transport = httpx.ASGITransport(app=sandbox.app)
    async with Services.open(settings, intercom_transport=transport) as services:
        async with serving_metrics(services, "127.0.0.1", port), httpx.AsyncClient() as client:
            for _ in range(50):  # the server starts in the background
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.ConnectError:
                    await services.clock.sleep(0.05)
            assert answer.text == "ok\n"
        async with httpx.AsyncClient() as client:
            try:
                await client.get(f"http://127.0.0.1:{port}/healthz")
                stopped = False
            except httpx.ConnectError:
                stopped = True
    assert stopped
