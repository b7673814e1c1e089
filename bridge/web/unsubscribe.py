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
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bridge.consent import ConsentRequest, Wanted, utcnow
from bridge.ledger import LedgerUnavailable
from bridge.links import BadLink, ExpiredLink, LinkClaims, Purpose
from bridge.logsafe import mask_email, mask_phone
from bridge.services import Services
from bridge.web.errors import BadForm, ExpiredLinkError, InvalidLink, Unavailable

SOURCE = "unsubscribe"
_MAX_FIELDS = 20
ONE_CLICK_DONE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>Unsubscribed</title>'
    "<p>You're unsubscribed.</p></html>"
)
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


async def _form(request: Request) -> dict[str, str]:
    """The posted fields; urlencoded bodies (every RFC 8058 POST may be one) parsed directly."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", errors="replace")
        return dict(parse_qsl(body, max_num_fields=_MAX_FIELDS))
    form = await request.form(max_fields=_MAX_FIELDS, max_files=0)
    try:
        return {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()


async def submit(request: Request) -> Response:
    """POST: record an unsubscribe (or, from the undo button, a resubscribe) and say so."""
    services: Services = request.app.state.services
    token = request.path_params["token"]
    claims = _claims(services, token)
    try:
        form = await _form(request)
    except ValueError:
        raise BadForm("The form could not be read.") from None
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
    if one_click:
        # The mailbox provider's robot posted this; nobody reads the page, so skip rendering.
        return HTMLResponse(ONE_CLICK_DONE, headers=NO_STORE)
    template = "unsubscribe/resubscribed.html" if undo else "unsubscribe/done.html"
    return await _page(request, template, claims)


routes = [
    Route("/unsubscribe/{token}", confirm, methods=["GET", "HEAD"], name="unsubscribe_confirm"),
    Route("/unsubscribe/{token}", submit, methods=["POST"], name="unsubscribe_submit"),
]
