"""The JSON API against its own OpenAPI document, by generated requests (schemathesis).

Every operation is called with requests generated from the document: valid ones, and ones
that break it in each place it can be broken. Each answer must be one the document lists, in
the shape and media type it says, valid requests must be accepted and invalid ones refused.
A valid request needs a genuine token and type ids that exist, which no generator can guess:
positive cases get both swapped in, chosen from the generated values, so they stay varied. A
links batch gets the admin token always, and in positive cases real people's emails, phones
and ids, live type ids and language tags in place of the generated ones.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bridge.consent import Channel, Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from bridge.web.api.openapi import openapi_document
from bridge.web.app import create_app
from tests.conftest import SANDBOX_TOKEN, SECRET, SEED, make_settings

JANE = Identity(contact_id="63a07ddf05a32042dffac965")
# Genuine links, each with the live types it shows.
LINKS = {
    LinkSigner([SECRET]).token(Purpose.PREFERENCES, claims): types
    for claims, types in (
        (LinkClaims(JANE), ("108", "93", "37846", "95", "124")),
        (LinkClaims(JANE, Scope(channel=Channel.EMAIL), "fr"), ("93", "37846", "95")),
        (
            LinkClaims(Identity(email="jane.doe@example.com"), Scope(type_ids=("93", "95"))),
            ("93", "95"),
        ),
    )
}


ADMIN = "contract-admin-token-0123456789"
# Values a positive links batch may hold, by field; a generated value picks one.
PEOPLE = {
    "contact_id": ("63a07ddf05a32042dffac965", "63a07de105a32042dffac970"),
    "email": ("jane.doe@example.com", "Amelie.Martin@example.fr"),
    "phone": ("+353871234567", "+34 612 34 56 78"),
    "external_id": ("cust-1001", "cust-1002"),
    "locale": ("fr", "pt-BR", "de", "sv"),
}
LIVE = ("108", "93", "37846", "95", "124")

BASE = "https://consent.example.com"
# The document as the API serves it (a test checks the served one is this one).
schema = schemathesis.openapi.from_dict(openapi_document(BASE))


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starlette]:
    """The bridge on a ledger of its own."""
    ledger = tmp_path_factory.mktemp("contract") / "ledger.db"
    sandbox = Sandbox(token=SANDBOX_TOKEN, rng=random.Random(SEED))
    app = create_app(
        make_settings(
            f"sqlite:///{Path(ledger)}", BRIDGE_WORKER_IN_PROCESS="false", BRIDGE_ADMIN_TOKEN=ADMIN
        ),
        intercom_transport=httpx.ASGITransport(app=sandbox.app),
    )
    yield app
    asgi.shutdown_lifespans()  # schemathesis keeps the app's lifespan running until told


def _pick(options: tuple[str, ...] | list[str], seed: object) -> str:
    """One of `options`, chosen by the generated value it replaces (varied, repeatable)."""
    digest = hashlib.sha256(repr(seed).encode()).digest()
    return options[digest[0] % len(options)]


def _made_valid_entry(entry: dict[str, object]) -> None:
    """Real people's values, live type ids and language tags in one batch entry."""
    for name, options in PEOPLE.items():
        if name in entry:
            entry[name] = _pick(options, entry[name])
    if isinstance(entry.get("subscription"), list):
        entry["subscription"] = [_pick(LIVE, t) for t in entry["subscription"]]  # type: ignore[union-attr]


def made_valid(case: schemathesis.Case) -> None:
    """The admin token on a links batch; in a positive case, genuine tokens, types and people."""
    meta = case.meta
    if case.operation.path == "/links" and not (
        meta is not None and meta.is_negative_at(ParameterLocation.HEADER)
    ):
        # Cases meant to break the Authorization header keep it broken: they must get 401.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN}"}
    if meta is None or not meta.generation.mode.is_positive:
        return
    if case.operation.path == "/links" and isinstance(case.body, dict):
        _made_valid_entry(case.body)
        for person in case.body.get("people", []):
            if isinstance(person, dict):
                _made_valid_entry(person)
        return
    if not case.path_parameters or "token" not in case.path_parameters:
        return
    token = _pick(list(LINKS), case.path_parameters["token"])
    case.path_parameters["token"] = token
    if isinstance(case.body, dict) and isinstance(case.body.get("types"), list):
        for item in case.body["types"]:
            if isinstance(item, dict) and "id" in item:
                item["id"] = _pick(LINKS[token], item["id"])


@pytest.mark.slow  # generated requests for every operation of the API
@schema.parametrize()
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_document_says(case: schemathesis.Case, bridge: Starlette) -> None:
    made_valid(case)
    # Checks that send requests of their own (a links batch without its token must get 401)
    # send them through the schema's transport: the app's, not the network.
    case.operation.schema.app = bridge
    case.call_and_validate(app=bridge, base_url=f"{BASE}/api/v1")


def test_the_served_document_is_the_one_tested(client: TestClient) -> None:
    assert client.get("/api/v1/openapi.json").json() == openapi_document(BASE)
