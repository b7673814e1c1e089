"""`uvicorn --factory` targets: a bare Starlette baseline, and the bridge on a sandbox Intercom.

The bridge reads its settings from the environment the driver sets (as in production), plus
BENCH_INTERCOM_LIMIT (sandbox calls per 10 s) and BENCH_SEED_TAG / BENCH_SEED_COUNT (which
contacts exist in the sandbox, see `harness.contact_id`); with BENCH_SEED_EMAILS=1 each seeded
contact also has the email `harness.contact_email(tag, index)`.

Whichever process serves the sandbox also answers GET CALLS_PATH (`?since=&until=`, epoch
seconds) with how many calls the sandbox has seen, by route and status, for benchmarks that
count Intercom calls.
"""

from __future__ import annotations

import contextlib
import cProfile
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from harness import SANDBOX_TOKEN, contact_email, contact_id, intercom_route
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.intercom.client import IntercomClient
from bridge.sandbox import Sandbox, SeenRequest
from bridge.settings import load_settings
from bridge.web.app import create_app

CALLS_PATH = "/__bench/intercom-calls"
STATE_PATH = "/__bench/intercom-state"  # ?type=ID: who receives it, which changes took
WINDOW_SECONDS = 10.0  # the sandbox's rate-limit window
PROFILE_START = "/__bench/profile/start"
PROFILE_STOP = "/__bench/profile/stop"


def hello() -> Starlette:
    """The baseline: POST routes that read the body, a GET route; each answers plain "ok"."""

    async def accept(request: Request) -> Response:
        await request.body()
        return PlainTextResponse("ok")

    async def page(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/unsubscribe/{token}", accept, methods=["POST"]),
            Route("/webhooks/{provider}", accept, methods=["POST"]),
            Route("/forms/{form}", accept, methods=["POST"]),
            Route("/preferences/{token}", page, methods=["GET"]),
        ]
    )


def form_reader() -> Starlette:
    """The SMS baseline: a POST route that reads the form (as Twilio posts it) and answers "ok"."""

    async def accept(request: Request) -> Response:
        async with request.form() as form:
            form.get("Body")
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/webhooks/{provider}", accept, methods=["POST"])])


def one_call() -> Starlette:
    """A second baseline: a GET route that makes the one Intercom call a warm view makes.

    It lists the subscriptions of one seeded contact through the bridge's own Intercom client
    (the sandbox at INTERCOM_BASE_URL) and answers "ok": the floor for a page that must ask
    Intercom, without the page.
    """
    contact = contact_id(int(os.environ["BENCH_SEED_TAG"]), 0)
    state: dict[str, IntercomClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with IntercomClient(
            os.environ["INTERCOM_ACCESS_TOKEN"], base_url=os.environ["INTERCOM_BASE_URL"]
        ) as client:
            state["client"] = client
            yield

    async def page(request: Request) -> Response:
        await state["client"].list_contact_subscriptions(contact)
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/preferences/{token}", page, methods=["GET"])], lifespan=lifespan
    )


def _seeded_sandbox() -> Sandbox:
    sandbox = Sandbox(token=SANDBOX_TOKEN, rate_limit=int(os.environ["BENCH_INTERCOM_LIMIT"]))
    tag = int(os.environ["BENCH_SEED_TAG"])
    emails = os.environ.get("BENCH_SEED_EMAILS") == "1"
    for index in range(int(os.environ["BENCH_SEED_COUNT"])):
        sandbox.add_contact(
            contact_id=contact_id(tag, index), email=contact_email(tag, index) if emails else None
        )
    return sandbox


def _calls_endpoint(sandbox: Sandbox) -> Callable[[Request], Awaitable[Response]]:
    async def calls(request: Request) -> Response:
        since = float(request.query_params.get("since", "-inf"))
        until = float(request.query_params.get("until", "inf"))
        seen = [s for s in sandbox.requests if since <= s.at < until]
        return JSONResponse(
            {
                "total": len(sandbox.requests),
                "count": len(seen),
                "by_route": dict(Counter(intercom_route(s.method, s.path) for s in seen)),
                "by_status": dict(Counter(str(s.status) for s in seen)),
                # Per epoch-aligned window (its start, in seconds): calls answered and refused.
                "by_window": {
                    str(window): dict(statuses) for window, statuses in _by_window(seen).items()
                },
            }
        )

    return calls


