"""`POST /webhooks/{provider}`: check, read, verify, parse, record, answer.

The endpoint only picks the provider, rebuilds the public URL the provider signed, runs the
provider's steps in order (credentials in headers before the body is read; large bodies read
and parsed off the event loop), binds a signature that does not cover its payload to that
payload, records what the provider parsed (all of a batch in one transaction) and chooses the
status: 200 once recorded (duplicates too), 401 for a bad signature, 400 for a body that can't
be read, 404 for an unknown or unconfigured provider, 413 past the provider's body limit, 503
when the ledger can't commit, with each provider's own codes where its retry rules need them
(see `Provider`).
"""

from __future__ import annotations

import hashlib
import logging
from functools import partial

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bridge.ledger import LedgerUnavailable
from bridge.providers import (
    PROVIDERS,
    Delivery,
    Malformed,
    Provider,
    Rejected,
    Unreachable,
)
from bridge.services import Services
from bridge.web.offload import Offload
from bridge.web.routing import route

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 8.0


def _plain(status: int, text: str) -> Response:
    # A 503 is always "try again": say when, as every other 503 does.
    headers = {"Retry-After": "30"} if status == 503 else None
    return PlainTextResponse(text + "\n", status, headers=headers)


def public_url(request: Request, base: str) -> str:
    """The URL the provider called, rebuilt from BRIDGE_PUBLIC_URL (never the Host header)."""
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


async def receive(request: Request) -> Response:
    """One delivery from one provider."""
    services: Services = request.app.state.services
    name = request.path_params["provider"]
    if name not in PROVIDERS:
        return _plain(
            404, f"Unknown provider {name[:40]!r}; known: {', '.join(sorted(PROVIDERS))}."
        )
    provider = services.providers.get(name)
    if provider is None:
        return _plain(
            404, f"Provider {name!r} is not configured: add [providers.{name}] to BRIDGE_CONFIG."
        )
    allowed = ", ".join(
        method
        for method, taken in (("GET", provider.accepts_get), ("HEAD", provider.accepts_head))
        if taken
    )
    allow = {"Allow": f"{allowed}, POST" if allowed else "POST"}
    if request.method == "HEAD":
        # Mandrill checks that the URL exists before it sends anything.
        return Response(status_code=200) if provider.accepts_head else Response(None, 405, allow)
    if request.method == "GET" and not provider.accepts_get:
        return PlainTextResponse(f"{name} delivers with POST.\n", 405, headers=allow)
    try:
        return await _deliver(request, services, provider)
    except LedgerUnavailable:
        # Answered 503 by the app's handler, as everywhere; counted here, by provider.
        services.metrics.webhooks.labels(provider=name, result="unavailable").inc()
        raise


async def _deliver(request: Request, services: Services, provider: Provider) -> Response:
    """Check, read, verify, bind, parse and record one delivery; choose its answer."""
    name = provider.name
    offload: Offload = request.app.state.offload
    try:
        # Cheap, and refuses an unauthenticated caller before its body is read.
        provider.check_headers(request.headers)
        body = await request.body()
        delivery = Delivery(
            method=request.method,
            url=public_url(request, services.settings.public_url),
            headers=request.headers,
            body=body,
            received_at=services.clock.now(),
        )
        delivery = await offload.run(len(body), partial(provider.read, delivery))
        await provider.verify(delivery, services.http)
        await _bind(services, provider, delivery)
    except Rejected as exc:
        services.metrics.webhooks.labels(provider=name, result="rejected").inc()
        log.warning("%s webhook refused: %s", name, exc)
        return _plain(provider.rejected_status, f"Not verified: {exc}")
    except Unreachable as exc:
        services.metrics.webhooks.labels(provider=name, result="unavailable").inc()
        log.warning("%s webhook could not be verified yet: %s", name, exc)
        return _plain(503, f"Could not verify the delivery yet: {exc}. Retry later.")
    try:
        parsed = await offload.run(len(body), partial(provider.parse, delivery))
    except Malformed as exc:
        services.metrics.webhooks.labels(provider=name, result="malformed").inc()
        log.warning("%s webhook unreadable: %s", name, exc)
        return _plain(provider.malformed_status, f"Could not read the delivery: {exc}")
    # All of a batch in one transaction; one unstorable event does not cost the rest. The
    # body is kept with its requests (a GET delivery has none: its query is not kept).
    payload_sha256 = hashlib.sha256(delivery.body).hexdigest()
    payload = delivery.body or None
    recording = await services.record(
        parsed.requests, payload_sha256=payload_sha256, payload=payload
    )
    new = recording.new
    for part in parsed.parts:
        # Committed before the answer like any request; matched once the text is whole.
        joined = await services.record_part(
            provider, part, payload_sha256=payload_sha256, payload=payload
        )
        new.extend(joined.new if joined is not None else ())
    if parsed.confirm_url is not None:
        confirmed = await _confirm(services.http, parsed.confirm_url, name)
        if not confirmed:
            return _plain(503, "Could not confirm the subscription yet. Retry later.")
    invalid = [*parsed.invalid, *recording.unstorable]
    for problem in invalid:
        log.warning("%s webhook: skipped an event: %s", name, problem)
    services.metrics.webhooks.labels(provider=name, result="accepted").inc()
    answer = provider.answer(new)
    if answer is not None:
        return Response(answer.body, answer.status, media_type=answer.media_type)
    return _plain(
        200,
        f"ok: {len(new)} recorded, {recording.duplicates} duplicate, "
        f"{parsed.ignored} ignored, {len(invalid)} invalid",
    )


async def _bind(services: Services, provider: Provider, delivery: Delivery) -> None:
    """Refuse a signature that came before with another payload (Rejected)."""
    use = provider.signature_use(delivery)
    if use is None:
        return
    bound = await services.ledger.bind_signature(
        provider.name,
        use.signature,
        use.payload_sha256,
        expires_at=use.expires_at,
        now=delivery.received_at,
    )
    if not bound:
        raise Rejected("this signature was already used for another event")


async def _confirm(http: httpx.AsyncClient, url: str, name: str) -> bool:
    """Complete a subscription handshake (Amazon SNS) by fetching its confirmation URL."""
    try:
        # SNS waits 15 s in all; the certificate may already have taken a few of them.
        response = await http.get(url, timeout=CONFIRM_TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        log.warning("%s: subscription confirmation failed: %s", name, exc)
        return False
    if response.status_code != 200:
        log.warning("%s: subscription confirmation answered %s", name, response.status_code)
        return False
    log.info("%s: subscription confirmed", name)
    return True


routes = [
    # GET only for a provider that delivers so (Vonage); refused with 405 for every other.
    route("/webhooks/{provider}", name="webhook", POST=receive, HEAD=receive, GET=receive),
]
