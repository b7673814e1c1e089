"""Amazon SNS signing certificates: the pinned ones, else a cache, else a download.

A certificate is trusted because TLS vouches for the AWS host it comes from and because it is
issued to SNS; its validity dates are not checked. A download that fails for want of a network
is `Unreachable` (503, so SNS retries), not `Rejected` (which SNS would count as delivered).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .base import Rejected, Unreachable

_SIGNER = "sns.amazonaws.com"
_FETCH_TIMEOUT = 5.0  # SNS waits 15 s for the whole answer
_MAX_CERTIFICATE = 64 * 1024
_MAX_CACHED = 32


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


class SigningCertificates:
    """The signing keys by certificate URL: pinned, cached, or downloaded (and cached)."""

    def __init__(self, pinned: dict[str, rsa.RSAPublicKey]) -> None:
        self._pinned = pinned
        self._cache: dict[str, rsa.RSAPublicKey] = {}

    async def key(self, url: str, http: httpx.AsyncClient) -> rsa.RSAPublicKey:
        """The signing key at `url`, a URL already checked to be an SNS certificate's."""
        key = self._pinned.get(url) or self._cache.get(url)
        if key is not None:
            return key
        pem = await _download(http, url)
        try:
            key = load_key(pem, url)
        except ValueError as exc:
            raise Rejected(f"the signing certificate: {exc}") from None
        if len(self._cache) >= _MAX_CACHED:
            del self._cache[next(iter(self._cache))]
        self._cache[url] = key
        return key


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
