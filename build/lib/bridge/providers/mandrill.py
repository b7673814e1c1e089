"""Mailchimp Transactional (Mandrill): form posts of up to 1,000 events, HMAC-SHA1 signed.

The body is `application/x-www-form-urlencoded` with one field, `mandrill_events`, a JSON
array. `X-Mandrill-Signature` is base64(HMAC-SHA1(webhook key, URL + each POST field sorted
by name, name then value)), where the URL is the one registered in Mandrill, exactly: the
`url` setting, or else the bridge's public URL for the path (from BRIDGE_PUBLIC_URL, never
the Host header). No timestamp is signed and Mandrill retries failed batches, so there is
no freshness window; duplicates are caught by the event id (`_id` + event + `ts`).
Mandrill checks the URL with a HEAD request before it posts anything: `accepts_head`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx
from starlette.datastructures import Headers

from bridge.clock import Clock
from bridge.consent import ConsentRequest, Wanted
from bridge.settings import SettingsError

from .base import (
    Delivery,
    Malformed,
    Parsed,
    Provider,
    ProviderSettings,
    Rejected,
    collect,
    email_identity,
    from_timestamp,
    json_events,
)

SIGNATURE = "x-mandrill-signature"
FIELD = "mandrill_events"
# Events that change consent; send, open, click, deferral, soft_bounce, reject and the
# denylist/allowlist sync events are ignored.
_CONSENT_EVENTS = frozenset({"unsub", "spam", "hard_bounce"})


def _fields(body: bytes) -> list[tuple[str, str]]:
    """The POST fields of a form body, in the order sent; ValueError if it isn't a form."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")


def mandrill_signature(key: str, url: str, fields: list[tuple[str, str]]) -> str:
    """Mandrill's signature of a POST to `url` with these fields, as it computes it."""
    signed = url + "".join(name + value for name, value in sorted(fields, key=lambda f: f[0]))
    digest = hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Mandrill(Provider):
    """`[providers.mandrill]`: `webhook_key` (Settings -> Webhooks) and optional `url`."""

    name: ClassVar[str] = "mandrill"
    consent_events = _CONSENT_EVENTS
    required = ("webhook_key",)
    accepts_head = True
    # Up to 1,000 events form-encoded: about 0.8 MB for events with a few opens each, so this
    # leaves room for heavy metadata. The signature covers the parsed fields, so a body is
    # parsed before it is verified: off the event loop when large, and never past this.
    max_body_bytes = 5 * 1024 * 1024

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self._key = settings.secret("webhook_key")
        self._url = settings.optional("url")
        if self._url is not None and not self._url.startswith(("https://", "http://")):
            raise SettingsError(
                "BRIDGE_CONFIG.providers.mandrill.url: must be the webhook URL exactly as "
                f"registered in Mandrill, starting https:// (got {self._url[:60]!r})"
            )

    def check_headers(self, headers: Headers) -> None:
        """No signature header, no need to read the body."""
        if not headers.get(SIGNATURE):
            raise Rejected("missing X-Mandrill-Signature")

    def read(self, delivery: Delivery) -> Delivery:
        """The POST fields, parsed once: the signature covers them, not the raw bytes."""
        try:
            return replace(delivery, document=_fields(delivery.body))
        except ValueError:
            raise Rejected("the body is not a form, so it cannot carry a signed post") from None

    async def verify(self, delivery: Delivery, http: httpx.AsyncClient) -> None:
        """HMAC-SHA1 over the registered URL and the sorted POST fields."""
        self.check_headers(delivery.headers)
        signature = delivery.headers[SIGNATURE]
        fields = (delivery if delivery.document is not None else self.read(delivery)).document
        url = self._url or delivery.url
        expected = mandrill_signature(self._key, url, fields)
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1")):
            raise Rejected(f"signature does not match (signed URL {url})")

    def parse(self, delivery: Delivery) -> Parsed:
        """Consent events of the batch; the rest are counted as ignored."""
        try:
            fields = delivery.document
            posted = dict(fields if fields is not None else _fields(delivery.body))
        except ValueError:
            raise Malformed("the body is not a form") from None
        if FIELD not in posted:
            raise Malformed(f"no {FIELD} field in the form")
        return collect(json_events(posted[FIELD], what=FIELD), self._read)

    def _wanted(self, kind: str, event: dict[str, Any]) -> Wanted | None:
        if kind == "unsub":
            return Wanted.UNSUBSCRIBED
        if kind == "spam":
            return self.settings.wanted_for_complaint()
        return self.settings.wanted_for_bounce()

    def _request(self, kind: str, event: dict[str, Any], wanted: Wanted) -> ConsentRequest:
        message_id, ts = event.get("_id"), event.get("ts")
        if not isinstance(message_id, str) or not message_id:
            raise ValueError("no _id")
        occurred_at = from_timestamp(ts)
        msg = event.get("msg")
        if not isinstance(msg, dict):
            raise ValueError("no msg")
        return self.request(
            email_identity(msg.get("email"), kind),
            wanted,
            occurred_at=occurred_at,
            # A message's _id is shared by its events (an unsub and a spam, say).
            event_id=f"{message_id}:{kind}:{ts}",
            event=kind,
            list_id=self._list(msg.get("tags")),
        )

    def _list(self, tags: object) -> str | None:
        """The first of the message's tags that `types` maps; the email channel otherwise."""
        if isinstance(tags, list):
            for tag in tags:
                if isinstance(tag, str) and tag in self.settings.types:
                    return tag
        return None
