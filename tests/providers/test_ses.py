"""Amazon SES via SNS: AWS's signed messages, tampering, certificates, samples, handshakes."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bridge.consent import Channel, Scope, Wanted
from bridge.providers import Malformed, Parsed, Provider, Rejected, Unreachable
from bridge.providers.sns import SnsVerifier
from bridge.providers.sns_certificates import (
    DOWNLOAD_INTERVAL,
    DOWNLOADS_PER_MINUTE,
    FETCH_TIMEOUT,
)
from bridge.sandbox import Sandbox
from bridge.settings import SettingsError
from tests.providers.webhooks import (
    bridge_with,
    delivery,
    make_provider,
    post,
    recorded,
    sample,
    sample_bytes,
)

GENUINE: dict[str, Any] = sample("aws-sns-signed-testvectors.json")
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
CERT_NAME = "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"  # as AWS names them
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
)
HEADERS = {"Content-Type": "text/plain; charset=UTF-8"}


class Outbound:
    """A fake outbound HTTP world that records every request and serves canned answers."""

    def __init__(self, routes: dict[str, httpx.Response | Exception] | None = None) -> None:
        self.routes = dict(routes or {})
        self.requests: list[str] = []
        self.gate: asyncio.Event | None = None  # when set up, answers wait until it opens
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.routes.get(url, httpx.Response(404))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> httpx.AsyncClient:
        """An AsyncClient as the app builds it, over this transport."""
        return httpx.AsyncClient(transport=self.transport, follow_redirects=False)


class Signer:
    """An RSA key and a self-signed CN=sns.amazonaws.com certificate standing in for AWS's."""

    def __init__(self, common_name: str = "sns.amazonaws.com") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path) -> str:
        """The certificate as a PEM file, for the `certificates` setting."""
        path = directory / "sns-signing.pem"
        path.write_bytes(self.pem)
        return str(path)

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        """`message` with SignatureVersion, SigningCertURL and Signature as SNS adds them."""
        keys = (
            ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
            if message["Type"] == "Notification"
            else ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
        )
        canonical = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(canonical, padding.PKCS1v15(), digest)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": CERT_URL,
        }

    def notification(
        self,
        record: dict[str, Any] | str,
        *,
        message_id: str = "a1b2c3d4-0000-5000-8000-000000000001",
        topic: str = TOPIC,
        version: str = "1",
    ) -> bytes:
        """An SES record wrapped in a signed SNS Notification, as SNS posts it."""
        message = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic,
            "Message": record if isinstance(record, str) else json.dumps(record),
            "Timestamp": "2024-03-01T12:00:00.000Z",
        }
        signed = {
            **self.sign(message, version),
            "UnsubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&x={topic}",
        }
        return json.dumps(signed, indent=2).encode()

    def confirmation(
        self,
        kind: str = "SubscriptionConfirmation",
        *,
        topic: str = TOPIC,
        url: str = SUBSCRIBE_URL,
    ) -> bytes:
        """A signed SubscriptionConfirmation (or UnsubscribeConfirmation)."""
        message = {
            "Type": kind,
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425",
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": url,
            "Timestamp": "2024-03-01T11:00:00.000Z",
        }
        return json.dumps(self.sign(message), indent=2).encode()


@pytest.fixture(scope="module")
def signer() -> Signer:
    """A signing key and certificate, shared by a module's tests (RSA keys are slow to make)."""
    return Signer()


@pytest.fixture
def pinned(signer: Signer, tmp_path: Path) -> dict[str, str]:
    """The `certificates` setting holding our signer's certificate."""
    return {CERT_URL: signer.write(tmp_path)}


def ses(pinned: dict[str, str], **table: Any) -> Provider:
    """The SES provider for TOPIC, with our signer's certificate pinned."""
    return make_provider("ses", topic_arns=[TOPIC], certificates=pinned, **table)


def genuine_pem(tmp_path: Path) -> dict[str, str]:
    """The `certificates` setting holding AWS's real (expired) certificate for the vectors."""
    path = tmp_path / "aws-sns.pem"
    path.write_text(GENUINE["signing_cert_pem"], "utf-8")
    return {GENUINE["messages"][0]["SigningCertURL"]: str(path)}


def all_topics() -> list[str]:
    """The topics of the four genuine messages."""
    return [m["TopicArn"] for m in GENUINE["messages"]]


def body(message: dict[str, Any]) -> bytes:
    """An SNS message as SNS posts it."""
    return json.dumps(message, indent=2).encode()


def verified(provider: Provider, raw: bytes) -> Parsed:
    """Verify (no outbound calls allowed) then parse, as the endpoint does."""
    outbound = Outbound()

    async def run() -> None:
        async with outbound.client() as http:
            await provider.verify(delivery(raw, HEADERS, path="/webhooks/ses"), http)

    asyncio.run(run())
    assert outbound.requests == []
    return provider.parse(delivery(raw, HEADERS, path="/webhooks/ses"))


async def check(provider: Provider, raw: bytes, outbound: Outbound | None = None) -> None:
    """Run verify with a recording outbound client."""
    async with (outbound or Outbound()).client() as http:
        await provider.verify(delivery(raw, HEADERS, path="/webhooks/ses"), http)


class Clock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds


