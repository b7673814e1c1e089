"""What every provider must do through `POST /webhooks/{name}`, each from its own sample.

Each provider is described once, below: its settings, its sample as a body about a given
person at a given time, how it signs (or authenticates) a body, and what it can't read. The
tests are the same for all of them: refuse what isn't signed, record a signed sample once
(then count it as a duplicate) and apply it, answer 503 when the ledger can't commit, and
never let a duplicate or an older unsubscribe undo a later choice.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import pytest

from bridge.consent import ConsentRequest, Identity, Scope, Wanted
from bridge.ledger import LedgerUnavailable, Status
from bridge.providers import Malformed
from bridge.sandbox import Sandbox
from tests.providers import (
    test_brevo,
    test_generic,
    test_hubspot,
    test_jotform,
    test_mailgun,
    test_mailjet,
    test_mandrill,
    test_postmark,
    test_resend,
    test_sendgrid,
    test_ses,
    test_sparkpost,
    test_standard,
    test_tally,
    test_typeform,
    test_webflow,
    webhooks,
)

# A body and its headers, and for a sender whose token travels in the URL, its query.
Post = tuple[bytes, dict[str, str]] | tuple[bytes, dict[str, str], str]
JANE = "63a07ddf05a32042dffac965"
AMELIE = "63a07de105a32042dffac970"  # opted in to type 95 in the sandbox
NEWER, OLDER = 1_700_000_060, 1_700_000_000
JSON = {"Content-Type": "application/json"}


def iso(at: int) -> str:
    """Unix seconds as an ISO 8601 time."""
    return datetime.fromtimestamp(at, UTC).isoformat()


class Contract:
    """One provider as these tests need it; the defaults suit one that signs in its headers."""

    name: ClassVar[str]
    settings: ClassVar[dict[str, Any]] = {}
    recorded: ClassVar[int] = 1  # the requests its sample makes
    malformed_status: ClassVar[int] = 400  # its answer to a verified body it can't read
    head_status: ClassVar[int] = 405
    # Whether its deliveries say when they happened; one that doesn't is ordered by arrival.
    timed: ClassVar[bool] = True
    unreadable: ClassVar[tuple[bytes, ...]]  # bodies it can't read; the first is posted signed

    def table(self, tmp_path: Path) -> dict[str, Any]:
        """Its `[providers.NAME]` table."""
        return dict(self.settings)

    def sample(self, email: str, at: int) -> bytes:
        """Its sample as a body: an unsubscribe (or complaint) by `email` at `at`."""
        raise NotImplementedError

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers the provider sends with `body`."""
        raise NotImplementedError

    def forge(self, body: bytes) -> dict[str, str]:
        """Headers like the provider's, made with the wrong key or credentials."""
        raise NotImplementedError

    def signed(self, email: str, at: int) -> Post:
        """A delivery the provider sends."""
        body = self.sample(email, at)
        return body, self.sign(body)

    def forged(self, email: str, at: int) -> Post:
        """The same delivery, not from the provider."""
        body = self.sample(email, at)
        return body, self.forge(body)

    def unsigned(self, email: str, at: int) -> Post:
        """The same delivery with no signature or credentials at all."""
        return self.sample(email, at), JSON

    def signed_unreadable(self) -> Post:
        """A delivery that verifies but can't be read."""
        return self.unreadable[0], self.sign(self.unreadable[0])


class BasicAuth(Contract):
    """One that proves itself by the webhook's Basic credentials (`username`, `password`)."""

    def sign(self, body: bytes) -> dict[str, str]:
        return {**JSON, **webhooks.basic_auth(self.settings["username"], self.settings["password"])}

    def forge(self, body: bytes) -> dict[str, str]:
        return {**JSON, **webhooks.basic_auth(self.settings["username"], "guess")}


