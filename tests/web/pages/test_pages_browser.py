"""The unsubscribe pages in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from bridge.consent import Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.browser import SCREENSHOTS, launch_chromium, require_chromium
from tests.conftest import SECRET, make_settings
from tests.live import free_port, serving

JANE = "63a07ddf05a32042dffac965"

pytestmark = pytest.mark.slow  # a real Chromium and a real server: seconds
sync_api = require_chromium()


class LiveServer:
    """Where the bridge under test is served, and links to it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def link(self, type_id: str) -> str:
        """A signed unsubscribe link for Jane and one type."""
        claims = LinkClaims(Identity(contact_id=JANE), Scope(type_ids=(type_id,)))
        return LinkSigner([SECRET]).url(self.url, Purpose.UNSUBSCRIBE, claims)


@pytest.fixture
def live(sandbox: Sandbox, sqlite_url: str) -> Iterator[LiveServer]:
    """The bridge served over HTTP, with the sandbox as Intercom."""
    port = free_port()
    settings = make_settings(sqlite_url, BRIDGE_PUBLIC_URL=f"http://127.0.0.1:{port}")
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with serving(app, port) as url:
        yield LiveServer(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless; never a downloaded browser."""
    with launch_chromium(sync_api) as launched:
        yield launched


def phone_page(browser: object, *, javascript: bool = True) -> object:
    """A 360-px-wide phone-sized page."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 360, "height": 740}, java_script_enabled=javascript
    )
    return context.new_page()


def shot(page: object, name: str) -> None:
    """Save a screenshot for review under tests/output/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def wait_until(condition: object, timeout: float = 10.0) -> None:
    """Poll a condition until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_open_press_and_the_sandbox_contact_is_unsubscribed(
    browser: object, live: LiveServer, sandbox: Sandbox, javascript: bool
) -> None:
    page = phone_page(browser, javascript=javascript)
    assert sandbox.receives(JANE, "37846")
    response = page.goto(live.link("37846"))  # type: ignore[attr-defined]
    assert response.status == 200
    heading = page.get_by_role("heading", level=1)  # type: ignore[attr-defined]
    assert heading.inner_text() == "Unsubscribe?"
    assert "Product updates" in page.content()  # type: ignore[attr-defined]
    button = page.get_by_role("button", name="Unsubscribe")  # type: ignore[attr-defined]
    box = button.bounding_box()
    assert box["width"] <= 360 and box["height"] >= 44  # fits the phone; a real touch target
    shot(page, f"unsubscribe-confirm-{'js' if javascript else 'nojs'}")
    assert sandbox.receives(JANE, "37846")  # opening the page changed nothing
    button.click()
    page.get_by_role("heading", name="You're unsubscribed").wait_for()  # type: ignore[attr-defined]
    shot(page, f"unsubscribe-done-{'js' if javascript else 'nojs'}")
    wait_until(lambda: not sandbox.receives(JANE, "37846"))
    page.get_by_role("button", name="Undo: keep me subscribed").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="You're subscribed again").wait_for()  # type: ignore[attr-defined]
    wait_until(lambda: sandbox.receives(JANE, "37846"))


def test_keyboard_alone_can_unsubscribe(
    browser: object, live: LiveServer, sandbox: Sandbox
) -> None:
    page = phone_page(browser)
    page.goto(live.link("37846"))  # type: ignore[attr-defined]
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    focused = page.evaluate("document.activeElement.textContent")  # type: ignore[attr-defined]
    assert focused == "Unsubscribe"
    outline = page.evaluate(  # type: ignore[attr-defined]
        "getComputedStyle(document.activeElement).outlineStyle"
    )
    assert outline == "solid"  # focus is visible
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.get_by_role("heading", name="You're unsubscribed").wait_for()  # type: ignore[attr-defined]
    wait_until(lambda: not sandbox.receives(JANE, "37846"))


def test_a_tampered_link_shows_a_plain_error_page(browser: object, live: LiveServer) -> None:
    page = phone_page(browser)
    link = live.link("37846")
    response = page.goto(link[:-3] + "xyz")  # type: ignore[attr-defined]
    assert response.status == 400
    assert page.get_by_role("heading", level=1).inner_text() == "This link isn't valid"  # type: ignore[attr-defined]
    assert page.get_by_role("button").count() == 0  # type: ignore[attr-defined]
    shot(page, "unsubscribe-invalid")
