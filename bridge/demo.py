"""`bridge demo`: the bridge against a seeded, in-memory sandbox Intercom; no account needed."""

from __future__ import annotations

import os

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.app import build_signer, create_app
from bridge.consent import Channel, Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.settings import Settings, load_settings


# A fixed, public key: demo links keep working across restarts, and nothing real is signed.
DEMO_SECRET_KEY = "demo-only-key-not-secret-0000"  # noqa: S105


def demo_settings(host: str, port: int) -> Settings:
    """The environment's settings, with the sandbox and the demo key filled in."""
    env = dict(os.environ)
    env.setdefault("BRIDGE_SECRET_KEYS", DEMO_SECRET_KEY)
    env["INTERCOM_ACCESS_TOKEN"] = "sandbox-token"
    env["INTERCOM_BASE_URL"] = "http://sandbox.invalid"
    env["BRIDGE_PUBLIC_URL"] = f"http://{host}:{port}"
    env["BRIDGE_WORKER_IN_PROCESS"] = "true"
    return load_settings(env)


def demo_links(sandbox: Sandbox, signer: LinkSigner, public_url: str) -> list[dict[str, object]]:
    """For each seeded contact: who it is, what it receives, and links to try."""
    live = [t for t in sandbox.types.values() if t["state"] == "live"]
    rows = []
    for contact in sandbox.contacts.values():
        identity = Identity(contact_id=contact["id"])
        per_type = [
            {
                "name": t["default_translation"]["name"],
                "id": t["id"],
                "channel": "SMS" if "sms_message" in t["content_types"] else "email",
                "consent_type": t["consent_type"],
                "receives": sandbox.receives(contact["id"], t["id"]),
                "unsubscribe": signer.url(public_url, Purpose.UNSUBSCRIBE,
                                          LinkClaims(identity, Scope(type_ids=(t["id"],)))),
            }
            for t in live
        ]
        rows.append({
            "contact": contact,
            "types": per_type,
            "all_email": signer.url(public_url, Purpose.UNSUBSCRIBE,
                                    LinkClaims(identity, Scope(channel=Channel.EMAIL))),
        })
    return rows


def run_demo(*, host: str, port: int) -> int:
    """Serve the demo until interrupted."""
    settings = demo_settings(host, port)
    sandbox = Sandbox(token="sandbox-token")  # noqa: S106 - the sandbox's own made-up token
    signer = build_signer(settings)

    async def overview(request: Request) -> Response:
        templates = request.app.state.services.templates
        return templates.TemplateResponse(request, "demo/index.html", {
            "rows": demo_links(sandbox, signer, settings.public_url),
            "calls": len(sandbox.requests),
        }, headers={"Cache-Control": "no-store"})

    app = create_app(
        settings,
        intercom_transport=httpx.ASGITransport(app=sandbox.app),
        extra_routes=[Route("/", overview, methods=["GET"])],
    )
    rows = demo_links(sandbox, signer, settings.public_url)
    first = rows[0]
    example = next(t for t in first["types"] if t["channel"] == "email" and t["receives"])
    print(f"""
Intercom consent bridge: demo
  sandbox Intercom workspace (in memory): {len(sandbox.contacts)} contacts, {len(sandbox.types)} subscription types
  ledger: {settings.database_url}

Open {settings.public_url}/ to see every contact's subscriptions and links, or try:
  unsubscribe {first['contact'].get('email') or first['contact']['id']} from "{example['name']}":
    {example['unsubscribe']}
  unsubscribe them from every email:
    {first['all_email']}

Press the button on the page, then reload {settings.public_url}/ to see the sandbox change.
Ctrl+C stops.
""", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())
    return 0
