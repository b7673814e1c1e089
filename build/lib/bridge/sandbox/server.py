"""The sandbox's HTTP face: auth, rate limits, faults, recording, and Intercom's routes."""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.sandbox import search
from bridge.sandbox.messages import create_message
from bridge.sandbox.seed import seed as seed_workspace
from bridge.sandbox.workspace import JSON, ApiError, Workspace, resource_not_found, user_not_found

Handler = Callable[[Request, Any], tuple[int, JSON]]
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_CLIENT_GONE = 499  # recorded when the caller gave up before the answer (nginx's code)


@dataclass
class Faults:
    """Failures the sandbox stages; tests and benchmarks switch them at runtime."""

    latency: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    unauthorized: bool = False
    search_lag: float = 0.0
    message_lag: float = 0.0  # seconds before a new contact can be sent a message (404 until)


@dataclass(frozen=True)
class SeenRequest:
    """One request the sandbox answered (path as sent, still percent-encoded)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int
    at: float


class _RawPathRouting:
    """Route on the path as sent, so that an id holding "%2F" stays one path segment."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw:
            path = raw.decode("latin-1").partition("?")[0]
            if unquote(path) == scope["path"]:
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)


def _error(status: int, code: str, message: str) -> tuple[int, JSON]:
    return status, {"type": "error.list", "errors": [{"code": code, "message": message}]}