class Brevo(Contract):
    name = "brevo"
    settings: ClassVar[dict[str, Any]] = {"token": test_brevo.TOKEN}
    unreadable = (b"{not json", b'"spam"', b"42", b"null")

    def sample(self, email: str, at: int) -> bytes:
        return webhooks.json_body({**test_brevo.SPAM, "email": email, "ts_event": at})

    def sign(self, body: bytes) -> dict[str, str]:
        return test_brevo.AUTH

    def forge(self, body: bytes) -> dict[str, str]:
        return {"Authorization": "Bearer not-the-token"}


class Generic(Contract):
    """A token instead of a signature; a form-tool table asking to unsubscribe."""

    name = "generic"
    settings: ClassVar[dict[str, Any]] = {
        "token": test_generic.TOKEN,
        "action": "unsubscribe",
        "id": "id",
        "occurred_at": "at",
    }
    unreadable = (b"{not json", b"[]", b'{"email": "a@example.com"}', b"\xff")

    def sample(self, email: str, at: int) -> bytes:
        return test_generic.body(id=f"gen-{at}", email=email, at=iso(at))

    def sign(self, body: bytes) -> dict[str, str]:
        return {**JSON, **test_generic.BEARER}

    def forge(self, body: bytes) -> dict[str, str]:
        return {**JSON, "Authorization": "Bearer not-the-token"}


class HubSpot(Contract):
    """A workflow's contact, signed v3, asking to unsubscribe (the table's action)."""

    name = "hubspot"
    settings: ClassVar[dict[str, Any]] = {
        "client_secret": test_hubspot.SECRET,
        "action": "unsubscribe",
        "occurred_at": "when",
    }
    unreadable = (b"{not json", b"[]", b'{"email": "a@example.com", "when": "soon"}')

    def sample(self, email: str, at: int) -> bytes:
        return json.dumps({**test_hubspot.contact(email), "when": at * 1000}).encode()

    def sign(self, body: bytes) -> dict[str, str]:
        return test_hubspot.signed(body)

    def forge(self, body: bytes) -> dict[str, str]:
        return test_hubspot.signed(body, secret="not-the-secret-0123456")

    def signed_unreadable(self) -> Post:
        return b"[]", self.sign(b"[]")


class Jotform(Contract):
    """The token is in the URL; a multipart submission asking to unsubscribe."""

    name = "jotform"
    timed = False
    settings: ClassVar[dict[str, Any]] = {"token": test_jotform.TOKEN, "action": "unsubscribe"}
    unreadable = (b"{}", b"submissionID=1&rawRequest=%7B%7D")  # not multipart

    def sample(self, email: str, at: int) -> bytes:
        body, _ = self.multipart(email, at)
        return body

    def multipart(self, email: str, at: int) -> tuple[bytes, dict[str, str]]:
        # One boundary per (email, at), so that a retry is byte for byte the same.
        found = test_jotform.fields(email, submissionID=f"jf-{at}")
        return test_jotform.multipart(found, boundary=f"b{at}")

    def signed(self, email: str, at: int) -> Post:
        body, headers = self.multipart(email, at)
        return body, headers, f"?token={test_jotform.TOKEN}"

    def forged(self, email: str, at: int) -> Post:
        body, headers = self.multipart(email, at)
        return body, headers, "?token=guess"

    def unsigned(self, email: str, at: int) -> Post:
        return self.multipart(email, at)

    def signed_unreadable(self) -> Post:
        return self.unreadable[0], JSON, f"?token={test_jotform.TOKEN}"


class Mailgun(Contract):
    """The signature is in the body, over a timestamp and token only."""

    name = "mailgun"
    settings: ClassVar[dict[str, Any]] = {"signing_key": test_mailgun.KEY}
    malformed_status = 406
    unreadable = (
        b"{not json",
        b"[]",
        b'{"signature": {}}',
        b'{"event-data": []}',
        b"[" * 100_000,
    )

    def event(self, email: str, at: int) -> dict[str, Any]:
        return test_mailgun.event(recipient=email, timestamp=at, id=f"mailgun-{at}")

    def sample(self, email: str, at: int, key: str = test_mailgun.KEY) -> bytes:
        # A token of its own: a signature block is bound to the first event-data it carries.
        block = test_mailgun.signature_block(key=key, token=f"{at:050d}")
        return test_mailgun.envelope(self.event(email, at), block)

    def sign(self, body: bytes) -> dict[str, str]:
        return JSON

    def forged(self, email: str, at: int) -> Post:
        return self.sample(email, at, key="not-the-key"), JSON

    def unsigned(self, email: str, at: int) -> Post:
        return json.dumps({"event-data": self.event(email, at)}).encode(), JSON

    def signed_unreadable(self) -> Post:
        block = test_mailgun.signature_block(token="b" * 50)
        return json.dumps({"signature": block, "event-data": "?"}).encode(), JSON


