"""`uvicorn --factory` targets: a bare Starlette baseline, and the bridge on a sandbox Intercom.

The bridge reads its settings from the environment the driver sets (as in production), plus
BENCH_INTERCOM_LIMIT (sandbox calls per 10 s) and BENCH_SEED_TAG / BENCH_SEED_COUNT (which
contacts exist in the sandbox, see `harness.contact_id`).
"""

from __future__ import annotations

import os

import httpx
from harness import SANDBOX_TOKEN, contact_id
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from bridge.app import create_app
from bridge.sandbox import Sandbox
from bridge.settings import load_settings


def hello() -> Starlette:
    """The baseline: one POST route that reads the body and answers a small text 200."""

    async def accept(request: Request) -> Response:
        await request.body()
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/unsubscribe/{token}", accept, methods=["POST"])])


def _seeded_sandbox() -> Sandbox:
    sandbox = Sandbox(token=SANDBOX_TOKEN, rate_limit=int(os.environ["BENCH_INTERCOM_LIMIT"]))
    tag = int(os.environ["BENCH_SEED_TAG"])
    for index in range(int(os.environ["BENCH_SEED_COUNT"])):
        sandbox.add_contact(contact_id=contact_id(tag, index))
    return sandbox


def sandbox() -> ASGIApp:
    """The sandbox Intercom alone, served in its own process as Intercom is in production."""
    return _seeded_sandbox().app


def bridge() -> Starlette:
    """The bridge as deployed (settings from the environment), Intercom being the sandbox.

    With BENCH_SANDBOX_REMOTE set, the bridge calls a sandbox served by another process at
    INTERCOM_BASE_URL over HTTP; otherwise the sandbox runs inside the bridge's own process
    and its CPU is charged to the bridge.
    """
    if os.environ.get("BENCH_SANDBOX_REMOTE"):
        return create_app(load_settings())
    return create_app(
        load_settings(), intercom_transport=httpx.ASGITransport(app=_seeded_sandbox().app)
    )
