"""`[forms.NAME]` tables: each signup, unsubscribe or "send me my link" form, checked at start-up.

A mistake stops the service with one line naming `BRIDGE_CONFIG.forms.NAME.key`, so a typo in
a form's origins or thank-you URL is found before the form is on anyone's site. Any value may
be `"env:NAME"` (`settings.py` resolves those), so lists and booleans may also arrive as text:
`"https://a.example, https://b.example"`, `"true"`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bridge.consent import consent_text_sha256
from bridge.settings import SettingsError, origin_of

# A form's name is a path segment: /forms/{name}.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# A posted field's name, as an HTML form or a JSON body would carry it.
_FIELD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
# Field names the endpoint reads itself, so a mapping or a honeypot may not take them.
RESERVED_FIELDS = ("subscription", "_t", "_nonce")
MAX_CONSENT_TEXT = 2_000
KEYS = (
    "action",
    "types",
    "choose",
    "fields",
    "create",
    "consent_text",
    "origins",
    "redirect",
    "confirm",
    "confirm_admin_id",
    "confirm_days",
    "honeypot",
)
CONFIRM_DAYS = 7  # how long a double opt-in link works, unless the form says otherwise
MAX_CONFIRM_DAYS = 90


class FormAction(enum.StrEnum):
    """What sending the form asks for."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    MANAGE = "manage"  # email the person their preference link; changes nothing


@dataclass(frozen=True)
class FieldNames:
    """Which posted fields hold the person's email, phone and name."""

    email: str = "email"
    phone: str = "phone"
    name: str = "name"


@dataclass(frozen=True)
class DoubleOptIn:
    """`confirm = "email"`: who the confirmation email is from, and how long its link works."""

    admin_id: str
    days: int = CONFIRM_DAYS


@dataclass(frozen=True)
class Form:
    """One form of the bridge's own, as its table configures it."""

    name: str
    types: tuple[str, ...]
    action: FormAction = FormAction.SUBSCRIBE
    choose: bool = False
    fields: FieldNames = field(default_factory=FieldNames)
    create: bool = True
    consent_text: str | None = None
    origins: tuple[str, ...] = ()
    redirect: str | None = None
    honeypot: str = "website"
    confirm: DoubleOptIn | None = None  # `confirm = "email"`: each signup waits for a click
    link_admin_id: str | None = None  # `manage`: the admin the preference link email is from

    @property
    def source(self) -> str:
        """The ledger's `source` for this form's requests."""
        return f"form:{self.name}"

    @property
    def consent_text_sha256(self) -> str | None:
        """The hash that names the consent text in the proof."""
        if self.consent_text is None:
            return None
        return consent_text_sha256(self.consent_text)


