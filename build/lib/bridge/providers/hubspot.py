"""HubSpot: a workflow's "Send a webhook" action, signed `X-HubSpot-Signature-v3`.

HubSpot forms post no webhooks themselves; a workflow enrolled on a form submission can, with
the contact's properties as JSON. The v3 signature is the base64 HMAC-SHA256, with the app's
client secret, of `method + URI + body + timestamp`, the URI being the URL HubSpot called
with a few URL-encoded characters decoded, and the timestamp (`X-HubSpot-Request-Timestamp`,
Unix milliseconds) within 5 minutes (HubSpot's "Validating requests";
HubSpot/hubspot-api-python `Signature.get_signature`). The body is mapped as `generic` maps
JSON: field names or dotted paths (`properties.email.value`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import ClassVar

import httpx
from starlette.datastructures import Headers

from .base import Delivery, Rejected
from .body_hmac import check_fresh_ms
from .generic import Generic

# The characters HubSpot decodes in the URI before it signs it.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: the characters it lists decoded, any case of hex."""
    for encoded, plain in _DECODED.items():
        url = url.replace(encoded, plain).replace(encoded.lower(), plain)
    return url


def sign_hubspot(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends (tests use it)."""
    message = method.encode() + signed_uri(url).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class HubSpot(Generic):
    """`[providers.hubspot]`: `client_secret` (the app's), the mapping, `id`, `occurred_at`."""

    name: ClassVar[str] = "hubspot"
    required = ("client_secret",)
    default_name = ("properties.firstname.value", "properties.lastname.value")
    default_email = ("email", "properties.email.value", "properties.email")
    default_phone = ("phone", "properties.phone.value", "properties.phone")

    def check_headers(self, headers: Headers) -> None:
        """Nothing: the signature covers the body."""

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """The v3 signature over method, URI, body and timestamp, within 5 minutes."""
        signature, timestamp = check_fresh_ms(
            delivery.headers.get("x-hubspot-signature-v3"),
            delivery.headers.get("x-hubspot-request-timestamp"),
            "X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp",
            delivery.received_at,
        )
        try:
            given = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Rejected("X-HubSpot-Signature-v3 is not base64") from None
        expected = sign_hubspot(
            self.secret, delivery.method, delivery.url, delivery.body, timestamp
        )
        if not hmac.compare_digest(given, base64.b64decode(expected)):
            raise Rejected("X-HubSpot-Signature-v3 does not match")
