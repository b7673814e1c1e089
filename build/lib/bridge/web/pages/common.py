"""What every page for people shares: its language, its branding, its headers, its proof."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bridge.i18n import Catalog, clean_tag, negotiate, parse_accept_language
from bridge.links import LinkClaims, Purpose
from bridge.logsafe import mask_email, mask_phone
from bridge.services import Services
from bridge.web.errors import NO_STORE


def link_claims(services: Services, purpose: Purpose, token: str) -> LinkClaims:
    """The claims of a link's token; a bad or expired one becomes its error page."""
    return services.signer.claims(purpose, token)


@dataclass(frozen=True)
class Language:
    """The page's language, and every locale the person would accept, best first."""

    catalog: Catalog
    preferred: tuple[str, ...]
    chosen: str | None  # the ?lang= the person picked, kept on links and forms


def choose_language(
    request: Request, claims: LinkClaims | None, *, locale: str | None = None
) -> Language:
    """`?lang=` (the switcher), then the link's locale, then Accept-Language, then English.

    `locale` stands for the link's when the link carries no `LinkClaims` (a confirmation).

    The switcher comes first, ahead of the link's locale, so that a person sent a French
    link can still switch the page to another language.
    """
    catalogs: Mapping[str, Catalog] = request.app.state.services.catalogs
    chosen = clean_tag(request.query_params.get("lang"))
    preferred = [
        tag
        for tag in (chosen, claims.locale if claims else locale)
        if tag is not None and clean_tag(tag)
    ]
    preferred += parse_accept_language(request.headers.get("accept-language"))
    code = negotiate(preferred, catalogs) or "en"
    return Language(catalogs[code], tuple(preferred), chosen if chosen == code else None)


def client_proof(request: Request, services: Services) -> dict[str, str]:
    """The IP address and user agent, where the operator keeps them as proof of consent."""
    fields = services.settings.proof_fields
    found = {}
    if "ip" in fields and request.client is not None:
        found["ip"] = request.client.host
    if "user_agent" in fields:
        found["user_agent"] = request.headers.get("user-agent", "")[:512]
    return found


def who(claims: LinkClaims) -> str | None:
    """The person's email or phone, masked for the page (never a contact id)."""
    identity = claims.identity
    if identity.email:
        return mask_email(identity.email)
    if identity.phone:
        return mask_phone(identity.phone)
    return None


def self_url(request: Request, **params: str | None) -> str:
    """This page's path with the kept query parameters (language, embedding) and `params`."""
    keep = {
        "lang": clean_tag(request.query_params.get("lang")),
        "embed": "1" if request.query_params.get("embed") == "1" else None,
        **params,
    }
    query = urlencode({k: v for k, v in keep.items() if v})
    return request.url.path + (f"?{query}" if query else "")


def render(
    request: Request,
    template: str,
    language: Language,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    switcher: bool = True,
) -> Response:
    """A page in `language`, branded, not cached, with its language in the headers.

    `switcher` offers the page in every other language (links to this same address).
    """
    services: Services = request.app.state.services
    catalog = language.catalog
    languages = [
        (code, other.name, self_url(request, lang=code))
        for code, other in services.catalogs.items()
        if switcher
    ]
    page = {
        "t": catalog.gettext,
        "lang": catalog.code,
        "dir": catalog.direction,
        "languages": languages,
        "brand": services.branding,
        "embedded": request.query_params.get("embed") == "1",
        **context,
    }
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        template,
        page,
        status_code=status_code,
        headers={**NO_STORE, "Content-Language": catalog.code, **(headers or {})},
    )
