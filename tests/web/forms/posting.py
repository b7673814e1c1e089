"""A bridge with forms, and posting to them as a browser, a page's `fetch` or a script does."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.testclient import TestClient

from bridge.clock import Clock
from bridge.ledger import RequestRecord
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.conftest import make_settings

PUBLIC_URL = "https://consent.example.com"
SITE = "https://www.example.com"  # the marketer's site, on every test form's origins
WORDS = "Yes, send me the newsletter and product updates."
FORMS = f"""
[forms.newsletter]
types = ["93", "37846"]
consent_text = "{WORDS}"
origins = ["{SITE}"]

[forms.choose]
types = ["93", "95"]
choose = true
consent_text = "Send me what I tick."
origins = ["{SITE}", "https://shop.example.com"]
fields = {{ email = "your-email", name = "full-name" }}
honeypot = "url"

[forms.leave]
action = "unsubscribe"
types = ["93"]
origins = ["{SITE}"]
redirect = "{SITE}/bye"
"""
# What a browser sends when a person presses a form's button on the marketer's site.
BROWSER = {
    "Origin": SITE,
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
    "Content-Type": "application/x-www-form-urlencoded",
}
# What a browser sends for the same page's `fetch` with a JSON body.
FETCH = {
    "Origin": SITE,
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "cors",
    "Accept": "application/json",
    "Content-Type": "application/json",
}


@contextmanager
def bridge_with_forms(
    tmp_path: Path,
    sandbox: Sandbox,
    forms: str = FORMS,
    *,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[TestClient]:
    """The bridge with these `[forms.*]` tables (and `env` settings), on the sandbox."""
    config = tmp_path / "bridge.toml"
    config.write_text(forms, "utf-8")
    settings = make_settings(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        BRIDGE_CONFIG=str(config),
        BRIDGE_WORKER_IN_PROCESS="false",
        **(env or {}),
    )
    app = create_app(settings, intercom_transport=httpx.ASGITransport(app=sandbox.app), clock=clock)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


def post(
    client: TestClient,
    form: str,
    fields: list[tuple[str, str]] | None = None,
    **headers: str | None,
) -> httpx.Response:
    """The fields urlencoded, as a browser's form posts them (the redirect not followed).

    `headers` replace the browser's (None leaves one out).
    """
    fields = [("email", "new.person@example.com")] if fields is None else fields
    sent = {name: value for name, value in {**BROWSER, **headers}.items() if value is not None}
    return client.post(
        f"/forms/{form}", content=urlencode(fields), headers=sent, follow_redirects=False
    )


def fetch(
    client: TestClient, form: str, body: Mapping[str, object], **headers: str
) -> httpx.Response:
    """The fields as JSON, as a page's `fetch` posts them."""
    return client.post(f"/forms/{form}", json=body, headers={**FETCH, **headers})


def recorded(client: TestClient) -> list[RequestRecord]:
    """Everything in the app's ledger, newest first."""
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    return client.portal.call(lambda: ledger.list_requests())  # type: ignore[union-attr]


def posts(client: TestClient, form: str, result: str) -> float:
    """How many posts to `form` the metrics counted with `result`."""
    registry = client.app.state.services.metrics.registry  # type: ignore[attr-defined]
    value = registry.get_sample_value("bridge_form_posts_total", {"form": form, "result": result})
    return value or 0.0


def run_worker(client: TestClient) -> None:
    """Apply (or email) what is due, as the in-process worker would."""
    services: Any = client.app.state.services  # type: ignore[attr-defined]
    client.portal.call(services.new_worker().run_until_idle)  # type: ignore[union-attr]