class Table:
    """One table, read key by key; errors name `BRIDGE_CONFIG.forms.NAME.key`.

    A form tool's `[providers.NAME]` table is read with the same checks (`section`).
    """

    def __init__(self, name: str, table: Mapping[str, Any], section: str = "forms") -> None:
        self.name = name
        self.table = table
        self.section = section

    def error(self, key: str, problem: str) -> SettingsError:
        return SettingsError(f"BRIDGE_CONFIG.{self.section}.{self.name}.{key}: {problem}")

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false (got {value!r})")
        return value

    def text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(key, f"must be a non-empty string (got {value!r})")
        return value.strip() if value is not None else None

    def items(self, key: str) -> list[str]:
        """A list, a single value, or a comma-separated string (from an `env:` reference)."""
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        elif isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value
        ):
            raise self.error(key, f"must be a list of strings (got {value!r})")
        return [str(v).strip() for v in value]

    def field_name(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not _FIELD.match(value):
            raise self.error(
                key, f"{value!r} is not a field name (letters, digits, _ . : -; 64 at most)"
            )
        if value in RESERVED_FIELDS:
            raise self.error(key, f"{value!r} is a field the bridge reads itself; choose another")
        return value


def read_action(table: Table) -> FormAction:
    """The `action` setting (default subscribe); "manage" is for forms, not form tools."""
    value = table.table.get("action", "subscribe")
    if value == "manage" and table.section != "forms":
        raise table.error("action", '"manage" is not built yet for form tools; use a form')
    try:
        return FormAction(value)
    except ValueError:
        raise table.error(
            "action", f"must be subscribe, unsubscribe or manage (got {value!r})"
        ) from None


def _admin_id(table: Table, needed_with: str) -> str:
    admin_id = str(table.table.get("confirm_admin_id", "")).strip()
    if not admin_id:
        raise table.error(
            "confirm_admin_id",
            f"required {needed_with}: the id of the Intercom admin the email is from "
            "(GET /admins lists them)",
        )
    if not admin_id.isdigit():
        raise table.error("confirm_admin_id", f"{admin_id!r} is not an Intercom admin id (digits)")
    return admin_id


def _manage(table: Table) -> str:
    """A `manage` form's admin (`confirm_admin_id`); refuses what such a form cannot do."""
    for key in ("types", "choose", "confirm", "confirm_days"):
        if key in table.table:
            raise table.error(key, 'not for a "manage" form: it sends a link and changes nothing')
    if table.boolean("create", False):
        raise table.error("create", "a manage form cannot create contacts")
    return _admin_id(table, 'with action = "manage"')


def read_confirm(table: Table, action: FormAction) -> DoubleOptIn | None:
    """`confirm`, `confirm_admin_id` and `confirm_days`: double opt-in, for signups only.

    A `manage` form reads its `confirm_admin_id` in `_manage` instead.
    """
    if action is FormAction.MANAGE:
        return None
    value = table.table.get("confirm", "none")
    if value not in ("none", "email"):
        raise table.error("confirm", f'must be "none" or "email" (got {value!r})')
    if value == "none":
        for key in ("confirm_admin_id", "confirm_days"):
            if key in table.table:
                raise table.error(key, 'only with confirm = "email"')
        return None
    if action is not FormAction.SUBSCRIBE:
        raise table.error("confirm", '"email" (double opt-in) is for subscribe forms')
    return DoubleOptIn(_admin_id(table, 'with confirm = "email"'), _confirm_days(table))


def _confirm_days(table: Table) -> int:
    value = table.table.get("confirm_days", CONFIRM_DAYS)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONFIRM_DAYS:
        raise table.error(
            "confirm_days",
            f"must be a whole number of days, 1 to {MAX_CONFIRM_DAYS} (got {value!r})",
        )
    return value


def _types(table: Table) -> tuple[str, ...]:
    if "types" not in table.table:
        raise table.error("types", 'required: the Intercom subscription type ids, e.g. ["93"]')
    ids = table.items("types")
    if not ids:
        raise table.error("types", "must name at least one subscription type id")
    for type_id in ids:
        if not type_id or any(c.isspace() or c == "," for c in type_id):
            raise table.error("types", f"{type_id!r} is not a subscription type id")
    return tuple(dict.fromkeys(ids))


def _fields(table: Table) -> FieldNames:
    value = table.table.get("fields", {})
    if not isinstance(value, Mapping):
        raise table.error("fields", 'must be a table, e.g. { email = "your-email" }')
    unknown = sorted(set(value) - {"email", "phone", "name"})
    if unknown:
        raise table.error(f"fields.{unknown[0]}", "unknown; the fields are email, phone, name")
    names = FieldNames(
        **{key: table.field_name(f"fields.{key}", posted) for key, posted in value.items()}
    )
    posted = [names.email, names.phone, names.name]
    if len(set(posted)) < len(posted):
        raise table.error("fields", "email, phone and name must be different fields")
    return names


def _origins(table: Table) -> tuple[str, ...]:
    found = []
    for item in table.items("origins"):
        parts = urlsplit(item)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path.strip("/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise table.error(
                "origins",
                f"{item!r} is not an origin; write scheme://host[:port], e.g. "
                "https://www.example.com",
            )
        found.append(origin_of(item))
    return tuple(dict.fromkeys(found))


def _redirect(table: Table, allowed: set[str]) -> str | None:
    url = table.text("redirect")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error("redirect", f"{url!r} must be an http(s) URL")
    if origin_of(url) not in allowed:
        raise table.error(
            "redirect",
            f"{url!r} is not on one of the form's origins (or the bridge's own); "
            f"add {origin_of(url)} to origins",
        )
    return url


def _consent_text(table: Table, action: FormAction) -> str | None:
    text = table.text("consent_text")
    if text is None and action is FormAction.SUBSCRIBE:
        raise table.error(
            "consent_text",
            "required for a signup form: the words beside its button, kept as proof of consent",
        )
    if text is not None and len(text) > MAX_CONSENT_TEXT:
        raise table.error("consent_text", f"longer than {MAX_CONSENT_TEXT} characters")
    return text


def read_create(table: Table, action: FormAction) -> bool:
    """The `create` setting: on by default for signups, never for unsubscribes."""
    create = table.boolean("create", action is FormAction.SUBSCRIBE)
    if create and action is FormAction.UNSUBSCRIBE:
        raise table.error("create", "an unsubscribe form cannot create contacts")
    return create


def form_settings(name: str, table: Mapping[str, Any], public_url: str) -> Form:
    """One `[forms.NAME]` table, checked; SettingsError names the first problem."""
    if not _NAME.match(name):
        raise SettingsError(
            f"BRIDGE_CONFIG.forms.{name}: a form's name is part of its URL: letters, digits, "
            "_ and -, 64 at most"
        )
    read = Table(name, table)
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise read.error(unknown[0], f"unknown setting (known: {', '.join(KEYS)})")
    action = read_action(read)
    manage = action is FormAction.MANAGE
    link_admin_id = _manage(read) if manage else None
    confirm = read_confirm(read, action)
    origins = _origins(read)
    fields = _fields(read)
    honeypot = read.field_name("honeypot", table.get("honeypot", "website"))
    if honeypot in (fields.email, fields.phone, fields.name):
        raise read.error("honeypot", f"{honeypot!r} is also one of the form's fields")
    return Form(
        name=name,
        types=() if manage else _types(read),
        action=action,
        choose=read.boolean("choose", False),
        fields=fields,
        create=False if manage else read_create(read, action),
        consent_text=_consent_text(read, action),
        origins=origins,
        redirect=_redirect(read, {*origins, origin_of(public_url)}),
        honeypot=honeypot,
        confirm=confirm,
        link_admin_id=link_admin_id,
    )


def load_forms(config: Mapping[str, Any], public_url: str) -> dict[str, Form]:
    """Every `[forms.NAME]` table of the TOML file, checked."""
    tables = config.get("forms", {})
    if not isinstance(tables, Mapping):
        raise SettingsError("BRIDGE_CONFIG.forms: must be a table of [forms.NAME]")
    forms = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise SettingsError(f"BRIDGE_CONFIG.forms.{name}: must be a table")
        forms[name] = form_settings(name, table, public_url)
    return forms
