"""The preference page in a real headless Chromium (Debian's), driven by Playwright.

Each test serves the bridge over real HTTP with the sandbox as Intercom and the worker
running in-process, so a saved choice travels all the way to the sandbox's contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import time
import tomllib
from collections.abc import Callable, Iterator
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

from bridge.consent import Identity, Scope
from bridge.i18n import load_catalogs
from bridge.ledger import open_ledger
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.browser import SCREENSHOTS, launch_chromium, require_chromium
from tests.conftest import SECRET, make_settings
from tests.live import free_port, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FloatRect, Locator, Page
    from playwright.sync_api import Request as BrowserRequest

    from bridge.ledger.models import RequestRecord

LOCALES = Path(__file__).resolve().parents[3] / "bridge" / "locales"
JANE = "63a07ddf05a32042dffac965"
HEIGHT_MESSAGE = "consent-bridge:height"
PLAYWRIGHT_TIMEOUT_MS = 5_000  # a missing element fails in seconds, not Playwright's 30

pytestmark = pytest.mark.slow  # a real Chromium and a real server: seconds
sync_api = require_chromium()


def words(locale: str) -> dict[str, str]:
    """The bridge's own `[preferences]` messages in one language, from its catalog."""
    with (LOCALES / f"{locale}.toml").open("rb") as handle:
        return dict(tomllib.load(handle)["preferences"])


EN = words("en")
# The notice after a save: saved, and a word on how long it takes to reach every system.
SAVED_NOTICE = f"{EN['saved']} {load_catalogs()['en'].gettext('common.propagation')}"


@dataclass(frozen=True)
class Bridge:
    """Where a bridge under test is served, and Jane's preference links to it."""

    url: str
    database_url: str

    def link(self, *, locale: str | None = None, scope: Scope | None = None) -> str:
        """A signed preference link for Jane (all types unless `scope` says otherwise)."""
        claims = LinkClaims(Identity(contact_id=JANE), scope or Scope(), locale)
        return LinkSigner([SECRET]).url(self.url, Purpose.PREFERENCES, claims)


@contextlib.contextmanager
def serve_bridge(sandbox: Sandbox, database_url: str, **env: str) -> Iterator[Bridge]:
    """The bridge on a free localhost port, worker in-process, the sandbox as Intercom."""
    port = free_port()
    settings = make_settings(
        database_url,
        BRIDGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        BRIDGE_WORKER_IN_PROCESS="true",
        **env,
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with serving(app, port) as url:
        yield Bridge(url, database_url)


@contextlib.contextmanager
def serve_marketer(port: int, body: str) -> Iterator[str]:
    """A marketer's own site, one page at /, on `port`; its URL as people type it (localhost)."""

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><html lang='en'><title>Acme</title>{body}</html>")

    with serving(Starlette(routes=[Route("/", home)]), port):
        yield f"http://localhost:{port}/"


@pytest.fixture
def bridge(sandbox: Sandbox, sqlite_url: str) -> Iterator[Bridge]:
    """The bridge with default settings (frames allowed only from itself)."""
    with serve_bridge(sandbox, sqlite_url) as served:
        yield served


@pytest.fixture
def marketer_port() -> int:
    """The port the marketer's site will listen on."""
    return free_port()


@pytest.fixture
def embeddable_bridge(sandbox: Sandbox, sqlite_url: str, marketer_port: int) -> Iterator[Bridge]:
    """The bridge letting the marketer's site (http://localhost:PORT) frame the page."""
    ancestors = f"'self',http://localhost:{marketer_port}"
    with serve_bridge(sandbox, sqlite_url, BRIDGE_FRAME_ANCESTORS=ancestors) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a downloaded browser."""
    with launch_chromium(sync_api) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A 360-px-wide phone-sized page with JavaScript on, closed after the test."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(PLAYWRIGHT_TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def nojs_page(browser: Browser) -> Iterator[Page]:
    """A 360-px-wide phone-sized page with JavaScript off, closed after the test."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    context.set_default_timeout(PLAYWRIGHT_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot for review under tests/output/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SCREENSHOTS / f"{name}.png")
    viewport = page.viewport_size
    if len(page.frames) == 1 or viewport is None:
        page.screenshot(path=path, full_page=True)
        return
    # Chromium paints a cross-site iframe (another renderer process) only where it meets the
    # viewport: make the viewport as tall as the page, let the frames paint, then put it back.
    page.evaluate("window.scrollTo(0, 0)")
    height = max(page.evaluate("document.documentElement.scrollHeight"), viewport["height"])
    page.set_viewport_size({"width": viewport["width"], "height": height})
    for frame in page.frames:
        frame.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(viewport)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll a condition every 50 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def label(scope: Page | Locator, name: str) -> Locator:
    """The <label> whose text is a type's name (possibly followed by "(being updated)")."""
    pattern = re.compile(rf"^\s*{re.escape(name)}(\s+\(.*\))?\s*$")
    return scope.locator("label").filter(has_text=pattern)


def type_name(sandbox: Sandbox, type_id: str, locale: str) -> str:
    """A type's name in one locale, from the sandbox's own type data."""
    translations = sandbox.types[type_id]["translations"]
    return str(next(t["name"] for t in translations if t["locale"] == locale))


def live_types(sandbox: Sandbox) -> list[str]:
    """The ids of the sandbox's live types: every type a Scope() link covers."""
    return [type_id for type_id, data in sandbox.types.items() if data["state"] == "live"]


def received(sandbox: Sandbox) -> dict[str, bool]:
    """Which live types Jane receives in the sandbox right now."""
    return {type_id: sandbox.receives(JANE, type_id) for type_id in live_types(sandbox)}


def recorded(database_url: str) -> list[RequestRecord]:
    """Every request in a bridge's ledger (read on a thread: Playwright's loop owns this one)."""

    async def read() -> list[RequestRecord]:
        ledger = await open_ledger(database_url)
        try:
            return await ledger.list_requests()
        finally:
            await ledger.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(read())).result(timeout=10)


