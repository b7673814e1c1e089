"""Double opt-in for form tools: a signed signup waits for the emailed link's button."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.consent import Confirmation
from bridge.ledger import Status
from bridge.providers.form_tool import FormTool
from bridge.sandbox import Sandbox
from bridge.sandbox.messages import ADMIN_ID
from bridge.settings import SettingsError
from tests.confirming import changes, confirm_path, press_and_see_applied
from tests.providers.test_typeform import SAMPLE, SIGNUP, signed
from tests.providers.webhooks import (
    apply_all,
    bridge_with,
    delivery,
    form_tool,
    post,
    recorded,
)

# Type 95 is opt-in: a person receives it only once the bridge attaches it.
CONFIRMED = {
    **SIGNUP,
    "types": ["95"],
    "confirm": "email",
    "confirm_admin_id": ADMIN_ID,
    "confirm_days": 3,
}
EMAIL = "laura@example.com"  # the sample's


def test_a_signup_carries_its_confirmation_in_the_bridge_s_default_language() -> None:
    body = json.dumps(SAMPLE).encode()
    [request] = form_tool("typeform", CONFIRMED).parse(delivery(body)).requests
    assert request.confirm == Confirmation(ADMIN_ID, 3, None)  # the sample names no language
    [plain] = form_tool("typeform", SIGNUP).parse(delivery(body)).requests
    assert plain.confirm is None


def test_a_tool_s_language_goes_with_the_confirmation() -> None:
    tool = form_tool("typeform", CONFIRMED)
    assert isinstance(tool, FormTool)
    found = tool.submitted(delivery(json.dumps(SAMPLE).encode()))
    assert found is not None
    found.locale = "fr"
    assert tool.request_for(found).confirm == Confirmation(ADMIN_ID, 3, "fr")


def test_the_signed_sample_changes_nothing_until_the_emailed_link_is_posted(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    body = json.dumps(SAMPLE).encode()
    with bridge_with(tmp_path, sandbox, {"typeform": CONFIRMED}) as client:
        assert post(client, "typeform", body, signed(body)).status_code == 200
        [record] = recorded(client)
        assert record.request.confirm == Confirmation(ADMIN_ID, 3, None)
        apply_all(client)
        [lead] = [c for c in sandbox.contacts.values() if c["email"] == EMAIL]
        [message] = sandbox.messages
        assert message["to"] == {"type": "lead", "id": lead["id"]}
        assert message["subject"] == "Please confirm your subscription"
        assert "Send me the newsletter" in message["body"]  # the table's consent_text
        assert changes(sandbox) == [] and not sandbox.receives(lead["id"], "95")
        [waiting] = recorded(client)
        assert waiting.status is Status.AWAITING_CONFIRMATION

        path = confirm_path(message)
        assert client.get(path).status_code == 200  # a scanner's GET confirms nothing
        apply_all(client)
        assert changes(sandbox) == []

        press_and_see_applied(client, sandbox, path, lead["id"], "95", apply_all)
        assert len(sandbox.messages) == 1


@pytest.mark.parametrize(
    ("name", "table", "problem"),
    [
        ("typeform", {**SIGNUP, "confirm": "email"}, "confirm_admin_id: required"),
        ("typeform", {**CONFIRMED, "confirm_admin_id": "ops"}, "confirm_admin_id: 'ops' is not"),
        ("typeform", {**CONFIRMED, "confirm_days": 0}, "confirm_days: must be a whole number"),
        ("typeform", {**CONFIRMED, "confirm": "sms"}, 'confirm: must be "none" or "email"'),
        ("typeform", {**SIGNUP, "confirm_days": 3}, 'confirm_days: only with confirm = "email"'),
        (
            "generic",
            {
                "token": "gen-3b1f0c9e7a4d4f6b8e2c5a9d1f7e3b6c",
                "action": "unsubscribe",
                "confirm": "email",
                "confirm_admin_id": ADMIN_ID,
            },
            "confirm: .*for subscribe forms",
        ),
    ],
)
def test_start_up_refuses_a_wrong_double_opt_in(
    name: str, table: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SettingsError, match=f"BRIDGE_CONFIG.providers.{name}.{problem}"):
        form_tool(name, table)
