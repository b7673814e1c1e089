"""Operator endpoints: liveness, readiness and Prometheus metrics.

With `BRIDGE_METRICS_TOKEN` set, `/metrics` answers only a bearer of it, and `/readyz` tells
anyone else one status word: unsubscribe volumes, queue depth and Intercom's remaining budget
are the operator's business. Without it both are open, as the contract says, and start-up
logs a warning when the bridge is public.
"""

from __future__ import annotations

import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bridge.consent import Scope
from bridge.intercom.client import Unauthorized
from bridge.ledger import LedgerUnavailable
from bridge.services import Services
from bridge.web.routing import route

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bridge metrics"'}


def _operator(request: Request, services: Services) -> bool:
    """True when no metrics token is set, or the request bears it."""
    token = services.settings.metrics_token
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.reveal().encode()
    )


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
        described = await services.type_cache.describe(Scope())
        error = services.type_cache.last_error
        if described is not None:
            checks["intercom"] = "ok"
        elif isinstance(error, Unauthorized):
            checks["intercom"] = "token rejected (401)"
        else:
            checks["intercom"] = f"degraded: {type(error).__name__ if error else 'no answer'}"
    ready = checks["database"] == "ok" and not checks["intercom"].startswith("token")
    status = 200 if ready else 503
    if not _operator(request, services):
        return PlainTextResponse("ready\n" if ready else "not ready\n", status)
    return JSONResponse({"ready": ready, "checks": checks}, status)


async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry, for the token's bearer."""
    services: Services = request.app.state.services
    if not _operator(request, services):
        return PlainTextResponse(
            "Unauthorized: send Authorization: Bearer <BRIDGE_METRICS_TOKEN>.\n",
            401,
            headers=_CHALLENGE,
        )
    try:
        await services.metrics.refresh_queue(services.ledger)
    except LedgerUnavailable as exc:
        # The rest of the metrics say why the database is missed; serve them with the last
        # queue figures rather than nothing.
        log.warning("metrics: the queue could not be read: %s", exc)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    route("/healthz", GET=healthz),
    route("/readyz", GET=readyz),
    route("/metrics", GET=metrics),
]
