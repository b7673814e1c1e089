"""Amazon SES feedback through Amazon SNS: RSA-signed SNS JSON with the SES record inside.

SNS signs a canonical string of the message's fields (`Key\\nValue\\n` in byte order) with
RSA PKCS#1 v1.5, SHA1 for `SignatureVersion` 1 and SHA256 for 2, using the X.509 certificate at
`SigningCertURL`. The topic and the certificate URL are checked before anything is fetched: a
forger can make the bridge fetch only a `.pem` from an AWS SNS host, and only by naming an
allowed topic. The certificate comes from `certificates` in the settings, else a cache, else
that URL over HTTPS (TLS vouches for it; its validity dates are not checked). No freshness
window: the reference specifies none and SNS retries resend the original message, signature
and all; duplicates are caught by `MessageId` instead. Raw message delivery strips the
envelope and with it the signature, so such bodies are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bridge.consent import ConsentRequest, Wanted
from bridge.settings import SettingsError

from .base import (
    Delivery,
    Malformed,
    Parsed,
    Policy,
    Provider,
    ProviderSettings,
    Rejected,
    Unreachable,
    from_iso,
)

# Both AWS validators (JavaScript and PHP) accept exactly these hosts.
_SNS_HOST = re.compile(r"sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?")
_TOPIC_ARN = re.compile(r"arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?")
_SIGNER = "sns.amazonaws.com"
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
# The signed keys of each message type, in byte order; Subject only when the message has one.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_FETCH_TIMEOUT = 5.0  # SNS waits 15 s for the whole answer
_MAX_CERTIFICATE = 64 * 1024
_MAX_CACHED = 32


def _sns_url(url: str, *, pem: bool) -> bool:
    """An https URL on an SNS host (and, for a certificate, a `.pem` path and nothing else)."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return False  # urlsplit quietly drops tabs and newlines; the client would not
    parts = urlsplit(url)
    # The netloc must be the bare host: no port, no user info to smuggle another host.
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(parts.netloc):
        return False
    return not pem or (parts.path.endswith(".pem") and not parts.query and not parts.fragment)


