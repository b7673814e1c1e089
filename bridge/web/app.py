"""The app factory: routes and middleware from the settings, `Services` in its lifespan."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bridge.branding import Branding
from bridge.clock import Clock
from bridge.forms.limits import FormLimits
from bridge.i18n import DEFAULT_LANGUAGE, Catalog, load_catalogs
from bridge.ledger import LedgerUnavailable
from bridge.links import BadLink
from bridge.services import Configured, Services
from bridge.settings import Settings, SettingsError, load_settings
from bridge.web import admin, ops, webhooks
from bridge.web.access_log import install_access_log_filter
from bridge.web.api.routes import BODY_LIMITS as API_BODY_LIMITS
from bridge.web.api.routes import build_api
from bridge.web.error_pages import (
    handle_bad_link,
    handle_bridge_error,
    handle_client_gone,
    handle_http_exception,
    handle_ledger_unavailable,
    handle_unexpected,
)
from bridge.web.errors import BridgeHTTPError
from bridge.web.forms import body as form_body
from bridge.web.forms import routes as forms
from bridge.web.forms.cors import FormsCORSMiddleware
from bridge.web.middleware.body_limit import BodyLimitMiddleware
from bridge.web.middleware.host_check import LOCAL_HOSTS, HostCheckMiddleware
from bridge.web.middleware.request_id import RequestIdMiddleware
from bridge.web.middleware.security_headers import SecurityHeadersMiddleware, embeddable_csp
from bridge.web.offload import Offload
from bridge.web.pages import confirm, preferences, unsubscribe

log = logging.getLogger(__name__)

# bridge/templates: in a checkout, a link to the repository's templates/; in an installed
# wheel, the files themselves (package data).
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


def _roots(request: Request) -> dict[str, Any]:
    root = request.scope.get("root_path", "")
    # Cheaper than url_for, which walks every route before reaching the static mount.
    return {"static_root": f"{root}/static/", "root_path": root}


def build_templates(
    catalogs: dict[str, Catalog] | None = None, branding: Branding | None = None
) -> Jinja2Templates:
    """Autoescaped Jinja2 templates, loaded once; an operator's folder is searched first."""
    branding = branding or Branding()
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES_DIR)]
    if branding.templates is not None:
        loaders.insert(0, jinja2.FileSystemLoader(branding.templates))
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders), autoescape=True, auto_reload=False
    )
    english = (catalogs or load_catalogs())[DEFAULT_LANGUAGE]
    # Defaults for every template; pages for people pass their own language (web.pages).
    environment.globals.update(
        t=english.gettext, lang=english.code, dir=english.direction, brand=branding
    )
    return Jinja2Templates(env=environment, context_processors=[_roots])


def _brand_stylesheet(branding: Branding) -> Callable[[Request], Awaitable[Response]]:
    body = branding.css.encode()

    async def stylesheet(request: Request) -> Response:
        # Versioned by a hash in the page's link, so browsers may keep it for a long time.
        return Response(
            body,
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    return stylesheet


def create_app(
    settings: Settings | None = None,
    *,
    intercom_transport: httpx.AsyncBaseTransport | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    outbound_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """Build the bridge. With no settings, read them from the environment (uvicorn --factory).

    The routes and middleware are built here from the settings alone; the lifespan opens
    `Services` (ledger, Intercom, caches) and, when configured, starts the worker.
    """
    from_environment = settings is None
    try:
        settings = load_settings() if settings is None else settings
        settings.require_intercom_token()
        configured = Configured.from_settings(settings, clock)
    except SettingsError as exc:
        if not from_environment:
            raise
        # One clear line instead of a traceback from inside uvicorn.
        print(f"bridge: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    install_access_log_filter()
    if settings.metrics_token is None and urlsplit(settings.public_url).hostname not in LOCAL_HOSTS:
        log.warning(
            "BRIDGE_METRICS_TOKEN is not set: /metrics and the detailed /readyz answer anyone"
        )
    branding = configured.branding
    handlers = {
        BridgeHTTPError: handle_bridge_error,
        BadLink: handle_bad_link,
        LedgerUnavailable: handle_ledger_unavailable,
        HTTPException: handle_http_exception,
        ClientDisconnect: handle_client_gone,
        Exception: handle_unexpected,
    }
    api = build_api(settings, handlers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Services.open(
            settings,
            clock=clock,
            intercom_transport=intercom_transport,
            outbound_transport=outbound_transport,
            configured=configured,
        ) as services:
            app.state.services = api.state.services = services
            if settings.worker.in_process:
                services.start_worker()
            yield

    app = Starlette(
        routes=[
            *extra_routes,
            *unsubscribe.routes,
            *preferences.routes,
            *confirm.routes,
            *forms.routes,
            *webhooks.routes,
            *ops.routes,
            *admin.routes,
            Mount("/api/v1", app=api, name="api"),
            Route("/brand.css", _brand_stylesheet(branding), methods=["GET", "HEAD"]),
            Mount("/static", StaticFiles(directory=str(TEMPLATES_DIR / "static")), name="static"),
        ],
        middleware=[
            # Outermost: every answer, the Host check's 400 included, has an id and an event.
            Middleware(RequestIdMiddleware, clock=clock),
            # Then these, so every answer carries the headers, the Host check's 400 included.
            Middleware(
                SecurityHeadersMiddleware,
                embeddable=embeddable_csp(settings.frame_ancestors, branding.external_origins()),
            ),
            Middleware(HostCheckMiddleware, allowed=allowed_hosts(settings)),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_body_bytes,
                by_path={
                    **{
                        f"/webhooks/{name}": provider.body_limit(settings.max_webhook_bytes)
                        for name, provider in configured.providers.items()
                    },
                    **{
                        f"/forms/{name}": min(form_body.MAX_BODY_BYTES, settings.max_body_bytes)
                        for name in configured.forms
                    },
                    **{
                        path: max(limit, settings.max_body_bytes)
                        for path, limit in API_BODY_LIMITS.items()
                    },
                },
            ),
            Middleware(
                FormsCORSMiddleware,
                origins={name: form.origins for name, form in configured.forms.items()},
            ),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    # Parts of the web app itself, ready before the first request: the pages' templates, the
    # thread pool that parses large webhook bodies off the event loop, and the forms' counts
    # of posts per IP and per address.
    app.state.templates = build_templates(configured.catalogs, branding)
    app.state.offload = Offload()
    app.state.form_limits = FormLimits()
    # A redirect to the same path with a slash would be built from the request's Host.
    for router in (app.router, api.router):
        router.redirect_slashes = False
    return app


def allowed_hosts(settings: Settings) -> list[str]:
    """The `Host` names the bridge answers to: its public URL's, the operator's, localhost."""
    public = urlsplit(settings.public_url).hostname or ""
    return [public, *settings.allowed_hosts, *LOCAL_HOSTS]