def save_and_follow(page: Page, button: Locator) -> None:
    """Press a form's button; assert the POST answered 303 and the page came back by GET."""
    with page.expect_navigation() as navigation:
        button.click()
    final = navigation.value
    assert final is not None and final.status == 200
    assert final.request.method == "GET"
    posted = final.request.redirected_from
    assert posted is not None and posted.method == "POST"
    answer = posted.response()
    assert answer is not None and answer.status == 303


def test_toggle_two_types_by_their_labels_and_save(
    page: Page, bridge: Bridge, sandbox: Sandbox
) -> None:
    before = received(sandbox)
    assert before["37846"] and not before["95"]
    response = page.goto(bridge.link())
    assert response is not None and response.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == EN["title"]
    assert page.get_by_role("status").count() == 0  # nothing saved yet
    offers = page.get_by_role("checkbox", name="Offers and promotions")
    updates = page.get_by_role("checkbox", name="Product updates")
    assert not offers.is_checked() and updates.is_checked()
    # Every choice fits the phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "preferences-en-initial")
    assert received(sandbox) == before  # opening the page changed nothing

    label(page, "Offers and promotions").click()
    label(page, "Product updates").click()
    assert offers.is_checked() and not updates.is_checked()  # the labels name the boxes
    save_and_follow(page, page.get_by_role("button", name=EN["save"]))

    assert "saved=saved" in page.url
    assert page.get_by_role("status").inner_text().strip() == SAVED_NOTICE
    assert page.get_by_role("checkbox", name="Offers and promotions").is_checked()
    assert not page.get_by_role("checkbox", name="Product updates").is_checked()
    shot(page, "preferences-en-saved")

    wait_until(
        lambda: sandbox.receives(JANE, "95") and not sandbox.receives(JANE, "37846"),
        "the sandbox shows Jane receiving 95 and no longer 37846",
    )
    assert received(sandbox) == {**before, "95": True, "37846": False}  # nothing else moved
    page.reload()  # now from Intercom itself, not the ledger's overlay
    assert page.get_by_role("checkbox", name="Offers and promotions").is_checked()
    assert not page.get_by_role("checkbox", name="Product updates").is_checked()
    assert "(" not in label(page, "Offers and promotions").inner_text()  # no longer updating

    save_and_follow(page, page.get_by_role("button", name=EN["save"]))  # nothing changed
    assert "saved=unchanged" in page.url
    assert page.get_by_role("status").inner_text().strip() == EN["unchanged"]
    shot(page, "preferences-en-unchanged")


def test_unsubscribe_from_all(page: Page, bridge: Bridge, sandbox: Sandbox) -> None:
    assert any(received(sandbox).values())
    page.goto(bridge.link())
    assert page.get_by_text(EN["all_off"]).count() == 0
    save_and_follow(page, page.get_by_role("button", name=EN["unsubscribe_all"], exact=True))

    assert page.get_by_role("status").inner_text().strip() == SAVED_NOTICE
    assert page.get_by_text(EN["all_off"]).is_visible()
    boxes = page.get_by_role("checkbox")
    assert boxes.count() == len(live_types(sandbox))
    assert page.locator("input[type=checkbox]:checked").count() == 0
    assert page.get_by_role("button", name=EN["unsubscribe_all"]).count() == 0
    shot(page, "preferences-all-off")
    wait_until(lambda: not any(received(sandbox).values()), "Jane receives none of the types")