def _signing_key(certificate: x509.Certificate, url: str) -> rsa.RSAPublicKey:
    """The RSA key of an SNS signing certificate; ValueError saying why it is not one."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    # sns.amazonaws.com in AWS's commercial regions; allow the certificate's own host elsewhere.
    if common_name not in (_SIGNER, urlsplit(url).netloc):
        raise ValueError(f"the certificate is for {common_name[:80]!r}, not {_SIGNER}")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate does not hold an RSA key")
    return key


def _load_key(pem: bytes, url: str) -> rsa.RSAPublicKey:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("not a PEM X.509 certificate") from None
    return _signing_key(certificate, url)


class SES(Provider):
    """`[providers.ses]`: `topic_arns` (the SNS topics SES publishes to), `certificates`."""

    name: ClassVar[str] = "ses"

    def __init__(self, settings: ProviderSettings, public_url: str) -> None:
        super().__init__(settings, public_url)
        self._topics = frozenset(self._topic_arns())
        self._pinned = self._certificates()
        self._cache: dict[str, rsa.RSAPublicKey] = {}

    def _topic_arns(self) -> list[str]:
        where = "BRIDGE_CONFIG.providers.ses.topic_arns"
        arns = self.settings.values.get("topic_arns")
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
        return arns

    def _certificates(self) -> dict[str, rsa.RSAPublicKey]:
        where = "BRIDGE_CONFIG.providers.ses.certificates"
        table = self.settings.values.get("certificates")
        if table is None:
            return {}
        if not isinstance(table, Mapping):
            raise SettingsError(f'{where}: must be a table of {{ "SigningCertURL" = "file.pem" }}')
        pinned = {}
        for url, path in table.items():
            if not _sns_url(str(url), pem=True):
                raise SettingsError(
                    f"{where}: {str(url)[:120]!r} is not an SNS signing certificate URL "
                    "(https://sns.REGION.amazonaws.com/....pem)"
                )
            if not isinstance(path, str) or not path:
                raise SettingsError(f"{where}.{url}: must be the path of a PEM file")
            try:
                pinned[url] = _load_key(Path(path).read_bytes(), url)
            except OSError as exc:
                raise SettingsError(
                    f"{where}.{url}: cannot read {path!r}: {exc.strerror}"
                ) from None
            except ValueError as exc:
                raise SettingsError(f"{where}.{url}: {path!r}: {exc}") from None
        return pinned

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """An SNS message on an allowed topic, signed with an SNS certificate."""
        message = _envelope(delivery.body)
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
                f"topic {message['TopicArn'][:200]!r} is not in providers.ses.topic_arns"
            )
        algorithm = _HASHES.get(message["SignatureVersion"])
        if algorithm is None:
            raise Rejected(f"unknown SignatureVersion {message['SignatureVersion'][:10]!r}")
        url = message["SigningCertURL"]
        if not _sns_url(url, pem=True):
            raise Rejected(f"SigningCertURL {url[:200]!r} is not an SNS certificate URL")
        try:
            signature = base64.b64decode(message["Signature"], validate=True)
        except binascii.Error:
            raise Rejected("the Signature is not base64") from None
        key = await self._key(url, http)
        try:
            key.verify(signature, _string_to_sign(message), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Rejected("signature does not match") from None

    async def _key(self, url: str, http: httpx.AsyncClient) -> rsa.RSAPublicKey:
        """The signing key at `url`: pinned in the settings, cached, or fetched (and cached)."""
        key = self._pinned.get(url) or self._cache.get(url)
        if key is not None:
            return key
        pem = await _download(http, url)
        try:
            key = _load_key(pem, url)
        except ValueError as exc:
            raise Rejected(f"the signing certificate: {exc}") from None
        if len(self._cache) >= _MAX_CACHED:
            del self._cache[next(iter(self._cache))]
        self._cache[url] = key
        return key

    def parse(self, delivery: Delivery) -> Parsed:
        """A handshake to complete, or the consent requests in the SES record of a notification."""
        try:
            message = _envelope(delivery.body)
        except Rejected as exc:
            raise Malformed(str(exc)) from None
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            url = message.get("SubscribeURL")
            if not isinstance(url, str) or not _sns_url(url, pem=False):
                raise Malformed("the SubscribeURL is not an https URL on an SNS host")
            return Parsed(confirm_url=url)
        if kind != "Notification":
            return Parsed(ignored=1)  # UnsubscribeConfirmation: nothing to do
        try:
            record = json.loads(message.get("Message", ""))
        except (TypeError, ValueError):
            raise Malformed("the notification's Message is not an SES record (JSON)") from None
        if not isinstance(record, dict):
            raise Malformed("the notification's Message is not an SES record (a JSON object)")
        return _Record(self, message, record).parse()


class _Record:
    """One SES record (notification or event-publishing format) and the SNS message around it."""

    def __init__(self, provider: SES, message: dict[str, Any], record: dict[str, Any]) -> None:
        self.provider = provider
        self.settings = provider.settings
        self.message_id = str(message.get("MessageId") or "")
        self.sent_at = message.get("Timestamp")
        self.record = record
        self.parsed = Parsed()

    def parse(self) -> Parsed:
        kind = self.record.get("eventType", self.record.get("notificationType"))
        if not isinstance(kind, str):
            raise Malformed("the SES record has no eventType or notificationType")
        if not self.message_id:
            raise Malformed("the SNS message has no MessageId")
        try:
            if kind == "Complaint":
                self._complaint(self._section("complaint"))
            elif kind == "Bounce":
                self._bounce(self._section("bounce"))
            elif kind == "Subscription":
                self._subscription(self._section("subscription"))
            else:
                self.parsed.ignored += 1  # deliveries, sends, opens, clicks, SES's own notices
        except (ValueError, TypeError) as exc:
            self.parsed.invalid.append(f"{kind} {self.message_id}: {exc}")
        return self.parsed

    def _section(self, key: str) -> dict[str, Any]:
        section = self.record.get(key)
        if not isinstance(section, dict):
            raise ValueError(f"no {key} object")
        return section

    def _when(self, section: dict[str, Any]) -> datetime:
        """When SES says it happened; when SNS sent it if SES's time is missing or unreadable."""
        try:
            return from_iso(section.get("timestamp"))
        except ValueError:
            return from_iso(self.sent_at)

    def _complaint(self, complaint: dict[str, Any]) -> None:
        # "not-spam" is an ISP correcting an earlier report, not a complaint.
        feedback = complaint.get("complaintFeedbackType")
        if self.settings.complaints is Policy.IGNORE or feedback == "not-spam":
            self.parsed.ignored += 1
            return
        context = {"feedback_type": feedback} if isinstance(feedback, str) else {}
        self._recipients(complaint, "complainedRecipients", "complaint", context)

    def _bounce(self, bounce: dict[str, Any]) -> None:
        # Only a permanent bounce says the address is gone; transient ones may yet be delivered.
        if bounce.get("bounceType") != "Permanent" or self.settings.bounces is Policy.IGNORE:
            self.parsed.ignored += 1
            return
        context = {"bounce_type": "Permanent"}
        if isinstance(bounce.get("bounceSubType"), str):
            context["bounce_subtype"] = bounce["bounceSubType"]
        self._recipients(bounce, "bouncedRecipients", "bounce", context)

    def _recipients(
        self, section: dict[str, Any], key: str, event: str, context: dict[str, str]
    ) -> None:
        recipients = section.get(key)
        if not isinstance(recipients, list) or not recipients:
            raise ValueError(f"no {key}")
        occurred_at = self._when(section)
        for index, recipient in enumerate(recipients):
            email = recipient.get("emailAddress") if isinstance(recipient, dict) else None
            try:
                self._add(event, f"{index}", email, Wanted.UNSUBSCRIBED, occurred_at, context)
            except ValueError as exc:
                self.parsed.invalid.append(f"{event} {self.message_id} recipient {index}: {exc}")

    def _subscription(self, subscription: dict[str, Any]) -> None:
        """SES list management: what changed between the old and the new topic preferences."""
        contact_list = subscription.get("contactList")
        if not isinstance(contact_list, str) or not contact_list:
            raise ValueError("no contactList")
        new = subscription.get("newTopicPreferences")
        if not isinstance(new, dict):
            raise ValueError("no newTopicPreferences")
        old = subscription.get("oldTopicPreferences")
        old = old if isinstance(old, dict) else {}
        mail = self.record.get("mail")
        destination = mail.get("destination") if isinstance(mail, dict) else None
        if not isinstance(destination, list) or len(destination) != 1:
            # Which of several recipients clicked is not said; better none than the wrong one.
            raise ValueError("the mail's destination is not exactly one address")
        email = destination[0]
        occurred_at = self._when(subscription)
        source = subscription.get("source")
        context = {"via": source[:60]} if isinstance(source, str) else {}
        changed = False
        if new.get("unsubscribeAll") is True and old.get("unsubscribeAll") is not True:
            changed = True
            self._add(
                "subscription",
                "all",
                email,
                Wanted.UNSUBSCRIBED,
                occurred_at,
                context,
                contact_list,
            )
        before = _topics(old)
        for topic, status in _topics(new).items():
            if before.get(topic) == status:
                continue  # unchanged: restating it could undo a later change made elsewhere
            changed = True
            list_id = f"{contact_list}/{topic}"
            if status == "OptIn" and list_id not in self.settings.types:
                # An unmapped topic would otherwise stand for every email type.
                self.parsed.invalid.append(
                    f"subscription {self.message_id}: opt-in to topic {topic[:80]!r}, which "
                    f'has no types mapping ("{list_id[:120]}")'
                )
                continue
            wanted = Wanted.SUBSCRIBED if status == "OptIn" else Wanted.UNSUBSCRIBED
            self._add(
                "subscription", f"topic:{topic}", email, wanted, occurred_at, context, list_id
            )
        if not changed:
            self.parsed.ignored += 1

    def _add(
        self,
        event: str,
        part: str,
        email: object,
        wanted: Wanted,
        occurred_at: datetime,
        context: Mapping[str, str],
        list_id: str | None = None,
    ) -> None:
        # One SNS message can hold several requests; SNS retries keep the MessageId.
        request: ConsentRequest = self.provider.request(
            email,
            wanted,
            occurred_at=occurred_at,
            event_id=f"{self.message_id}:{part}",
            event=event,
            list_id=list_id,
            **context,
        )
        self.parsed.requests.append(request)


