"""The preference page: every type of the link's scope with a toggle; saving records changes.

GET shows the page and changes nothing. POST records one consent request per changed type
(or per receiving type for "unsubscribe from all"), then redirects back to the page
(POST-redirect-GET), which shows the new state at once because unapplied requests are
overlaid on what Intercom says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.consent import ConsentRequest, SubscriptionType, Wanted
from bridge.ledger import Recording
from bridge.links import LinkClaims, Purpose
from bridge.preferences.center import View
from bridge.preferences.model import Choice, changes, choices, requests_for
from bridge.services import Services
from bridge.web.errors import BadForm, Unavailable
from bridge.web.pages.common import (
    Language,
    choose_language,
    client_proof,
    render,
    self_url,
    who,
)
from bridge.web.pages.fields import form_nonce, new_nonce, read_fields, scoped_event_id
from bridge.web.pages.same_origin import require_same_origin
from bridge.web.routing import route

SOURCE = "preferences"
SAVE = "save"
UNSUBSCRIBE_ALL = "unsubscribe_all"
_NOT_SAVED = (
    "We couldn't save your choices just now. Nothing was changed; please try again in a minute."
)
_NOTICES = {
    "saved": "preferences.saved",
    "unchanged": "preferences.unchanged",
    "already": "preferences.already_saved",  # the same form sent again: nothing new recorded
}


def claims_for(services: Services, token: str) -> LinkClaims:
    """The claims of a preferences token (a bad or expired one becomes its error page)."""
    return services.signer.claims(Purpose.PREFERENCES, token)


def _groups(view: View, language: Language) -> list[dict[str, Any]]:
    """The choices in one fieldset per channel, email first."""
    t = language.catalog.gettext
    groups: dict[str, dict[str, Any]] = {}
    for choice in view.choices or ():
        key = choice.channel.value if choice.channel else "other"
        legend = t(f"preferences.channel_{key}")
        groups.setdefault(key, {"key": key, "legend": legend, "choices": []})
        groups[key]["choices"].append(choice)
    order = {"email": 0, "sms": 1, "other": 2}
    return sorted(groups.values(), key=lambda group: order[group["key"]])


def _unsubscribe_all_label(view: View, language: Language) -> str:
    t = language.catalog.gettext
    channels = {c.channel for c in view.choices or ()}
    channel = view.claims.scope.channel or (channels.pop() if len(channels) == 1 else None)
    if channel is not None:
        return t(f"preferences.unsubscribe_all_{channel.value}")
    return t("preferences.unsubscribe_all")


async def current_view(request: Request) -> tuple[Language, View]:
    """What a GET of the page (or the API) shows, in the person's language; counted."""
    services: Services = request.app.state.services
    claims = claims_for(services, request.path_params["token"])
    language = choose_language(request, claims)
    view = await services.preferences.view(claims, language.preferred)
    services.metrics.preference_views.labels(result="ok" if view.state_known else "degraded").inc()
    return language, view


async def show(request: Request) -> Response:
    """GET: the page; changes nothing."""
    services: Services = request.app.state.services
    language, view = await current_view(request)
    claims = view.claims
    t = language.catalog.gettext
    company = services.branding.company_name
    notice = _NOTICES.get(request.query_params.get("saved", ""))
    receiving = [c for c in view.choices or () if c.subscribed is not False]
    context = {
        "view": view,
        "groups": _groups(view, language),
        "who": who(claims),
        "intro": t("preferences.intro_company", company=company)
        if company
        else t("preferences.intro"),
        "notice": t(notice) if notice else None,
        # Saved here is recorded, not yet in Intercom: say it may take a moment everywhere.
        "notice_more": t("common.propagation") if notice != _NOTICES["unchanged"] else None,
        "all_off": view.state_known and bool(view.choices) and not receiving,
        "unsubscribe_all_label": _unsubscribe_all_label(view, language),
        "nonce": new_nonce(),
        "action_url": self_url(request),
    }
    return render(request, "preferences/page.html", language, context)


