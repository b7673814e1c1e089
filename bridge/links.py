"""Signed link tokens: who a link is for, what it covers, and in which language.

Tokens are itsdangerous-signed (not encrypted) with a salt per purpose, so an unsubscribe
token never loads as a preferences token. The first of `BRIDGE_SECRET_KEYS` signs; every key
verifies, which is how keys are rotated without breaking mail already sent. Every token
carries its signing time, so a maximum age can be switched on later and still apply to links
sent before.

The claims are packed by hand rather than as JSON because links go out in SMS: an Intercom
contact id packs into 12 bytes, and a typical link fits in about 100 characters.

A link made from another keeps its issue time (the preferences link offered after an
unsubscribe is as old as the unsubscribe link), so deriving links never extends a link's life.
The undo button after an unsubscribe carries a token of its own: it names the unsubscribe it
takes back and the types the person was receiving before it, and lasts `UNDO_MAX_AGE`. A
signup form's `_t` field is a stamp of its own too: the form's name, signed when the page was
served, so the endpoint can tell how long the page was open before it was sent. A double
opt-in link (`ConfirmLink`) names the request it confirms by its ledger key (source, event
id), never an id a client chose, and lasts the days its form allows.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_encode, int_to_bytes

from bridge.consent import Channel, Identity, Scope

_SEP = b"\x1f"  # ASCII unit separator: never part of an id, email, phone or locale
_HEX_ID = re.compile(r"[0-9a-f]{24}")
_IDENTITY_CODES = {"contact_id": b"i", "email": b"e", "phone": b"p", "external_id": b"x"}
_IDENTITY_FIELDS = {code: name for name, code in _IDENTITY_CODES.items()}
_PACKED_ID = b"h"  # a 24-hex contact id as 12 raw bytes
_CHANNEL_CODES = {Channel.EMAIL: b"~e", Channel.SMS: b"~s"}
_CHANNELS = {code: channel for channel, code in _CHANNEL_CODES.items()}
# Long enough to take back a click made by mistake, short enough that an undo button left in
# a browser's history cannot opt a person back in weeks later.
UNDO_MAX_AGE = 30 * 60
# RFC 8058's List-Unsubscribe-Post value: the header that makes the List-Unsubscribe URI one-click.
ONE_CLICK = "List-Unsubscribe=One-Click"


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
    """What a link says: who, which types, which language; and, once read, when it was signed.

    `issued_at` is None for claims made afresh; a link signed from claims read off a token
    keeps that token's issue time.
    """

    identity: Identity
    scope: Scope = field(default_factory=Scope)
    locale: str | None = None
    issued_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Undo:
    """What an undo button may do: take back one unsubscribe, for the types it names only."""

    event_id: str  # the unsubscribe's event id in the ledger
    link: str  # `token_digest` of the unsubscribe link it was offered on
    type_ids: tuple[str, ...]  # what the person was receiving before the unsubscribe


def token_digest(token: str) -> str:
    """A short, stable name for a token: scopes ids a client chooses to the link they came by."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


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


def _packed(claims: LinkClaims) -> bytes:
    """The claims as a token's payload: packed, then base64url without padding."""
    return base64.urlsafe_b64encode(pack(claims)).rstrip(b"=")


class _ClockedSigner(TimestampSigner):
    """A TimestampSigner on an injected clock, which can also sign at a given time."""

    def __init__(self, keys: list[str], *, salt: str, clock: Callable[[], float]) -> None:
        super().__init__(keys, salt=salt)
        self._clock = clock

    def get_timestamp(self) -> int:
        """Now, by the injected clock (itsdangerous measures ages with this too)."""
        return int(self._clock())

    def sign_at(self, value: bytes, timestamp: int) -> bytes:
        """`value` signed as if at `timestamp` (a derived link keeps its source's time)."""
        stamped = value + self.sep + base64_encode(int_to_bytes(timestamp))
        return stamped + self.sep + self.get_signature(stamped)


@dataclass(frozen=True, slots=True)
class ConfirmLink:
    """What a double opt-in link confirms: the request (source, event_id), within `days`."""

    source: str
    event_id: str
    days: int
    locale: str | None = None


