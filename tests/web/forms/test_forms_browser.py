"""A marketer's plain HTML form, on another origin, filled in and sent in a real Chromium.

The bridge and the marketer's site are served over real HTTP on two localhost ports (two
origins, two sites). The post lands in the ledger; a worker then applies it to the sandbox,
creating a lead for a person it does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bridge.ledger import open_ledger
from bridge.sandbox import Sandbox
from bridge.services import Services
from bridge.settings import Settings
from bridge.web.app import create_app
from tests.browser import SCREENSHOTS, require_chromium
from tests.conftest import make_settings
from tests.live import free_port, serving

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from bridge.ledger.models import RequestRecord

pytestmark = pytest.mark.slow  # a real Chromium and two real servers: seconds
sync_api = require_chromium()

JANE = "63a07ddf05a32042dffac965"  # in the sandbox, with jane.doe@example.com
WORDS = "Yes, send me the offers I tick. I can unsubscribe at any time."


@dataclass(frozen=True)
class Sites:
    """The bridge and the marketer's site, each on a localhost port of its own."""

    bridge: str
    marketer: str
    settings: Settings


def _form_page(bridge: str) -> str:
    """A signup form as a marketer writes it: plain HTML, no script, the honeypot hidden."""
    return f"""<!doctype html><html lang="en"><title>Acme news</title>
<form method="post" action="{bridge}/forms/newsletter">
  <label>Email <input type="email" name="email" required></label>
  <label>Name <input name="name"></label>
  <label><input type="checkbox" name="subscription" value="93"> Newsletter</label>
  <label><input type="checkbox" name="subscription" value="95"> Offers</label>
  <div style="position:absolute;left:-10000px" aria-hidden="true">
    <label>Website <input name="website" tabindex="-1" autocomplete="off"></label>
  </div>
  <p>{WORDS}</p>
  <button>Subscribe</button>
</form></html>"""


def _fetch_page(bridge: str) -> str:
    """The same signup sent with `fetch` as JSON (so the browser asks CORS first)."""
    return f"""<!doctype html><html lang="en"><title>Acme news</title>
<script>
async function signUp(email) {{
  const response = await fetch("{bridge}/forms/newsletter", {{
    method: "POST",
    headers: {{"Content-Type": "application/json", "Accept": "application/json"}},
    body: JSON.stringify({{email: email, subscription: ["95"]}}),
  }});
  return {{status: response.status, body: await response.json()}};
}}
</script></html>"""


@contextlib.contextmanager
def serve(sandbox: Sandbox, tmp_path: Path, *, allow_marketer: bool = True) -> Iterator[Sites]:
    """The bridge (worker off) and the marketer's pages, `/form` and `/fetch`."""
    bridge_port, marketer_port = free_port(), free_port()
    bridge = f"http://127.0.0.1:{bridge_port}"
    marketer = f"http://localhost:{marketer_port}"  # another site, as people type it
    origins = [marketer] if allow_marketer else ["https://elsewhere.example"]
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[forms.newsletter]\ntypes = ["93", "95"]\nchoose = true\nconsent_text = "{WORDS}"\n'
        f"origins = {json.dumps(origins)}\n",
        "utf-8",
    )
    settings = make_settings(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        BRIDGE_PUBLIC_URL=bridge,
        BRIDGE_CONFIG=str(config),
        BRIDGE_WORKER_IN_PROCESS="false",
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))

    async def form(request: Request) -> HTMLResponse:
        return HTMLResponse(_form_page(bridge))

    async def fetching(request: Request) -> HTMLResponse:
        return HTMLResponse(_fetch_page(bridge))

    site = Starlette(routes=[Route("/form", form), Route("/fetch", fetching)])
    with serving(app, bridge_port), serving(site, marketer_port):
        yield Sites(bridge, marketer, settings)


def _on_a_thread(work: object) -> object:
    """Run a coroutine function on a thread of its own (Playwright's loop owns this one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=30)  # type: ignore[operator]


def recorded(settings: Settings) -> list[RequestRecord]:
    """Every request in the bridge's ledger."""

    async def read() -> list[RequestRecord]:
        ledger = await open_ledger(settings.database_url)
        try:
            return await ledger.list_requests()
        finally:
            await ledger.close()

    return _on_a_thread(read)  # type: ignore[return-value]


