"""`bridge worker --metrics-port`: a lone worker's /healthz, /readyz and /metrics.

A worker in its own process makes the Intercom calls, so the calls by status, their latency,
the 429s and the 401 halt are counted there and nowhere else: the web processes' /metrics
cannot show them. This serves the same three operator routes as the web app (the same
`BRIDGE_METRICS_TOKEN` rule), from the worker's own `Services`, on a port of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from bridge.services import Services
from bridge.web import ops


def operator_app(services: Services) -> Starlette:
    """The operator routes over a running worker's parts."""
    app = Starlette(routes=ops.routes)
    app.state.services = services
    return app


@contextlib.asynccontextmanager
async def serving_metrics(services: Services, host: str, port: int) -> AsyncIterator[None]:
    """Serve the operator routes while the block runs; stop them after it."""
    config = uvicorn.Config(
        operator_app(services), host=host, port=port, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