def sns_verifier(clock: Clock) -> SnsVerifier:
    """A verifier for the genuine messages' topics, nothing pinned, on a test clock."""
    return SnsVerifier(frozenset(all_topics()), {}, clock=clock)


async def check_sns(verifier: SnsVerifier, message: dict[str, Any], outbound: Outbound) -> None:
    """Run one message through the verifier with a recording outbound client."""
    async with outbound.client() as http:
        await verifier.verify(message, http)


def genuine_certificate() -> httpx.Response:
    """AWS's certificate for the genuine messages, as its URL serves it."""
    return httpx.Response(200, content=GENUINE["signing_cert_pem"].encode())


def certificate_url(number: int) -> str:
    """The `number`th of many certificate URLs shaped as SNS issues them."""
    return f"https://sns.us-east-2.amazonaws.com/SimpleNotificationService-{number:032x}.pem"


# --- AWS's own signed messages ---------------------------------------------------------------


def test_the_vectors_are_the_ones_sdk_test_vectors_names() -> None:
    assert sample("sdk-test-vectors.json")["aws_sns"]["file"] == "aws-sns-signed-testvectors.json"
    assert len(GENUINE["messages"]) == 4


@pytest.mark.parametrize("message", GENUINE["messages"], ids=lambda m: m["MessageId"][:8])
async def test_genuine_messages_verify_with_a_pinned_certificate(
    message: dict[str, Any], tmp_path: Path
) -> None:
    provider = make_provider("ses", topic_arns=all_topics(), certificates=genuine_pem(tmp_path))
    outbound = Outbound()
    await check(provider, body(message), outbound)
    assert outbound.requests == []  # the pinned certificate is never downloaded


async def test_genuine_messages_verify_with_a_fetched_certificate_cached_once() -> None:
    url = GENUINE["messages"][0]["SigningCertURL"]
    pem = GENUINE["signing_cert_pem"].encode()
    outbound = Outbound({url: httpx.Response(200, content=pem)})
    provider = make_provider("ses", topic_arns=all_topics())
    for message in GENUINE["messages"]:
        await check(provider, body(message), outbound)
    assert outbound.requests == [url]


def tampered(message: dict[str, Any], field: str) -> dict[str, Any]:
    """A genuine message with one signed field changed, and nothing else wrong with it."""
    changed = copy.deepcopy(message)
    if field == "Signature":
        raw = bytearray(base64.b64decode(changed["Signature"]))
        raw[10] ^= 0x01
        changed["Signature"] = base64.b64encode(bytes(raw)).decode()
    elif field == "SignatureVersion":
        changed["SignatureVersion"] = "2" if message["SignatureVersion"] == "1" else "1"
    elif field == "Subject":
        changed["Subject"] = changed.get("Subject", "") + "!"  # added, or altered
    elif field == "Type":
        # A well-formed confirmation, so only the signature can give it away.
        changed.update(
            Type="SubscriptionConfirmation",
            SubscribeURL="https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription",
            Token="x",
        )
    elif field == "TopicArn":
        changed["TopicArn"] = all_topics()[(all_topics().index(message["TopicArn"]) + 1) % 4]
    elif field == "Timestamp":
        # Another millisecond: still a time, or it would be refused before the signature.
        stamp = changed["Timestamp"]
        changed["Timestamp"] = stamp[:-2] + ("1" if stamp[-2] != "1" else "2") + stamp[-1]
    else:
        changed[field] = changed[field][:-1] + ("X" if changed[field][-1] != "X" else "Y")
    return changed


@pytest.mark.parametrize(
    "field",
    [
        *("Message", "MessageId", "Timestamp", "TopicArn", "Type", "Subject"),
        *("Signature", "SignatureVersion"),
    ],
)
@pytest.mark.parametrize("message", GENUINE["messages"], ids=lambda m: m["MessageId"][:8])
async def test_tampering_with_any_signed_field_is_rejected(
    message: dict[str, Any], field: str, tmp_path: Path
) -> None:
    provider = make_provider("ses", topic_arns=all_topics(), certificates=genuine_pem(tmp_path))
    await check(provider, body(message))
    with pytest.raises(Rejected, match="signature does not match"):
        await check(provider, body(tampered(message, field)))


@pytest.mark.parametrize("version", ["3", "", "1.0"])
async def test_an_unknown_signature_version_is_rejected(version: str, tmp_path: Path) -> None:
    provider = make_provider("ses", topic_arns=all_topics(), certificates=genuine_pem(tmp_path))
    message = {**GENUINE["messages"][1], "SignatureVersion": version}
    with pytest.raises(Rejected, match="SignatureVersion"):
        await check(provider, body(message))


