"""The hosted signup page in a real Chromium: filled in, sent, on its own and in an iframe.

Time is a ManualClock shared with the served bridge: the test moves it past the fill time
instead of sleeping, and a page sent before that is quietly taken for a bot's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bridge.clock import ManualClock
from bridge.forms import load_forms
from bridge.forms.layout import layout
from bridge.forms.snippet import snippet
from bridge.forms.spam import MIN_FILL_SECONDS
from bridge.i18n import load_catalogs
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.browser import SCREENSHOTS, require_chromium
from tests.conftest import make_settings
from tests.live import free_port, serving
from tests.web.forms.test_forms_browser import JANE, Sites, apply_all, recorded

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow  # a real Chromium and two real servers: seconds
sync_api = require_chromium()

T = load_catalogs()["en"].gettext
WORDS = "Yes, send me the offers I tick. I can unsubscribe at any time."


@contextlib.contextmanager
def serve(sandbox: Sandbox, tmp_path: Path, clock: ManualClock) -> Iterator[Sites]:
    """The bridge (worker off, on `clock`, framable by the marketer) and the marketer's site."""
    bridge_port, marketer_port = free_port(), free_port()
    bridge = f"http://127.0.0.1:{bridge_port}"
    marketer = f"http://localhost:{marketer_port}"  # another site
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[forms.newsletter]\ntypes = ["93", "95"]\nchoose = true\nconsent_text = "{WORDS}"\n'
        f'\n[forms.elsewhere]\ntypes = ["93"]\nconsent_text = "{WORDS}"\n'
        f'origins = {json.dumps([marketer])}\nredirect = "{marketer}/thanks"\n',
        "utf-8",
    )
    settings = make_settings(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        BRIDGE_PUBLIC_URL=bridge,
        BRIDGE_CONFIG=str(config),
        BRIDGE_WORKER_IN_PROCESS="false",
        BRIDGE_FRAME_ANCESTORS=marketer,
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app), clock=clock)

    async def thanks(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>Acme</title><h1>Thanks from Acme</h1>")

    async def framing(request: Request) -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><title>Acme news</title><h1>Acme news</h1><iframe title="Sign up" '
            f'src="{bridge}/forms/newsletter?embed=1" width="360" height="700"></iframe>'
        )

    elsewhere = load_forms(settings.config, settings.public_url)["elsewhere"]
    pasted = snippet(layout(elsewhere, None, ["en"]), bridge, T, fetch=True)

    async def fetching(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><title>Acme news</title>{pasted}")

    site = Starlette(
        routes=[Route("/thanks", thanks), Route("/embed", framing), Route("/snippet", fetching)]
    )
    with serving(app, bridge_port), serving(site, marketer_port):
        yield Sites(bridge, marketer, settings)


@pytest.fixture
def clock() -> ManualClock:
    """The time the served bridge reads, moved by the test instead of slept on."""
    return ManualClock()


def test_jane_signs_up_on_the_hosted_page_once_she_has_taken_her_time(
    page: Page, sandbox: Sandbox, tmp_path: Path, clock: ManualClock
) -> None:
    with serve(sandbox, tmp_path, clock) as sites:
        thanks = f"{sites.bridge}/forms/newsletter/thanks"
        page.goto(f"{sites.bridge}/forms/newsletter")
        page.get_by_label("Email address").fill("jane.doe@example.com")
        page.get_by_label("Offers and promotions").check()
        with page.expect_navigation(url=thanks):  # sent at once: a bot's pace
            page.get_by_role("button", name="Subscribe").click()
        assert recorded(sites.settings) == []
        page.goto(f"{sites.bridge}/forms/newsletter")
        box = page.get_by_label("Leave this field empty").bounding_box()
        assert box is not None and box["x"] < -1000  # off-screen, not hidden: bots fill it
        page.get_by_label("Email address").fill("jane.doe@example.com")
        page.get_by_label("Offers and promotions").check()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "form-hosted.png"), full_page=True)
        clock.advance(MIN_FILL_SECONDS + 1)
        with page.expect_navigation(url=thanks):
            page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
        [record] = recorded(sites.settings)
        assert record.request.source == "form:newsletter"
        assert record.request.scope.type_ids == ("95",)
        assert record.request.context["page_origin"] == sites.bridge
        apply_all(sites.settings, sandbox)
    assert sandbox.receives(JANE, "95")


def test_the_form_s_redirect_to_the_marketer_s_site_is_followed(
    page: Page, sandbox: Sandbox, tmp_path: Path, clock: ManualClock
) -> None:
    # Chromium checks form-action on the 303's target too: the page's CSP must allow it.
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    with serve(sandbox, tmp_path, clock) as sites:
        page.goto(f"{sites.bridge}/forms/elsewhere")
        page.get_by_label("Email address").fill("jane.doe@example.com")
        clock.advance(MIN_FILL_SECONDS + 1)
        with page.expect_navigation(url=f"{sites.marketer}/thanks"):
            page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Thanks from Acme"
        [record] = recorded(sites.settings)
        assert record.request.source == "form:elsewhere"
    assert not [v for v in violations if "Content Security Policy" in v]


def test_in_an_iframe_on_the_marketer_s_site_the_page_signs_jane_up(
    page: Page, sandbox: Sandbox, tmp_path: Path, clock: ManualClock
) -> None:
    with serve(sandbox, tmp_path, clock) as sites:
        page.goto(f"{sites.marketer}/embed")
        frame = page.frame_locator("iframe")
        frame.get_by_label("Email address").fill("jane.doe@example.com")
        frame.get_by_label("Offers and promotions").check()
        clock.advance(MIN_FILL_SECONDS + 1)
        frame.get_by_role("button", name="Subscribe").click()
        heading = frame.get_by_role("heading", level=1)
        heading.wait_for()
        assert heading.inner_text() == "Thank you"
        assert page.frames[1].url.endswith("/forms/newsletter/thanks?embed=1")
        [record] = recorded(sites.settings)
        assert record.request.scope.type_ids == ("95",)


def test_the_fetch_snippet_on_the_marketer_s_site_shows_the_answer_in_place(
    page: Page, sandbox: Sandbox, tmp_path: Path, clock: ManualClock
) -> None:
    with serve(sandbox, tmp_path, clock) as sites:
        page.goto(f"{sites.marketer}/snippet")
        page.get_by_label("Email address").fill("jane.doe@example.com")
        page.get_by_role("button", name="Subscribe").click()
        status = page.get_by_role("status")
        status.filter(has_text="signed up").wait_for()
        assert status.inner_text() == "You're signed up, and your choice is recorded."
        assert page.url == f"{sites.marketer}/snippet"  # answered in place
        [record] = recorded(sites.settings)
        assert record.request.source == "form:elsewhere"
        assert record.request.context["page_origin"] == sites.marketer
        page.get_by_label("Email address").fill("not an address")
        page.eval_on_selector("form", "form => form.noValidate = true")
        page.get_by_role("button", name="Subscribe").click()
        status.filter(has_text="email").wait_for()
        assert len(recorded(sites.settings)) == 1
