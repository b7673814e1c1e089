"""The unsubscribe link: a confirmation page on GET, the change on POST (RFC 8058 one-click).

Mail scanners and link checkers fetch every link they see, so GET and HEAD only ever show a
page. A POST records the request in the ledger and answers 200 once it is committed; the
worker applies it to Intercom afterwards. RFC 8058 forbids redirecting the one-click POST, so
the answer is the page itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bridge.consent import ConsentRequest, Scope, Wanted, utcnow
from bridge.i18n import localise
from bridge.ledger import LedgerUnavailable
from bridge.links import LinkClaims, Purpose
from bridge.services import Services
from bridge.web.errors import NO_STORE, Unavailable
from bridge.web.forms import event_id_from_nonce, new_nonce, read_fields
from bridge.web.pages import choose_language, link_claims, render, self_url, who

SOURCE = "unsubscribe"
_MAX_FIELDS = 20
ONE_CLICK_DONE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>Unsubscribed</title>'
    "<p>You're unsubscribed.</p></html>"
)


def _claims(services: Services, token: str) -> LinkClaims:
    return link_claims(services, Purpose.UNSUBSCRIBE, token)


def _manage_url(services: Services, claims: LinkClaims) -> str:
    """A preferences link for the same person: the channel they unsubscribed from, or all."""
    scope = Scope(channel=claims.scope.channel) if claims.scope.channel else Scope()
    manage = LinkClaims(claims.identity, scope, claims.locale)
    return services.signer.url(services.settings.public_url, Purpose.PREFERENCES, manage)


async def _page(request: Request, template: str, claims: LinkClaims, **extra: Any) -> Response:
    services: Services = request.app.state.services
    language = choose_language(request, claims)
    types = await services.types.describe(claims.scope)
    context = {
        "who": who(claims),
        "scope": claims.scope,
        "types": None if types is None else [localise(t, language.preferred) for t in types],
        "nonce": new_nonce(),
        "action_url": self_url(request),
        "manage_url": _manage_url(services, claims),
        **extra,
    }
    return render(request, template, language, context)


async def confirm(request: Request) -> Response:
    """GET/HEAD: ask; change nothing."""
    claims = _claims(request.app.state.services, request.path_params["token"])
    return await _page(request, "unsubscribe/confirm.html", claims)


async def submit(request: Request) -> Response:
    """POST: record an unsubscribe (or, from the undo button, a resubscribe) and say so."""
    services: Services = request.app.state.services
    token = request.path_params["token"]
    claims = _claims(services, token)
    form = dict(await read_fields(request, max_fields=_MAX_FIELDS))
    undo = form.get("action") == "resubscribe"
    one_click = form.get("List-Unsubscribe") == "One-Click"
    consent = ConsentRequest(
        identity=claims.identity,
        wanted=Wanted.SUBSCRIBED if undo else Wanted.UNSUBSCRIBED,
        scope=claims.scope,
        occurred_at=utcnow(),
        source=SOURCE,
        event_id=event_id_from_nonce(form.get("nonce")),
        context={
            "via": "one-click" if one_click else "page",
            **({"locale": claims.locale} if claims.locale else {}),
        },
    )
    try:
        await services.ledger.record(
            [consent], payload_sha256=hashlib.sha256(token.encode()).hexdigest()
        )
    except LedgerUnavailable:
        raise Unavailable(
            "We couldn't record your request just now. Nothing was changed; please try again "
            "in a minute.",
            key="not_recorded",
        ) from None
    services.metrics.recorded.labels(source=SOURCE, wanted=consent.wanted.value).inc()
    if services.worker is not None:
        services.worker.wake()
    if one_click:
        # The mailbox provider's robot posted this; nobody reads the page, so skip rendering.
        return HTMLResponse(ONE_CLICK_DONE, headers=NO_STORE)
    template = "unsubscribe/resubscribed.html" if undo else "unsubscribe/done.html"
    return await _page(request, template, claims)


routes = [
    Route("/unsubscribe/{token}", confirm, methods=["GET", "HEAD"], name="unsubscribe_confirm"),
    Route("/unsubscribe/{token}", submit, methods=["POST"], name="unsubscribe_submit"),
]
