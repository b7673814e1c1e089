"""The admin in a real headless Chromium (Debian's): log in, find a person, replay, dismiss."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bridge.ledger import Status, open_ledger
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.browser import launch_chromium, phone_page, require_chromium
from tests.conftest import make_settings
from tests.live import free_port, serving
from tests.web.admin.conftest import ADMIN, Filled, fill

pytestmark = pytest.mark.slow  # a real Chromium and a real server: seconds
sync_api = require_chromium()


def filled_ledger(url: str) -> Filled:
    """A migrated ledger at `url` with the admin tests' requests in it."""

    async def run() -> Filled:
        ledger = await open_ledger(url)
        try:
            await ledger.migrate()
            return await fill(ledger)
        finally:
            await ledger.close()

    return asyncio.run(run())


def status_in(url: str, request_id: int) -> Status:
    """A request's status, read afresh from the ledger at `url`."""

    async def run() -> Status:
        ledger = await open_ledger(url)
        try:
            found = await ledger.get(request_id)
            assert found is not None
            return found.status
        finally:
            await ledger.close()

    # Playwright's sync API keeps an event loop running in this thread: read from another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture
def live(sandbox: Sandbox, sqlite_url: str) -> Iterator[tuple[str, Filled]]:
    """The bridge with the admin on, served over HTTP, and the requests it holds."""
    filled = filled_ledger(sqlite_url)
    port = free_port()
    settings = make_settings(
        sqlite_url,
        BRIDGE_PUBLIC_URL=f"http://localhost:{port}",
        BRIDGE_WORKER_IN_PROCESS="false",
        BRIDGE_ADMIN_TOKEN=ADMIN,
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app))
    with serving(app, port):
        # localhost: a secure context, where Chromium keeps a Secure cookie over plain HTTP.
        yield f"http://localhost:{port}", filled


def test_log_in_find_a_person_replay_a_request_dismiss_a_held_sms(
    live: tuple[str, Filled], sqlite_url: str
) -> None:
    url, filled = live
    with launch_chromium(sync_api) as browser, phone_page(browser) as page:
        page.goto(f"{url}/admin/people")
        assert "/admin/login" in page.url
        page.fill("#token", ADMIN)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/admin/people")

        page.select_option("#field", "email")
        page.fill("#value", "jane@example.com")
        page.click("form.search button[type=submit]")
        page.click(f"a[href='/admin/requests/{filled.dead}']")
        page.wait_for_url(f"{url}/admin/requests/{filled.dead}")
        page.click("text=Replay this request")
        page.wait_for_url(f"{url}/admin/requests/{filled.dead}?done=replayed")
        assert status_in(sqlite_url, filled.dead) is Status.PENDING

        page.click("nav.admin-nav >> text=Held for review")
        page.fill(f"#note-{filled.held}", "a question, not a STOP")
        page.click("text=Dismiss")
        page.wait_for_url(f"{url}/admin/requests/{filled.held}?done=dismissed")
        assert page.is_visible("text=Dismissed: it will not be applied.")
        assert status_in(sqlite_url, filled.held) is Status.DISMISSED