def test_a_french_link_shows_a_french_page(page: Page, bridge: Bridge, sandbox: Sandbox) -> None:
    french = words("fr")
    response = page.goto(bridge.link(locale="fr"))
    assert response is not None and response.headers["content-language"] == "fr"
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("html").get_attribute("dir") == "ltr"
    assert page.get_by_role("heading", level=1).inner_text() == french["title"]
    for type_id in live_types(sandbox):
        name = type_name(sandbox, type_id, "fr")
        assert label(page, name).count() == 1, name
    assert page.get_by_role("button", name=french["save"]).is_visible()
    assert page.get_by_role("group", name=french["channel_email"], exact=True).count() == 1
    shot(page, "preferences-fr")


def test_arabic_is_laid_out_right_to_left(page: Page, bridge: Bridge, sandbox: Sandbox) -> None:
    arabic = words("ar")

    def checkbox_and_label() -> tuple[FloatRect, FloatRect]:
        box = page.locator("#type-37846").bounding_box()
        text = page.locator("label[for='type-37846']").bounding_box()
        assert box is not None and text is not None
        return box, text

    page.goto(bridge.link())
    box, text = checkbox_and_label()
    assert box["x"] + box["width"] <= text["x"]  # left to right: the box first

    page.goto(bridge.link() + "?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.get_by_role("heading", level=1).inner_text() == arabic["title"]
    box, text = checkbox_and_label()
    assert box["x"] >= text["x"] + text["width"]  # right to left: the box to the right
    # The sandbox has no Arabic names: the English ones are shown, marked as English.
    fallback = sandbox.types["37846"]["default_translation"]
    name = page.locator("label[for='type-37846'] [lang]")
    assert name.inner_text() == fallback["name"]
    assert name.get_attribute("lang") == fallback["locale"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "preferences-ar")


def test_keyboard_alone_can_change_and_save(page: Page, bridge: Bridge, sandbox: Sandbox) -> None:
    page.goto(bridge.link())
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "type-95":
            break
    else:
        pytest.fail("Tab never reached the checkbox of type 95")
    focused = "getComputedStyle(document.activeElement)"
    assert page.evaluate(f"{focused}.outlineStyle") != "none"  # focus is visible
    assert page.evaluate(f"parseFloat({focused}.outlineWidth)") >= 2
    page.keyboard.press("Space")
    assert page.get_by_role("checkbox", name="Offers and promotions").is_checked()
    shot(page, "preferences-keyboard-focus")

    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == EN["save"]:
            break
    else:
        pytest.fail("Tab never reached the save button")
    assert page.evaluate(f"{focused}.outlineStyle") != "none"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("status").inner_text().strip() == SAVED_NOTICE
    assert page.get_by_role("checkbox", name="Offers and promotions").is_checked()
    shot(page, "preferences-keyboard-saved")
    wait_until(lambda: sandbox.receives(JANE, "95"), "the sandbox shows Jane receiving 95")


def test_without_javascript_saving_still_works(
    nojs_page: Page, bridge: Bridge, sandbox: Sandbox
) -> None:
    page = nojs_page
    page.goto(bridge.link())
    assert page.evaluate("1 + 1") == 2  # Playwright's own scripts still run; the page's don't
    shot(page, "preferences-nojs")
    label(page, "Offers and promotions").click()
    label(page, "Appointment reminders").click()
    save_and_follow(page, page.get_by_role("button", name=EN["save"]))
    assert page.get_by_role("status").inner_text().strip() == SAVED_NOTICE
    assert page.get_by_role("checkbox", name="Offers and promotions").is_checked()
    assert not page.get_by_role("checkbox", name="Appointment reminders").is_checked()
    shot(page, "preferences-nojs-saved")
    wait_until(
        lambda: sandbox.receives(JANE, "95") and not sandbox.receives(JANE, "124"),
        "the sandbox shows Jane receiving 95 and no longer 124",
    )


def embedding_page(bridge_url: str, src: str) -> str:
    """A marketer's page that frames `src` and fits the frame to the heights it reports."""
    return f"""
<h1>Acme · Your account</h1>
<iframe id="prefs" title="Email preferences" src="{html.escape(src)}"
        style="width: 100%; border: 0"></iframe>
<script>
  window.addEventListener("message", function (event) {{
    if (event.origin !== {json.dumps(bridge_url)}) return;
    var data = event.data;
    if (!data || data.type !== {json.dumps(HEIGHT_MESSAGE)}) return;
    if (typeof data.height !== "number") return;
    document.getElementById("prefs").style.height = data.height + "px";
  }});
</script>"""


def iframe_height(page: Page) -> float:
    """The height the marketer's listener set on the iframe (0 while unset)."""
    return float(page.evaluate("parseFloat(document.getElementById('prefs').style.height) || 0"))


def test_an_allowed_site_embeds_the_page_and_saving_works_inside_it(
    page: Page, embeddable_bridge: Bridge, marketer_port: int, sandbox: Sandbox
) -> None:
    src = embeddable_bridge.link() + "?embed=1"
    with serve_marketer(marketer_port, embedding_page(embeddable_bridge.url, src)) as site:
        page.goto(site)
        frame = page.frame_locator("#prefs")
        assert frame.get_by_role("heading", level=1).inner_text() == EN["title"]
        assert frame.locator("body").get_attribute("class") == "embedded"
        # 150 px is an iframe's default height; the page's script reports its own.
        wait_until(lambda: iframe_height(page) > 150, "the iframe is resized from 150 px")
        assert len(page.frames) == 2
        inner = page.frames[1]
        shot(page, "preferences-embedded")

        label(frame.locator("body"), "Offers and promotions").click()
        posts: list[BrowserRequest] = []
        page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
        frame.get_by_role("button", name=EN["save"]).click()
        frame.get_by_role("status").wait_for()
        assert frame.get_by_role("status").inner_text().strip() == SAVED_NOTICE
        assert frame.get_by_role("checkbox", name="Offers and promotions").is_checked()
        assert page.url == site  # the marketer's page stayed; only the frame moved
        assert inner.url.startswith(embeddable_bridge.url + "/preferences/")
        assert "saved=saved" in inner.url and "embed=1" in inner.url
        assert frame.locator("body").get_attribute("class") == "embedded"
        assert len(posts) == 1 and posts[0].frame == inner
        # The frame's own form: same-origin to the bridge, though the top page is another site.
        assert posts[0].all_headers().get("sec-fetch-site") == "same-origin"
        posted = posts[0].response()
        assert posted is not None and posted.status == 303

        def fitted() -> bool:
            content = inner.evaluate(
                "Math.ceil(document.documentElement.getBoundingClientRect().height)"
            )
            return iframe_height(page) == float(content)

        wait_until(fitted, "the iframe fits the saved page, notice included")
        shot(page, "preferences-embedded-saved")
        wait_until(lambda: sandbox.receives(JANE, "95"), "the sandbox shows Jane receiving 95")


def test_a_site_not_in_frame_ancestors_cannot_embed_the_page(
    page: Page, bridge: Bridge, marketer_port: int
) -> None:
    src = bridge.link() + "?embed=1"
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.url == src else None)
    with serve_marketer(marketer_port, embedding_page(bridge.url, src)) as site:
        page.goto(site)
        assert answers == [200]  # the bridge answered; the browser refused to show it
        frame = page.locator("#prefs").element_handle().content_frame()
        assert frame is not None
        frame.wait_for_url(re.compile(r"^chrome-error://"))  # Chromium's blocked-frame page
        assert frame.get_by_text(EN["title"]).count() == 0
        assert iframe_height(page) == 0  # no auto-height message came from a refused page
        shot(page, "preferences-embed-refused")


