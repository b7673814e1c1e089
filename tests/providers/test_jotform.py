"""Jotform: the URL's token, a multipart body with rawRequest, fields by key or name."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from bridge.consent import NewContact
from bridge.providers import Malformed, Rejected
from tests.providers.webhooks import (
    assert_laura_signs_up,
    delivery,
    form_tool,
    sample,
)

TOKEN = "jot-9f2c4e7a1b3d5f6a8c0e2b4d6f8a1c3e5b7d9f0a"
SAMPLE: dict[str, Any] = sample("jotform-submission.constructed.json")["fields"]
SIGNUP = {"token": TOKEN, "types": ["93"], "consent": "newsletter", "name": "q3_name"}
PATH = f"/webhooks/jotform?token={TOKEN}"


def fields(email: str | None = None, **changes: Any) -> dict[str, Any]:
    """The sample's fields, with the email and top-level fields changed."""
    found = copy.deepcopy(SAMPLE)
    found.update(changes)
    if email is not None:
        found["rawRequest"]["q4_email"] = email
    return found


def multipart(found: dict[str, Any], boundary: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The fields as Jotform posts them: multipart/form-data, rawRequest a JSON string."""
    boundary = boundary or uuid.uuid4().hex
    parts = []
    for name, value in found.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'
        )
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_only_the_urls_token_proves_it() -> None:
    provider = form_tool("jotform", SIGNUP)
    body, headers = multipart(SAMPLE)
    await provider.verify(delivery(body, headers, path=PATH), None)  # type: ignore[arg-type]
    for wrong in (
        delivery(body, headers),
        delivery(body, headers, path="/webhooks/jotform?token=guess"),
        delivery(body, headers, path=PATH[:-1]),
        delivery(body, {**headers, "Authorization": f"Bearer {TOKEN}"}, path=PATH),
    ):
        with pytest.raises(Rejected):
            await provider.verify(wrong, None)  # type: ignore[arg-type]


def test_the_sample_maps_by_key_by_name_and_by_type() -> None:
    [request] = form_tool("jotform", SIGNUP).parse(delivery(*multipart(SAMPLE))).requests
    assert_laura_signs_up(request)
    assert (request.event_id, request.context["form"]) == ("5712345678901234567", "231234567890123")
    by_path = form_tool("jotform", {**SIGNUP, "name": "name.first", "email": "q4_email"})
    [again] = by_path.parse(delivery(*multipart(SAMPLE))).requests
    assert (again.identity.email, again.create) == ("laura@example.com", NewContact(name="Laura"))


def test_an_unticked_box_is_ignored_and_a_broken_form_is_malformed() -> None:
    unticked = fields()
    unticked["rawRequest"]["q6_newsletter"] = []
    assert form_tool("jotform", SIGNUP).parse(delivery(*multipart(unticked))).ignored == 1
    for broken in (fields(submissionID=""), fields(rawRequest="{not json")):
        with pytest.raises(Malformed):
            form_tool("jotform", SIGNUP).parse(delivery(*multipart(broken)))
    with pytest.raises(Malformed, match="multipart"):
        form_tool("jotform", SIGNUP).parse(delivery(b"{}", {"Content-Type": "application/json"}))
