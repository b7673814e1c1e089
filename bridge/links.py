"""Signed link tokens: who a link is for, what it covers, and in which language.

Tokens are itsdangerous-signed (not encrypted) with a salt per purpose, so an unsubscribe
token never loads as a preferences token. The first of `BRIDGE_SECRET_KEYS` signs; every key
verifies, which is how keys are rotated without breaking mail already sent. Every token
carries its signing time, so a maximum age can be switched on later and still apply to links
sent before.

The claims are packed by hand rather than as JSON because links go out in SMS: an Intercom
contact id packs into 12 bytes, and a typical link fits in about 100 characters.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from bridge.consent import Channel, Identity, Scope

_SEP = b"\x1f"  # ASCII unit separator: never part of an id, email, phone or locale
_HEX_ID = re.compile(r"[0-9a-f]{24}")
_IDENTITY_CODES = {"contact_id": b"i", "email": b"e", "phone": b"p", "external_id": b"x"}
_IDENTITY_FIELDS = {code: name for name, code in _IDENTITY_CODES.items()}
_PACKED_ID = b"h"  # a 24-hex contact id as 12 raw bytes
_CHANNEL_CODES = {Channel.EMAIL: b"~e", Channel.SMS: b"~s"}
_CHANNELS = {code: channel for channel, code in _CHANNEL_CODES.items()}


class Purpose(enum.StrEnum):
    """What a link may be used for; each purpose has its own salt."""

    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class BadLink(ValueError):
    """The token was not signed by any of our keys, or is not a token at all."""


class ExpiredLink(BadLink):
    """The token is genuine but older than the configured maximum age."""


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a link says: who, which types, which language."""

    identity: Identity
    scope: Scope = field(default_factory=Scope)
    locale: str | None = None


def _text(value: str) -> bytes:
    data = value.encode()
    if _SEP in data or not data:
        raise ValueError(f"cannot put {value!r} in a link")
    return data


def pack(claims: LinkClaims) -> bytes:
    """The claims as compact bytes (before base64 and signing)."""
    identity = claims.identity.to_dict()
    # One identity field is enough to find the person; prefer the most exact one.
    name = next(n for n in ("contact_id", "external_id", "email", "phone") if n in identity)
    value = identity[name]
    if name == "contact_id" and _HEX_ID.fullmatch(value):
        head = _PACKED_ID + bytes.fromhex(value)
    else:
        head = _IDENTITY_CODES[name] + _text(value) + _SEP
    if claims.scope.type_ids:
        if any("," in t or t.startswith("~") for t in claims.scope.type_ids):
            raise ValueError("subscription type ids cannot contain ',' or start with '~'")
        scope = b",".join(_text(t) for t in claims.scope.type_ids)
    elif claims.scope.channel is not None:
        scope = _CHANNEL_CODES[claims.scope.channel]
    else:
        scope = b""
    locale = _text(claims.locale) if claims.locale else b""
    return (head + scope + (_SEP + locale if locale else b"")).rstrip(_SEP)


def unpack(data: bytes) -> LinkClaims:
    """The inverse of `pack`; ValueError for anything else."""
    tag, body = data[:1], data[1:]
    if tag == _PACKED_ID:
        if len(body) < 12:
            raise ValueError("short contact id")
        identity = Identity(contact_id=body[:12].hex())
        rest = body[12:]
    elif tag in _IDENTITY_FIELDS:
        value, _, rest = body.partition(_SEP)
        identity = Identity(**{_IDENTITY_FIELDS[tag]: value.decode()})
    else:
        raise ValueError("unknown identity tag")
    scope_raw, _, locale_raw = rest.partition(_SEP)
    if scope_raw in _CHANNELS:
        scope = Scope(channel=_CHANNELS[scope_raw])
    elif scope_raw.startswith(b"~") or _SEP in locale_raw:
        raise ValueError("bad scope or locale")
    else:
        ids = scope_raw.decode().split(",") if scope_raw else []
        if any(not i for i in ids):
            raise ValueError("empty type id")
        scope = Scope(type_ids=tuple(ids))
    return LinkClaims(identity, scope, locale_raw.decode() or None)


class LinkSigner:
    """Signs and verifies link tokens for each purpose."""

    def __init__(
        self,
        secret_keys: Sequence[str],
        *,
        max_age: dict[Purpose, float | None] | None = None,
    ) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the last key of the list; our settings put the newest first.
        keys = list(reversed(secret_keys))
        self._signers = {
            purpose: TimestampSigner(keys, salt=f"bridge.{purpose.value}") for purpose in Purpose
        }
        self._max_age = max_age or {}

    def token(self, purpose: Purpose, claims: LinkClaims) -> str:
        """A signed token for these claims."""
        payload = base64.urlsafe_b64encode(pack(claims)).rstrip(b"=")
        return self._signers[purpose].sign(payload).decode()

    def claims(self, purpose: Purpose, token: str) -> LinkClaims:
        """The claims of a token, or BadLink / ExpiredLink."""
        try:
            max_age = self._max_age.get(purpose)
            payload = self._signers[purpose].unsign(
                token, max_age=None if max_age is None else int(max_age)
            )
        except SignatureExpired:
            raise ExpiredLink("this link has expired") from None
        except BadSignature:
            raise BadLink("this link is not valid") from None
        try:
            return unpack(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadLink("malformed link") from None

    def url(self, public_url: str, purpose: Purpose, claims: LinkClaims) -> str:
        """The full link a person clicks."""
        return f"{public_url.rstrip('/')}/{purpose.value}/{quote(self.token(purpose, claims))}"
