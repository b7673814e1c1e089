"""Who may use `/admin`: the admin token as a bearer header, or a session from the login form.

Off when `BRIDGE_ADMIN_TOKEN` is unset: every `/admin` path is then a 404, as for any address
the bridge does not have. A browser logs in by posting the token (never in a URL) and gets a
signed session cookie (`session`); its forms carry the session's CSRF token, and every POST
must also come from the bridge's own pages (`Sec-Fetch-Site`/`Origin`). A request with the
bearer header is a script's, not a browser's ambient credential, so it needs no CSRF token.
Failed logins are counted per client address and refused for a while past `MAX_FAILURES`;
each is logged without the token tried.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.services import Services
from bridge.settings import Secret
from bridge.web.admin.session import COOKIE, Session, Sessions, cookie_header
from bridge.web.admin.views import page
from bridge.web.api.bulk_links import bears
from bridge.web.errors import BridgeHTTPError
from bridge.web.pages.same_origin import require_same_origin
from bridge.web.routing import route

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # wrong tokens from one address per window before logins are refused
FAILURE_WINDOW = 15 * 60.0  # seconds
HOME = "/admin"


class BadCsrf(BridgeHTTPError):
    """An admin form without this session's CSRF token."""

    status_code = 403
    title = "Forbidden"


class NotSignedIn(BridgeHTTPError):
    """An admin POST with neither a session nor the bearer token."""

    status_code = 401
    title = "Unauthorized"


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is acting: a signed-in browser (with its session) or a bearer of the token."""

    session: Session | None

    @property
    def csrf(self) -> str:
        """The CSRF token the operator's forms carry (empty for a bearer)."""
        return "" if self.session is None else self.session.csrf


@dataclass
class FailedLogins:
    """Wrong tokens per client address, forgotten `FAILURE_WINDOW` seconds after the first."""

    seen: dict[str, tuple[float, int]] = field(default_factory=dict)

    def blocked(self, address: str, now: float) -> bool:
        """Whether this address has failed too often lately."""
        first, count = self.seen.get(address, (now, 0))
        if now - first >= FAILURE_WINDOW:
            self.seen.pop(address, None)
            return False
        return count >= MAX_FAILURES

    def failed(self, address: str, now: float) -> int:
        """Count one failure; how many this window."""
        first, count = self.seen.get(address, (now, 0))
        if now - first >= FAILURE_WINDOW:
            first, count = now, 0
        if len(self.seen) > 10_000:  # a scan from many addresses must not grow this forever
            self.seen.clear()
        self.seen[address] = (first, count + 1)
        return count + 1


def admin_token(request: Request) -> Secret:
    """The admin token; a 404 when it is unset (the admin is off)."""
    services: Services = request.app.state.services
    token = services.settings.admin_token
    if token is None:
        raise HTTPException(404)
    return token


def sessions(request: Request) -> Sessions:
    """The session signer for this bridge's keys, admin token and clock."""
    services: Services = request.app.state.services
    keys = [key.reveal() for key in services.settings.secret_keys]
    return Sessions(keys, admin_token(request).reveal(), services.clock.time)


def signed_in(request: Request) -> Operator | None:
    """The operator behind this request, or None."""
    token = admin_token(request)
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return Operator(None) if bears(authorization, token) else None
    session = sessions(request).read(request.cookies.get(COOKIE))
    return None if session is None else Operator(session)


AdminHandler = Callable[[Request, Operator], Awaitable[Response]]


def admin(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an admin handler: signed in, and for a POST same-origin with the CSRF token."""

    @functools.wraps(handler)
    async def checked(request: Request) -> Response:
        operator = signed_in(request)
        if request.method in ("GET", "HEAD"):
            if operator is None:
                return RedirectResponse(login_url(request), 303)
            return await handler(request, operator)
        services: Services = request.app.state.services
        require_same_origin(request, services.settings.public_url)
        if operator is None:
            raise NotSignedIn("Log in at /admin/login, or send Authorization: Bearer.")
        if operator.session is not None:
            form = await request.form()
            given = form.get("csrf")
            if not sessions(request).csrf_matches(
                operator.session, given if isinstance(given, str) else None
            ):
                raise BadCsrf("This form has expired. Go back, reload the page, try again.")
        return await handler(request, operator)

    return checked


def login_url(request: Request) -> str:
    """The login page, asked to come back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{HOME}/login?{urlencode({'next': here})}"


def local_next(value: str | None) -> str:
    """Where to go after logging in: an /admin path of this bridge, never another site."""
    if not value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return HOME
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return HOME
    return value


def _failures(request: Request) -> FailedLogins:
    state = request.app.state
    if not hasattr(state, "admin_failed_logins"):
        state.admin_failed_logins = FailedLogins()
    failures: FailedLogins = state.admin_failed_logins
    return failures


async def show_login(request: Request) -> Response:
    """GET: the login form."""
    admin_token(request)
    return page(
        request, "admin/login.html", None, {"next": local_next(request.query_params.get("next"))}
    )


async def log_in(request: Request) -> Response:
    """POST: the token from the form; a session cookie and back to `next` if it is right."""
    token = admin_token(request)
    services: Services = request.app.state.services
    require_same_origin(request, services.settings.public_url)
    form = await request.form()
    next_path = local_next(str(form.get("next") or ""))
    address = request.client.host if request.client else "unknown"
    failures, now = _failures(request), services.clock.time()
    if failures.blocked(address, now):
        log.warning("admin login refused: too many failures from %s", address)
        return page(
            request,
            "admin/login.html",
            None,
            {"next": next_path, "error": "admin.login_blocked"},
            status_code=429,
        )
    given = str(form.get("token") or "")
    if not hmac.compare_digest(given.encode(), token.reveal().encode()):
        count = failures.failed(address, now)
        log.warning("admin login failed from %s (%d this window)", address, count)
        return page(
            request,
            "admin/login.html",
            None,
            {"next": next_path, "error": "admin.login_wrong"},
            status_code=401,
        )
    value, _ = sessions(request).issue()
    log.info("admin logged in from %s", address)
    response = RedirectResponse(next_path, 303)
    response.headers["Set-Cookie"] = cookie_header(value)
    return response


@admin
async def log_out(request: Request, operator: Operator) -> Response:
    """POST: forget the session cookie."""
    response = RedirectResponse(f"{HOME}/login", 303)
    response.headers["Set-Cookie"] = cookie_header("", max_age=0)
    return response


routes = [
    route(f"{HOME}/login", GET=show_login, POST=log_in),
    route(f"{HOME}/logout", POST=log_out),
]
