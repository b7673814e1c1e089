"""Twilio's `X-Twilio-Signature` on inbound SMS webhooks: HMAC-SHA1 of URL and parameters, pure.

The signed string is the full URL Twilio requested (query included), then every form parameter
as name + value, names sorted and, under one name, the distinct values sorted (a repeated
pair counts once). The HMAC-SHA1 key is the account's auth token; the header is its base64.
Twilio does not always sign the port the same way, so the URL is tried as given, without its
port and with the scheme's default port (twilio-python, `RequestValidator.validate`).

A JSON body is not signed as parameters: Twilio adds `bodySHA256` (hex SHA-256 of the body) to
the URL's query and signs the URL alone (`check_twilio_json`).

Nothing time-bound is signed, so a captured request verifies for ever: `MessageSid` (the same
on every retry) is the replay defence, as a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

from .base import Rejected

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """The X-Twilio-Signature of a request to `url` with these form parameters."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the default port where it names none."""
    parts = urlsplit(url)
    start = f"{parts.scheme}://{parts.netloc}"
    try:
        port = parts.port
    except ValueError:  # not a port: only the URL as given can have been signed
        return [url]
    if not parts.netloc or not url.startswith(start):
        return [url]
    rest = url[len(start) :]
    userinfo, at, host = parts.netloc.rpartition("@")
    if port is not None:
        without = userinfo + at + host.rsplit(":", 1)[0]
        return [url, f"{parts.scheme}://{without}{rest}"]
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None:
        return [url]
    return [url, f"{parts.scheme}://{parts.netloc}:{default}{rest}"]


def check_twilio(
    auth_token: str, url: str, params: Sequence[tuple[str, str]], signature: str | None
) -> None:
    """Raise Rejected unless `signature` signs the URL (in one of its forms) and the parameters."""
    if not signature:
        raise Rejected(f"missing {SIGNATURE_HEADER} header")
    given = signature.strip().encode()
    # Each comparison is constant-time; stopping at the first form that matches tells a
    # caller only which spelling of our own public URL Twilio used, which is no secret, and
    # spares the second HMAC on every genuine delivery.
    for variant in url_variants(url):
        if hmac.compare_digest(given, twilio_signature(auth_token, variant, params).encode()):
            return
    raise Rejected(f"{SIGNATURE_HEADER} does not match the URL and parameters")


def check_twilio_json(auth_token: str, url: str, body: bytes, signature: str | None) -> None:
    """Raise Rejected unless `signature` signs the URL and its `bodySHA256` is the body's hash."""
    check_twilio(auth_token, url, (), signature)
    hashes = [value for name, value in parse_qsl(urlsplit(url).query) if name == "bodySHA256"]
    if not hashes:
        # Without it the signature covers no byte of the body: anything could ride on it.
        raise Rejected("the URL has no bodySHA256 parameter, so the JSON body is not signed")
    expected = hashlib.sha256(body).hexdigest().encode()
    if not hmac.compare_digest(hashes[0].strip().lower().encode(), expected):
        raise Rejected("bodySHA256 in the URL does not match the body")
