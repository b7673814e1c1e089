"""Refusing browser form POSTs that another site made a person's browser send.

The bridge sets no cookies, so a forged POST would still need the signed token; this check
is defence in depth, and keeps a page that leaked a token from acting on it in the person's
browser. Modern browsers say where a request came from in `Sec-Fetch-Site`; older ones only
send `Origin`. Our pages send no referrer, which makes a browser send `Origin: null` on
their own POSTs, so `null` alone is not treated as foreign.
"""

from __future__ import annotations

from starlette.requests import Request

from bridge.settings import origin_of
from bridge.web.errors import BridgeHTTPError

_TRUSTED_FETCH_SITES = ("same-origin", "none")


class CrossSiteRequest(BridgeHTTPError):
    """A browser POST that another website started."""

    status_code = 403
    title = "Not allowed from another website"
    key = "cross_site"


def is_same_origin(request: Request, public_url: str) -> bool:
    """True unless the browser says the request came from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in _TRUSTED_FETCH_SITES
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True  # not a browser, or a browser too old to say; the token still guards
    own = {origin_of(public_url), origin_of(str(request.base_url))}
    return origin.lower() in own


def require_same_origin(request: Request, public_url: str) -> None:
    """Raise CrossSiteRequest for a POST another website started."""
    if not is_same_origin(request, public_url):
        raise CrossSiteRequest(
            "This form can only be sent from the bridge's own page. Open the link from your "
            "message and try again."
        )