def _topics(preferences: dict[str, Any]) -> dict[str, str]:
    """`topicSubscriptionStatus` as topic -> OptIn/OptOut, skipping entries that say neither."""
    entries = preferences.get("topicSubscriptionStatus")
    found = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        topic, status = entry.get("topicName"), entry.get("subscriptionStatus")
        if isinstance(topic, str) and topic and status in ("OptIn", "OptOut"):
            found[topic] = status
    return found


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError:
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


async def _download(http: httpx.AsyncClient, url: str) -> bytes:
    """The certificate at `url`, refused unless it answers 200 with a small body in time."""
    body = bytearray()
    try:
        async with http.stream("GET", url, timeout=_FETCH_TIMEOUT) as response:
            if response.status_code >= 500:
                raise Unreachable(f"the signing certificate URL answered {response.status_code}")
            if response.status_code != 200:
                raise Rejected(f"the signing certificate URL answered {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_CERTIFICATE:
                    raise Rejected("the signing certificate is implausibly large")
    except httpx.InvalidURL as exc:
        raise Rejected(f"the signing certificate URL is not valid: {exc}") from None
    except httpx.HTTPError as exc:
        # Our network or AWS hiccuped: answer 503 so SNS retries, rather than 401, which SNS
        # counts as delivered and would lose a genuine message.
        raise Unreachable(
            f"could not fetch the signing certificate: {type(exc).__name__}"
        ) from None
    return bytes(body)
