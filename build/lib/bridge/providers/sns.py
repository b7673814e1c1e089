"""Amazon SNS messages over HTTPS: checking one really comes from SNS, on an allowed topic.

SNS signs a canonical string of the message's fields (`Key\\nValue\\n` in byte order) with
RSA PKCS#1 v1.5, SHA1 for `SignatureVersion` 1 and SHA256 for 2, using the X.509 certificate at
`SigningCertURL`. Everything that can be checked without that certificate is checked before it
is fetched: the fields are there and as SNS writes them (a MessageId, an ISO 8601 Timestamp, a
known SignatureVersion, a base64 Signature as long as an RSA key's), the topic is allowed, and
the URL is shaped like AWS's (https, an SNS host, `/SimpleNotificationService-<hex>.pem`). A
forger can make the bridge fetch only such a URL, and only by naming an allowed topic;
`bridge.providers.sns_certificates` supplies the certificate and rations the fetching.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bridge.settings import SettingsError

from .base import Rejected, from_iso
from .sns_certificates import SigningCertificates, load_key

# Both AWS validators (JavaScript and PHP) accept exactly these hosts.
_SNS_HOST = re.compile(r"sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?")
# AWS's certificate URLs all look like /SimpleNotificationService-<32 hex digits>.pem; a little
# slack on the length, so that a change on AWS's side does not turn away genuine messages.
_CERTIFICATE_PATH = re.compile(r"/SimpleNotificationService-[0-9a-fA-F]{16,64}\.pem")
_TOPIC_ARN = re.compile(r"arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?")
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
# The signed keys of each message type, in byte order; Subject only when the message has one.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
# SNS's are UUIDs; anything printable will do, but no spaces and not the size of a payload.
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,100}")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
# An RSA signature is as long as the key: 1024, 2048 (SNS's today), 3072 or 4096 bits.
_RSA_SIGNATURE_SIZES = frozenset({128, 256, 384, 512})


def sns_url(url: str, *, pem: bool) -> bool:
    """An https URL on an SNS host (and, for a certificate, the path of one and nothing else)."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return False  # urlsplit quietly drops tabs and newlines; the client would not
    parts = urlsplit(url)
    # The netloc must be the bare host: no port, no user info to smuggle another host.
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.netloc):
        return False
    if not pem:
        return True
    # The path exactly as AWS names its certificates, so a forger can't pick another file.
    return bool(_CERTIFICATE_PATH.fullmatch(parts.path)) and not parts.query and not parts.fragment


def topic_arns(value: object, where: str) -> frozenset[str]:
    """The allowed topics from the settings; SettingsError naming `where` if they are wrong."""
    arns = value
    if not isinstance(arns, list) or not arns or not all(isinstance(a, str) for a in arns):
        raise SettingsError(
            f"{where}: required: a list of the SNS topic ARNs SES publishes to, "
            'e.g. ["arn:aws:sns:eu-west-1:123456789012:ses-feedback"]'
        )
    for arn in arns:
        if not _TOPIC_ARN.fullmatch(arn):
            raise SettingsError(
                f"{where}: {arn[:120]!r} is not an SNS topic ARN "
                "(arn:aws:sns:REGION:ACCOUNT:TOPIC; not a subscription ARN)"
            )
    return frozenset(arns)


