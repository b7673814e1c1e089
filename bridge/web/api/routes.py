"""The JSON API: preferences for marketers' own pages, and links in bulk for sending systems.

It is a small Starlette app of its own, mounted at /api/v1, so that CORS (from the configured
allow-list) wraps its error responses too: a browser shows a cross-origin caller a 422 only
if the 422 carries the CORS headers. The links route (`bulk_links`) is for machines holding
the admin token: CORS never answers for it, and it exists only while that token is set.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.preferences.center import View
from bridge.preferences.model import Choice
from bridge.services import Services
from bridge.settings import Settings
from bridge.web.api.bulk_links import make_links
from bridge.web.api.link_batch import MAX_BODY_BYTES
from bridge.web.api.openapi import openapi_document
from bridge.web.errors import BadForm, InvalidBody, Unavailable, UnsupportedMediaType
from bridge.web.offload import Offload
from bridge.web.pages.common import Language, choose_language, who
from bridge.web.pages.fields import scoped_event_id
from bridge.web.pages.preferences import claims_for, current_view, record_changes
from bridge.web.routing import route

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
NO_STORE = {"Cache-Control": "no-store"}
LINKS_PATH = "/links"
# Bodies larger than BRIDGE_MAX_BODY_BYTES that routes here take, by their full path.
BODY_LIMITS = {f"/api/v1{LINKS_PATH}": MAX_BODY_BYTES}


def view_json(view: View, language: Language, **extra: Any) -> dict[str, Any]:
    """The API's form of a person's preferences."""
    return {
        "locale": language.catalog.code,
        "who": who(view.claims),
        "scope": view.claims.scope.to_dict(),
        "state_known": view.state_known,
        "types": [choice.to_json() for choice in view.choices or ()],
        **extra,
    }


async def read_preferences(request: Request) -> Response:
    """GET: the link's types, words in the person's language, and their states."""
    language, view = await current_view(request)
    return JSONResponse(view_json(view, language), headers=NO_STORE)


def parse_changes(body: Any, known: Sequence[str]) -> dict[str, bool]:
    """`{"types": [{"id": ..., "subscribed": ...}]}` or `{"unsubscribe_all": true}`, checked."""
    if not isinstance(body, Mapping):
        raise InvalidBody("The body must be a JSON object.")
    unexpected = set(body) - {"types", "unsubscribe_all"}
    if unexpected:
        raise InvalidBody(f"Unknown field {sorted(unexpected)[0]!r}.")
    if body.get("unsubscribe_all") is True:
        if "types" in body:
            raise InvalidBody("Send either types or unsubscribe_all, not both.")
        return dict.fromkeys(known, False)
    if "unsubscribe_all" in body:
        raise InvalidBody("unsubscribe_all may only be true.")
    items = body.get("types")
    if not isinstance(items, list) or not items:
        raise InvalidBody('types must be a non-empty list of {"id": ..., "subscribed": ...}.')
    wanted: dict[str, bool] = {}
    for item in items:
        if not isinstance(item, Mapping) or set(item) != {"id", "subscribed"}:
            raise InvalidBody('Each entry of types must be {"id": ..., "subscribed": ...}.')
        type_id, subscribed = item["id"], item["subscribed"]
        if not isinstance(type_id, str) or not isinstance(subscribed, bool):
            raise InvalidBody("id must be a string and subscribed true or false.")
        if type_id not in known:
            raise InvalidBody(f"Subscription type {type_id[:40]!r} is not on this page.")
        wanted[type_id] = subscribed
    return wanted


def _event_prefix(request: Request) -> str:
    """The event id prefix: the Idempotency-Key scoped to this link, or fresh without one."""
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise BadForm("Idempotency-Key must be 8 to 64 letters, digits or _ . : -")
    return scoped_event_id(request.path_params["token"], None if key is None else f"api:{key}")


async def change_preferences(request: Request) -> Response:
    """PUT: record a request per changed type; answers with the states as they will be."""
    services: Services = request.app.state.services
    claims = claims_for(services, request.path_params["token"])
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadForm("The body is not valid JSON.") from None
    event_prefix = _event_prefix(request)
    language = choose_language(request, claims)
    view = await services.preferences.view(claims, language.preferred)
    if view.choices is None:
        raise Unavailable("Intercom could not list the subscription types; try again shortly.")
    wanted = parse_changes(body, [choice.id for choice in view.choices])
    shown = {choice.id: choice.subscribed for choice in view.choices}
    recording = await record_changes(
        request, services, view, wanted, shown, event=event_prefix, via="api", language=language
    )
    after = View(view.claims, [_after(choice, wanted) for choice in view.choices])
    return JSONResponse(view_json(after, language, recorded=len(recording.new)), headers=NO_STORE)


def _after(choice: Choice, wanted: Mapping[str, bool]) -> Choice:
    if choice.id not in wanted or wanted[choice.id] is choice.subscribed:
        return choice
    return dataclasses.replace(choice, subscribed=wanted[choice.id], updating=True)


async def openapi(request: Request) -> Response:
    """The OpenAPI document of this API."""
    services: Services = request.app.state.services
    return JSONResponse(openapi_document(services.settings.public_url))


class _BrowserCORS:
    """CORS for the configured origins, except on `machine_paths`: no browser calls those."""

    def __init__(
        self, app: ASGIApp, *, origins: Sequence[str], machine_paths: Sequence[str]
    ) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "PUT"],
            allow_headers=["Content-Type", "Accept-Language", "Idempotency-Key"],
            max_age=600,
        )
        self.paths = frozenset(machine_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").removeprefix(scope.get("root_path", ""))
        target = self.app if path in self.paths else self.cors
        await target(scope, receive, send)


def build_api(settings: Settings, exception_handlers: Mapping[Any, Any]) -> Starlette:
    """The /api/v1 app, with CORS for the configured origins; links only with the admin token."""
    links = [route(LINKS_PATH, POST=make_links)] if settings.admin_token is not None else []
    api = Starlette(
        routes=[
            route("/preferences/{token}", GET=read_preferences, PUT=change_preferences),
            *links,
            route("/openapi.json", GET=openapi),
        ],
        middleware=[
            Middleware(_BrowserCORS, origins=settings.cors_origins, machine_paths=[LINKS_PATH])
        ],
        exception_handlers=dict(exception_handlers),
    )
    # Signing a batch holds the GIL for a second: one at a time, so batches queue rather than
    # slowing each other, and the event loop keeps its share between them.
    api.state.links_offload = Offload(at_once=1)
    return api
