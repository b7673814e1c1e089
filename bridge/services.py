"""The long-lived parts one app instance shares, built and closed by its lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from starlette.templating import Jinja2Templates

from bridge.branding import Branding
from bridge.clock import Clock, SystemClock
from bridge.i18n import Catalog
from bridge.intercom.client import CallObserver, IntercomClient
from bridge.intercom.contacts import ContactResolver
from bridge.intercom.types import TypeCache
from bridge.ledger import Ledger
from bridge.links import LinkSigner
from bridge.metrics import Metrics
from bridge.settings import Settings
from bridge.web.offload import Offload

if TYPE_CHECKING:
    from bridge.preferences.center import PreferenceCenter
    from bridge.providers import Provider
    from bridge.worker.loop import Worker


def intercom_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    observer: CallObserver | None = None,
) -> IntercomClient:
    """The client for the configured workspace; tests pass the sandbox as `transport`."""
    return IntercomClient(
        settings.require_intercom_token().reveal(),
        base_url=settings.intercom_base_url,
        version=settings.intercom_version,
        transport=transport,
        timeout=settings.intercom_timeout,
        observer=observer,
    )


@dataclass
class Services:
    """Settings, ledger, Intercom, signer, templates, languages and metrics of one app."""

    settings: Settings
    ledger: Ledger
    intercom: IntercomClient
    types: TypeCache
    contacts: ContactResolver  # shared by pages and the in-process worker
    signer: LinkSigner
    templates: Jinja2Templates
    metrics: Metrics
    catalogs: dict[str, Catalog]
    branding: Branding
    preferences: PreferenceCenter
    providers: dict[str, Provider]
    http: httpx.AsyncClient  # for providers' own URLs (Amazon SNS certificates, handshakes)
    clock: Clock = field(default_factory=SystemClock)  # the one source of time
    offload: Offload = field(default_factory=Offload)  # large webhook bodies' parsing
    worker: Worker | None = field(default=None)
