"""Who each part of the URL space serves, declared once: errors, logs and headers read it.

A person's page answers errors as a page in their language; the API in JSON; a form posted
from another site in JSON to `fetch` and as a page to a browser; webhooks and probes in plain
text. A path whose next segment is a link token has that token shortened in logs. Only the
preference page and the hosted forms may be framed by other sites. A new family of routes (an
admin page, say) is one line here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Audience(enum.StrEnum):
    """Who calls a route, and so how it answers."""

    PEOPLE = "people"  # pages a person opens in a browser: HTML in their language
    API = "api"  # code on a marketer's site: JSON
    FORMS = "forms"  # forms on marketers' sites: JSON to `fetch`, a page or redirect to browsers
    WEBHOOK = "webhook"  # a provider's servers: plain text they log
    OPS = "ops"  # probes and scrapers: plain text
    ADMIN = "admin"  # the operator's pages, behind the admin token; errors in plain text


@dataclass(frozen=True)
class Area:
    """A prefix of the URL space and what is true of every path under it."""

    prefix: str
    audience: Audience
    token_in_path: bool = False  # the segment after the prefix is a bearer link token
    embeddable: bool = False  # may be framed where the operator allows (frame-ancestors)


AREAS = (
    Area("/unsubscribe/", Audience.PEOPLE, token_in_path=True),
    Area("/preferences/", Audience.PEOPLE, token_in_path=True, embeddable=True),
    Area("/confirm/", Audience.PEOPLE, token_in_path=True),
    Area("/api/v1/preferences/", Audience.API, token_in_path=True),
    Area("/api/v1/links", Audience.API),  # sending systems, by the admin token; bodies unlogged
    Area("/api/", Audience.API),
    Area("/forms/", Audience.FORMS, embeddable=True),  # the hosted page, its thank-you
    Area("/webhooks/", Audience.WEBHOOK),
    Area("/admin", Audience.ADMIN),  # never framed (not embeddable); see bridge.web.admin
    Area("/healthz", Audience.OPS),
    Area("/readyz", Audience.OPS),
    Area("/metrics", Audience.OPS),
)
TOKEN_PREFIXES = tuple(area.prefix for area in AREAS if area.token_in_path)
EMBEDDABLE_PREFIXES = tuple(area.prefix for area in AREAS if area.embeddable)


def area_of(path: str) -> Area | None:
    """The first area whose prefix `path` starts with (the table lists narrower ones first)."""
    return next((area for area in AREAS if path.startswith(area.prefix)), None)
