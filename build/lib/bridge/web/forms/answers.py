"""How a form post is answered: JSON to `fetch`, a 303 or a page to a browser; its errors.

Every accepted post gets the same answer, whether the address was known, already subscribed
or a bot's (no enumeration, and nothing for a bot to learn). The 303 goes to the form's
configured `redirect` or to the bridge's own thank-you page: nothing in the request chooses
where, so the endpoint is never an open redirect.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bridge.forms import Form
from bridge.forms.submission import InvalidField
from bridge.i18n import clean_tag
from bridge.services import Services
from bridge.web.errors import NO_STORE, BridgeHTTPError

_FETCH_MODES = ("cors", "same-origin")


class FormNotFound(BridgeHTTPError):
    """No form of that name is configured."""

    status_code = 404
    title = "Not found"
    key = "not_found"


class InvalidFormField(BridgeHTTPError):
    """A posted field that is missing or wrong; the message and `field` name it."""

    status_code = 400
    title = "Check the form"

    def __init__(self, invalid: InvalidField) -> None:
        super().__init__(str(invalid), key=f"form_{invalid.kind}")
        self.field = invalid.field

    def details(self) -> dict[str, str]:
        """The posted field's name, so a page's script can point at it."""
        return {"field": self.field}


class TooManyPosts(BridgeHTTPError):
    """Past the posts allowed per IP or per address; `Retry-After` says when to try again."""

    status_code = 429
    title = "Too many requests"
    key = "too_many"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, headers={"Retry-After": str(int(retry_after))})


def form_named(request: Request) -> tuple[Services, Form]:
    """The services and the form the path names; FormNotFound for none."""
    services: Services = request.app.state.services
    name = request.path_params["form"]
    form = services.forms.get(name)
    if form is None:
        raise FormNotFound(f"There is no form named {name[:40]!r}.")
    return services, form


def wants_json(request: Request) -> bool:
    """Whether the caller reads JSON: it asked for it, sent it, or is a page's `fetch`."""
    if "application/json" in request.headers.get("accept", ""):
        return True
    if request.headers.get("content-type", "").lower().startswith("application/json"):
        return True
    return request.headers.get("sec-fetch-mode") in _FETCH_MODES


def thanks_url(request: Request, form: Form) -> str:
    """The bridge's own thank-you page for `form`, in the language the post's URL asked for.

    A post from the hosted page in an iframe (`?embed=1`) lands on the page framed the same way.
    """
    path = f"{request.scope.get('root_path', '')}/forms/{quote(form.name)}/thanks"
    kept = {
        "lang": clean_tag(request.query_params.get("lang")),
        "embed": "1" if request.query_params.get("embed") == "1" else None,
    }
    query = urlencode({k: v for k, v in kept.items() if v})
    return f"{path}?{query}" if query else path


def accepted(request: Request, form: Form) -> Response:
    """The one answer to every post taken (recorded, or quietly dropped as a bot's)."""
    if wants_json(request):
        return JSONResponse({"ok": True}, headers=NO_STORE)
    return RedirectResponse(form.redirect or thanks_url(request, form), 303, headers=NO_STORE)
