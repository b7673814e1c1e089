"""Plivo's signed callbacks, V3 and V2: HMAC-SHA256 with the auth token over URL and nonce, pure.

V2 (what Plivo's messaging docs describe): base64 HMAC-SHA256 of the URL without its query,
then the nonce. V3 (what Plivo's voice docs say every request carries): the URL with its
query sorted, then for a POST "." and the sorted form parameters as name + value, then "."
and the nonce (plivo/plivo-python, `utils/signature_v3.py`, and plivo-go's vectors). Either
header may hold several comma-separated signatures; the `-Ma-` headers carry the main
account's signature where the application belongs to a sub-account.

V2 covers no parameter, V3 covers them all, so V3 is checked whenever it is present (a V2
signature never stands in for a failed V3). Plivo signs no time at all: a captured request
verifies for ever, and `MessageUUID` (a duplicate) is the replay defence; a V2 signature
could even carry other parameters, which the caller can refuse by binding it to the first
payload seen with it (`SignatureUse`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlparse

from .base import Rejected


def _b64_hmac(auth_token: str, text: str) -> str:
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _base_url(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}"


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _query_string(grouped: Mapping[str, list[str]]) -> str:
    return "&".join(
        f"{name}={value}" for name in sorted(grouped) for value in sorted(grouped[name])
    )


def v3_signed_url(method: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """The URL as V3 signs it (before "." and the nonce), for a GET or a POST with `params`."""
    query = _grouped(parse_qsl(urlparse(url).query, keep_blank_values=True))
    if method.upper() == "GET":
        # A GET's parameters are its query: the URL's own values win for a name given twice.
        merged = {**_grouped(params), **query}
        sorted_query = _query_string(merged)
        return _base_url(url) + (f"?{sorted_query}" if sorted_query else "")
    form = _grouped(params)
    sorted_query = _query_string(query)
    if not form:
        return _base_url(url) + (f"?{sorted_query}" if sorted_query else "")
    signed_form = "".join(name + value for name in sorted(form) for value in sorted(form[name]))
    return f"{_base_url(url)}?{sorted_query}{'.' if sorted_query else ''}{signed_form}"


def plivo_v2(auth_token: str, url: str, nonce: str) -> str:
    """The X-Plivo-Signature-V2 of a request to `url` (its query is not signed)."""
    return _b64_hmac(auth_token, _base_url(url) + nonce)


def plivo_v3(
    auth_token: str, method: str, url: str, params: Sequence[tuple[str, str]], nonce: str
) -> str:
    """The X-Plivo-Signature-V3 of a GET or POST to `url` with these parameters."""
    return _b64_hmac(auth_token, f"{v3_signed_url(method, url, params)}.{nonce}")


def check_plivo(
    auth_tokens: Sequence[str],
    method: str,
    url: str,
    params: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
) -> None:
    """Raise Rejected unless a V3 (else V2) signature header is one of the tokens' signatures.

    `auth_tokens` are the sub-account's and the main account's tokens (or just one): any of
    them may sign either header, so a one-token setup verifies whichever header it signed.
    """
    if not auth_tokens:
        raise ValueError("no Plivo auth token to check signatures with")
    lowered = {name.lower(): value for name, value in headers.items()}
    for version in ("V3", "V2"):
        own = lowered.get(f"x-plivo-signature-{version.lower()}")
        main = lowered.get(f"x-plivo-signature-ma-{version.lower()}")
        if not own and not main:
            continue
        nonce = lowered.get(f"x-plivo-signature-{version.lower()}-nonce")
        if not nonce:
            raise Rejected(f"missing X-Plivo-Signature-{version}-Nonce header")
        given = [
            part.strip().encode()
            for header in (own, main)
            if header
            for part in header.split(",")
            if part.strip()
        ]
        expected = [
            (
                plivo_v3(token, method, url, params, nonce)
                if version == "V3"
                else plivo_v2(token, url, nonce)
            ).encode()
            for token in auth_tokens
        ]
        # Every pair is compared, so the time taken says nothing about which was close.
        matches = [hmac.compare_digest(g, e) for g in given for e in expected]
        if any(matches):
            return
        raise Rejected(f"no X-Plivo-Signature-{version} matches the URL, parameters and nonce")
    raise Rejected("missing X-Plivo-Signature-V3 and X-Plivo-Signature-V2 headers")