class Mailjet(BasicAuth):
    name = "mailjet"
    settings: ClassVar[dict[str, Any]] = {
        "username": test_mailjet.USER,
        "password": test_mailjet.PASSWORD,
    }
    unreadable = (b"{not json", b'"unsub"', b"null", b"[" * 100_000)

    def sample(self, email: str, at: int) -> bytes:
        return webhooks.json_body(test_mailjet.event(email=email, time=at))


class Mandrill(Contract):
    """Its sample is a batch of two events (an unsub and a spam), signed with its URL."""

    name = "mandrill"
    settings: ClassVar[dict[str, Any]] = {"webhook_key": test_mandrill.KEY}
    recorded = 2
    head_status = 200  # Mandrill checks the URL with a HEAD before it posts
    unreadable = (
        b"mandrill_events={not json",
        b"\xff",
        b"events=%5B%5D",
        urlencode({"mandrill_events": json.dumps({"event": "unsub"})}).encode(),
    )

    def sample(self, email: str, at: int) -> bytes:
        events = copy.deepcopy(test_mandrill.SAMPLE_EVENTS)
        for event in events:
            event["ts"] = at
            event["msg"]["email"] = email
        return test_mandrill.form(*events)

    def sign(self, body: bytes) -> dict[str, str]:
        return test_mandrill.signed(body)

    def forge(self, body: bytes) -> dict[str, str]:
        return test_mandrill.signed(body, key="another-webhook-key")


class Postmark(BasicAuth):
    name = "postmark"
    settings: ClassVar[dict[str, Any]] = {
        "username": test_postmark.USER,
        "password": test_postmark.PASSWORD,
    }
    malformed_status = 403
    unreadable = (b"{not json", b'"a string"', b"42", b"[" * 100_000)

    def sample(self, email: str, at: int) -> bytes:
        return webhooks.json_body(test_postmark.record(Recipient=email, ChangedAt=iso(at)))


class Resend(Contract):
    """Svix signs each attempt afresh; the message id is the same on every attempt."""

    name = "resend"
    settings: ClassVar[dict[str, Any]] = {"secret": test_resend.SECRET}
    unreadable = (b"{not json", b"[]", b'{"type": "email.complained"}', b"3")

    def sample(self, email: str, at: int) -> bytes:
        event = test_resend.COMPLAINED
        data = {**event["data"], "to": [email]}
        return json.dumps({**event, "created_at": iso(at), "data": data}).encode()

    def sign(self, body: bytes, secret: str = test_resend.SECRET) -> dict[str, str]:
        msg_id = "msg_" + hashlib.sha256(body).hexdigest()[:24]
        return test_resend.signed(body, msg_id=msg_id, secret=secret)

    def forge(self, body: bytes) -> dict[str, str]:
        return self.sign(body, secret=test_resend.OTHER)


class SendGrid(Contract):
    name = "sendgrid"
    unreadable = (b"{not json", b'{"event": "unsubscribe"}')

    def __init__(self) -> None:
        self.signer = test_sendgrid.Signer()

    def table(self, tmp_path: Path) -> dict[str, Any]:
        return {"public_key": self.signer.public_key}

    def sample(self, email: str, at: int) -> bytes:
        [event] = webhooks.sample("sendgrid-unsubscribe.json")
        return test_sendgrid.body_of(
            {**event, "email": email, "timestamp": at, "sg_event_id": f"sg-{at}"}
        )

    def sign(self, body: bytes) -> dict[str, str]:
        return self.signer.headers(body)

    def forge(self, body: bytes) -> dict[str, str]:
        return test_sendgrid.Signer().headers(body)


