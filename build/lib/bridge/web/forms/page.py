"""`GET /forms/{form}`: the hosted signup page, for marketers without a site of their own.

Localised like every page (`?lang=`, then Accept-Language), branded, and embeddable in an
iframe like the preference page (`?embed=1`). It posts to the bridge itself and carries the
signed `_t` fill stamp, so a post sent faster than a person types is taken for a bot's, and a
nonce, so a double click records one request. No
script: the checkboxes and the honeypot are plain HTML. When Intercom cannot list the types,
a form that offers a choice says so instead of showing a form that could only fail. A `manage`
form asks for the email alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bridge.consent import Scope
from bridge.forms import FormAction
from bridge.forms.layout import layout
from bridge.forms.spam import STAMP_FIELD
from bridge.forms.submission import NONCE_FIELD
from bridge.services import Services
from bridge.settings import origin_of
from bridge.web.forms.answers import form_named
from bridge.web.middleware.security_headers import embeddable_csp
from bridge.web.pages.common import choose_language, render, self_url
from bridge.web.pages.fields import new_nonce


def _csp(services: Services, redirect: str | None) -> str:
    """The embeddable CSP, with the form's `redirect` origin among the form actions.

    Chromium checks `form-action` against every hop of a form's navigation, the 303 to the
    thank-you URL included, so a `redirect` on the marketer's site would be blocked with
    `form-action 'self'` alone. The redirect was checked at start-up to be on the form's own
    origins, and only that one origin is added, on this page only; the alternative (sending
    the hosted page's posts to the bridge's own thank-you page whatever `redirect` says) would
    make the same form answer differently depending on where it was filled in.
    """
    extra = [origin_of(redirect)] if redirect else []
    return embeddable_csp(
        services.settings.frame_ancestors, services.branding.external_origins(), extra
    )


async def show(request: Request) -> Response:
    """GET and HEAD: the form as a page; changes nothing."""
    services, form = form_named(request)
    language = choose_language(request, None)
    t = language.catalog.gettext
    manage = form.action is FormAction.MANAGE
    # A manage form offers no types: it asks for an address and nothing else.
    types = () if manage else await services.type_cache.describe(Scope(type_ids=form.types))
    shown = layout(form, types, language.preferred)
    company = services.branding.company_name
    title = t(f"forms.page_title_{form.action.value}")
    context = {
        "title": title,
        "intro": t("forms.intro_company", company=company) if company else None,
        "layout": shown,
        "form": form,
        "button": t(f"forms.button_{form.action.value}"),
        "manage": manage,
        "stamp_field": STAMP_FIELD,
        "stamp": services.signer.fill_stamp(form.name),
        "nonce_field": NONCE_FIELD,
        "nonce": new_nonce(),  # a double click posts it twice: recorded once
        "action_url": self_url(request),
    }
    headers = {"Content-Security-Policy": _csp(services, form.redirect)}
    return render(request, "forms/page.html", language, context, headers=headers)
