"""`POST /api/v1/links`: a sending system's signed links for up to 10,000 people at send time.

For machines holding `BRIDGE_ADMIN_TOKEN`, never for browsers: no CORS, no cookies. The
route exists only while the token is set (off means a 404, as for any address the bridge does
not have: a 401 would ask for a token that cannot exist). Scopes are checked against the
workspace's live types once per call, from the type cache; when Intercom cannot say within
`CHECK_WITHIN` seconds the links are signed anyway with a warning, as `bridge link` does, since
a send must not wait on Intercom. Reading and signing run on a worker thread, so the web
process keeps answering while a batch is signed. Neither the body nor the links are logged.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence
from contextlib import suppress

from starlette.requests import Request
from starlette.responses import Response

from bridge.consent import Scope, SubscriptionType, UnknownTypes, select_types
from bridge.i18n import negotiate
from bridge.intercom.client import IntercomError
from bridge.intercom.types import TypeCache
from bridge.link_checks import LinkRefused, check_scope
from bridge.services import Services
from bridge.settings import Secret
from bridge.web.api.link_batch import Batch, InvalidBatch, read_batch, reworded, write_links
from bridge.web.errors import BridgeHTTPError, UnsupportedMediaType
from bridge.web.offload import Offload

CHECK_WITHIN = 3.0  # seconds Intercom has to list the types before links go out unchecked
NO_STORE = {"Cache-Control": "no-store"}


class Unauthorized(BridgeHTTPError):
    """A request without the admin token, or with another."""

    status_code = 401
    title = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(
            "Send Authorization: Bearer <BRIDGE_ADMIN_TOKEN>.",
            headers={"WWW-Authenticate": 'Bearer realm="bridge admin"'},
        )


def bears(authorization: str, token: Secret) -> bool:
    """Whether an Authorization header carries `token` as its bearer (in constant time)."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.reveal().encode()
    )


async def unchecked_scopes(type_cache: TypeCache, scopes: dict[Scope, str]) -> list[str]:
    """Refuse (InvalidBatch) a scope the workspace can't honour; warn of what went unchecked."""
    named = [scope for scope in scopes if not scope.is_all]
    if not named:
        return []  # every live type, whatever they are: nothing in it can be wrong
    try:
        async with asyncio.timeout(CHECK_WITHIN):
            types = await _types(type_cache, named)
    except (IntercomError, TimeoutError) as exc:
        reason = " ".join(str(exc).split()) or f"no answer within {CHECK_WITHIN:g} s"
        listed = "; ".join(str(scope) for scope in named)
        return [f"{listed}: not checked against the workspace: {reason}"]
    for scope in named:
        try:
            check_scope(scope, types)
        except LinkRefused as exc:
            raise InvalidBatch([(scopes[scope], reworded(exc))]) from None
    return []


async def _types(type_cache: TypeCache, scopes: Sequence[Scope]) -> list[SubscriptionType]:
    """The workspace's types, listed again (rate-limited) if a scope names an id they lack."""
    types = await type_cache.get()
    for scope in scopes:
        try:
            select_types(scope, types)
        except UnknownTypes:
            # A type made in Intercom since the cache was filled: one more look, then judge.
            with suppress(UnknownTypes):
                await type_cache.select(scope)
            return await type_cache.get()
    return types


def _notes(services: Services, batch: Batch) -> list[str]:
    """What the caller should know about links that were made all the same."""
    notes = []
    if not services.settings.public_url.startswith("https://"):
        notes.append(
            "BRIDGE_PUBLIC_URL is not https: mailbox providers ignore a List-Unsubscribe-Post "
            "whose List-Unsubscribe has no HTTPS URI (RFC 8058)"
        )
    locales = sorted({claims.locale for claims in batch.people if claims.locale})
    for locale in locales:
        if negotiate([locale], services.catalogs) is None:
            # Kept: it may still pick Intercom's own translations of the types' names.
            notes.append(
                f"locale {locale}: the pages have no {locale} translation; they will follow "
                "the person's browser, or be in English"
            )
    return notes


async def make_links(request: Request) -> Response:
    """POST: each person's unsubscribe and preference links, and their header values."""
    services: Services = request.app.state.services
    token = services.settings.admin_token
    if token is None or not bears(request.headers.get("authorization", ""), token):
        raise Unauthorized()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = await request.body()
    offload: Offload = request.app.state.links_offload
    batch = await offload.run(len(raw), lambda: read_batch(raw))
    warnings = await unchecked_scopes(services.type_cache, batch.scopes) + _notes(services, batch)
    signer, public_url = services.signer, services.settings.public_url
    # Signing costs more than reading: a thread for any batch larger than a handful.
    body = await offload.run(
        len(batch.people) * 1_000, lambda: write_links(signer, public_url, batch.people, warnings)
    )
    return Response(body, media_type="application/json", headers=NO_STORE)