def _shown_states(fields: Sequence[tuple[str, str]], known: set[str]) -> dict[str, bool | None]:
    """What the page showed, from its `shown` fields (`id:1`, `id:0`, or `id:?`)."""
    shown: dict[str, bool | None] = {}
    for name, value in fields:
        if name != "shown":
            continue
        type_id, _, state = value.rpartition(":")
        if type_id in known and state in ("0", "1", "?"):
            shown[type_id] = None if state == "?" else state == "1"
    return shown


def _scope_wide(
    services: Services, claims: LinkClaims, event_id: str, context: dict[str, Any]
) -> ConsentRequest:
    """One request for every type of the link's scope, when Intercom couldn't list them."""
    return ConsentRequest(
        identity=claims.identity,
        wanted=Wanted.UNSUBSCRIBED,
        scope=claims.scope,
        occurred_at=services.clock.now(),
        source=SOURCE,
        event_id=f"{event_id}:all:off",
        context=context,
    )


async def _record_unknown_types(
    request: Request, services: Services, claims: LinkClaims, language: Language, event: str
) -> Recording:
    context = {"via": "page", "locale": language.catalog.code, **client_proof(request, services)}
    return await services.record([_scope_wide(services, claims, event, context)])


async def save(request: Request) -> Response:
    """POST: record what changed, then show the page again (POST-redirect-GET)."""
    services: Services = request.app.state.services
    require_same_origin(request, services.settings.public_url)
    claims = claims_for(services, request.path_params["token"])
    fields = await read_fields(request)
    form = dict(fields)
    action = form.get("action", SAVE)
    if action not in (SAVE, UNSUBSCRIBE_ALL):
        raise BadForm(f"Unknown action {action[:40]!r}.")
    language = choose_language(request, claims)
    event = scoped_event_id(request.path_params["token"], form_nonce(form))
    types: Sequence[SubscriptionType] | None = await services.type_cache.describe(claims.scope)
    if types is None:
        if action != UNSUBSCRIBE_ALL:
            raise Unavailable(_NOT_SAVED, key="not_saved")
        recording = await _record_unknown_types(request, services, claims, language, event)
    else:
        recording = await _record_choices(request, services, claims, language, fields, types, event)
    notice = "saved" if recording.new else "already" if recording.stored else "unchanged"
    return RedirectResponse(self_url(request, saved=notice), 303)


async def _record_choices(
    request: Request,
    services: Services,
    claims: LinkClaims,
    language: Language,
    fields: Sequence[tuple[str, str]],
    types: Sequence[SubscriptionType],
    event: str,
) -> Recording:
    form = dict(fields)
    words: list[Choice] = choices(types, None, (), language.preferred)
    view = View(claims, words)
    shown = _shown_states(fields, {c.id for c in words})
    if form.get("action") == UNSUBSCRIBE_ALL:
        wanted = {c.id: False for c in words}
    else:
        ticked = {value for name, value in fields if name == "subscribed"}
        # Only types the page showed: one created since must not be switched off unseen.
        wanted = {type_id: type_id in ticked for type_id in shown}
    return await record_changes(
        request, services, view, wanted, shown, event=event, via="page", language=language
    )


async def record_changes(
    request: Request,
    services: Services,
    view: View,
    wanted: Mapping[str, bool],
    shown: Mapping[str, bool | None],
    *,
    event: str,
    via: str,
    language: Language,
) -> Recording:
    """Record a request per type whose wanted state differs from what the page `shown`."""
    requests = requests_for(
        view.claims.identity,
        changes(shown, wanted),
        view.by_id,
        occurred_at=services.clock.now(),
        source=SOURCE,
        event_prefix=event,
        via=via,
        page_locale=language.catalog.code,
        client=client_proof(request, services),
    )
    return await services.record(requests)


routes = [
    route("/preferences/{token}", name="preferences", GET=show, POST=save),
]
