"""Headers every response carries: no referrer (tokens live in URLs), no sniffing, strict CSP.

Pages may be framed only where the operator allows: the preference page and the hosted forms
by the configured `frame-ancestors` list (default the bridge itself), everything else by nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.web.audiences import EMBEDDABLE_PREFIXES

# Pages use only their own stylesheet and forms that post back to the bridge; no scripts.
DEFAULT_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def embeddable_csp(
    frame_ancestors: Sequence[str],
    extra_sources: Mapping[str, str] | None = None,
    form_actions: Sequence[str] = (),
) -> str:
    """The CSP of pages that may be framed: the auto-height script, branding's origins.

    `form_actions`: origins a page's form may end up on besides the bridge (a signup form's
    thank-you page on the marketer's site).
    """
    extra = extra_sources or {}
    actions = " ".join(["'self'", *form_actions])
    ancestors = " ".join(frame_ancestors) or "'none'"
    style = " ".join(["'self'", extra.get("style-src", "")]).strip()
    images = " ".join(["'self' data:", extra.get("img-src", "")]).strip()
    return (
        f"default-src 'none'; script-src 'self'; style-src {style}; img-src {images}; "
        f"form-action {actions}; frame-ancestors {ancestors}; base-uri 'none'"
    )


class SecurityHeadersMiddleware:
    """Adds Referrer-Policy, X-Content-Type-Options and a CSP unless a route set its own."""

    def __init__(
        self, app: ASGIApp, *, csp: str = DEFAULT_CSP, embeddable: str | None = None
    ) -> None:
        self.app = app
        self.csp = csp
        self.embeddable = embeddable or csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = self.embeddable if scope["path"].startswith(EMBEDDABLE_PREFIXES) else self.csp

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)
