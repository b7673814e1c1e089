"""Double opt-in in a real Chromium: a signup on a marketer's site, the email, the button.

The bridge and the marketer's site are served over real HTTP on two localhost ports. The
signup is recorded; a worker emails the confirmation link through the sandbox, and nothing
changes in Intercom until the person opens the link and presses its button.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bridge.ledger import Status
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from bridge.web.app import create_app
from tests.browser import SCREENSHOTS, launch_chromium, phone_page, require_chromium
from tests.conftest import make_settings
from tests.live import free_port, serving
from tests.web.forms.test_forms_browser import Sites, apply_all, recorded

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow  # a real Chromium and two real servers: seconds
sync_api = require_chromium()

WORDS = "Yes, email me the weekly digest."


@contextlib.contextmanager
def serve(sandbox: Sandbox, tmp_path: Path) -> Iterator[Sites]:
    """The bridge (worker off) with a double opt-in form, and the marketer's `/form` page."""
    bridge_port, marketer_port = free_port(), free_port()
    bridge = f"http://127.0.0.1:{bridge_port}"
    marketer = f"http://localhost:{marketer_port}"
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[forms.digest]\ntypes = ["95"]\nconsent_text = "{WORDS}"\norigins = ["{marketer}"]\n'
        f'confirm = "email"\nconfirm_admin_id = "{ADMIN_ID}"\n',
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
        return HTMLResponse(
            f"""<!doctype html><html lang="en"><title>Acme digest</title>
<form method="post" action="{bridge}/forms/digest">
  <label>Email <input type="email" name="email" required></label>
  <p>{WORDS}</p>
  <button>Subscribe</button>
</form></html>"""
        )

    site = Starlette(routes=[Route("/form", form)])
    with serving(app, bridge_port), serving(site, marketer_port):
        yield Sites(bridge, marketer, settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a downloaded browser."""
    with launch_chromium(sync_api) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page in a fresh context, closed after the test."""
    with phone_page(browser) as opened:
        yield opened


def test_a_signup_is_applied_only_once_the_emailed_button_is_pressed(
    page: Page, sandbox: Sandbox, tmp_path: Path
) -> None:
    email = "dana.digest@example.com"
    with serve(sandbox, tmp_path) as sites:
        page.goto(f"{sites.marketer}/form")
        page.get_by_label("Email").fill(email)
        with page.expect_navigation(url=f"{sites.bridge}/forms/digest/thanks"):
            page.get_by_role("button", name="Subscribe").click()
        assert "confirm your subscription" in page.content()
        apply_all(sites.settings, sandbox)  # the worker makes the lead and sends the email
        [lead] = [c for c in sandbox.contacts.values() if c["email"] == email]
        [message] = sandbox.messages
        [link] = [html.unescape(url) for url in re.findall(r'href="([^"]+)"', message["body"])]
        assert link.startswith(f"{sites.bridge}/confirm/")
        [waiting] = recorded(sites.settings)
        assert waiting.status is Status.AWAITING_CONFIRMATION
        assert not sandbox.receives(lead["id"], "95")

        page.goto(link)  # opening the link confirms nothing
        assert page.get_by_role("heading", level=1).inner_text() == "Confirm your subscription"
        assert WORDS in page.content()
        apply_all(sites.settings, sandbox)
        assert not sandbox.receives(lead["id"], "95")

        page.get_by_role("button", name="Confirm my subscription").click()
        page.get_by_role("heading", level=1, name="Subscription confirmed").wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "confirm-done.png"), full_page=True)
        [confirmed] = recorded(sites.settings)
        assert confirmed.confirmation is not None
        apply_all(sites.settings, sandbox)
    assert sandbox.receives(lead["id"], "95")
    assert len(sandbox.messages) == 1