async def test_a_disallowed_topic_is_rejected_before_anything_is_fetched() -> None:
    message = GENUINE["messages"][0]
    outbound = Outbound({message["SigningCertURL"]: httpx.Response(200, content=b"x")})
    provider = make_provider("ses", topic_arns=[TOPIC])
    with pytest.raises(Rejected, match="topic_arns"):
        await check(provider, body(message), outbound)
    assert outbound.requests == []


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.us-east-2.amazonaws.com/{CERT_NAME}",
        f"https://sns.evil.com/{CERT_NAME}",
        f"https://sns.us-east-1.amazonaws.com.evil.com/{CERT_NAME}",
        f"https://sns.us-east-2.amazonaws.com/{CERT_NAME[:-4]}.txt",
        "https://sns.us-east-2.amazonaws.com/cert.pem.txt",
        f"https://sns.us-east-2.amazonaws.com:8443/{CERT_NAME}",
        f"https://sns.us-east-2.amazonaws.com@evil.com/{CERT_NAME}",
        "https://evil.com#@sns.us-east-2.amazonaws.com/x.pem",
        "https://sns.us-east-2.amazonaws.com/x.pem?redirect=https://evil.com/",
        f"https://sqs.us-east-2.amazonaws.com/{CERT_NAME}",
        f"https://sns.us.amazonaws.com/{CERT_NAME}",
        "https://sns.us-east-2.amazonaws.com\n/x.pem",  # urlsplit drops the newline
        "https://sns.us-east-2.amazonaws.com/a b.pem",
        "",
    ],
)
async def test_a_bad_certificate_url_is_rejected_without_a_fetch(url: str) -> None:
    # SigningCertURL is not among the signed fields: only this check keeps it on AWS.
    message = {**GENUINE["messages"][0], "SigningCertURL": url}
    outbound = Outbound()
    provider = make_provider("ses", topic_arns=all_topics())
    with pytest.raises(Rejected):
        await check(provider, body(message), outbound)
    assert outbound.requests == []


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        # Our side or AWS's could not answer: 503, so SNS retries the genuine message.
        (httpx.Response(500), Unreachable),
        (httpx.Response(503), Unreachable),
        (httpx.ConnectError("no route"), Unreachable),
        (httpx.ReadTimeout("slow"), Unreachable),
        # An answer that is not AWS's certificate: a forgery, refused.
        (httpx.Response(404), Rejected),
        (httpx.Response(301, headers={"Location": "https://evil.example/cert.pem"}), Rejected),
        (httpx.Response(200, content=b"not a certificate"), Rejected),
        (httpx.Response(200, content=b"-----BEGIN CERTIFICATE-----\n" + b"A" * 70_000), Rejected),
        (httpx.Response(200, content=Signer(common_name="evil.example").pem), Rejected),
    ],
    ids=["500", "503", "connect", "timeout", "404", "redirect", "not pem", "huge", "not sns"],
)
async def test_a_failed_download_is_remembered_for_the_interval_then_tried_again(
    answer: httpx.Response | Exception, refusal: type[Exception]
) -> None:
    first, second, third = GENUINE["messages"][:3]  # all three name the same certificate
    url = first["SigningCertURL"]
    outbound = Outbound({url: answer})
    clock = Clock()
    verifier = sns_verifier(clock)
    with pytest.raises(refusal, match="certificate"):
        await check_sns(verifier, first, outbound)
    clock.advance(DOWNLOAD_INTERVAL - 1)
    with pytest.raises(refusal, match="certificate"):
        await check_sns(verifier, second, outbound)  # answered from memory
    assert outbound.requests == [url]
    outbound.routes[url] = genuine_certificate()
    clock.advance(1)
    await check_sns(verifier, third, outbound)  # the interval is over: tried again, now served
    assert outbound.requests == [url, url]


async def test_a_genuine_message_survives_a_network_blip_within_sns_default_retries() -> None:
    # SNS's default delivery policy for HTTP/S endpoints retries three times, 20 s apart.
    sns_retry_delay = 20.0
    message = GENUINE["messages"][0]
    clock = Clock()
    downloads: list[str] = []

    def blip_then_serve(request: httpx.Request) -> httpx.Response:
        downloads.append(str(request.url))
        if len(downloads) == 1:
            clock.advance(FETCH_TIMEOUT)  # the worst blip: the whole timeout, then nothing
            raise httpx.ReadTimeout("slow", request=request)
        return genuine_certificate()

    verifier = sns_verifier(clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(blip_then_serve)) as http:
        sent_at = clock()
        with pytest.raises(Unreachable):
            await verifier.verify(message, http)
        clock.now = sent_at + sns_retry_delay  # SNS's first retry, counted from its attempt
        await verifier.verify(message, http)
    assert downloads == [message["SigningCertURL"]] * 2


async def held_back(outbound: Outbound, messages: list[dict[str, Any]]) -> list[object]:
    """Verify `messages` concurrently while the certificate's answer is held back."""
    verifier = sns_verifier(Clock())
    outbound.gate = asyncio.Event()
    tasks = [asyncio.create_task(check_sns(verifier, m, outbound)) for m in messages]
    for _ in range(20):
        await asyncio.sleep(0)  # every task reaches the certificate and waits for it
    assert outbound.requests and not any(task.done() for task in tasks)
    outbound.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_concurrent_messages_share_one_download() -> None:
    url = GENUINE["messages"][0]["SigningCertURL"]
    outbound = Outbound({url: genuine_certificate()})
    results = await held_back(outbound, GENUINE["messages"] * 2)
    assert results == [None] * 8  # all verify, with the one certificate
    assert outbound.requests == [url]


async def test_concurrent_messages_share_one_failed_download() -> None:
    url = GENUINE["messages"][0]["SigningCertURL"]
    outbound = Outbound({url: httpx.Response(502)})
    results = await held_back(outbound, GENUINE["messages"])
    assert [type(result) for result in results] == [Unreachable] * 4
    assert outbound.requests == [url]


