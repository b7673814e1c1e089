"""The unsubscribe link: a confirmation page on GET, the change on POST (RFC 8058 one-click).

Mail scanners and link checkers fetch every link they see, so GET and HEAD only ever show a
page. A POST records the request in the ledger and answers 200 once it is committed; the
worker applies it to Intercom afterwards. RFC 8058 forbids redirecting the one-click POST, so
the answer is the page itself.

These links travel in `List-Unsubscribe` headers that forwards, mailbox providers and scanners
all see, so the only thing a POST can do beyond unsubscribing is the undo button: it carries a
signed token naming the unsubscribe it follows and the types the person was receiving before
it, and expires after `UNDO_MAX_AGE`. Undo restores exactly those types and never opts anyone
into one they were not receiving. Browser POSTs another site started are refused; a mailbox
provider's one-click POST comes from its servers, with neither `Origin` nor `Sec-Fetch-Site`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bridge.consent import ConsentRequest, Scope, SubscriptionType, Wanted
from bridge.i18n import localise
from bridge.links import BadLink, ExpiredLink, LinkClaims, Purpose, Undo, token_digest
from bridge.services import Services
from bridge.web.errors import NO_STORE, BadForm, ExpiredUndo, InvalidUndo
from bridge.web.pages.common import Language, choose_language, render, self_url, who
from bridge.web.pages.fields import form_nonce, new_nonce, read_fields, scoped_event_id
from bridge.web.pages.same_origin import require_same_origin
from bridge.web.routing import route

SOURCE = "unsubscribe"
_MAX_FIELDS = 20
ONE_CLICK_DONE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>Unsubscribed</title>'
    "<p>You're unsubscribed.</p></html>"
)
UNSUBSCRIBE, RESUBSCRIBE = "unsubscribe", "resubscribe"
_GONE = 410  # the link's types no longer exist: nothing it could do


def _manage_url(services: Services, claims: LinkClaims) -> str | None:
    """A preferences link for the same person (the channel they unsubscribed from, or all).

    It keeps the unsubscribe link's issue time, so it expires when a preferences link sent
    then would have; none is offered once that has passed.
    """
    scope = Scope(channel=claims.scope.channel) if claims.scope.channel else Scope()
    manage = LinkClaims(claims.identity, scope, claims.locale, claims.issued_at)
    if services.signer.expired(Purpose.PREFERENCES, manage.issued_at):
        return None
    return services.signer.url(services.settings.public_url, Purpose.PREFERENCES, manage)


async def _page(
    request: Request,
    template: str,
    claims: LinkClaims,
    types: Sequence[SubscriptionType] | None,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    services: Services = request.app.state.services
    language = choose_language(request, claims)
    context = {
        "who": who(claims),
        "scope": claims.scope,
        "types": None if types is None else [localise(t, language.preferred) for t in types],
        "nonce": new_nonce(),
        "action_url": self_url(request),
        "manage_url": _manage_url(services, claims),
        **extra,
    }
    return render(request, template, language, context, status_code=status_code)


async def confirm(request: Request) -> Response:
    """GET/HEAD: ask; change nothing."""
    services: Services = request.app.state.services
    claims = services.signer.claims(Purpose.UNSUBSCRIBE, request.path_params["token"])
    types = await services.type_cache.describe(claims.scope)
    if types == []:
        return await _page(request, "unsubscribe/gone.html", claims, types, status_code=_GONE)
    return await _page(request, "unsubscribe/confirm.html", claims, types)


async def submit(request: Request) -> Response:
    """POST: record an unsubscribe (or, from a valid undo button, its reversal) and say so."""
    services: Services = request.app.state.services
    require_same_origin(request, services.settings.public_url)
    token = request.path_params["token"]
    claims = services.signer.claims(Purpose.UNSUBSCRIBE, token)
    form = dict(await read_fields(request, max_fields=_MAX_FIELDS))
    if form.get("List-Unsubscribe") == "One-Click":
        consent = _unsubscribe(services, claims, claims.scope, token, None, "one-click")
        await _record(services, token, consent)
        # The mailbox provider's robot posted this; nobody reads the page, so skip rendering.
        return HTMLResponse(ONE_CLICK_DONE, headers=NO_STORE)
    action = form.get("action", UNSUBSCRIBE)
    if action == RESUBSCRIBE:
        return await _undo(request, services, token, claims, form.get("undo", ""))
    if action != UNSUBSCRIBE:
        raise BadForm(f"Unknown action {action[:40]!r}.")
    types = await services.type_cache.describe(claims.scope)
    if types == []:
        return await _page(request, "unsubscribe/gone.html", claims, types, status_code=_GONE)
    # What the person was shown: the link's types that still exist (all of them, or a channel).
    scope = Scope(type_ids=tuple(t.id for t in types)) if claims.scope.type_ids and types else None
    consent = _unsubscribe(services, claims, scope or claims.scope, token, form_nonce(form), "page")
    await _record(services, token, consent)
    language = choose_language(request, claims)
    undo = await _undo_token(services, claims, language, consent, token)
    return await _page(request, "unsubscribe/done.html", claims, types, undo=undo)


def _unsubscribe(
    services: Services, claims: LinkClaims, scope: Scope, token: str, nonce: str | None, via: str
) -> ConsentRequest:
    return ConsentRequest(
        identity=claims.identity,
        wanted=Wanted.UNSUBSCRIBED,
        scope=scope,
        occurred_at=services.clock.now(),
        source=SOURCE,
        event_id=scoped_event_id(token, nonce),
        context={"via": via, **({"locale": claims.locale} if claims.locale else {})},
    )


async def _record(services: Services, token: str, consent: ConsentRequest) -> None:
    """Commit one request (or find it already there); the link's token is its payload."""
    await services.record([consent], payload_sha256=hashlib.sha256(token.encode()).hexdigest())


