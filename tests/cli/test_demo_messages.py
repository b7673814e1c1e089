"""The demo's overview lists the emails the sandbox sent, with the links in them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from bridge.cli.demo import demo_messages, overview_route
from bridge.consent import Confirmation, ConsentRequest, Identity, NewContact, Scope, Wanted
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from bridge.services import build_signer
from bridge.web.app import create_app
from tests.conftest import make_settings

PUBLIC_URL = "https://consent.example.com"


@contextmanager
def overview_client(tmp_path: Path, sandbox: Sandbox) -> Iterator[TestClient]:
    """The bridge on the sandbox, with the demo's overview at `/`; the worker run by hand."""
    settings = make_settings(f"sqlite:///{tmp_path / 'demo.db'}", BRIDGE_WORKER_IN_PROCESS="false")
    app = create_app(
        settings,
        intercom_transport=httpx.ASGITransport(app=sandbox.app),
        extra_routes=[overview_route(sandbox, build_signer(settings), PUBLIC_URL)],
    )
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


def test_the_overview_lists_each_email_and_its_confirmation_link(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with overview_client(tmp_path, sandbox) as client:
        app = client.app
        assert "None yet." in client.get("/").text
        services = app.state.services  # type: ignore[attr-defined]
        request = ConsentRequest(
            Identity(email="demo.person@example.com"),
            Wanted.SUBSCRIBED,
            Scope(type_ids=("95",)),
            services.clock.now(),
            "form:news",
            "demo-1",
            create=NewContact(),
            confirm=Confirmation(ADMIN_ID),
        )
        client.portal.call(services.record, [request])  # type: ignore[union-attr]
        client.portal.call(services.new_worker().run_until_idle)  # type: ignore[union-attr]
        [message] = demo_messages(sandbox)
        assert message.to == "demo.person@example.com"
        [link] = message.links
        assert link.startswith(f"{PUBLIC_URL}/confirm/")
        page = client.get("/").text
        assert "demo.person@example.com" in page and "Please confirm your subscription" in page
        assert re.search(r'href="https://consent\.example\.com/confirm/[^"]+">confirm</a>', page)
        assert client.get(link.removeprefix(PUBLIC_URL)).status_code == 200


def test_the_overview_lists_a_preference_link_email(tmp_path: Path, sandbox: Sandbox) -> None:
    with overview_client(tmp_path, sandbox) as client:
        app = client.app
        services = app.state.services  # type: ignore[attr-defined]
        request = ConsentRequest(
            Identity(email="jonas.becker@example.de"),
            Wanted.LINK,
            Scope(),
            services.clock.now(),
            "form:mylink",
            "demo-2",
            context={"via": "form", "form": "mylink", "action": "manage", "admin_id": ADMIN_ID},
        )
        client.portal.call(services.record, [request])  # type: ignore[union-attr]
        client.portal.call(services.new_worker().run_until_idle)  # type: ignore[union-attr]
        [message] = demo_messages(sandbox)
        assert (message.to, message.subject) == ("jonas.becker@example.de", "Your preferences link")
        [link] = message.links
        page = client.get("/").text
        assert re.search(
            r'href="https://consent\.example\.com/preferences/[^"]+">preferences</a>', page
        )
        assert client.get(link.removeprefix(PUBLIC_URL)).status_code == 200