async def test_a_message_whose_sender_gives_up_does_not_cancel_the_download() -> None:
    url = GENUINE["messages"][0]["SigningCertURL"]
    outbound = Outbound({url: genuine_certificate()})
    outbound.gate = asyncio.Event()
    verifier = sns_verifier(Clock())
    first, second = (
        asyncio.create_task(check_sns(verifier, m, outbound)) for m in GENUINE["messages"][:2]
    )
    for _ in range(20):
        await asyncio.sleep(0)
    first.cancel()  # as when SNS hangs up on one delivery
    await asyncio.sleep(0)
    outbound.gate.set()
    await second
    assert first.cancelled() and outbound.requests == [url]


async def test_the_certificates_in_use_stay_cached_longest() -> None:
    message = GENUINE["messages"][0]
    urls = [certificate_url(n) for n in range(33)]  # one more than the cache holds
    outbound = Outbound({url: genuine_certificate() for url in urls})
    clock = Clock()
    verifier = sns_verifier(clock)
    for url in urls[:32]:
        await check_sns(verifier, {**message, "SigningCertURL": url}, outbound)
        clock.advance(60 / DOWNLOADS_PER_MINUTE)  # within the cap
    await check_sns(verifier, {**message, "SigningCertURL": urls[0]}, outbound)  # in use
    await check_sns(verifier, {**message, "SigningCertURL": urls[32]}, outbound)
    assert outbound.requests == urls
    await check_sns(verifier, {**message, "SigningCertURL": urls[0]}, outbound)
    assert outbound.requests == urls  # kept; the least recently used, urls[1], made room
    clock.advance(60)
    await check_sns(verifier, {**message, "SigningCertURL": urls[1]}, outbound)
    assert outbound.requests == [*urls, urls[1]]


async def test_downloads_of_distinct_urls_are_capped_per_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.providers.sns_certificates")
    message = GENUINE["messages"][0]
    outbound = Outbound()  # every URL answers 404
    clock = Clock()
    verifier = sns_verifier(clock)
    allowed = [certificate_url(n) for n in range(DOWNLOADS_PER_MINUTE)]
    for url in allowed:
        with pytest.raises(Rejected, match="404"):
            await check_sns(verifier, {**message, "SigningCertURL": url}, outbound)
        clock.advance(1)
    assert outbound.requests == allowed
    for n in range(DOWNLOADS_PER_MINUTE, DOWNLOADS_PER_MINUTE + 5):
        with pytest.raises(Unreachable, match="too many"):
            await check_sns(verifier, {**message, "SigningCertURL": certificate_url(n)}, outbound)
    assert outbound.requests == allowed
    # A URL already tried is answered from memory, over the cap or not.
    with pytest.raises(Rejected, match="404"):
        await check_sns(verifier, {**message, "SigningCertURL": allowed[-1]}, outbound)
    assert outbound.requests == allowed
    capped = [r.getMessage() for r in caplog.records if "capped" in r.getMessage()]
    assert len(capped) == 1 and " 1 message" in capped[0], capped
    clock.advance(60)  # over a minute since those downloads: room again
    again = [certificate_url(n) for n in range(100, 100 + DOWNLOADS_PER_MINUTE)]
    for url in again:
        with pytest.raises(Rejected, match="404"):
            await check_sns(verifier, {**message, "SigningCertURL": url}, outbound)
    assert outbound.requests == [*allowed, *again]
    with pytest.raises(Unreachable, match="too many"):
        await check_sns(verifier, {**message, "SigningCertURL": certificate_url(200)}, outbound)
    capped = [r.getMessage() for r in caplog.records if "capped" in r.getMessage()]
    # Once more a minute on: the four refused meanwhile, unlogged till now, and this one.
    assert len(capped) == 2 and " 5 message" in capped[1], capped


async def test_a_certificate_not_issued_to_sns_is_rejected(signer: Signer) -> None:
    impostor = Signer(common_name="evil.example")
    raw = impostor.notification(sample("ses-event-complaint.json"))
    outbound = Outbound({CERT_URL: httpx.Response(200, content=impostor.pem)})
    with pytest.raises(Rejected, match=r"evil\.example"):
        await check(make_provider("ses", topic_arns=[TOPIC]), raw, outbound)


async def test_a_certificate_for_the_url_host_is_accepted() -> None:
    # Outside AWS's commercial partition the certificate may name the regional host itself.
    regional = Signer(common_name="sns.eu-west-1.amazonaws.com")
    raw = regional.notification(sample("ses-event-complaint.json"))
    outbound = Outbound({CERT_URL: httpx.Response(200, content=regional.pem)})
    await check(make_provider("ses", topic_arns=[TOPIC]), raw, outbound)


async def test_a_signature_by_another_key_is_rejected(pinned: dict[str, str]) -> None:
    raw = Signer().notification(sample("ses-event-complaint.json"))  # not the pinned cert's key
    with pytest.raises(Rejected, match="signature does not match"):
        await check(ses(pinned), raw)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_our_own_signed_messages_verify(
    signer: Signer, pinned: dict[str, str], version: str
) -> None:
    await check(
        ses(pinned), signer.notification(sample("ses-event-complaint.json"), version=version)
    )
    await check(ses(pinned), signer.confirmation())
    await check(ses(pinned), signer.confirmation("UnsubscribeConfirmation"))


