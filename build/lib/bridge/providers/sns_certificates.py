"""Amazon SNS signing certificates: pinned, cached, or downloaded at most once per interval.

A certificate is trusted because TLS vouches for the AWS host it comes from and because it is
issued to SNS; its validity dates are not checked. Anyone can post a message naming a
certificate URL, so downloads are kept on a short leash: each URL is fetched at most once per
`DOWNLOAD_INTERVAL` whatever the outcome (a key is cached, a failure is remembered and
answered from memory), concurrent messages naming the same URL share one download, and no
more than `DOWNLOADS_PER_MINUTE` downloads start in any minute. A failure of the network or of
AWS, and the cap, are `Unreachable` (503, so SNS retries); a definite answer that is not SNS's
certificate is `Rejected` (which SNS counts as delivered).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .base import Rejected, Unreachable

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 5.0  # SNS waits 15 s for the whole answer
# SNS's default delivery policy for HTTP/S endpoints retries three times, 20 s apart. A failed
# download is remembered for 10 s from when it began, so it is forgotten well before SNS
# retries the message that asked for it: each retry of a genuine message fetches afresh, and a
# network blip costs one retry, never the message, while the rest of a burst naming the same
# URL is answered from memory.
DOWNLOAD_INTERVAL = 10.0
# One certificate per AWS region the topics live in, and AWS changes them rarely: ten new
# downloads a minute is room for every region at once, and caps what a forger cycling through
# URLs can make the bridge fetch (from AWS's own hosts) at one every six seconds.
DOWNLOADS_PER_MINUTE = 10
_MINUTE = 60.0
_MAX_CERTIFICATE = 64 * 1024
_MAX_CACHED = 32
_SIGNER = "sns.amazonaws.com"


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


def load_key(pem: bytes, url: str) -> rsa.RSAPublicKey:
    """The signing key in a PEM certificate for `url`; ValueError saying why not."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("not a PEM X.509 certificate") from None
    return _signing_key(certificate, url)


@dataclass(frozen=True)
class _Failure:
    """A download that failed: how to refuse the messages naming its URL, and when it began."""

    refusal: type[Rejected] | type[Unreachable]
    reason: str
    at: float


class SigningCertificates:
    """The signing keys by certificate URL: pinned, cached, or downloaded once per interval."""

    def __init__(
        self,
        pinned: dict[str, rsa.RSAPublicKey],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pinned = pinned
        self._clock = clock
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._failures: dict[str, _Failure] = {}
        self._downloads: dict[str, asyncio.Task[rsa.RSAPublicKey | _Failure]] = {}
        self._started: deque[float] = deque()  # when each download of the last minute began
        self._capped = 0  # messages refused by the cap since that was last logged
        self._capped_logged_at = -math.inf

    async def key(self, url: str, http: httpx.AsyncClient) -> rsa.RSAPublicKey:
        """The signing key at `url`, a URL already checked to be an SNS certificate's."""
        pinned = self._pinned.get(url)
        if pinned is not None:
            return pinned
        cached = self._keys.get(url)
        if cached is not None:
            self._keys.move_to_end(url)  # the certificates in use outlive the others
            return cached
        now = self._clock()
        failure = self._failures.get(url)
        if failure is not None and now - failure.at < DOWNLOAD_INTERVAL:
            raise failure.refusal(f"{failure.reason} (tried {now - failure.at:.0f} s ago)")
        download = self._downloads.get(url)
        if download is None:
            self._count_download(now)
            download = asyncio.create_task(self._download(url, http, now))
            self._downloads[url] = download
            download.add_done_callback(partial(self._finished, url))
        # Shielded: a message whose sender hangs up must not cancel the others' download.
        outcome = await asyncio.shield(download)
        if isinstance(outcome, _Failure):
            raise outcome.refusal(outcome.reason)
        return outcome

    def _count_download(self, now: float) -> None:
        """Count a new download against the cap; Unreachable, and no download, beyond it."""
        while self._started and now - self._started[0] >= _MINUTE:
            self._started.popleft()
        if len(self._started) < DOWNLOADS_PER_MINUTE:
            self._started.append(now)
            return
        self._capped += 1
        if now - self._capped_logged_at >= _MINUTE:
            # Once a minute, not once a message: a flood of forgeries must not flood the log.
            log.warning(
                "SNS signing certificate downloads are capped at %d a minute: %d message(s) "
                "naming a new certificate URL answered 503 without a download since the last "
                "such warning",
                DOWNLOADS_PER_MINUTE,
                self._capped,
            )
            self._capped, self._capped_logged_at = 0, now
        raise Unreachable("too many signing certificate downloads this minute; retry later")

    async def _download(
        self, url: str, http: httpx.AsyncClient, started: float
    ) -> rsa.RSAPublicKey | _Failure:
        """The key at `url`, or why not; either way remembered for the messages to come."""
        try:
            pem = await _fetch(http, url)
            try:
                key = load_key(pem, url)
            except ValueError as exc:
                raise Rejected(f"the signing certificate: {exc}") from None
        except (Rejected, Unreachable) as exc:
            now = self._clock()
            self._failures = {
                u: f for u, f in self._failures.items() if now - f.at < DOWNLOAD_INTERVAL
            }
            failure = _Failure(type(exc), str(exc), started)
            self._failures[url] = failure
            return failure
        self._failures.pop(url, None)
        if len(self._keys) >= _MAX_CACHED:
            self._keys.popitem(last=False)
        self._keys[url] = key
        return key

    def _finished(self, url: str, download: asyncio.Task[rsa.RSAPublicKey | _Failure]) -> None:
        """Let the next message after a download start another, once its outcome is known."""
        if self._downloads.get(url) is download:
            del self._downloads[url]


async def _fetch(http: httpx.AsyncClient, url: str) -> bytes:
    """The certificate at `url`, refused unless it answers 200 with a small body in time."""
    body = bytearray()
    try:
        # The client's timeout bounds each phase; this bounds the whole download.
        async with (
            asyncio.timeout(FETCH_TIMEOUT),
            http.stream("GET", url, timeout=FETCH_TIMEOUT) as response,
        ):
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
    except TimeoutError:
        raise Unreachable("could not fetch the signing certificate in time") from None
    except httpx.HTTPError as exc:
        # Our network or AWS hiccuped: answer 503 so SNS retries, rather than 401, which SNS
        # counts as delivered and would lose a genuine message.
        raise Unreachable(
            f"could not fetch the signing certificate: {type(exc).__name__}"
        ) from None
    return bytes(body)
