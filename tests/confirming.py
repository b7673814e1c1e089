"""Double opt-in in tests: the changes Intercom saw, the emailed link, and pressing its button."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from bridge.ledger import RequestRecord, Status
from bridge.sandbox import Sandbox

PUBLIC_URL = "https://consent.example.com"  # the test bridges' BRIDGE_PUBLIC_URL


def changes(sandbox: Sandbox) -> list[str]:
    """The subscription changes the sandbox was asked for."""
    return [
        f"{seen.method} {seen.path}"
        for seen in sandbox.requests
        if "/subscriptions" in seen.path and seen.method in ("POST", "DELETE")
    ]


def confirm_path(message: dict[str, Any]) -> str:
    """The path of the one confirmation link in a recorded email."""
    [url] = re.findall(r'href="([^"]+)"', message["body"])
    path = html.unescape(url).removeprefix(PUBLIC_URL)
    assert path.startswith("/confirm/")
    return path


def press_and_see_applied(
    client: TestClient,
    sandbox: Sandbox,
    path: str,
    contact_id: str,
    type_id: str,
    run_worker: Callable[[TestClient], None],
) -> RequestRecord:
    """Press the link's button: the worker then attaches the type, once; the request applied."""
    assert client.post(path, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    run_worker(client)
    assert sandbox.receives(contact_id, type_id)
    assert changes(sandbox) == [f"POST /contacts/{contact_id}/subscriptions"]
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    [done] = client.portal.call(lambda: ledger.list_requests())  # type: ignore[union-attr]
    assert done.status is Status.APPLIED
    assert [o.action for o in done.outcomes] == ["create", "message", "attach"]
    return done