async def _undo_token(
    services: Services,
    claims: LinkClaims,
    language: Language,
    consent: ConsentRequest,
    token: str,
) -> str | None:
    """An undo button's token naming the types the person received before `consent`.

    Read after the commit, leaving the new request out of the pending ones; when no state can
    be read (Intercom is down), no undo is offered rather than a guess.
    """
    before = await services.preferences.view(
        LinkClaims(claims.identity, consent.scope, claims.locale),
        language.preferred,
        leaving_out=(consent.source, consent.event_id),
    )
    receiving = tuple(c.id for c in before.choices or () if c.subscribed is True)
    if not receiving:
        return None
    return services.signer.undo_token(Undo(consent.event_id, token_digest(token), receiving))


async def _undo(
    request: Request, services: Services, token: str, claims: LinkClaims, undo_token: str
) -> Response:
    """Take back the unsubscribe the button names: receive again what was received before."""
    try:
        undo = services.signer.undo(undo_token)
    except ExpiredLink:
        raise ExpiredUndo("This undo button has expired.") from None
    except BadLink:
        raise InvalidUndo("This undo button is not valid.") from None
    if undo.link != token_digest(token):
        raise InvalidUndo("This undo button belongs to another link.")
    consent = ConsentRequest(
        identity=claims.identity,
        wanted=Wanted.SUBSCRIBED,
        scope=Scope(type_ids=undo.type_ids),
        occurred_at=services.clock.now(),
        source=SOURCE,
        # Named after the unsubscribe it undoes: pressing twice records once.
        event_id=f"{undo.event_id}:undo",
        context={
            "via": "undo",
            "undoes": undo.event_id,
            **({"locale": claims.locale} if claims.locale else {}),
        },
    )
    await _record(services, token, consent)
    types = await services.type_cache.describe(consent.scope)
    return await _page(request, "unsubscribe/resubscribed.html", claims, types)


routes = [
    route("/unsubscribe/{token}", name="unsubscribe", GET=confirm, POST=submit),
]
