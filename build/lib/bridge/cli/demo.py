"""`bridge demo`: the bridge against a seeded, in-memory sandbox Intercom; no account needed."""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bridge.consent import Channel, Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from bridge.services import build_signer
from bridge.settings import Settings, load_settings
from bridge.web.app import create_app
from bridge.web.server import uvicorn_options

# A fixed, public key: demo links keep working across restarts, and nothing real is signed.
DEMO_SECRET_KEY = "demo-only-key-not-secret-0000"  # noqa: S105
# A ledger of the demo's own, never the real one (DATABASE_URL is not read): a real worker
# must never look the demo's made-up people up in a real workspace.
DEMO_DATABASE_URL = "sqlite:///bridge-demo.db"
_HREF = re.compile(r'href="([^"]+)"')


def demo_settings(host: str, port: int) -> Settings:
    """The environment's settings, with the sandbox and the demo key filled in."""
    settings = load_settings(
        defaults={"BRIDGE_SECRET_KEYS": DEMO_SECRET_KEY},
        overrides={
            "INTERCOM_ACCESS_TOKEN": "sandbox-token",  # the sandbox's own
            "INTERCOM_BASE_URL": "http://sandbox.invalid",
            "BRIDGE_PUBLIC_URL": f"http://{host}:{port}",
            "BRIDGE_WORKER_IN_PROCESS": "true",
            "DATABASE_URL": DEMO_DATABASE_URL,
        },
    )
    return dataclasses.replace(settings, demo=True)


@dataclass(frozen=True)
class TypeRow:
    """One subscription type as the demo page shows it for one contact."""

    name: str
    id: str
    channel: str
    consent_type: str
    receives: bool
    unsubscribe: str


@dataclass(frozen=True)
class ContactRow:
    """One sandbox contact, what it receives, and links to try."""

    contact: dict[str, Any]
    types: list[TypeRow]
    all_email: str
    preferences: str
    preferences_fr: str

    @property
    def label(self) -> str:
        """How the terminal names this contact."""
        return str(self.contact.get("email") or self.contact["id"])


def demo_links(sandbox: Sandbox, signer: LinkSigner, public_url: str) -> list[ContactRow]:
    """For each seeded contact: who it is, what it receives, and links to try."""
    live = [t for t in sandbox.types.values() if t["state"] == "live"]
    rows = []
    for contact in sandbox.contacts.values():
        identity = Identity(contact_id=contact["id"])

        def link(scope: Scope, identity: Identity = identity) -> str:
            return signer.url(public_url, Purpose.UNSUBSCRIBE, LinkClaims(identity, scope))

        per_type = [
            TypeRow(
                name=t["default_translation"]["name"],
                id=t["id"],
                channel="SMS" if "sms_message" in t["content_types"] else "email",
                consent_type=t["consent_type"],
                receives=sandbox.receives(contact["id"], t["id"]),
                unsubscribe=link(Scope(type_ids=(t["id"],))),
            )
            for t in live
        ]
        rows.append(
            ContactRow(
                contact,
                per_type,
                link(Scope(channel=Channel.EMAIL)),
                signer.url(public_url, Purpose.PREFERENCES, LinkClaims(identity)),
                signer.url(public_url, Purpose.PREFERENCES, LinkClaims(identity, locale="fr")),
            )
        )
    return rows


@dataclass(frozen=True)
class MessageRow:
    """One email the sandbox was asked to send (a double opt-in confirmation, say)."""

    to: str
    subject: str
    links: list[str]


def demo_messages(sandbox: Sandbox) -> list[MessageRow]:
    """The emails sent through the sandbox, newest first, with the links in their bodies."""
    rows = []
    for message in reversed(sandbox.messages):
        contact = sandbox.contacts.get(message["to"]["id"], {})
        to = str(contact.get("email") or message["to"]["id"])
        links = [html.unescape(link) for link in _HREF.findall(message["body"])]
        rows.append(MessageRow(to, str(message["subject"]), links))
    return rows


def overview_route(sandbox: Sandbox, signer: LinkSigner, public_url: str) -> Route:
    """`GET /`: the sandbox's contacts with links to try, and the emails it sent."""

    async def overview(request: Request) -> Response:
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "demo/index.html",
            {
                "rows": demo_links(sandbox, signer, public_url),
                "messages": demo_messages(sandbox),
                "admin_id": ADMIN_ID,
                "calls": len(sandbox.requests),
            },
            headers={"Cache-Control": "no-store"},
        )

    return Route("/", overview, methods=["GET"])


def run_demo(*, host: str, port: int) -> int:
    """Serve the demo until interrupted."""
    settings = demo_settings(host, port)
    sandbox = Sandbox(token="sandbox-token")  # noqa: S106 - the sandbox's own made-up token
    signer = build_signer(settings)
    app = create_app(
        settings,
        intercom_transport=httpx.ASGITransport(app=sandbox.app),
        extra_routes=[overview_route(sandbox, signer, settings.public_url)],
    )
    rows = demo_links(sandbox, signer, settings.public_url)
    first = rows[0]
    example = next(t for t in first.types if t.channel == "email" and t.receives)
    print(
        f"""
Intercom consent bridge: demo
  sandbox Intercom workspace (in memory): {len(sandbox.contacts)} contacts, \
{len(sandbox.types)} subscription types
  ledger: {settings.database_url}

Open {settings.public_url}/ to see every contact's subscriptions and links, or try:
  unsubscribe {first.label} from "{example.name}":
    {example.unsubscribe}
  unsubscribe them from every email:
    {first.all_email}
  manage all their subscriptions on the preference page:
    {first.preferences}
  the same page in French:
    {first.preferences_fr}

Press a button on a page, then reload {settings.public_url}/ to see the sandbox change.
Ctrl+C stops.
""",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, **uvicorn_options(settings))
    return 0
