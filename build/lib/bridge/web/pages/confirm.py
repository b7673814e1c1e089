"""The double opt-in link: a page with a button on GET, the confirmation on POST.

Mail scanners fetch every link in an email, so GET and HEAD only show the page (with the
words the person agreed to); only the button's POST confirms. The click is kept in the
ledger as proof (when, and the client where `BRIDGE_PROOF_FIELDS` says so), the request
becomes due at once and the worker applies it. A second click shows the same page and
changes nothing. A request whose days ran out answers 410 Gone: the link is genuine (its
signature checks), but what it names can never be confirmed again, only signed up for anew;
a link that is not ours, or past its own days, gets the link error page (400) like every link.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bridge.ledger import Confirmed, RequestRecord, Status
from bridge.links import ConfirmLink, LinkClaims
from bridge.services import Services
from bridge.web.errors import BridgeHTTPError
from bridge.web.pages.common import choose_language, client_proof, render, self_url, who
from bridge.web.pages.same_origin import require_same_origin
from bridge.web.routing import route

_GONE = 410  # expired: the request it names can never be confirmed again
_NOT_READY = 409  # not waiting for a click yet (its email is still on its way, say)
# What a click did -> the page's words (`confirm.<result>`) and status.
_RESULTS = {
    Confirmed.NOW: ("done", 200),
    Confirmed.BEFORE: ("done", 200),
    Confirmed.EXPIRED: ("expired", _GONE),
    Confirmed.NOT_WAITING: ("not_ready", _NOT_READY),
}


class UnknownConfirmation(BridgeHTTPError):
    """A genuine confirmation link naming no request this ledger holds."""

    status_code = 404
    title = "Not found"
    key = "not_found"


def _link(request: Request) -> tuple[Services, ConfirmLink]:
    services: Services = request.app.state.services
    return services, services.signer.confirm_link(request.path_params["token"])


def _page(
    request: Request, link: ConfirmLink, outcome: Confirmed | None, record: RequestRecord | None
) -> Response:
    language = choose_language(request, None, locale=link.locale)
    if outcome is not None:
        result, status = _RESULTS[outcome]
        return render(
            request, "confirm/result.html", language, {"result": result}, status_code=status
        )
    context = {
        "who": who(LinkClaims(record.request.identity)) if record else None,
        "consent_text": record.request.context.get("consent_text") if record else None,
        "action_url": self_url(request),
    }
    return render(request, "confirm/ask.html", language, context)


def _state(record: RequestRecord, now_past_deadline: bool) -> Confirmed | None:
    """What a click would find, read without one: None while it waits in time."""
    if record.confirmation is not None:
        return Confirmed.BEFORE
    if record.status is Status.EXPIRED or (
        record.status is Status.AWAITING_CONFIRMATION and now_past_deadline
    ):
        return Confirmed.EXPIRED
    if record.status is not Status.AWAITING_CONFIRMATION:
        return Confirmed.NOT_WAITING
    return None


async def show(request: Request) -> Response:
    """GET/HEAD: what the person agreed to, and the button; changes nothing."""
    services, link = _link(request)
    record = await services.ledger.find(link.source, link.event_id)
    if record is None:
        raise UnknownConfirmation("This confirmation link names nothing we know of.")
    state = _state(record, services.clock.now() >= record.next_attempt_at)
    return _page(request, link, state, record)


async def confirm(request: Request) -> Response:
    """POST: the person confirms; kept as proof, and the worker applies the request."""
    services: Services = request.app.state.services
    require_same_origin(request, services.settings.public_url)
    services, link = _link(request)
    proof = {"via": "confirmation link", **client_proof(request, services)}
    outcome, request_id = await services.confirm(link.source, link.event_id, proof=proof)
    if request_id is None:
        raise UnknownConfirmation("This confirmation link names nothing we know of.")
    return _page(request, link, outcome, None)


routes = [
    route("/confirm/{token}", name="confirm", GET=show, POST=confirm),
]