async def test_raw_message_delivery_is_rejected(pinned: dict[str, str]) -> None:
    with pytest.raises(Rejected, match="raw message delivery"):
        await check(ses(pinned), sample_bytes("ses-event-complaint.json"))


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"Type": "Notice"}',
        b'{"Type": ["Notification"]}',
        sample_bytes("aws-sns-notification.txt"),  # headers and all: not JSON
    ],
)
async def test_a_body_that_is_not_an_sns_message_is_rejected(
    pinned: dict[str, str], raw: bytes
) -> None:
    with pytest.raises(Rejected):
        await check(ses(pinned), raw)


@pytest.mark.parametrize("field", ["Signature", "SigningCertURL", "MessageId", "Timestamp"])
async def test_a_message_missing_a_field_is_rejected(
    signer: Signer, pinned: dict[str, str], field: str
) -> None:
    message = json.loads(signer.notification(sample("ses-event-complaint.json")))
    del message[field]
    with pytest.raises(Rejected, match=field):
        await check(ses(pinned), body(message))


async def test_the_documented_sns_examples_are_rejected(pinned: dict[str, str]) -> None:
    # Verbatim from the SNS guide: placeholder signatures, an example topic.
    provider = make_provider(
        "ses", topic_arns=["arn:aws:sns:us-west-2:123456789012:MyTopic"], certificates=pinned
    )
    for name in (
        "aws-sns-notification.txt",
        "aws-sns-subscriptionconfirmation.txt",
        "aws-sns-unsubscribeconfirmation.txt",
    ):
        raw = sample_bytes(name).split(b"\n\n", 1)[1]
        with pytest.raises(Rejected):
            await check(provider, raw)


# --- Checked before any certificate is downloaded --------------------------------------------


async def refused_without_a_download(message: dict[str, Any], problem: str) -> None:
    """Assert that `message`, on an allowed topic, is rejected and nothing is fetched."""
    url = GENUINE["messages"][0]["SigningCertURL"]
    outbound = Outbound({url: genuine_certificate()})  # a download would succeed
    provider = make_provider("ses", topic_arns=all_topics())
    with pytest.raises(Rejected, match=problem):
        await check(provider, body(message), outbound)
    assert outbound.requests == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Signature": ""}, "Signature"),
        ({"MessageId": ""}, "MessageId"),
        ({"MessageId": "two words"}, "MessageId"),
        ({"MessageId": "x" * 101}, "MessageId"),
        ({"MessageId": "caf\u00e9"}, "MessageId"),
    ],
    ids=["unsigned", "no id", "spaced id", "long id", "non-ascii id"],
)
async def test_an_unsigned_or_garbled_message_downloads_nothing(
    change: dict[str, str], problem: str
) -> None:
    await refused_without_a_download({**GENUINE["messages"][0], **change}, problem)


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        "yesterday",
        "1659043438",
        "2022-07-28",
        "2022-07-28T21:23:58.317",  # no zone
        "2022-13-28T21:23:58.317Z",
        "2022-07-28T25:23:58.317Z",
    ],
)
async def test_a_bad_timestamp_downloads_nothing(timestamp: str) -> None:
    await refused_without_a_download(
        {**GENUINE["messages"][0], "Timestamp": timestamp}, "Timestamp"
    )


@pytest.mark.parametrize("length", [1, 64, 255, 257, 1024])
async def test_a_signature_of_implausible_length_downloads_nothing(length: int) -> None:
    signature = base64.b64encode(b"\x5a" * length).decode()
    message = {**GENUINE["messages"][0], "Signature": signature}
    await refused_without_a_download(message, "Signature")


@pytest.mark.parametrize(
    "path",
    [
        "/x.pem",
        "/SimpleNotificationService.pem",
        "/SimpleNotificationService-.pem",
        "/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfdz.pem",
        "/SimpleNotificationService-" + "a" * 65 + ".pem",
        f"/certs/{CERT_NAME}",
        f"//{CERT_NAME}",
        f"/{CERT_NAME[:-4]}/..%2Fx.pem",
        f"/%53{CERT_NAME[1:]}",
        f"/{CERT_NAME[:-4]};x.pem",
        f"/{CERT_NAME}.pem",
    ],
)
async def test_an_odd_certificate_path_downloads_nothing(path: str) -> None:
    message = GENUINE["messages"][0]
    url = "https://sns.us-east-2.amazonaws.com" + path
    await refused_without_a_download({**message, "SigningCertURL": url}, "SigningCertURL")


# --- Settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        {},
        {"topic_arns": []},
        {"topic_arns": TOPIC},
        {"topic_arns": [TOPIC, 7]},
        {"topic_arns": ["ses-feedback"]},
        {"topic_arns": [TOPIC + ":c9135db0-26c4-47ec-8998-413945fb5a96"]},  # a subscription ARN
    ],
)
def test_topic_arns_are_required_and_checked(table: dict[str, Any]) -> None:
    with pytest.raises(SettingsError, match=r"providers\.ses\.topic_arns"):
        make_provider("ses", **table)