@functools.cache
def sns_signer() -> test_ses.Signer:
    """One SNS stand-in for all the SES cases (RSA keys are slow to make)."""
    return test_ses.Signer()


class SES(Contract):
    """The signature is in the body: an SNS message around the SES record."""

    name = "ses"
    unreadable = (
        b"{not json",
        b"[]",
        json.dumps({"Type": "Notification", "MessageId": "m", "Message": "Hello"}).encode(),
    )

    def table(self, tmp_path: Path) -> dict[str, Any]:
        return {
            "topic_arns": [test_ses.TOPIC],
            "certificates": {test_ses.CERT_URL: sns_signer().write(tmp_path)},
        }

    def record(self, email: str, at: int) -> dict[str, Any]:
        record = copy.deepcopy(webhooks.sample("ses-event-complaint.json"))
        record["complaint"]["complainedRecipients"] = [{"emailAddress": email}]
        record["complaint"]["timestamp"] = iso(at)
        record["mail"]["destination"] = [email]
        return record

    def sample(self, email: str, at: int, signer: test_ses.Signer | None = None) -> bytes:
        signer = signer or sns_signer()
        return signer.notification(self.record(email, at), message_id=f"ses-{at}")

    def sign(self, body: bytes) -> dict[str, str]:
        return test_ses.HEADERS

    def forged(self, email: str, at: int) -> Post:
        return self.sample(email, at, signer=test_ses.Signer()), test_ses.HEADERS

    def unsigned(self, email: str, at: int) -> Post:
        # What raw message delivery posts: the SES record without SNS's signed envelope.
        return json.dumps(self.record(email, at)).encode(), test_ses.HEADERS

    def signed_unreadable(self) -> Post:
        return sns_signer().notification("Hello"), test_ses.HEADERS


class SparkPost(BasicAuth):
    name = "sparkpost"
    settings: ClassVar[dict[str, Any]] = test_sparkpost.BASIC
    unreadable = (b"{not json", b'{"msys": {}}', b"null")

    def sample(self, email: str, at: int) -> bytes:
        name = "sparkpost-list_unsubscribe.json"
        event = test_sparkpost.filled(name, rcpt_to=email, timestamp=str(at), event_id=str(at))
        return test_sparkpost.body_of(event)


class Standard(Contract):
    """Our own body, signed with Standard Webhooks; an unsubscribe from the email channel."""

    name = "standard"
    settings: ClassVar[dict[str, Any]] = {"secret": test_standard.SECRET}
    unreadable = (b"{not json", b"[]", b'{"email": "a@example.com"}', b'{"subscribe": ["93"]}')

    def sample(self, email: str, at: int) -> bytes:
        return test_standard.body(email=email, unsubscribe="email", occurred_at=iso(at))

    def sign(self, body: bytes) -> dict[str, str]:
        return test_standard.signed(body, msg_id="msg_" + hashlib.sha256(body).hexdigest()[:24])

    def forge(self, body: bytes) -> dict[str, str]:
        return test_standard.signed(body, secret=test_standard.OTHER)


class Tally(Contract):
    """A form response asking to unsubscribe (the table's action)."""

    name = "tally"
    settings: ClassVar[dict[str, Any]] = {
        "signing_secret": test_tally.SECRET,
        "action": "unsubscribe",
    }
    unreadable = (
        b"{not json",
        b"[]",
        b'{"eventType": "FORM_RESPONSE"}',
        b'{"eventType": "FORM_RESPONSE", "data": {}}',
    )

    def sample(self, email: str, at: int) -> bytes:
        found = test_tally.event(email, eventId=f"tally-{at}")
        found["data"]["createdAt"] = iso(at)
        return json.dumps(found).encode()

    def sign(self, body: bytes) -> dict[str, str]:
        return test_tally.signed(body)

    def forge(self, body: bytes) -> dict[str, str]:
        return test_tally.signed(body, secret="not-the-secret-0123456")


