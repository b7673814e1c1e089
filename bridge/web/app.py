"""The app factory: routes, middleware and a lifespan that owns the ledger, client and worker."""

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

from bridge.branding import Branding, load_branding
from bridge.clock import SystemClock
from bridge.i18n import DEFAULT_LANGUAGE, Catalog, load_catalogs
from bridge.intercom.contacts import ContactResolver
from bridge.intercom.types import TypeCache
from bridge.ledger import Ledger, open_ledger
from bridge.links import LinkSigner, Purpose
from bridge.logsafe import install_access_log_filter
from bridge.metrics import Metrics
from bridge.preferences.center import PreferenceCenter
from bridge.providers import load_providers
from bridge.sandbox.seed import seeded_identity_keys
from bridge.services import Services, intercom_client
from bridge.settings import Settings, SettingsError, load_settings
from bridge.web import ops, preferences, unsubscribe, webhooks
from bridge.web.api import build_api
from bridge.web.body_limit import BodyLimitMiddleware
from bridge.web.error_pages import (
    handle_bridge_error,
    handle_client_gone,
    handle_http_exception,
    handle_unexpected,
)
from bridge.web.errors import BridgeHTTPError
from bridge.web.host_check import LOCAL_HOSTS, HostCheckMiddleware
from bridge.web.security_headers import SecurityHeadersMiddleware, embeddable_csp
from bridge.worker.loop import Worker

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


class MigrationsPending(SettingsError):
    """The database schema is behind and automatic migration is off."""


class DemoLedger(SettingsError):
    """A real `serve` or `worker` was pointed at the ledger `bridge demo` filled."""


# Where `bridge demo` kept its requests before it had a ledger of its own: the default one.
_SHARED_DEFAULT_URL = "sqlite:///bridge.db"


async def prepare_ledger(settings: Settings) -> Ledger:
    """Open the ledger and bring its schema up to date, or refuse with a clear message."""
    ledger = await open_ledger(settings.database_url)
    try:
        pending = await ledger.pending_migrations()
        if pending and not settings.auto_migrate:
            raise MigrationsPending(
                f"the database needs {len(pending)} migration(s) ({', '.join(pending)}): "
                "run `bridge migrate`, or set BRIDGE_AUTO_MIGRATE=true"
            )
        if pending:
            applied = await ledger.migrate()
            log.info("applied migrations: %s", ", ".join(applied))
        await check_mode(ledger, settings)
    except BaseException:
        await ledger.close()
        raise
    return ledger


async def check_mode(ledger: Ledger, settings: Settings) -> None:
    """Mark the demo's ledger as such; refuse it (or demo rows) anywhere else (DemoLedger).

    A real worker would otherwise look the demo's made-up people up in the real workspace.
    """
    if settings.demo:
        await ledger.set_meta("mode", "demo")
        return
    if await ledger.meta("mode") == "demo":
        raise DemoLedger(
            "DATABASE_URL names the ledger `bridge demo` made; point it at a database of "
            "its own for real use"
        )
    if settings.database_url == _SHARED_DEFAULT_URL:
        found = await ledger.count_for(seeded_identity_keys())
        if found:
            raise DemoLedger(
                f"bridge.db holds {found} request(s) for the demo's made-up contacts, from a "
                "`bridge demo` run before the demo had a ledger of its own (it now uses "
                "bridge-demo.db): move bridge.db aside, or set DATABASE_URL"
            )


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


def build_signer(settings: Settings) -> LinkSigner:
    """The link signer for these settings' keys and maximum ages."""
    return LinkSigner(
        [k.reveal() for k in settings.secret_keys],
        max_age={
            Purpose.UNSUBSCRIBE: settings.unsubscribe_max_age,
            Purpose.PREFERENCES: settings.preferences_max_age,
        },
    )


def create_app(
    settings: Settings | None = None,
    *,
    intercom_transport: httpx.AsyncBaseTransport | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    outbound_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """Build the bridge. With no settings, read them from the environment (uvicorn --factory)."""
    from_environment = settings is None
    try:
        settings = load_settings() if settings is None else settings
        settings.require_intercom_token()
        branding = load_branding(settings.config)
        providers = load_providers(settings.config, settings.public_url)
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
    catalogs = load_catalogs()
    templates = build_templates(catalogs, branding)
    handlers = {
        BridgeHTTPError: handle_bridge_error,
        HTTPException: handle_http_exception,
        ClientDisconnect: handle_client_gone,
        Exception: handle_unexpected,
    }
    api = build_api(settings, handlers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ledger = await prepare_ledger(settings)
        metrics = Metrics()
        intercom = intercom_client(
            settings, intercom_transport, observer=metrics.count_intercom_call
        )
        http = httpx.AsyncClient(transport=outbound_transport, timeout=10.0, follow_redirects=False)
        clock = SystemClock()
        types = TypeCache(intercom, ttl=settings.worker.types_ttl_seconds, clock=clock)
        contacts = ContactResolver(intercom, clock=clock)
        services = Services(
            settings=settings,
            ledger=ledger,
            intercom=intercom,
            types=types,
            contacts=contacts,
            signer=build_signer(settings),
            templates=templates,
            metrics=metrics,
            catalogs=catalogs,
            branding=branding,
            preferences=PreferenceCenter(
                intercom=intercom,
                types=types,
                contacts=contacts,
                ledger=ledger,
            ),
            providers=providers,
            http=http,
            clock=clock,
        )
        app.state.services = services
        api.state.services = services
        if settings.worker.in_process:
            services.worker = Worker(
                ledger, intercom, types, settings.worker, metrics, contacts=contacts, clock=clock
            )
            services.worker.start()
        try:
            yield
        finally:
            if services.worker is not None:
                await services.worker.stop()
            await intercom.aclose()
            await http.aclose()
            await ledger.close()

    app = Starlette(
        routes=[
            *extra_routes,
            *unsubscribe.routes,
            *preferences.routes,
            *webhooks.routes,
            *ops.routes,
            Mount("/api/v1", app=api, name="api"),
            Route("/brand.css", _brand_stylesheet(branding), methods=["GET", "HEAD"]),
            Mount("/static", StaticFiles(directory=str(TEMPLATES_DIR / "static")), name="static"),
        ],
        middleware=[
            # Outermost, so every answer carries the headers, the Host check's 400 included.
            Middleware(
                SecurityHeadersMiddleware,
                embeddable=embeddable_csp(settings.frame_ancestors, branding.external_origins()),
            ),
            Middleware(HostCheckMiddleware, allowed=allowed_hosts(settings)),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_body_bytes,
                by_path={
                    f"/webhooks/{name}": provider.body_limit(settings.max_webhook_bytes)
                    for name, provider in providers.items()
                },
            ),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    # A redirect to the same path with a slash would be built from the request's Host.
    for router in (app.router, api.router):
        router.redirect_slashes = False
    return app


def allowed_hosts(settings: Settings) -> list[str]:
    """The `Host` names the bridge answers to: its public URL's, the operator's, localhost."""
    public = urlsplit(settings.public_url).hostname or ""
    return [public, *settings.allowed_hosts, *LOCAL_HOSTS]