def _by_window(seen: list[SeenRequest]) -> dict[int, Counter[str]]:
    windows: dict[int, Counter[str]] = {}
    for call in seen:
        start = math.floor(call.at / WINDOW_SECONDS) * int(WINDOW_SECONDS)
        windows.setdefault(start, Counter())["429" if call.status == 429 else "answered"] += 1
    return windows


def _state_endpoint(sandbox: Sandbox) -> Callable[[Request], Awaitable[Response]]:
    async def state(request: Request) -> Response:
        """Each seeded contact's state in one type, and its subscription changes that took."""
        type_id = request.query_params["type"]
        changes = Counter(
            s.path.split("/")[2]
            for s in sandbox.requests
            if "/subscriptions" in s.path and s.method in ("POST", "DELETE") and s.status < 300
        )
        contacts = sorted(sandbox.workspace.contacts)
        return JSONResponse(
            {
                "receives": {c: sandbox.receives(c, type_id) for c in contacts},
                "changes": {c: changes[c] for c in contacts if changes[c]},
            }
        )

    return state


def sandbox() -> ASGIApp:
    """The sandbox Intercom alone, served in its own process as Intercom is in production.

    CALLS_PATH is answered beside it, outside the sandbox, so it is never counted as a call.
    """
    seeded = _seeded_sandbox()
    counter = Starlette(
        routes=[
            Route(CALLS_PATH, _calls_endpoint(seeded)),
            Route(STATE_PATH, _state_endpoint(seeded)),
        ]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in (CALLS_PATH, STATE_PATH):
            await counter(scope, receive, send)
        else:
            await seeded.app(scope, receive, send)

    return app


def _bridge_app() -> Starlette:
    if os.environ.get("BENCH_SANDBOX_REMOTE"):
        return create_app(load_settings())
    seeded = _seeded_sandbox()
    extra: list[BaseRoute] = [Route(CALLS_PATH, _calls_endpoint(seeded))]
    return create_app(
        load_settings(),
        intercom_transport=httpx.ASGITransport(app=seeded.app),
        extra_routes=extra,
    )


def bridge() -> Starlette:
    """The bridge as deployed (settings from the environment), Intercom being the sandbox.

    With BENCH_SANDBOX_REMOTE set, the bridge calls a sandbox served by another process at
    INTERCOM_BASE_URL over HTTP; otherwise the sandbox runs inside the bridge's own process
    and its CPU is charged to the bridge (and the bridge answers CALLS_PATH).
    """
    return _bridge_app()


class _Profiled:
    """The bridge under cProfile between POST PROFILE_START and POST PROFILE_STOP.

    Stop writes the stats to BENCH_PROFILE_OUT and answers how many preference page views
    arrived and how long the profile ran. Only the event loop's thread is profiled.
    """

    def __init__(self, app: ASGIApp, out: str) -> None:
        self.app = app
        self.out = out
        self.profile: cProfile.Profile | None = None
        self.views = 0
        self.started = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == PROFILE_START:
                self.views, self.started = 0, time.monotonic()
                self.profile = cProfile.Profile()
                self.profile.enable()
                await PlainTextResponse("profiling\n")(scope, receive, send)
                return
            if path == PROFILE_STOP:
                profile, self.profile = self.profile, None
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(self.out)
                seconds = time.monotonic() - self.started
                body = {"views": self.views, "seconds": seconds, "stats": self.out}
                await JSONResponse(body)(scope, receive, send)
                return
            if self.profile is not None and path.startswith("/preferences/"):
                self.views += 1
        await self.app(scope, receive, send)


def bridge_profiled() -> ASGIApp:
    """`bridge()`, profiled on request (see `_Profiled`); stats go to BENCH_PROFILE_OUT."""
    return _Profiled(_bridge_app(), os.environ["BENCH_PROFILE_OUT"])