class Typeform(Contract):
    """A form response asking to unsubscribe (the table's action)."""

    name = "typeform"
    settings: ClassVar[dict[str, Any]] = {"secret": test_typeform.SECRET, "action": "unsubscribe"}
    unreadable = (
        b"{not json",
        b"[]",
        b'{"event_type": "form_response"}',
        b'{"event_type": "form_response", "form_response": {}}',
    )

    def sample(self, email: str, at: int) -> bytes:
        event = test_typeform.response(submitted_at=iso(at))
        event["event_id"] = f"tf-{at}"
        event["form_response"]["answers"][2]["email"] = email
        return json.dumps(event).encode()

    def sign(self, body: bytes) -> dict[str, str]:
        return test_typeform.signed(body)

    def forge(self, body: bytes) -> dict[str, str]:
        return test_typeform.signed(body, secret="not-the-secret-0123456")


class Webflow(Contract):
    """The documented form submission, asking to unsubscribe (the table's action)."""

    name = "webflow"
    settings: ClassVar[dict[str, Any]] = {"secret": test_webflow.SECRET, "action": "unsubscribe"}
    unreadable = (
        b"{not json",
        b"[]",
        b'{"triggerType": "form_submission"}',
        b'{"triggerType": "form_submission", "payload": {"id": "x"}}',
    )

    def sample(self, email: str, at: int) -> bytes:
        found = test_webflow.submission(email, id=f"wf-{at}", submittedAt=iso(at))
        return json.dumps(found).encode()

    def sign(self, body: bytes) -> dict[str, str]:
        return test_webflow.signed(body)

    def forge(self, body: bytes) -> dict[str, str]:
        return test_webflow.signed(body, secret="not-the-secret-0123456")


CONTRACTS: list[type[Contract]] = [
    Brevo,
    Generic,
    HubSpot,
    Jotform,
    Mailgun,
    Mailjet,
    Mandrill,
    Postmark,
    Resend,
    SendGrid,
    SES,
    SparkPost,
    Standard,
    Tally,
    Typeform,
    Webflow,
]


@pytest.fixture(params=CONTRACTS, ids=lambda described: described.name)
def contract(request: pytest.FixtureRequest) -> Contract:
    """One provider's description."""
    described: type[Contract] = request.param
    return described()


@pytest.mark.parametrize(
    ("described", "body"),
    [(described, body) for described in CONTRACTS for body in described.unreadable],
    ids=lambda value: value.name if isinstance(value, type) else repr(value)[:24],
)
def test_an_unreadable_body_is_malformed(
    described: type[Contract], body: bytes, tmp_path: Path
) -> None:
    contract = described()
    provider = webhooks.make_provider(contract.name, **contract.table(tmp_path))
    with pytest.raises(Malformed):
        provider.parse(webhooks.delivery(body))


def test_a_signed_sample_is_recorded_once_and_applied(
    contract: Contract, tmp_path: Path, sandbox: Sandbox
) -> None:
    email = sandbox.contacts[JANE]["email"]
    name, n = contract.name, contract.recorded
    outbound = test_ses.Outbound()
    providers = {name: contract.table(tmp_path)}
    with webhooks.bridge_with(tmp_path, sandbox, providers, outbound=outbound.transport) as client:
        assert client.head(f"/webhooks/{name}").status_code == contract.head_status
        for refused in (contract.unsigned(email, NEWER), contract.forged(email, NEWER)):
            assert webhooks.post(client, name, *refused).status_code == 401
        unreadable = webhooks.post(client, name, *contract.signed_unreadable())
        assert unreadable.status_code == contract.malformed_status
        first = webhooks.post(client, name, *contract.signed(email, NEWER))
        assert (first.status_code, first.text) == (
            200,
            f"ok: {n} recorded, 0 duplicate, 0 ignored, 0 invalid\n",
        )
        again = webhooks.post(client, name, *contract.signed(email, NEWER))
        assert (again.status_code, again.text) == (
            200,
            f"ok: 0 recorded, {n} duplicate, 0 ignored, 0 invalid\n",
        )
        rows = [
            (r.request.source, r.request.identity.email, r.request.wanted)
            for r in webhooks.recorded(client)
        ]
        assert rows == [(name, email.lower(), Wanted.UNSUBSCRIBED)] * n
        webhooks.apply_all(client)
    assert outbound.requests == []
    # An unsubscribe (or complaint) from an unmapped list: every email type, on every contact
    # with Jane's address.
    live_email = [
        t
        for t, v in sandbox.types.items()
        if v["state"] == "live" and "email" in v["content_types"]
    ]
    assert live_email
    for contact_id, contact in sandbox.contacts.items():
        if contact.get("email") == email:
            assert not any(sandbox.receives(contact_id, t) for t in live_email), contact_id


