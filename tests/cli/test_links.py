"""`bridge link` and `bridge links`, run as a user runs them: what they print, and what they refuse.

Every refusal is one line on stderr, exit code 2, and nothing on stdout.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import httpx
import pytest

from bridge.cli.main import main
from bridge.consent import Channel, Identity, Scope
from bridge.links import LinkClaims, LinkSigner, Purpose
from bridge.sandbox import Sandbox
from tests.conftest import SANDBOX_TOKEN, SECRET, SEED

LIVE = (
    "live types: 108 Newsletters; 93 Newsletter; 37846 Product updates; "
    "95 Offers and promotions; 124 Appointment reminders"
)


def bridge(
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[int, str, str]:
    """Run the command; its exit code, stdout and stderr."""
    code = main(list(argv), intercom_transport=transport)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(outcome: tuple[int, str, str], line: str) -> None:
    """Assert the command refused with exactly this one line and printed nothing else."""
    code, out, err = outcome
    assert (code, out, err) == (2, "", line + "\n")


def claims(url: str, purpose: Purpose = Purpose.UNSUBSCRIBE) -> LinkClaims:
    """What a printed link says."""
    return LinkSigner([SECRET]).claims(purpose, url.strip().rsplit("/", 1)[1])


@pytest.fixture
def workspace(env: pytest.MonkeyPatch, sandbox: Sandbox) -> httpx.AsyncBaseTransport:
    """A reachable workspace (the sandbox) and a token for it; the transport to pass in."""
    env.setenv("INTERCOM_ACCESS_TOKEN", SANDBOX_TOKEN)
    env.setenv("INTERCOM_BASE_URL", "http://sandbox.invalid")
    return httpx.ASGITransport(app=sandbox.app)


# bridge link: who it is for


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--email", ""], "bridge link: error: --email '' is empty"),
        (["--email", "jane"], "bridge link: error: --email 'jane' has no @"),
        (
            ["--email", "jane@example"],
            "bridge link: error: --email 'jane@example' needs a domain with a dot after the @, "
            "like example.com",
        ),
        (
            ["--phone", "087 123 4567"],
            "bridge link: error: --phone '087 123 4567' is not in international form: "
            "+ and the country code, like +353871234567",
        ),
        (
            ["--phone", "+3538712345"],
            "bridge link: error: --phone '+3538712345' is not a valid number for country code +353",
        ),
        (["--contact-id", " "], "bridge link: error: --contact-id ' ' is empty"),
        (
            ["--external-id", "a\x1fb"],
            "bridge link: error: --external-id 'a\\x1fb' contains a control or invisible character",
        ),
    ],
)
def test_link_refuses_an_identity_that_names_nobody(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    refused(bridge(capsys, "link", "unsubscribe", *argv), line)


def test_link_puts_a_phone_in_e164_form(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "link", "preferences", "--phone", "+353 87 123 4567")
    assert (code, err) == (0, "")
    assert claims(out, Purpose.PREFERENCES).identity == Identity(phone="+353871234567")


# bridge link: what it covers, checked against the workspace


def test_link_refuses_a_type_id_the_workspace_does_not_have(
    workspace: httpx.AsyncBaseTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = bridge(
        capsys, "link", "unsubscribe", "--contact-id", "abc", "--subscription", "abc",
        transport=workspace,
    )  # fmt: skip
    refused(
        outcome,
        f"bridge link: error: --subscription abc is not a live subscription type in this "
        f"workspace; {LIVE}",
    )


def test_link_refuses_draft_and_archived_types_naming_their_state(
    workspace: httpx.AsyncBaseTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = bridge(
        capsys, "link", "unsubscribe", "--email", "jane@example.com",
        "--subscription", "93", "--subscription", "131", "--subscription", "88",
        transport=workspace,
    )  # fmt: skip
    refused(
        outcome,
        f"bridge link: error: --subscription 131 (draft), 88 (archived) are not live in this "
        f"workspace; {LIVE}",
    )


def test_link_refuses_a_channel_with_no_live_types(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emails_only = Sandbox(token=SANDBOX_TOKEN, seed=False, rng=random.Random(SEED))
    emails_only.add_type(id="7", name="Newsletter, monthly")
    env.setenv("INTERCOM_ACCESS_TOKEN", SANDBOX_TOKEN)
    env.setenv("INTERCOM_BASE_URL", "http://sandbox.invalid")
    outcome = bridge(
        capsys, "link", "unsubscribe", "--contact-id", "abc", "--channel", "sms",
        transport=httpx.ASGITransport(app=emails_only.app),
    )  # fmt: skip
    refused(
        outcome,
        "bridge link: error: --channel sms: the workspace has no live sms subscription types; "
        "live types: 7 Newsletter, monthly",
    )


def test_link_prints_a_working_signed_link_once_its_types_are_checked(
    workspace: httpx.AsyncBaseTransport, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(
        capsys, "link", "unsubscribe", "--email", "Jane@Example.com",
        "--subscription", "93", "--subscription", "95", "--subscription", "93", "--locale", "fr",
        transport=workspace,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.startswith("https://consent.example.com/unsubscribe/")
    assert claims(out) == LinkClaims(
        Identity(email="jane@example.com"), Scope(type_ids=("93", "95")), "fr"
    )
    assert [(r.method, r.path) for r in sandbox.requests] == [("GET", "/subscription_types")]


def test_a_link_for_every_type_asks_the_workspace_nothing(
    workspace: httpx.AsyncBaseTransport, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "link", "unsubscribe", "--contact-id", "abc")
    assert (code, err) == (0, "")
    assert claims(out).scope == Scope()
    assert sandbox.requests == []


def test_without_a_token_the_ids_are_not_checked_and_a_warning_says_so(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(
        capsys, "link", "unsubscribe", "--contact-id", "abc", "--subscription", "abc"
    )
    assert code == 0
    assert claims(out).scope == Scope(type_ids=("abc",))
    assert err == (
        "bridge link: warning: --subscription abc not checked against the workspace: "
        "INTERCOM_ACCESS_TOKEN is not set\n"
    )


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("error_rate", "Intercom HTTP 50"),
        ("unauthorized", "Intercom HTTP 401 unauthorized: Access Token Invalid"),
        ("timeout_rate", "Intercom no response: timed out after 0.2s"),
    ],
)
def test_when_intercom_cannot_answer_a_warning_says_why_and_the_link_is_printed(
    workspace: httpx.AsyncBaseTransport,
    sandbox: Sandbox,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    reason: str,
) -> None:
    env.setenv("BRIDGE_INTERCOM_TIMEOUT_SECONDS", "0.2")
    setattr(sandbox.faults, fault, True if fault == "unauthorized" else 1.0)
    sandbox.faults.hang_seconds = 2.0
    code, out, err = bridge(
        capsys, "link", "unsubscribe", "--contact-id", "abc", "--channel", "email",
        transport=workspace,
    )  # fmt: skip
    assert code == 0
    assert claims(out).scope == Scope(channel=Channel.EMAIL)
    assert err.startswith(
        "bridge link: warning: --channel email not checked against the workspace: "
        "GET /subscription_types: "
    )
    assert reason in err and err.count("\n") == 1
    assert SANDBOX_TOKEN not in err


# bridge link: the rest of the line


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--subscription", ""], "bridge link: error: --subscription is empty"),
        (
            ["--subscription", "93,95"],
            "bridge link: error: --subscription '93,95' holds a comma: "
            "give --subscription once per type id",
        ),
        (
            ["--subscription", "~e"],
            "bridge link: error: --subscription '~e' is not a subscription type id",
        ),
        (
            ["--locale", "fr_FR!"],
            "bridge link: error: --locale 'fr_FR!' is not a language tag, like fr or pt-BR",
        ),
        (
            ["--locale", ""],
            "bridge link: error: --locale '' is not a language tag, like fr or pt-BR",
        ),
        (
            ["--subscription", "93", "--channel", "sms"],
            "bridge link: error: argument --channel: not allowed with argument --subscription "
            "(see `bridge link --help`)",
        ),
        (
            ["--channel", "fax"],
            "bridge link: error: argument --channel: invalid choice: 'fax' "
            "(choose from 'email', 'sms') (see `bridge link --help`)",
        ),
    ],
)
def test_link_refuses_other_mistakes_in_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    refused(bridge(capsys, "link", "unsubscribe", "--contact-id", "abc", *argv), line)


def test_a_locale_the_pages_do_not_speak_is_kept_with_a_warning(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bridge(capsys, "link", "unsubscribe", "--contact-id", "abc", "--locale", "sv")
    assert code == 0
    assert claims(out).locale == "sv"
    assert err == (
        "bridge link: warning: --locale sv: the pages have no sv translation; they will follow "
        "the person's browser, or be in English\n"
    )


def test_a_refusal_stays_one_line_when_there_was_also_a_warning(
    workspace: httpx.AsyncBaseTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = bridge(
        capsys, "link", "unsubscribe", "--contact-id", "abc", "--locale", "sv",
        "--subscription", "abc", transport=workspace,
    )  # fmt: skip
    refused(
        outcome,
        f"bridge link: error: --subscription abc is not a live subscription type in this "
        f"workspace; {LIVE}",
    )


# bridge links: the CSV file


def links(
    capsys: pytest.CaptureFixture[str],
    path: Path,
    *argv: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[int, str, str]:
    """Run `bridge links --csv path ...`."""
    return bridge(capsys, "links", "--csv", str(path), *argv, transport=transport)


def test_links_adds_link_columns_to_every_row(
    workspace: httpx.AsyncBaseTransport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("name,email\nJane,jane@example.com\nSam,sam@example.com\n")
    code, out, err = links(capsys, path, "--channel", "email", transport=workspace)
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["Jane", "Sam"]
    assert rows[0]["unsubscribe_url"].startswith("https://consent.example.com/unsubscribe/")
    assert claims(rows[1]["preferences_url"], Purpose.PREFERENCES) == LinkClaims(
        Identity(email="sam@example.com"), Scope(channel=Channel.EMAIL)
    )


def test_links_refuses_a_missing_file(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nope.csv"
    refused(links(capsys, path), f"bridge links: error: --csv {path}: no such file")


def test_links_refuses_a_folder(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(links(capsys, tmp_path), f"bridge links: error: --csv {tmp_path} is a folder")


def test_links_refuses_a_file_it_cannot_read(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "people.csv").write_text("email\n")
    path = tmp_path / "people.csv" / "more.csv"  # a file is not a folder, even to root
    refused(
        links(capsys, path), f"bridge links: error: --csv {path}: cannot read it (Not a directory)"
    )


def test_links_refuses_a_latin1_file_naming_the_line(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        "name,email\r\nSam,sam@example.com\r\nJosé,jose@example.com\r\n".encode("latin-1")
    )
    refused(
        links(capsys, path),
        f"bridge links: error: --csv {path}: line 3 is not UTF-8 text; save the file as "
        f'"CSV UTF-8" and try again',
    )


def test_links_reads_excel_csv_utf8_and_keeps_its_byte_order_mark(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b"\xef\xbb\xbfemail,name\r\njose@example.com,Jos\xc3\xa9\r\n")
    code, out, err = links(capsys, path)
    assert (code, err) == (0, "")
    assert out.startswith("\ufeffemail,name,unsubscribe_url,preferences_url\r\n")
    [row] = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))
    assert row["name"] == "José"
    assert claims(row["unsubscribe_url"]).identity == Identity(email="jose@example.com")


def test_links_reads_semicolon_csv_and_writes_semicolons(
    workspace: httpx.AsyncBaseTransport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    # Excel's "CSV UTF-8" in a French locale: a byte-order mark, semicolons, CRLF.
    path.write_bytes(
        "\ufeffNom;Email;Ville\r\n"
        "Zoë;zoe@example.fr;Lyon\r\n"
        "Léa;lea@example.fr;Paris, 5e\r\n".encode()
    )
    code, out, err = links(
        capsys, path, "--locale", "fr", "--channel", "email", transport=workspace
    )
    assert (code, err) == (0, "")
    rows = list(csv.reader(io.StringIO(out.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0] == ["Nom", "Email", "Ville", "unsubscribe_url", "preferences_url"]
    assert [r[:3] for r in rows[1:]] == [
        ["Zoë", "zoe@example.fr", "Lyon"],
        ["Léa", "lea@example.fr", "Paris, 5e"],
    ]
    second = claims(rows[2][4], Purpose.PREFERENCES)
    assert second == LinkClaims(
        Identity(email="lea@example.fr"), Scope(channel=Channel.EMAIL), "fr"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "the file is empty"),
        ("name,mail\nJane,jane@example.com\n", "line 1 (the header) needs a column named "
         "contact_id, external_id, email or phone"),
        ("name,email\nJane,jane@example.com\nSam,\nAl,al@example.com\n", "line 3 has no email"),
        ("name,email,phone\nJane,jane@example.com,\nSam,,\n", "line 3 has no email or phone"),
        ("name,email\nJane,jane@example.com\nSam,sam@example\n",
         "line 3: email 'sam@example' needs a domain with a dot after the @, like example.com"),
        ("name,phone\nJane,+353871234567\nSam,087 123 4567\n",
         "line 3: phone '087 123 4567' is not in international form: + and the country code, "
         "like +353871234567"),
        ('name,email\n"Jane\nDoe",jane@example.com\nSam,sam@\n',
         "line 4: email 'sam@' needs a domain with a dot after the @, like example.com"),
        ("email,name\njane@example.com,Jane,Doe\n", "line 2 has 3 fields but the header has 2"),
        ('email,name\njane@example.com,"Jane\nsam@example.com,Sam\n',
         "line 2: unexpected end of data"),
    ],
)  # fmt: skip
def test_links_refuses_a_bad_file_in_one_line_and_writes_nothing(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    problem: str,
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(content)
    refused(links(capsys, path), f"bridge links: error: --csv {path}: {problem}")


def test_links_checks_the_type_ids_once_for_the_whole_file(
    workspace: httpx.AsyncBaseTransport,
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email\na@example.com\nb@example.com\nc@example.com\n")
    refused(
        links(capsys, path, "--subscription", "93", "--subscription", "abc", transport=workspace),
        f"bridge links: error: --subscription abc is not a live subscription type in this "
        f"workspace; {LIVE}",
    )
    code, out, err = links(capsys, path, "--subscription", "93", transport=workspace)
    assert (code, err) == (0, "")
    assert len(list(csv.DictReader(io.StringIO(out)))) == 3
    assert [(r.method, r.path) for r in sandbox.requests] == [("GET", "/subscription_types")] * 2


def test_links_warns_once_when_the_ids_cannot_be_checked(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email\na@example.com\nb@example.com\n")
    code, out, err = links(capsys, path, "--subscription", "93")
    assert code == 0 and len(out.splitlines()) == 3
    assert err == (
        "bridge links: warning: --subscription 93 not checked against the workspace: "
        "INTERCOM_ACCESS_TOKEN is not set\n"
    )
