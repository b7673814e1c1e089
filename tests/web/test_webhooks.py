"""`POST /webhooks/{provider}`: which provider, status codes, batches, limits, start-up checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.consent import Identity
from bridge.ledger import LedgerUnavailable
from bridge.links import LinkClaims
from bridge.providers import load_providers
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.test_resend import SECRET as RESEND_SECRET
from tests.providers.test_resend import signed as resend_signed
from tests.providers.test_sendgrid import Signer, body_of
from tests.providers.webhooks import basic_auth, bridge_with, recorded, sample
from tests.web.pages.test_preferences import page_path

UNSUBSCRIBE = sample("sendgrid-unsubscribe.json")[0]


@pytest.fixture
def signer() -> Signer:
    """A SendGrid signing key."""
    return Signer()


def test_unknown_and_unconfigured_providers_are_404(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        unknown = client.post("/webhooks/hotmail", content=b"[]")
        assert unknown.status_code == 404
        assert "Unknown provider 'hotmail'" in unknown.text and "sendgrid" in unknown.text
        unconfigured = client.post("/webhooks/mailgun", content=b"{}")
        assert unconfigured.status_code == 404
        assert "[providers.mailgun]" in unconfigured.text
        assert client.get("/webhooks/sendgrid").status_code == 405
        assert client.head("/webhooks/sendgrid").status_code == 405  # only Mandrill checks so
        assert recorded(client) == []


def test_a_batch_is_recorded_in_one_transaction(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    events = [
        {**UNSUBSCRIBE, "email": f"person{i}@example.com", "sg_event_id": f"e{i}"}
        for i in range(500)
    ]
    events += [{**UNSUBSCRIBE, "event": "open", "sg_event_id": f"o{i}"} for i in range(500)]
    body = body_of(*events)
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        stats = client.app.state.services.ledger.stats  # type: ignore[attr-defined]
        before = stats.transactions
        response = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
        assert response.status_code == 200
        assert "500 recorded, 0 duplicate, 500 ignored, 0 invalid" in response.text
        assert stats.transactions == before + 1
        assert len(recorded(client)) == 500


def test_an_unstorable_event_does_not_cost_the_batch_the_rest(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    poisoned = {**UNSUBSCRIBE, "sg_event_id": "nul\u0000id"}
    body = body_of(poisoned, UNSUBSCRIBE)
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        response = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
        assert response.status_code == 200 and "1 recorded" in response.text
        assert "1 invalid" in response.text
        [kept] = recorded(client)
        assert kept.request.event_id == UNSUBSCRIBE["sg_event_id"]


def test_the_ledger_down_is_503_so_the_provider_retries(
    tmp_path: Path, sandbox: Sandbox, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = body_of(UNSUBSCRIBE)

    async def broken(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database unreachable")

    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        monkeypatch.setattr(client.app.state.services.ledger, "record", broken)  # type: ignore[attr-defined]
        response = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
    assert response.status_code == 503
    assert "nothing was recorded" in response.text
    assert response.headers["retry-after"] == "30"


def test_webhooks_may_be_larger_than_pages_but_not_without_limit(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    big = body_of(*[{**UNSUBSCRIBE, "sg_event_id": f"e{i}", "pad": "x" * 600} for i in range(2000)])
    assert len(big) > 1_048_576  # more than SendGrid's 768 KB batches, far more than a page
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        accepted = client.post("/webhooks/sendgrid", content=big, headers=signer.headers(big))
        assert accepted.status_code == 200
        huge = b"[" + b" " * 3_000_000 + b"]"
        refused = client.post("/webhooks/sendgrid", content=huge)
        assert refused.status_code == 413
        assert "2097152 bytes" in refused.text


PROVIDERS = {
    "mailgun": {"signing_key": "k" * 32},
    "ses": {"topic_arns": ["arn:aws:sns:us-west-2:123456789012:MyTopic"]},
    "postmark": {"username": "postmark", "password": "p" * 20},
}


@pytest.mark.parametrize(
    ("provider", "limit", "headers", "status"),
    [
        ("mailgun", 256 * 1024, {}, 401),  # read, and refused as unsigned
        ("ses", 512 * 1024, {}, 401),
        ("postmark", 12 * 1024 * 1024, basic_auth("postmark", "p" * 20), 403),  # unreadable
    ],
)
def test_each_provider_has_a_body_limit_that_fits_its_payloads(
    tmp_path: Path,
    sandbox: Sandbox,
    provider: str,
    limit: int,
    headers: dict[str, str],
    status: int,
) -> None:
    # An unsigned 10 MB body to Mailgun or SES was parsed before any check (the review): now
    # a body past what the provider really sends is refused before it is read.
    with bridge_with(tmp_path, sandbox, PROVIDERS) as client:
        over = client.post(f"/webhooks/{provider}", content=b"x" * (limit + 1), headers=headers)
        assert over.status_code == 413
        under = client.post(f"/webhooks/{provider}", content=b"x" * (limit - 1), headers=headers)
        assert under.status_code == status


def test_a_providers_limit_can_be_set_in_its_table_or_for_all(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    tables = {"mailgun": {**PROVIDERS["mailgun"], "max_body_bytes": 1000}, "ses": PROVIDERS["ses"]}
    with bridge_with(tmp_path, sandbox, tables, env={"BRIDGE_MAX_WEBHOOK_BYTES": "2000"}) as client:
        assert client.post("/webhooks/mailgun", content=b"x" * 1001).status_code == 413
        assert client.post("/webhooks/ses", content=b"x" * 2001).status_code == 413
        assert client.post("/webhooks/ses", content=b"x" * 1999).status_code == 401


@pytest.mark.parametrize(
    ("provider", "table", "headers"),
    [
        ("postmark", {"username": "postmark", "password": "p" * 20}, {}),
        ("mailjet", {"username": "mailjet", "password": "p" * 20}, {"authorization": "Basic eDp5"}),
        ("brevo", {"token": "t" * 20}, {"authorization": "Bearer wrong"}),
        ("sparkpost", {"token": "t" * 20}, {}),
        ("mandrill", {"webhook_key": "w" * 22}, {}),
    ],
)
def test_credentials_in_headers_are_checked_before_the_body_is_read(
    tmp_path: Path,
    sandbox: Sandbox,
    provider: str,
    table: dict[str, object],
    headers: dict[str, str],
) -> None:
    with bridge_with(tmp_path, sandbox, {provider: table}) as client:
        read = False

        async def receive() -> dict[str, object]:
            nonlocal read
            read = True
            return {"type": "http.request", "body": b"[]", "more_body": False}

        sent: list[dict[str, object]] = []

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "path": f"/webhooks/{provider}",
            "raw_path": f"/webhooks/{provider}".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"consent.example.com")]
            + [(k.encode(), v.encode()) for k, v in headers.items()],
            "client": ("203.0.113.9", 5000),
            "server": ("consent.example.com", 443),
            "app": client.app,
        }
        client.portal.call(client.app, scope, receive, send)  # type: ignore[union-attr]
        assert sent[0]["status"] == 401
        assert not read


@pytest.mark.parametrize(
    ("provider", "table", "key"),
    [
        ("mailgun", {"signing_key": "Kx7Qp"}, "signing_key"),
        ("postmark", {"username": "postmark", "password": "Pw8Zr"}, "password"),
        ("mailjet", {"username": "mailjet", "password": "Mj4Vt"}, "password"),
        ("brevo", {"token": "Tb2Yn"}, "token"),
        ("mandrill", {"webhook_key": "Wk5Hs"}, "webhook_key"),
        ("resend", {"secret": "whsec_c2hvcnQ="}, "secret"),
        ("sparkpost", {"token": "Sp6Ld"}, "token"),
    ],
)
def test_secrets_too_short_to_be_secret_stop_start_up(
    provider: str, table: dict[str, object], key: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_providers({"providers": {provider: table}})
    message = str(caught.value)
    assert f"providers.{provider}.{key}: too short to be secret" in message
    assert str(table[key]) not in message  # the secret itself is not echoed


def test_the_signature_is_checked_before_the_body_is_parsed(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        unsigned_junk = client.post("/webhooks/sendgrid", content=b"{not json")
        assert unsigned_junk.status_code == 401
        signed_junk = client.post(
            "/webhooks/sendgrid", content=b"{not json", headers=signer.headers(b"{not json")
        )
        assert signed_junk.status_code == 400


def test_metrics_count_deliveries_by_result(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    body = body_of(UNSUBSCRIBE)
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
        client.post("/webhooks/sendgrid", content=body)
        metrics = client.get("/metrics").text
    assert 'bridge_webhooks_total{provider="sendgrid",result="accepted"} 1.0' in metrics
    assert 'bridge_webhooks_total{provider="sendgrid",result="rejected"} 1.0' in metrics


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"providers": {"hotmail": {}}}, "providers.hotmail: unknown provider"),
        ({"providers": {"sendgrid": {}}}, "providers.sendgrid.public_key: required"),
        ({"providers": {"sendgrid": {"complaints": "maybe"}}}, "complaints: must be"),
        ({"providers": {"sendgrid": {"types": {"10": []}}}}, "types.10: must be a type id"),
        ({"providers": {"sendgrid": "on"}}, "providers.sendgrid: must be a table"),
    ],
)
def test_provider_settings_are_checked_at_start_up(
    config: dict[str, object], fragment: str
) -> None:
    with pytest.raises(SettingsError, match="BRIDGE_CONFIG") as caught:
        load_providers(config)
    assert fragment in str(caught.value)


def test_types_map_a_provider_list_to_intercom_types(signer: Signer) -> None:
    [provider] = load_providers(
        {"providers": {"sendgrid": {"public_key": signer.public_key, "types": {"10": "93"}}}}
    ).values()
    assert provider.settings.types == {"10": ("93",)}
    scope = provider.settings.scope
    assert json.dumps(scope(10, provider.channel).to_dict()) == '{"types": ["93"]}'
    assert scope(11, provider.channel).to_dict() == {"channel": "email"}


def test_an_event_time_out_of_range_is_skipped_not_a_500(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    body = body_of({**UNSUBSCRIBE, "sg_event_id": "far", "timestamp": 1e20}, UNSUBSCRIBE)
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        response = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
    assert response.status_code == 200
    assert "1 recorded" in response.text and "1 invalid" in response.text


def test_deeply_nested_junk_is_a_clear_refusal_never_a_500(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    junk = b"[" * 60_000  # nested past any recursion limit, under every body limit
    providers = {
        "resend": {"secret": RESEND_SECRET},
        "ses": {"topic_arns": ["arn:aws:sns:us-west-2:123456789012:MyTopic"]},
    }
    with bridge_with(tmp_path, sandbox, providers) as client:
        # Signed junk from Resend: verified, then unreadable.
        resend = client.post("/webhooks/resend", content=junk, headers=resend_signed(junk))
        assert resend.status_code == 400
        # SNS parses the envelope to verify it: junk is simply not an SNS message.
        assert client.post("/webhooks/ses", content=junk).status_code == 401
        # The JSON API, with a genuine token, refuses it as not JSON.
        claims = LinkClaims(Identity(contact_id="63a07ddf05a32042dffac965"))
        api = client.put(
            "/api/v1" + page_path(claims),
            content=junk,
            headers={"content-type": "application/json"},
        )
        assert api.status_code == 400 and "not valid JSON" in api.text
        assert recorded(client) == []


def test_a_skipped_event_is_logged_by_a_hash_of_its_id_never_the_id(
    tmp_path: Path, sandbox: Sandbox, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    # Brevo and Postmark build event ids from the address; a refused row logged it whole.
    poisoned = {**UNSUBSCRIBE, "sg_event_id": "msg-1|jane.doe@example.com|unsub\u0000"}
    body = body_of(poisoned)
    with bridge_with(tmp_path, sandbox, {"sendgrid": {"public_key": signer.public_key}}) as client:
        response = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
        assert "1 invalid" in response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "skipped an event: event " in logged
    assert "jane.doe@example.com" not in logged and "msg-1" not in logged
