"""Helpers for provider tests: samples, deliveries, providers from settings, and a bridge."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from bridge.consent import ConsentRequest, NewContact, Scope, Wanted
from bridge.ledger import RequestRecord
from bridge.providers import Delivery, Provider, provider_class, provider_settings
from bridge.sandbox import Sandbox
from bridge.web.app import create_app
from tests.conftest import make_settings

SAMPLES = Path(__file__).parents[1] / "samples"
PUBLIC_URL = "https://consent.example.com"


def sample(name: str) -> Any:
    """A sample file parsed as JSON."""
    return json.loads((SAMPLES / name).read_text("utf-8"))


def sample_bytes(name: str) -> bytes:
    """A sample file's bytes."""
    return (SAMPLES / name).read_bytes()


def vectors(group: str) -> list[dict[str, Any]]:
    """One provider's signature test vectors from sdk-test-vectors.json."""
    found: list[dict[str, Any]] = sample("sdk-test-vectors.json")[group]
    return found


def json_body(*events: Any) -> bytes:
    """One event as a JSON object, several as an array (as batching providers post them)."""
    return json.dumps(events[0] if len(events) == 1 else list(events)).encode()


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The Authorization header a provider sends for a webhook's Basic credentials."""
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def make_provider(name: str, **table: Any) -> Provider:
    """A provider built from a `[providers.NAME]` table, as the app builds it."""
    return provider_class(name)(provider_settings(name, table))


def assert_laura_signs_up(request: ConsentRequest, *, name: str = "Laura Sosa") -> None:
    """The form tools' samples: Laura, with her phone, signing up to type 93 as a new lead."""
    assert (request.identity.email, request.identity.phone) == (
        "laura@example.com",
        "+353871234567",
    )
    assert (request.wanted, request.scope, request.create) == (
        Wanted.SUBSCRIBED,
        Scope(type_ids=("93",)),
        NewContact(name=name),
    )


def form_tool(name: str, table: Mapping[str, Any]) -> Provider:
    """A form tool built from its table (which may have a `name` key, unlike `make_provider`'s)."""
    return provider_class(name)(provider_settings(name, table))


def delivery(
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    path: str = "/webhooks/test",
    method: str = "POST",
    received_at: datetime | None = None,
) -> Delivery:
    """A delivery as the endpoint would build it, to the bridge's public URL (arriving now)."""
    return Delivery(
        method=method,
        url=PUBLIC_URL + path,
        headers=Headers(headers=dict(headers or {})),
        body=body,
        received_at=datetime.now(UTC) if received_at is None else received_at,
    )


def post(
    client: TestClient,
    provider: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    query: str = "",
) -> httpx.Response:
    """A delivery posted to the provider's webhook (`query`: a token in its URL, `?token=`)."""
    url = f"/webhooks/{provider}{query}"
    return client.post(url, content=body, headers=dict(headers or {}))


def toml_table(name: str, table: Mapping[str, Any]) -> str:
    """A `[providers.NAME]` table as TOML (strings, lists of strings, nested tables)."""
    lines = [f"[providers.{name}]"]
    nested = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in nested:
        lines.append(f"[providers.{name}.{key}]")
        lines.extend(f"{json.dumps(str(k))} = {json.dumps(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


@contextmanager
def bridge_with(
    tmp_path: Path,
    sandbox: Sandbox,
    providers: Mapping[str, Mapping[str, Any]],
    *,
    worker: bool = False,
    outbound: httpx.AsyncBaseTransport | None = None,
    env: Mapping[str, str] | None = None,
    more_toml: str = "",
) -> Iterator[TestClient]:
    """The bridge with these `[providers.*]` tables (and `env` settings, and `more_toml`)."""
    config = tmp_path / "bridge.toml"
    tables = "".join(toml_table(n, t) for n, t in providers.items())
    config.write_text(tables + more_toml, "utf-8")
    settings = make_settings(
        f"sqlite:///{tmp_path / 'ledger.db'}",
        BRIDGE_CONFIG=str(config),
        BRIDGE_WORKER_IN_PROCESS="true" if worker else "false",
        **(env or {}),
    )
    app = create_app(
        settings,
        intercom_transport=httpx.ASGITransport(app=sandbox.app),
        outbound_transport=outbound,
    )
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


def recorded(client: TestClient) -> list[RequestRecord]:
    """Everything in the app's ledger, newest first."""
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    return client.portal.call(lambda: ledger.list_requests(limit=10_000))  # type: ignore[union-attr]


def apply_all(client: TestClient) -> None:
    """Run a worker over everything due, now, against the app's Intercom."""
    services = client.app.state.services  # type: ignore[attr-defined]

    async def drain() -> None:
        await services.new_worker().run_until_idle()

    client.portal.call(drain)  # type: ignore[union-attr]


def assert_signup_makes_a_lead(
    client: TestClient,
    sandbox: Sandbox,
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    forged: Mapping[str, str],
    *,
    email: str,
    type_id: str,
    query: str = "",
    forged_query: str = "",
) -> RequestRecord:
    """A form tool's signed signup: refused forged, recorded once, a lead receiving the type."""
    assert post(client, provider, body, forged, forged_query).status_code == 401
    first = post(client, provider, body, headers, query)
    assert first.text == "ok: 1 recorded, 0 duplicate, 0 ignored, 0 invalid\n"
    again = post(client, provider, body, headers, query)
    assert again.text == "ok: 0 recorded, 1 duplicate, 0 ignored, 0 invalid\n"
    apply_all(client)
    [record] = recorded(client)
    [lead] = [c for c, v in sandbox.contacts.items() if v.get("email") == email]
    assert sandbox.receives(lead, type_id)
    return record
