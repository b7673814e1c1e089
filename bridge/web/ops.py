"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bridge.consent import Scope
from bridge.intercom import Unauthorized
from bridge.services import Services

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    """The process is up and serving."""
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    """Ready when the ledger answers and Intercom accepts the token.

    Intercom being slow or down does not make the bridge unready: requests are still
    recorded and applied later. A rejected token does, because nothing will ever apply.
    """
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        await services.ledger.ping()
        checks["database"] = "ok"
    except Exception as exc:  # readiness must answer, whatever the driver raised
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "unreachable"
    worker = services.worker
    if worker is not None:
        # The worker calls Intercom all the time; its view is fresher than a probe's.
        checks["intercom"] = "token rejected (401)" if worker.halted else "ok"
    else:
        # Cached, with a short timeout and a pause after failures: probes never pile up calls.
        described = await services.types.describe(Scope())
        error = services.types.last_error
        if described is not None:
            checks["intercom"] = "ok"
        elif isinstance(error, Unauthorized):
            checks["intercom"] = "token rejected (401)"
        else:
            checks["intercom"] = f"degraded: {type(error).__name__ if error else 'no answer'}"
    ready = checks["database"] == "ok" and not checks["intercom"].startswith("token")
    return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    services: Services = request.app.state.services
    counts = await services.ledger.status_counts()
    for status, count in counts.items():
        services.metrics.queue.labels(status=str(status)).set(count)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
    Route("/metrics", metrics, methods=["GET"]),
]
