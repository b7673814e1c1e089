"""Which sites may post a form: its `origins` and the bridge's own, as the browser says.

A browser names the page a POST came from in `Origin`, and modern ones say in
`Sec-Fetch-Site` whether it was another site. A post from a site not on the form's list is
refused (403), so no other site can sign its visitors up. A post with neither header is not
from a browser (a script on a server can set any header it likes, so there is nothing to
check); the rate limits and the honeypot still apply to it. `Origin: null` comes from pages
that send no referrer, sandboxed frames and files: it is accepted only with
`Sec-Fetch-Site: same-origin` (the bridge's own pages send no referrer).
"""

from __future__ import annotations

from starlette.requests import Request

from bridge.forms import Form
from bridge.settings import origin_of
from bridge.web.errors import BridgeHTTPError

_UNNAMED_BUT_OURS = ("same-origin", "none")


class ForeignOrigin(BridgeHTTPError):
    """A post from a site that is not one of the form's."""

    status_code = 403
    title = "Not allowed from this website"
    key = "form_origin"


def page_origin(request: Request, form: Form, public_url: str) -> str | None:
    """The origin of the page the form was sent from, when known; ForeignOrigin if not allowed."""
    own = origin_of(public_url)
    allowed = {*form.origins, own}
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is not None and origin != "null":
        if origin.lower() in allowed:
            return origin.lower()
        raise ForeignOrigin(f"Form {form.name!r} does not take posts from {origin[:100]}.")
    if origin == "null":
        if fetch_site == "same-origin":
            return own
        raise ForeignOrigin(
            f"Form {form.name!r} does not take posts from a page that hides its origin "
            "(Origin: null); serve the form's page with a Referrer-Policy that sends it."
        )
    if fetch_site is not None and fetch_site not in _UNNAMED_BUT_OURS:
        raise ForeignOrigin(f"Form {form.name!r} does not take posts from another site.")
    # A Referer is kept as proof only when it is one of the form's: else it is the sender's word.
    referer = origin_of(request.headers.get("referer", ""))
    return referer if referer in allowed else None
