"""The unsubscribe link: a confirmation page on GET, the change on POST (RFC 8058 one-click).

Mail scanners and link checkers fetch every link they see, so GET and HEAD only ever show a
page. A POST records the request in the ledger and answers 200 once it is committed; the
worker applies it to Intercom afterwards. RFC 8058 forbids redirecting the one-click POST, so
the answer is the page itself.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.consent import ConsentRequest, Wanted, utcnow
from bridge.ledger import LedgerUnavailable
from bridge.links import BadLink, ExpiredLink, LinkClaims, Purpose
from bridge.logsafe import mask_email, mask_phone
from bridge.services import Services
from bridge.web.errors import ExpiredLinkError, InvalidLink, Unavailable

SOURCE = "unsubscribe"
# Token pages must never be stored by shared caches or shown again from history.
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _claims(services: Services, token: str) -> LinkClaims:
    try:
        return services.signer.claims(Purpose.UNSUBSCRIBE, token)
    except ExpiredLink:
        raise ExpiredLinkError(
            "This unsubscribe link is too old. Use the link in a more recent message."
        ) from None
    except BadLink:
        raise InvalidLink(
            "The address may have been cut short or changed. Copy the whole link from the "
            "message, or use the unsubscribe link in a more recent one."
        ) from None


def _who(claims: LinkClaims) -> str | None:
    identity = claims.identity
    if identity.email:
        return mask_email(identity.email)
    if identity.phone:
        return mask_phone(identity.phone)
    return None


async def _page(request: Request, template: str, claims: LinkClaims, **extra: Any) -> Response:
    services: Services = request.app.state.services
    types = await services.types.describe(claims.scope)
    context = {
        "who": _who(claims),
        "scope": claims.scope,
        "types": types,
        "nonce": uuid.uuid4().hex,
        "action_url": request.url.path,
        **extra,
    }
    return services.templates.TemplateResponse(request, template, context, headers=NO_STORE)


async def confirm(request: Request) -> Response:
    """GET/HEAD: ask; change nothing."""
    claims = _claims(request.app.state.services, request.path_params["token"])
    return await _page(request, "unsubscribe/confirm.html", claims)


def _event_id(form_nonce: object) -> str:
    # The page's form carries a nonce so a double-submitted button records once; a one-click
    # POST from a mail provider has none and every such POST is its own event.
    if isinstance(form_nonce, str) and len(form_nonce) == 32:
        try:
            return uuid.UUID(hex=form_nonce).hex
        except ValueError:
            pass
    return uuid.uuid4().hex


async def submit(request: Request) -> Response:
    """POST: record an unsubscribe (or, from the undo button, a resubscribe) and say so."""
    services: Services = request.app.state.services
    token = request.path_params["token"]
    claims = _claims(services, token)
    form = await request.form()
    undo = form.get("action") == "resubscribe"
    one_click = form.get("List-Unsubscribe") == "One-Click"
    consent = ConsentRequest(
        identity=claims.identity,
        wanted=Wanted.SUBSCRIBED if undo else Wanted.UNSUBSCRIBED,
        scope=claims.scope,
        occurred_at=utcnow(),
        source=SOURCE,
        event_id=_event_id(form.get("nonce")),
        context={
            "via": "one-click" if one_click else "page",
            **({"locale": claims.locale} if claims.locale else {}),
        },
    )
    await form.close()
    try:
        await services.ledger.record(
            [consent], payload_sha256=hashlib.sha256(token.encode()).hexdigest()
        )
    except LedgerUnavailable:
        raise Unavailable(
            "We couldn't record your request just now. Nothing was changed; please try again "
            "in a minute."
        ) from None
    services.metrics.recorded.labels(source=SOURCE, wanted=consent.wanted.value).inc()
    if services.worker is not None:
        services.worker.wake()
    template = "unsubscribe/resubscribed.html" if undo else "unsubscribe/done.html"
    return await _page(request, template, claims)


routes = [
    Route("/unsubscribe/{token}", confirm, methods=["GET", "HEAD"], name="unsubscribe_confirm"),
    Route("/unsubscribe/{token}", submit, methods=["POST"], name="unsubscribe_submit"),
]
