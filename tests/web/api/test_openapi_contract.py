"""The JSON API against its own OpenAPI document, by generated requests (schemathesis).

Every operation is called with requests generated from the document: valid ones, and ones
that break it in each place it can be broken. Each answer must be one the document lists, in
the shape and media type it says, valid requests must be accepted and invalid ones refused.
A valid request needs a genuine token and type ids that exist, which no generator can guess:
positive cases get both swapped in, chosen from the generated values, so they stay varied.
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


BASE = "https://consent.example.com"
# The document as the API serves it (a test checks the served one is this one).
schema = schemathesis.openapi.from_dict(openapi_document(BASE))


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starlette]:
    """The bridge on a ledger of its own."""
    ledger = tmp_path_factory.mktemp("contract") / "ledger.db"
    sandbox = Sandbox(token=SANDBOX_TOKEN, rng=random.Random(SEED))
    app = create_app(
        make_settings(f"sqlite:///{Path(ledger)}", BRIDGE_WORKER_IN_PROCESS="false"),
        intercom_transport=httpx.ASGITransport(app=sandbox.app),
    )
    yield app
    asgi.shutdown_lifespans()  # schemathesis keeps the app's lifespan running until told


def _pick(options: tuple[str, ...] | list[str], seed: object) -> str:
    """One of `options`, chosen by the generated value it replaces (varied, repeatable)."""
    digest = hashlib.sha256(repr(seed).encode()).digest()
    return options[digest[0] % len(options)]


def made_valid(case: schemathesis.Case) -> None:
    """Swap a genuine token, and type ids the link has, into a positive case."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
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
    case.call_and_validate(app=bridge, base_url=f"{BASE}/api/v1")


def test_the_served_document_is_the_one_tested(client: TestClient) -> None:
    assert client.get("/api/v1/openapi.json").json() == openapi_document(BASE)