def test_certificates_are_checked_at_start_up(signer: Signer, tmp_path: Path) -> None:
    good = signer.write(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate", "utf-8")
    impostor = tmp_path / "impostor.pem"
    impostor.write_bytes(Signer(common_name="evil.example").pem)
    cases: list[tuple[Any, str]] = [
        ("not a table", "must be a table"),
        ({CERT_URL: str(tmp_path / "missing.pem")}, "cannot read"),
        ({CERT_URL: str(junk)}, "not a PEM"),
        ({CERT_URL: str(impostor)}, "evil.example"),
        ({CERT_URL: 7}, "path of a PEM file"),
        ({"https://example.com/cert.pem": good}, "not an SNS signing certificate URL"),
    ]
    for certificates, problem in cases:
        with pytest.raises(SettingsError, match=r"providers\.ses\.certificates") as error:
            make_provider("ses", topic_arns=[TOPIC], certificates=certificates)
        assert problem in str(error.value)
    make_provider("ses", topic_arns=[TOPIC], certificates={CERT_URL: good})


# --- What each SES record asks for -------------------------------------------------------------


def test_each_documented_sample_becomes_the_right_requests(
    signer: Signer, pinned: dict[str, str]
) -> None:
    strict = ses(pinned, bounces="unsubscribe", types={"ContactListName": ["95"]})
    expected = {
        "ses-notification-complaint.json": ("richard@example.com", "complaint"),
        "ses-notification-complaint-nofeedback.json": ("richard@example.com", "complaint"),
        "ses-notification-bounce.json": ("jane@example.com", "bounce"),
        "ses-event-complaint.json": ("recipient@example.com", "complaint"),
        "ses-event-bounce.json": ("recipient@example.com", "bounce"),
    }
    for name, (email, kind) in expected.items():
        record = sample(name)
        message_id = f"msg-{name}"
        parsed = verified(strict, signer.notification(record, message_id=message_id))
        [request] = parsed.requests
        assert request.identity.email == email, name
        assert (request.wanted, request.scope) == (
            Wanted.UNSUBSCRIBED,
            Scope(channel=Channel.EMAIL),
        ), name
        assert request.event_id == f"{message_id}:0"
        assert request.occurred_at == datetime.fromisoformat(record[kind]["timestamp"]), name
        assert request.source == "ses" and request.context["event"] == kind
    # The Subscription sample: unsubscribeAll went false -> true; its one topic stayed OptOut.
    parsed = verified(strict, signer.notification(sample("ses-event-subscription.json")))
    [request] = parsed.requests
    assert request.identity.email == "recipient@example.com"
    assert (request.wanted, request.scope) == (Wanted.UNSUBSCRIBED, Scope(type_ids=("95",)))
    assert request.context == {
        "event": "subscription",
        "list": "ContactListName",
        "via": "UnsubscribeHeader",
    }
    assert request.occurred_at == datetime(2022, 1, 12, 1, 0, 17, 910000, tzinfo=UTC)


def test_an_unmapped_contact_list_means_every_email_type(
    signer: Signer, pinned: dict[str, str]
) -> None:
    parsed = verified(ses(pinned), signer.notification(sample("ses-event-subscription.json")))
    [request] = parsed.requests
    assert request.scope == Scope(channel=Channel.EMAIL)


def test_policies_for_complaints_and_bounces(signer: Signer, pinned: dict[str, str]) -> None:
    complaint = signer.notification(sample("ses-notification-complaint.json"))
    bounce = signer.notification(sample("ses-event-bounce.json"))
    quiet = ses(pinned, complaints="ignore")
    assert verified(quiet, complaint) == Parsed(ignored=1)
    assert verified(ses(pinned), bounce) == Parsed(ignored=1)  # bounces are ignored by default
    strict = ses(pinned, bounces="unsubscribe")
    transient = copy.deepcopy(sample("ses-event-bounce.json"))
    transient["bounce"]["bounceType"] = "Transient"
    assert verified(strict, signer.notification(transient)) == Parsed(ignored=1)
    not_spam = copy.deepcopy(sample("ses-notification-complaint.json"))
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    assert verified(ses(pinned), signer.notification(not_spam)) == Parsed(ignored=1)


def subscription_event(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The documented Subscription record with other topic preferences."""
    record = copy.deepcopy(sample("ses-event-subscription.json"))
    record["subscription"]["oldTopicPreferences"] = old
    record["subscription"]["newTopicPreferences"] = new
    return record


def topics(**statuses: str) -> list[dict[str, str]]:
    """topicSubscriptionStatus entries."""
    return [{"topicName": t, "subscriptionStatus": s} for t, s in statuses.items()]


def test_a_subscription_event_becomes_one_request_per_changed_topic(
    signer: Signer, pinned: dict[str, str]
) -> None:
    provider = ses(
        pinned,
        types={"ContactListName/News": ["95"], "ContactListName/Offers": ["96", "97"]},
    )
    record = subscription_event(
        old={
            "unsubscribeAll": False,
            "topicSubscriptionStatus": topics(News="OptIn", Offers="OptOut", Tips="OptIn"),
        },
        new={
            "unsubscribeAll": False,
            "topicSubscriptionStatus": topics(
                News="OptOut", Offers="OptIn", Tips="OptIn", Digest="OptOut", Events="OptIn"
            ),
        },
    )
    parsed = verified(provider, signer.notification(record, message_id="m-1"))
    got = {r.event_id: (r.wanted, r.scope, r.context["list"]) for r in parsed.requests}
    assert got == {
        "m-1:topic:News": (Wanted.UNSUBSCRIBED, Scope(type_ids=("95",)), "ContactListName/News"),
        "m-1:topic:Offers": (
            Wanted.SUBSCRIBED,
            Scope(type_ids=("96", "97")),
            "ContactListName/Offers",
        ),
        # An unmapped topic's opt-out covers every email type, like an unmapped list.
        "m-1:topic:Digest": (
            Wanted.UNSUBSCRIBED,
            Scope(channel=Channel.EMAIL),
            "ContactListName/Digest",
        ),
    }
    # Tips did not change; an opt-in to unmapped Events would mean every email type: skipped.
    [problem] = parsed.invalid
    assert "Events" in problem and "types" in problem


def test_a_subscription_event_without_changes_is_ignored(
    signer: Signer, pinned: dict[str, str]
) -> None:
    same = {"unsubscribeAll": True, "topicSubscriptionStatus": topics(News="OptOut")}
    parsed = verified(ses(pinned), signer.notification(subscription_event(same, same)))
    assert parsed == Parsed(ignored=1)


def test_a_subscription_event_without_old_preferences_counts_all_as_new(
    signer: Signer, pinned: dict[str, str]
) -> None:
    record = subscription_event({}, {"unsubscribeAll": True, "topicSubscriptionStatus": []})
    del record["subscription"]["oldTopicPreferences"]
    [request] = verified(ses(pinned), signer.notification(record, message_id="m")).requests
    assert request.event_id == "m:all" and request.wanted is Wanted.UNSUBSCRIBED


def test_a_subscription_event_needs_exactly_one_recipient(
    signer: Signer, pinned: dict[str, str]
) -> None:
    record = copy.deepcopy(sample("ses-event-subscription.json"))
    record["mail"]["destination"] = ["a@example.com", "b@example.com"]
    parsed = verified(ses(pinned), signer.notification(record))
    assert parsed.requests == [] and "exactly one" in parsed.invalid[0]


def test_event_ids_are_distinct_per_request_and_stable_across_retries(
    signer: Signer, pinned: dict[str, str]
) -> None:
    record = copy.deepcopy(sample("ses-notification-complaint.json"))
    record["complaint"]["complainedRecipients"] = [
        {"emailAddress": "jane@example.com"},
        {"emailAddress": "mary@example.com"},
        {"emailAddress": "richard@example.com"},
    ]
    first = verified(ses(pinned), signer.notification(record, message_id="m-7"))
    retry = verified(ses(pinned), signer.notification(record, message_id="m-7"))
    ids = [r.event_id for r in first.requests]
    assert ids == ["m-7:0", "m-7:1", "m-7:2"] == [r.event_id for r in retry.requests]
    assert [r.identity.email for r in first.requests] == [
        "jane@example.com",
        "mary@example.com",
        "richard@example.com",
    ]
    other = verified(ses(pinned), signer.notification(record, message_id="m-8"))
    assert not set(ids) & {r.event_id for r in other.requests}


def test_one_bad_recipient_does_not_drop_the_others(signer: Signer, pinned: dict[str, str]) -> None:
    record = copy.deepcopy(sample("ses-event-complaint.json"))
    record["complaint"]["complainedRecipients"] = [
        {"emailAddress": "not an address"},
        "junk",
        {"emailAddress": "kept@example.com"},
    ]
    parsed = verified(ses(pinned), signer.notification(record, message_id="m"))
    assert [r.event_id for r in parsed.requests] == ["m:2"]
    assert len(parsed.invalid) == 2


def test_the_sns_timestamp_stands_in_for_a_missing_ses_one(
    signer: Signer, pinned: dict[str, str]
) -> None:
    record = copy.deepcopy(sample("ses-event-complaint.json"))
    del record["complaint"]["timestamp"]
    [request] = verified(ses(pinned), signer.notification(record)).requests
    assert request.occurred_at == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "record",
    [
        {"notificationType": "Delivery", "delivery": {}, "mail": {}},
        {"eventType": "Open", "open": {}, "mail": {}},
        {"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "You have..."},
    ],
    ids=["delivery", "open", "subscription succeeded"],
)
def test_records_that_say_nothing_about_consent_are_ignored(
    signer: Signer, pinned: dict[str, str], record: dict[str, Any]
) -> None:
    assert verified(ses(pinned), signer.notification(record)) == Parsed(ignored=1)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"eventType": "Complaint", "mail": {}}, "no complaint object"),
        ({"eventType": "Complaint", "complaint": {"complainedRecipients": []}}, "no complained"),
        ({"eventType": "Subscription", "subscription": {"contactList": "L"}}, "newTopic"),
    ],
)
def test_an_incomplete_record_is_invalid(
    signer: Signer, pinned: dict[str, str], record: dict[str, Any], problem: str
) -> None:
    parsed = verified(ses(pinned), signer.notification(record))
    assert parsed.requests == [] and problem in parsed.invalid[0]


@pytest.mark.parametrize("record", ["Hello world", "[1, 2]", '{"mail": {}}'])
def test_a_message_that_is_not_an_ses_record_is_malformed(
    signer: Signer, pinned: dict[str, str], record: str
) -> None:
    with pytest.raises(Malformed):
        verified(ses(pinned), signer.notification(record))


def test_the_handshakes(signer: Signer, pinned: dict[str, str]) -> None:
    confirm = verified(ses(pinned), signer.confirmation())
    assert confirm == Parsed(confirm_url=SUBSCRIBE_URL)
    unsubscribed = verified(ses(pinned), signer.confirmation("UnsubscribeConfirmation"))
    assert unsubscribed == Parsed(ignored=1)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://evil.example/?Action=ConfirmSubscription",
        "https://sns.eu-west-1.amazonaws.com.evil.example/?Action=ConfirmSubscription",
    ],
)
def test_a_confirmation_url_off_sns_is_malformed(
    signer: Signer, pinned: dict[str, str], url: str
) -> None:
    with pytest.raises(Malformed, match="SubscribeURL"):
        verified(ses(pinned), signer.confirmation(url=url))


# --- Through POST /webhooks/ses ----------------------------------------------------------------


def providers_for(pinned: dict[str, str] | None, **table: Any) -> dict[str, dict[str, Any]]:
    """The `[providers.ses]` table for bridge_with."""
    return {"ses": {"topic_arns": [TOPIC], **({"certificates": pinned} if pinned else {}), **table}}


def test_a_subscription_is_confirmed_once_and_only_after_verification(
    tmp_path: Path, sandbox: Sandbox, signer: Signer
) -> None:
    outbound = Outbound(
        {
            CERT_URL: httpx.Response(200, content=signer.pem),
            SUBSCRIBE_URL: httpx.Response(200, text="<ConfirmSubscriptionResponse/>"),
        }
    )
    genuine = signer.confirmation()
    forged = json.loads(genuine)
    forged["Signature"] = json.loads(Signer().confirmation())["Signature"]
    with bridge_with(tmp_path, sandbox, providers_for(None), outbound=outbound.transport) as client:
        refused = post(client, "ses", body(forged), HEADERS)
        assert refused.status_code == 401
        assert SUBSCRIBE_URL not in outbound.requests
        response = post(client, "ses", genuine, HEADERS)
        assert response.status_code == 200, response.text
        assert recorded(client) == []
    # The certificate once (then cached), the confirmation once, after it.
    assert outbound.requests == [CERT_URL, SUBSCRIBE_URL]


@pytest.mark.parametrize(
    "failure", [httpx.Response(500), httpx.Response(403), httpx.ConnectError("down")]
)
def test_a_failed_confirmation_answers_503_so_sns_retries(
    tmp_path: Path,
    sandbox: Sandbox,
    signer: Signer,
    pinned: dict[str, str],
    failure: httpx.Response | Exception,
) -> None:
    outbound = Outbound({SUBSCRIBE_URL: failure})
    with bridge_with(
        tmp_path, sandbox, providers_for(pinned), outbound=outbound.transport
    ) as client:
        response = post(client, "ses", signer.confirmation(), HEADERS)
        assert response.status_code == 503
        outbound.routes[SUBSCRIBE_URL] = httpx.Response(200)
        retried = post(client, "ses", signer.confirmation(), HEADERS)
        assert retried.status_code == 200
    assert outbound.requests == [SUBSCRIBE_URL, SUBSCRIBE_URL]


def answer_without_fetching(
    tmp_path: Path, sandbox: Sandbox, pinned: dict[str, str], raw: bytes
) -> httpx.Response:
    """The bridge's answer to `raw`, which it must give without fetching anything."""
    outbound = Outbound()
    providers = providers_for(pinned)
    with bridge_with(tmp_path, sandbox, providers, outbound=outbound.transport) as client:
        response = post(client, "ses", raw, HEADERS)
    assert outbound.requests == []
    return response


def test_a_confirmation_for_another_topic_is_refused_without_a_fetch(
    tmp_path: Path, sandbox: Sandbox, signer: Signer, pinned: dict[str, str]
) -> None:
    other = "arn:aws:sns:eu-west-1:999999999999:someone-else"
    raw = signer.confirmation(topic=other, url=SUBSCRIBE_URL.replace(TOPIC, other))
    response = answer_without_fetching(tmp_path, sandbox, pinned, raw)
    assert response.status_code == 401 and "topic_arns" in response.text


def test_an_unsubscribe_confirmation_is_acknowledged(
    tmp_path: Path, sandbox: Sandbox, signer: Signer, pinned: dict[str, str]
) -> None:
    raw = signer.confirmation("UnsubscribeConfirmation")
    response = answer_without_fetching(tmp_path, sandbox, pinned, raw)
    assert response.status_code == 200 and "1 ignored" in response.text


@pytest.mark.parametrize(
    ("failure", "status"),
    [(httpx.ConnectError("no route"), 503), (httpx.Response(500), 503), (httpx.Response(404), 401)],
    ids=["connect", "500", "404"],
)
def test_a_certificate_fetch_failure_is_answered_once_per_interval(
    tmp_path: Path, sandbox: Sandbox, failure: httpx.Response | Exception, status: int
) -> None:
    # 503 when the failure is ours or AWS's, so SNS retries; 401 when the answer was definite.
    first, second = GENUINE["messages"][:2]
    outbound = Outbound({first["SigningCertURL"]: failure})
    providers = {"ses": {"topic_arns": all_topics()}}
    with bridge_with(tmp_path, sandbox, providers, outbound=outbound.transport) as client:
        # Within the interval (the app's real clock moves far less than that between posts).
        responses = [post(client, "ses", body(m)) for m in (first, second)]
    assert [r.status_code for r in responses] == [status, status]
    assert outbound.requests == [first["SigningCertURL"]]