def apply_all(settings: Settings, sandbox: Sandbox) -> None:
    """A worker on the bridge's ledger applies everything due to the sandbox, then stops."""

    async def drain() -> None:
        transport = httpx.ASGITransport(app=sandbox.app)
        async with Services.open(settings, intercom_transport=transport) as services:
            await services.new_worker().run_until_idle()

    _on_a_thread(drain)


def test_a_form_on_another_site_signs_jane_up_for_what_she_ticked(
    page: Page, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert not sandbox.receives(JANE, "95") and not sandbox.receives(JANE, "93")
    with serve(sandbox, tmp_path) as sites:
        page.goto(f"{sites.marketer}/form")
        page.get_by_label("Email").fill("Jane.Doe@example.com")
        page.get_by_label("Offers").check()
        with page.expect_navigation(url=f"{sites.bridge}/forms/newsletter/thanks"):
            page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "form-thanks.png"), full_page=True)
        [record] = recorded(sites.settings)
        assert record.request.source == "form:newsletter"
        assert record.request.identity.email == "jane.doe@example.com"
        assert record.request.scope.type_ids == ("95",)
        assert record.request.context["page_origin"] == sites.marketer
        assert record.request.context["consent_text"] == WORDS
        assert not sandbox.receives(JANE, "95")  # recorded, not yet applied
        apply_all(sites.settings, sandbox)
    assert sandbox.receives(JANE, "95")
    assert not sandbox.receives(JANE, "93")  # not ticked: left as it was


def test_a_stranger_s_signup_becomes_a_lead_that_receives_what_she_ticked(
    page: Page, sandbox: Sandbox, tmp_path: Path
) -> None:
    email = "sam.signup@example.com"
    assert not [c for c in sandbox.contacts.values() if c["email"] == email]
    with serve(sandbox, tmp_path) as sites:
        page.goto(f"{sites.marketer}/form")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Name").fill("Sam Signup")
        page.get_by_label("Newsletter").check()
        page.get_by_label("Offers").check()
        with page.expect_navigation(url=f"{sites.bridge}/forms/newsletter/thanks"):
            page.get_by_role("button", name="Subscribe").click()
        apply_all(sites.settings, sandbox)
    [lead] = [c for c in sandbox.contacts.values() if c["email"] == email]
    assert (lead["role"], lead["name"]) == ("lead", "Sam Signup")
    assert sandbox.receives(lead["id"], "93") and sandbox.receives(lead["id"], "95")


def test_fetch_from_the_form_s_site_passes_cors_and_is_recorded(
    page: Page, sandbox: Sandbox, tmp_path: Path
) -> None:
    with serve(sandbox, tmp_path) as sites:
        page.goto(f"{sites.marketer}/fetch")
        answer = page.evaluate("signUp('jane.doe@example.com')")
        assert answer == {"status": 200, "body": {"ok": True}}
        [record] = recorded(sites.settings)
        assert record.request.scope.type_ids == ("95",)


def test_a_site_that_is_not_the_form_s_changes_nothing(
    page: Page, sandbox: Sandbox, tmp_path: Path
) -> None:
    with serve(sandbox, tmp_path, allow_marketer=False) as sites:
        page.goto(f"{sites.marketer}/form")
        page.get_by_label("Email").fill("jane.doe@example.com")
        page.get_by_label("Offers").check()
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Subscribe").click()
        assert navigation.value.status == 403
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Not allowed from this website"
        )
        page.goto(f"{sites.marketer}/form")
        page.get_by_label("Email").fill("jane.doe@example.com")
        fetched = page.evaluate(
            "const form = document.forms[0];"
            "fetch(form.action, {method: 'POST', body: new FormData(form)})"
            ".then(() => 'answered', () => 'blocked')"
        )
        assert fetched == "blocked"  # no CORS headers for another site: the page can't read it
        assert recorded(sites.settings) == []
        apply_all(sites.settings, sandbox)
    assert not sandbox.receives(JANE, "95")