def test_a_form_on_another_site_cannot_post_to_the_page(
    page: Page, bridge: Bridge, marketer_port: int, sandbox: Sandbox
) -> None:
    token_url = bridge.link()
    forged = f"""
<h1>Win a prize!</h1>
<form method="post" action="{html.escape(token_url)}">
  <input type="hidden" name="action" value="save">
  <input type="hidden" name="shown" value="95:0">
  <input type="hidden" name="subscribed" value="95">
  <button type="submit">Claim</button>
</form>"""
    before = received(sandbox)
    with serve_marketer(marketer_port, forged) as site:
        page.goto(site)
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Claim").click()
    answer = navigation.value
    assert answer is not None and answer.status == 403
    headers = answer.request.all_headers()
    assert headers.get("sec-fetch-site") == "cross-site"
    assert headers.get("origin") == f"http://localhost:{marketer_port}"
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed from another website"
    shot(page, "preferences-cross-site-403")

    assert recorded(bridge.database_url) == []
    api = httpx.get(bridge.url + "/api/v1" + token_url.removeprefix(bridge.url), timeout=10)
    types = {t["id"]: t for t in api.json()["types"]}
    assert types["95"]["subscribed"] is False
    assert not any(t["updating"] for t in types.values())
    assert received(sandbox) == before

    # The same body without a browser's word on where it came from is accepted: only the
    # cross-site check refused the forged form, not the form itself.
    control = httpx.post(
        token_url,
        data={"action": "save", "shown": "95:0", "subscribed": "95"},
        timeout=10,
    )
    assert control.status_code == 303
    assert len(recorded(bridge.database_url)) == 1