def pinned_certificates(table: object, where: str) -> dict[str, rsa.RSAPublicKey]:
    """The `certificates` table (SigningCertURL -> PEM file) read and checked at start-up."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise SettingsError(f'{where}: must be a table of {{ "SigningCertURL" = "file.pem" }}')
    pinned = {}
    for url, path in table.items():
        if not sns_url(str(url), pem=True):
            raise SettingsError(
                f"{where}: {str(url)[:120]!r} is not an SNS signing certificate URL "
                "(https://sns.REGION.amazonaws.com/SimpleNotificationService-HEX.pem)"
            )
        if not isinstance(path, str) or not path:
            raise SettingsError(f"{where}.{url}: must be the path of a PEM file")
        try:
            pinned[url] = load_key(Path(path).read_bytes(), url)
        except OSError as exc:
            raise SettingsError(f"{where}.{url}: cannot read {path!r}: {exc.strerror}") from None
        except ValueError as exc:
            raise SettingsError(f"{where}.{url}: {path!r}: {exc}") from None
    return pinned


class SnsVerifier:
    """Verifies SNS messages for a set of topics, with the certificates they name."""

    def __init__(
        self,
        topics: frozenset[str],
        pinned: dict[str, rsa.RSAPublicKey],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._topics = topics
        self._certificates = SigningCertificates(pinned, clock=clock)

    async def verify(self, message: dict[str, Any], http: httpx.AsyncClient) -> None:
        """Raise Rejected unless `message` (`envelope`'s) is on an allowed topic, SNS-signed."""
        algorithm, signature = self._checked(message)
        key = await self._certificates.key(message["SigningCertURL"], http)
        try:
            key.verify(signature, _string_to_sign(message), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Rejected("signature does not match") from None

    def _checked(self, message: dict[str, Any]) -> tuple[type[hashes.HashAlgorithm], bytes]:
        """The hash and signature of a message whose every other field is as SNS sends it."""
        kind = message.get("Type")
        if kind is None and ("notificationType" in message or "eventType" in message):
            raise Rejected(
                "an unsigned SES record: turn raw message delivery off for this subscription"
            )
        if not isinstance(kind, str) or kind not in _SIGNED:
            raise Rejected(f"not an SNS message (Type {str(kind)[:40]!r})")
        for field in (*_SIGNED[kind], "Signature", "SignatureVersion", "SigningCertURL"):
            if field == "Subject" and message.get(field) is None:
                continue  # optional, and signed only when present
            if not isinstance(message.get(field), str):
                raise Rejected(f"the SNS message has no {field}")
        if not _MESSAGE_ID.fullmatch(message["MessageId"]):
            raise Rejected(f"the MessageId {message['MessageId'][:120]!r} is not SNS's")
        if not _is_timestamp(message["Timestamp"]):
            raise Rejected(f"the Timestamp {message['Timestamp'][:40]!r} is not an ISO 8601 time")
        if message["TopicArn"] not in self._topics:
            raise Rejected(
                f"topic {message['TopicArn'][:200]!r} is not an allowed topic (topic_arns)"
            )
        algorithm = _HASHES.get(message["SignatureVersion"])
        if algorithm is None:
            raise Rejected(f"unknown SignatureVersion {message['SignatureVersion'][:10]!r}")
        url = message["SigningCertURL"]
        if not sns_url(url, pem=True):
            raise Rejected(f"SigningCertURL {url[:200]!r} is not an SNS certificate URL")
        try:
            signature = base64.b64decode(message["Signature"], validate=True)
        except binascii.Error:
            raise Rejected("the Signature is not base64") from None
        if len(signature) not in _RSA_SIGNATURE_SIZES:
            raise Rejected(f"the Signature is {len(signature)} bytes, not an RSA signature")
        return algorithm, signature


def _is_timestamp(value: str) -> bool:
    """Whether `value` is a date and time with a zone, in ISO 8601 as SNS writes it."""
    if not _TIMESTAMP.fullmatch(value):
        return False
    try:
        from_iso(value)
    except ValueError:
        return False  # the right shape, but no such day or hour
    return True


def envelope(body: bytes) -> dict[str, Any]:
    """The SNS message (a JSON object) in a body; Rejected if it is not one."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise Rejected("the body is not SNS JSON") from None
    if not isinstance(message, dict):
        raise Rejected("the body is not an SNS message (a JSON object)")
    return message


def _string_to_sign(message: dict[str, Any]) -> bytes:
    """`Key\\nValue\\n` for each signed key present, in byte order (SNS's canonical form)."""
    keys = _SIGNED[message["Type"]]
    return "".join(
        f"{key}\n{message[key]}\n" for key in keys if message.get(key) is not None
    ).encode()