def test_a_ledger_failure_is_a_503(
    contract: Contract, tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_record(*args: object, **kwargs: object) -> None:
        raise LedgerUnavailable("database is locked")

    with webhooks.bridge_with(
        tmp_path, sandbox, {contract.name: contract.table(tmp_path)}
    ) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        monkeypatch.setattr(services.ledger, "record", failing_record)
        response = webhooks.post(
            client, contract.name, *contract.signed("someone@example.com", NEWER)
        )
        assert response.status_code == 503


def test_a_duplicate_or_older_unsubscribe_does_not_undo_a_later_choice(
    contract: Contract, tmp_path: Path, sandbox: Sandbox
) -> None:
    if not contract.timed:
        pytest.skip(f"{contract.name} sends no time: its deliveries are ordered by arrival")
    email, name, n = sandbox.contacts[AMELIE]["email"], contract.name, contract.recorded
    with webhooks.bridge_with(tmp_path, sandbox, {name: contract.table(tmp_path)}) as client:
        assert webhooks.post(client, name, *contract.signed(email, NEWER)).status_code == 200
        webhooks.apply_all(client)
        assert not sandbox.receives(AMELIE, "95")
        sandbox.workspace.attach(AMELIE, "95", "opt_in")  # she opts in again, in Intercom
        again = webhooks.post(client, name, *contract.signed(email, NEWER))
        assert again.status_code == 200 and f" {n} duplicate" in again.text
        late = webhooks.post(client, name, *contract.signed(email, OLDER))
        assert late.status_code == 200 and f" {n} recorded" in late.text
        webhooks.apply_all(client)
        statuses = sorted((r.request.occurred_at, r.status) for r in webhooks.recorded(client))
    assert [status for _, status in statuses] == [Status.SUPERSEDED] * n + [Status.APPLIED] * n
    assert sandbox.receives(AMELIE, "95")


def test_an_older_unsubscribe_arriving_late_does_not_win(
    contract: Contract, tmp_path: Path, sandbox: Sandbox
) -> None:
    if not contract.timed:
        pytest.skip(f"{contract.name} sends no time: its deliveries are ordered by arrival")
    # Jane opted in to offers (95) on the preference page; an unsubscribe from an hour before
    # that arrives later (a retry after an outage). The newer choice stands.
    email, name = sandbox.contacts[JANE]["email"], contract.name
    now = datetime.now(UTC)
    opted_in = ConsentRequest(
        identity=Identity(email=email),
        wanted=Wanted.SUBSCRIBED,
        scope=Scope(type_ids=("95",)),
        occurred_at=now,
        source="preferences",
        event_id="opt-in-95",
    )
    older = contract.signed(email, int((now - timedelta(hours=1)).timestamp()))
    with webhooks.bridge_with(tmp_path, sandbox, {name: contract.table(tmp_path)}) as client:
        ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
        client.portal.call(ledger.record, [opted_in])  # type: ignore[union-attr]
        assert webhooks.post(client, name, *older).status_code == 200
        webhooks.apply_all(client)
    assert sandbox.receives(JANE, "95")
