"""Each form tool's signed sample, posted over HTTP: refused forged, recorded once, one lead.

The table names what is particular to each tool (its sample, how it is signed or carries
its token, the person in it); the checks are `assert_signup_makes_a_lead`, the same for all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import NewContact
from bridge.sandbox import Sandbox
from tests.providers import test_hubspot, test_jotform, test_tally, test_typeform, test_webflow
from tests.providers.webhooks import assert_signup_makes_a_lead, bridge_with

FORGED_SECRET = "not-the-secret-0123456"


@dataclass(frozen=True)
class SignedSample:
    """A tool's sample as it posts it, and the same body with a forged signature or token."""

    body: bytes
    headers: Mapping[str, str]
    forged: Mapping[str, str]
    query: str = ""
    forged_query: str = ""


def _signed_json(sample: Any, sign: Callable[..., dict[str, str]]) -> SignedSample:
    body = json.dumps(sample).encode()
    return SignedSample(body, sign(body), sign(body, FORGED_SECRET))


def _jotform() -> SignedSample:
    body, headers = test_jotform.multipart(test_jotform.SAMPLE)
    token = test_jotform.TOKEN
    return SignedSample(body, headers, headers, f"?token={token}", "?token=guess")


@dataclass(frozen=True)
class Tool:
    name: str
    table: Mapping[str, Any]
    delivery: Callable[[], SignedSample]
    email: str
    lead_name: str


TOOLS = [
    Tool(
        "typeform",
        test_typeform.SIGNUP,
        lambda: _signed_json(test_typeform.SAMPLE, test_typeform.signed),
        "laura@example.com",
        "Laura Sosa",
    ),
    Tool(
        "tally",
        test_tally.SIGNUP,
        lambda: _signed_json(test_tally.SAMPLE, test_tally.signed),
        "laura@example.com",
        "Laura",
    ),
    Tool(
        "webflow",
        test_webflow.SIGNUP,
        lambda: _signed_json(test_webflow.SAMPLE, test_webflow.signed),
        "zaphod@heartofgold.ai",
        "Zaphod Beeblebrox",
    ),
    Tool(
        "hubspot",
        test_hubspot.SIGNUP,
        lambda: _signed_json(test_hubspot.SAMPLE, test_hubspot.signed),
        "laura@example.com",
        "Laura Sosa",
    ),
    Tool("jotform", test_jotform.SIGNUP, _jotform, "laura@example.com", "Laura Sosa"),
]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_the_signed_sample_makes_a_lead_once(tmp_path: Path, sandbox: Sandbox, tool: Tool) -> None:
    sent = tool.delivery()
    with bridge_with(tmp_path, sandbox, {tool.name: tool.table}) as client:
        record = assert_signup_makes_a_lead(
            client,
            sandbox,
            tool.name,
            sent.body,
            sent.headers,
            sent.forged,
            email=tool.email,
            type_id="93",
            query=sent.query,
            forged_query=sent.forged_query,
        )
    assert record.request.create == NewContact(name=tool.lead_name)