class Sandbox:
    """An in-memory Intercom workspace as an ASGI app (`app`) that answers as Intercom does."""

    def __init__(
        self,
        *,
        token: str = "sandbox-token",  # noqa: S107 - a fake workspace's fake token
        rate_limit: int = 1000,
        window_seconds: float = 10.0,
        seed: bool = True,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.workspace = Workspace(clock=clock)
        self.types = self.workspace.types
        self.contacts = self.workspace.contacts
        self.faults = Faults()
        self.requests: list[SeenRequest] = []
        self.messages: list[JSON] = []  # every message POST /messages sent, with its `to`
        self.rate_limit = rate_limit
        self.window_seconds = window_seconds
        self._token = token
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - staging faults, not secrets
        self._windows: dict[str, tuple[float, int]] = {}
        if seed:
            seed_workspace(self.workspace)
        self.app: ASGIApp = _RawPathRouting(Starlette(routes=self._routes()))

    def add_type(self, **fields: Any) -> JSON:
        """Add a subscription type (see `Workspace.add_type`)."""
        return self.workspace.add_type(**fields)

    def add_contact(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
        role: str = "user",
        name: str | None = None,
        created_at: float | None = None,
        contact_id: str | None = None,
    ) -> JSON:
        """Add a contact without duplicate checks and return its JSON."""
        return self.workspace.add_contact(
            email=email,
            phone=phone,
            external_id=external_id,
            role=role,
            name=name,
            created_at=created_at,
            contact_id=contact_id,
        )

    def explicit(self, contact_id: str) -> dict[str, str]:
        """Type id -> consent_type of the contact's explicit preferences."""
        return self.workspace.explicit(contact_id)

    def receives(self, contact_id: str, type_id: str) -> bool:
        """Whether the contact receives the type: listed for opt-in, unlisted for opt-out."""
        return self.workspace.receives(contact_id, type_id)

    def count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        """How many recorded requests match all the given filters."""
        return sum(
            1
            for seen in self.requests
            if (method is None or seen.method == method.upper())
            and (path_prefix is None or seen.path.startswith(path_prefix))
            and (status is None or seen.status == status)
        )

    def _routes(self) -> list[Route]:
        def route(path: str, method: str, handler: Handler) -> Route:
            return Route(path, self._endpoint(handler), methods=[method])

        return [
            route("/subscription_types", "GET", self._list_types),
            route("/contacts/search", "POST", self._search),
            route("/contacts", "POST", self._create_contact),
            route("/contacts/{contact_id}", "GET", self._show_contact),
            route("/contacts/{contact_id}/subscriptions", "GET", self._list_subscriptions),
            route("/contacts/{contact_id}/subscriptions", "POST", self._attach),
            route("/contacts/{contact_id}/subscriptions/{type_id}", "DELETE", self._detach),
            route("/messages", "POST", self._create_message),
            Route("/{path:path}", self._endpoint(self._unknown), methods=_ALL_METHODS),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._serve(request, handler)

        return endpoint

    async def _serve(self, request: Request, handler: Handler) -> Response:
        at = self._clock()
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
            readable = True
        except ValueError:
            body, readable = None, False
        headers = {key.lower(): value for key, value in request.headers.items()}
        request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        status = _CLIENT_GONE
        try:
            status, payload, extra = await self._answer(request, handler, headers, body, readable)
        except Exception:
            status = 500
            raise
        finally:
            path = _route_path(request.scope)
            self.requests.append(SeenRequest(request.method, path, headers, body, status, at))
        if payload.get("type") == "error.list":
            payload = {"type": "error.list", "request_id": request_id, "errors": payload["errors"]}
        return Response(
            json.dumps(payload, ensure_ascii=False),
            status,
            headers={"X-Request-Id": request_id, **extra},
            media_type="application/json",
        )

    async def _answer(
        self, request: Request, handler: Handler, headers: dict[str, str], body: Any, readable: bool
    ) -> tuple[int, JSON, dict[str, str]]:
        status, payload, limits = await self._decide(request, handler, headers, body, readable)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        return status, payload, limits

    async def _decide(
        self, request: Request, handler: Handler, headers: dict[str, str], body: Any, readable: bool
    ) -> tuple[int, JSON, dict[str, str]]:
        faults = self.faults
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if (
            faults.unauthorized
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.encode(), self._token.encode())
        ):
            # Intercom sends no rate-limit headers without valid credentials.
            return (*_error(401, "unauthorized", "Access Token Invalid"), {})
        limits, over = self._spend(token)
        if over:
            message = f"Exceeded rate limit of {self.rate_limit} in {self._window_name()}"
            return (*_error(429, "rate_limit_exceeded", message), limits)
        if faults.timeout_rate and self._rng.random() < faults.timeout_rate:
            await asyncio.sleep(faults.hang_seconds)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            if self._rng.random() < 0.5:
                return (*_error(500, "server_error", "Internal Server Error"), limits)
            return (*_error(503, "service_unavailable", "Service Unavailable"), limits)
        if not readable:
            return (*_error(400, "bad_request", "the body is not valid JSON"), limits)
        try:
            return (*handler(request, body), limits)
        except ApiError as exc:
            return (*_error(exc.status, exc.code, exc.message), limits)

    def _spend(self, token: str) -> tuple[dict[str, str], bool]:
        # Fixed windows aligned on the clock, counted per token, as Intercom's headers imply.
        start = math.floor(self._clock() / self.window_seconds) * self.window_seconds
        window, used = self._windows.get(token, (start, 0))
        used = used + 1 if window == start else 1
        self._windows[token] = (start, used)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": str(math.ceil(start + self.window_seconds)),
        }
        return headers, used > self.rate_limit

    def _window_name(self) -> str:
        return f"{self.window_seconds:g}_seconds"

    def _list_types(self, request: Request, body: Any) -> tuple[int, JSON]:
        return 200, {"type": "list", "data": list(self.types.values())}

    def _list_subscriptions(self, request: Request, body: Any) -> tuple[int, JSON]:
        data = self.workspace.subscriptions(_param(request, "contact_id"))
        return 200, {"type": "list", "data": data}

    def _attach(self, request: Request, body: Any) -> tuple[int, JSON]:
        contact_id = _param(request, "contact_id")
        if contact_id not in self.contacts:
            raise user_not_found()
        if not isinstance(body, dict) or "id" not in body:
            raise ApiError(400, "parameter_invalid", "id and consent_type are required")
        return 200, self.workspace.attach(contact_id, body["id"], body.get("consent_type"))

    def _detach(self, request: Request, body: Any) -> tuple[int, JSON]:
        type_id = _param(request, "type_id")
        return 200, self.workspace.detach(_param(request, "contact_id"), type_id)

    def _search(self, request: Request, body: Any) -> tuple[int, JSON]:
        answer = search.search(self.workspace, body, now=self._clock(), lag=self.faults.search_lag)
        return 200, answer

    def _show_contact(self, request: Request, body: Any) -> tuple[int, JSON]:
        contact_id = _param(request, "contact_id")
        if contact_id not in self.contacts:
            # 2.11 documents no 404 here; this is what its sub-resources answer for a contact
            # that does not exist.
            raise user_not_found()
        return 200, self.workspace.view(contact_id)

    def _create_contact(self, request: Request, body: Any) -> tuple[int, JSON]:
        return 200, self.workspace.create(body)

    def _create_message(self, request: Request, body: Any) -> tuple[int, JSON]:
        now = self._clock()
        message = create_message(
            self.workspace, body, now=now, lag=self.faults.message_lag, sent=self.messages
        )
        return 200, message

    def _unknown(self, request: Request, body: Any) -> tuple[int, JSON]:
        raise resource_not_found()


def _param(request: Request, name: str) -> str:
    return unquote(str(request.path_params[name]))


def _route_path(scope: Scope) -> str:
    # Relative to wherever the app is mounted, as the routes see it.
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path
