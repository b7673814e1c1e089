"""Amazon SNS messages over HTTPS: checking one really comes from SNS, on an allowed topic.

SNS signs a canonical string of the message's fields (`Key\\nValue\\n` in byte order) with
RSA PKCS#1 v1.5, SHA1 for `SignatureVersion` 1 and SHA256 for 2, using the X.509 certificate at
`SigningCertURL`. The topic and the certificate URL are checked before anything is fetched: a
forger can make the bridge fetch only a `.pem` from an AWS SNS host, and only by naming an
allowed topic. `bridge.providers.sns_certificates` supplies the certificate (pinned, cached
or downloaded).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bridge.settings import SettingsError

from .base import Rejected
from .sns_certificates import SigningCertificates, load_key

# Both AWS validators (JavaScript and PHP) accept exactly these hosts.
_SNS_HOST = re.compile(r"sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?")
_TOPIC_ARN = re.compile(r"arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?")
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
# The signed keys of each message type, in byte order; Subject only when the message has one.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


def sns_url(url: str, *, pem: bool) -> bool:
    """An https URL on an SNS host (and, for a certificate, a `.pem` path and nothing else)."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return False  # urlsplit quietly drops tabs and newlines; the client would not
    parts = urlsplit(url)
    # The netloc must be the bare host: no port, no user info to smuggle another host.
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.netloc):
        return False
    return not pem or (parts.path.endswith(".pem") and not parts.query and not parts.fragment)


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
                "(https://sns.REGION.amazonaws.com/....pem)"
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

    def __init__(self, topics: frozenset[str], pinned: dict[str, rsa.RSAPublicKey]) -> None:
        self._topics = topics
        self._certificates = SigningCertificates(pinned)

    async def verify(self, body: bytes, http: httpx.AsyncClient) -> dict[str, Any]:
        """The SNS message in `body`, if it is on an allowed topic and signed by SNS."""
        message = envelope(body)
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
        key = await self._certificates.key(url, http)
        try:
            key.verify(signature, _string_to_sign(message), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Rejected("signature does not match") from None
        return message


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