class LinkSigner:
    """Signs and verifies link tokens for each purpose."""

    def __init__(
        self,
        secret_keys: Sequence[str],
        *,
        max_age: dict[Purpose, float | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the last key of the list; our settings put the newest first.
        keys = list(reversed(secret_keys))
        self._signers = {
            purpose: _ClockedSigner(keys, salt=f"bridge.{purpose.value}", clock=clock)
            for purpose in Purpose
        }
        # Undo buttons are not links: a salt of their own, and never a Purpose a link can have.
        self._undo = _ClockedSigner(keys, salt="bridge.undo", clock=clock)
        self._fill = _ClockedSigner(keys, salt="bridge.form_fill", clock=clock)
        self._confirm = _ClockedSigner(keys, salt="bridge.confirm", clock=clock)
        self._max_age = max_age or {}
        self._clock = clock

    def token(self, purpose: Purpose, claims: LinkClaims) -> str:
        """A signed token for these claims, as old as `claims.issued_at` when that is set."""
        return self._sign(purpose, _packed(claims), claims.issued_at)

    def _sign(self, purpose: Purpose, payload: bytes, issued_at: datetime | None) -> str:
        signer = self._signers[purpose]
        if issued_at is None:
            return signer.sign(payload).decode()
        return signer.sign_at(payload, int(issued_at.timestamp())).decode()

    @staticmethod
    def _unsign(
        signer: _ClockedSigner, token: str, max_age: float | None
    ) -> tuple[bytes, datetime]:
        try:
            payload, signed_at = signer.unsign(
                token, max_age=None if max_age is None else int(max_age), return_timestamp=True
            )
        except SignatureExpired:
            raise ExpiredLink("this link has expired") from None
        except BadSignature:
            raise BadLink("this link is not valid") from None
        return payload, signed_at

    def claims(self, purpose: Purpose, token: str) -> LinkClaims:
        """The claims of a token with its issue time, or BadLink / ExpiredLink."""
        payload, signed_at = self._unsign(self._signers[purpose], token, self._max_age.get(purpose))
        try:
            claims = unpack(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadLink("malformed link") from None
        return LinkClaims(claims.identity, claims.scope, claims.locale, signed_at)

    def expired(self, purpose: Purpose, issued_at: datetime | None) -> bool:
        """Whether a link of `purpose` signed at `issued_at` would already be refused."""
        max_age = self._max_age.get(purpose)
        if max_age is None or issued_at is None:
            return False
        return self._clock() - issued_at.timestamp() > max_age

    def undo_token(self, undo: Undo) -> str:
        """The signed token of an undo button (expires after `UNDO_MAX_AGE`)."""
        packed = json.dumps([undo.event_id, undo.link, list(undo.type_ids)], separators=(",", ":"))
        payload = base64.urlsafe_b64encode(packed.encode()).rstrip(b"=")
        return self._undo.sign(payload).decode()

    def undo(self, token: str) -> Undo:
        """What an undo token allows, or BadLink / ExpiredLink."""
        payload, _ = self._unsign(self._undo, token, UNDO_MAX_AGE)
        try:
            event_id, link, type_ids = json.loads(
                base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
            )
            undo = Undo(str(event_id), str(link), tuple(str(t) for t in type_ids))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadLink("malformed undo token") from None
        return undo

    def fill_stamp(self, form: str) -> str:
        """A form's signed `_t` value: its name, stamped with the time the page was served."""
        return self._fill.sign(_text(form)).decode()

    def fill_seconds(self, form: str, stamp: str) -> float:
        """Seconds since `stamp` was made for `form`; BadLink if it is not ours or not its."""
        payload, signed_at = self._unsign(self._fill, stamp, None)
        if payload != form.encode():
            raise BadLink("this stamp was made for another form")
        return self._clock() - signed_at.timestamp()

    def confirm_url(self, public_url: str, link: ConfirmLink) -> str:
        """The double opt-in link emailed to a person: `{public_url}/confirm/{token}`."""
        packed = [link.source, link.event_id, link.days, link.locale]
        payload = base64.urlsafe_b64encode(json.dumps(packed, separators=(",", ":")).encode())
        token = self._confirm.sign(payload.rstrip(b"=")).decode()
        return f"{public_url.rstrip('/')}/confirm/{quote(token)}"

    def confirm_link(self, token: str) -> ConfirmLink:
        """What a double opt-in token confirms; BadLink, or ExpiredLink past its days."""
        payload, signed_at = self._unsign(self._confirm, token, None)
        try:
            source, event_id, days, locale = json.loads(
                base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
            )
            link = ConfirmLink(str(source), str(event_id), int(days), locale and str(locale))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadLink("malformed confirmation link") from None
        # Signed, so its days can be trusted: each form sets its own.
        if self._clock() - signed_at.timestamp() > link.days * 86_400:
            raise ExpiredLink("this link has expired")
        return link

    def url(self, public_url: str, purpose: Purpose, claims: LinkClaims) -> str:
        """The full link a person clicks (as old as `claims.issued_at` when that is set)."""
        return f"{public_url.rstrip('/')}/{purpose.value}/{quote(self.token(purpose, claims))}"

    def urls(self, public_url: str, claims: LinkClaims) -> dict[Purpose, str]:
        """A person's link of every purpose, the claims packed once (mail merge, the links API)."""
        payload, base = _packed(claims), public_url.rstrip("/")
        tokens = {purpose: self._sign(purpose, payload, claims.issued_at) for purpose in Purpose}
        return {purpose: f"{base}/{purpose.value}/{quote(t)}" for purpose, t in tokens.items()}


def list_unsubscribe(unsubscribe_url: str) -> str:
    """The `List-Unsubscribe` header value for an unsubscribe link (RFC 2369's angle brackets)."""
    return f"<{unsubscribe_url}>"
