"""`POST /forms/{form}`: check where it came from, read, tell bots apart, check, record, answer.

In order: the form (404), the site that sent it (403), the sender's IP's pace (429), the body
(413, 415, 400), the honeypot and the signed fill time (a bot gets the normal answer and
nothing is recorded), the fields (400 naming the field), the address's pace (429), then one
consent request through `Services.record` (503 when the ledger cannot commit; a post carrying
a nonce already recorded for the same person is a duplicate, answered the same) and the answer:
303 to the thank-you page for a browser, `{"ok": true}` for `fetch`. Every post is counted in
`bridge_form_posts_total` by form and result. `GET` of the same path is the hosted page
(`page`).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bridge.forms import Form, FormAction
from bridge.forms.limits import FormLimits
from bridge.forms.manage import link_request
from bridge.forms.spam import bot_sign
from bridge.forms.submission import (
    NONCE_FIELD,
    InvalidField,
    consent_request,
    read_submission,
    submission_event_id,
)
from bridge.ledger import LedgerUnavailable
from bridge.logsafe import masked
from bridge.services import Services
from bridge.web.errors import BadForm, BridgeHTTPError
from bridge.web.forms import page
from bridge.web.forms.answers import InvalidFormField, TooManyPosts, accepted, form_named
from bridge.web.forms.body import read_posted
from bridge.web.forms.origins import ForeignOrigin, page_origin
from bridge.web.pages.common import choose_language, client_proof, render
from bridge.web.pages.fields import form_nonce
from bridge.web.routing import route

log = logging.getLogger(__name__)

ACCEPTED = "accepted"


def _result(exc: Exception) -> str:
    """The metric's `result` for a post that was not taken."""
    if isinstance(exc, ForeignOrigin):
        return "refused"
    if isinstance(exc, TooManyPosts):
        return "rate_limited"
    if isinstance(exc, LedgerUnavailable):
        return "unavailable"
    return "invalid"


async def submit(request: Request) -> Response:
    """POST: one submission of a form."""
    services, form = form_named(request)
    try:
        result = await _take(request, services, form)
    except (BridgeHTTPError, HTTPException, LedgerUnavailable) as exc:
        services.metrics.form_posts.labels(form=form.name, result=_result(exc)).inc()
        raise
    services.metrics.form_posts.labels(form=form.name, result=result).inc()
    return accepted(request, form)


async def _take(request: Request, services: Services, form: Form) -> str:
    """Record the post, or see it is a bot's; the metric's result. Raises what is refused."""
    origin = page_origin(request, form, services.settings.public_url)
    limits: FormLimits = request.app.state.form_limits
    now = services.clock.monotonic()
    wait = limits.per_ip.hit(request.client.host if request.client else "unknown", now)
    if wait is not None:
        raise TooManyPosts("Too many forms sent from this IP address; try again later.", wait)
    # Read whole first: a multipart parse would consume the stream the body is kept from.
    body = await request.body()
    fields = await read_posted(request)
    bot = bot_sign(form, fields, services.signer)
    if bot is not None:
        log.info("form %s: a bot's post (%s); nothing recorded", form.name, bot)
        return bot.value
    try:
        submission = read_submission(form, fields)
    except InvalidField as exc:
        # The message repeats what was typed: it goes back to the sender, never to the log.
        log.info("form %s: field %s refused", form.name, exc.field)
        raise InvalidFormField(exc) from None
    wait = limits.per_address.hit(submission.identity.key, now)
    if wait is not None:
        raise TooManyPosts("Too many forms sent for this email address; try again later.", wait)
    proof = {**({"page_origin": origin} if origin else {}), **client_proof(request, services)}
    build = link_request if form.action is FormAction.MANAGE else consent_request
    consent = build(
        form,
        submission,
        occurred_at=services.clock.now(),
        # A double click sends the page's nonce twice: one request, answered the same twice.
        event_id=submission_event_id(form, submission, form_nonce(dict(fields), NONCE_FIELD)),
        proof=proof,
        # An email goes out in the language the visitor's browser asks for.
        locale=choose_language(request, None).catalog.code
        if form.confirm or form.link_admin_id
        else None,
    )
    # The post as it came is kept with its request: a form carries no link token.
    recording = await services.record([consent], payload=body)
    if recording.unstorable:
        raise BadForm(f"The form could not be stored: {recording.unstorable[0]}")
    log.info("form %s: recorded %s for %s", form.name, consent.wanted, masked(consent.identity))
    return ACCEPTED


async def thanks(request: Request) -> Response:
    """GET: the bridge's own thank-you page, in the person's language."""
    _, form = form_named(request)
    language = choose_language(request, None)
    t = language.catalog.gettext
    done = "forms.subscribed" if form.action is FormAction.SUBSCRIBE else "forms.unsubscribed"
    if form.confirm is not None:
        done = "confirm.check_email"  # nothing changes until they click the emailed link
    if form.action is FormAction.MANAGE:
        done = "forms.link_sent"  # the same words whether or not the address is known
    context = {"title": t("forms.thanks_title"), "message": t(done)}
    return render(request, "forms/thanks.html", language, context)


routes = [
    route("/forms/{form}", name="form", GET=page.show, POST=submit),
    route("/forms/{form}/thanks", name="form_thanks", GET=thanks),
]
