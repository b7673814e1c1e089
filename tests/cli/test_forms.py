"""`bridge form snippet NAME`, run as a user runs it: what it prints, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bridge.sandbox import Sandbox
from tests.cli.test_links import bridge, refused
from tests.conftest import SANDBOX_TOKEN
from tests.web.forms.posting import FORMS

TEXTS = """
[forms.texts]
types = ["124", "131", "999"]
consent_text = "Text me reminders."
"""


@pytest.fixture
def forms(env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The test forms in BRIDGE_CONFIG."""
    config = tmp_path / "bridge.toml"
    config.write_text(FORMS + TEXTS, "utf-8")
    env.setenv("BRIDGE_CONFIG", str(config))
    return env


@pytest.fixture
def workspace(forms: pytest.MonkeyPatch, sandbox: Sandbox) -> httpx.AsyncBaseTransport:
    """A reachable workspace (the sandbox) and a token for it; the transport to pass in."""
    forms.setenv("INTERCOM_ACCESS_TOKEN", SANDBOX_TOKEN)
    forms.setenv("INTERCOM_BASE_URL", "http://sandbox.invalid")
    return httpx.ASGITransport(app=sandbox.app)


def test_without_a_token_the_boxes_carry_the_type_ids(
    forms: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "form", "snippet", "choose")
    assert (code, err) == (0, "")
    assert '<form id="bridge-choose" method="post" ' in out
    assert 'action="https://consent.example.com/forms/choose"' in out
    assert 'value="93"> 93</label>' in out and "INTERCOM_ACCESS_TOKEN was not set" in out
    assert "<script" not in out and 'name="_t"' not in out


def test_with_a_token_the_boxes_carry_the_workspace_s_names(
    workspace: httpx.AsyncBaseTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "form", "snippet", "choose", transport=workspace)
    assert (code, err) == (0, "")
    assert 'value="95"> Offers and promotions</label>' in out
    assert "INTERCOM_ACCESS_TOKEN" not in out


def test_types_the_workspace_lacks_are_left_out_with_a_warning(
    workspace: httpx.AsyncBaseTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "form", "snippet", "texts", transport=workspace)
    assert code == 0
    assert err.splitlines() == [
        "bridge form snippet: type 131 is not a live type of the workspace; left out",
        "bridge form snippet: type 999 is not a live type of the workspace; left out",
    ]
    assert 'type="tel"' in out  # an SMS type: the phone is asked for


def test_intercom_down_falls_back_to_the_ids(
    workspace: httpx.AsyncBaseTransport, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.faults.error_rate = 1.0
    code, out, err = bridge(capsys, "form", "snippet", "choose", transport=workspace)
    assert code == 0 and 'value="93"> 93</label>' in out
    assert err.startswith("bridge form snippet: Intercom did not list the types (")


def test_fetch_prints_the_script_variant(
    forms: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = bridge(capsys, "form", "snippet", "newsletter", "--fetch")
    assert code == 0 and out.count("<script>") == 1
    assert '"Accept": "application/json"' in out and 'role="status"' in out


def test_an_unknown_form_is_one_line_and_exit_2(
    forms: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        bridge(capsys, "form", "snippet", "nope"),
        "bridge form: error: no form named 'nope' (forms: choose, leave, newsletter, texts)",
    )


def test_no_forms_at_all_says_how_to_add_one(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        bridge(capsys, "form", "snippet", "news"),
        "bridge form: error: no form named 'news' "
        "(forms: none: add a [forms.NAME] table to BRIDGE_CONFIG)",
    )


def test_a_missing_name_or_a_wrong_verb_is_argparse_s_one_line(
    forms: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "form", "snippet")
    assert (code, out) == (2, "") and "NAME" in err and len(err.splitlines()) == 1
    code, out, err = bridge(capsys, "form", "paste", "choose")
    assert (code, out) == (2, "") and "invalid choice" in err and len(err.splitlines()) == 1
