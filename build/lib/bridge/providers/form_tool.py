"""What every form tool shares: its table's field mapping, and a submission into a request.

A form tool (Typeform, Tally, Webflow, ...) posts one submission per delivery. Its table
says which of the tool's fields hold the person (`email`, `phone`, `name`), which checkbox
holds their consent (`consent`: a signup counts only when it is ticked), what the form asks
for (`action`, `types`) and whether a stranger becomes a lead (`create`). The checks are the
bridge's own forms' (`bridge.forms.settings`), so a form tool's table reads like a form's.
Each tool reads its payload into a `Submitted`: its own submission id (retries dedupe on
it), when it happened, and a way to look a field up by the reference its table uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from bridge.clock import Clock
from bridge.consent import (
    Channel,
    Confirmation,
    ConsentRequest,
    Identity,
    NewContact,
    Scope,
    Wanted,
    consent_text_sha256,
)
from bridge.forms.settings import (
    MAX_CONSENT_TEXT,
    DoubleOptIn,
    FormAction,
    Table,
    read_action,
    read_confirm,
    read_create,
)
from bridge.forms.submission import InvalidField, clean_name
from bridge.identities import InvalidIdentity, check_email, check_phone
from bridge.settings import SettingsError

from .base import Delivery, Malformed, Parsed, Provider, ProviderSettings, from_iso

# The settings every form tool's table takes besides its secret.
MAPPING_KEYS = ("email", "phone", "name", "consent", "types", "action", "create", "confirm")
OTHER_KEYS = ("consent_text", "max_body_bytes", "confirm_admin_id", "confirm_days")
_TICKED = {"true", "yes", "on", "1", "checked", "accepted", "agree", "i agree"}
_UNTICKED = {"", "false", "no", "off", "0", "unchecked", "none", "null"}


@dataclass(frozen=True)
class FieldMap:
    """A form tool's table: where the person and their consent are, and what they ask for."""

    email: str | None = None  # None: the tool's own email-typed field (or "email")
    phone: str | None = None
    name: tuple[str, ...] = ()  # several fields are joined: first and last name
    consent: str | None = None
    types: tuple[str, ...] = ()  # none (unsubscribe only): every type of the channel
    action: FormAction = FormAction.SUBSCRIBE
    create: bool = True
    consent_text: str | None = None
    confirm: DoubleOptIn | None = None  # `confirm = "email"`: each signup waits for a click


@dataclass
class Submitted:
    """One submission as a tool posted it, before the table maps it."""

    event_id: str  # the tool's own submission or event id: the same on every retry
    occurred_at: datetime
    lookup: Callable[[str], object]  # a field's value by its ref, key or label; None if absent
    typed: Mapping[str, object] = field(default_factory=dict)  # "email"/"phone" by field type
    form: str | None = None  # the tool's form id, for the proof
    locale: str | None = None  # the language the person filled the form in, if the tool says


@dataclass
class FieldIndex:
    """A submission's fields by every name a table may use for them, and by their type."""

    values: dict[str, object] = field(default_factory=dict)
    typed: dict[str, object] = field(default_factory=dict)

    def add(self, refs: Iterable[object], value: object, kind: str | None = None) -> None:
        """One field: its value under each of its names; the first of each kind is kept."""
        for ref in refs:
            if isinstance(ref, str):
                self.values.setdefault(ref, value)
        if kind:
            self.typed.setdefault(kind, value)


def tool_event(body: bytes, part: str, tool: str) -> dict[str, Any]:
    """A tool's JSON event holding an object under `part`; Malformed if it isn't one."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get(part), dict):
        raise Malformed(f"the body is not a {tool} event (no {part})")
    return event


def submitted_at(value: object, where: str) -> datetime:
    """A submission's ISO 8601 time; Malformed naming `where` if it isn't one."""
    try:
        return from_iso(value)
    except ValueError:
        raise Malformed(f"{where} is not a time") from None


def _refs(table: Table, key: str) -> tuple[str, ...]:
    value = table.table.get(key)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise table.error(
            key, f"must be a field reference (text) or a list of them (got {value!r})"
        )
    if len(values) > 1 and key != "name":
        raise table.error(key, "must be one field reference")
    return tuple(v.strip() for v in values)


def check_confirm(table: Table) -> None:
    """`confirm` for a table that takes no double opt-in (`standard`): "none" only."""
    value = table.table.get("confirm", "none")
    if value == "email":
        raise table.error("confirm", '"email" (double opt-in) is not built yet; use "none"')
    if value != "none":
        raise table.error("confirm", f'must be "none" (got {value!r})')


def _types(table: Table, action: FormAction) -> tuple[str, ...]:
    ids = table.items("types")
    for type_id in ids:
        if not type_id or any(c.isspace() or c == "," for c in type_id):
            raise table.error("types", f"{type_id!r} is not a subscription type id")
    if not ids and action is FormAction.SUBSCRIBE:
        raise table.error("types", 'required for a signup: the Intercom type ids, e.g. ["93"]')
    return tuple(dict.fromkeys(ids))


def field_map(settings: ProviderSettings, allowed: tuple[str, ...]) -> FieldMap:
    """A form tool's table, checked; SettingsError names `BRIDGE_CONFIG.providers.NAME.key`."""
    table = Table(settings.name, settings.values, section="providers")
    unknown = sorted(set(settings.values) - {*MAPPING_KEYS, *OTHER_KEYS, *allowed})
    if unknown:
        known = ", ".join(sorted({*MAPPING_KEYS, *OTHER_KEYS, *allowed}))
        raise table.error(unknown[0], f"unknown setting (known: {known})")
    action = read_action(table)
    confirm = read_confirm(table, action)
    consent = _refs(table, "consent")
    if consent and action is FormAction.UNSUBSCRIBE:
        raise table.error("consent", "a consent checkbox only makes sense on a signup")
    text = table.text("consent_text")
    if text is not None and len(text) > MAX_CONSENT_TEXT:
        raise table.error("consent_text", f"longer than {MAX_CONSENT_TEXT} characters")
    [email] = _refs(table, "email") or (None,)
    [phone] = _refs(table, "phone") or (None,)
    return FieldMap(
        email=email,
        phone=phone,
        name=_refs(table, "name"),
        consent=consent[0] if consent else None,
        types=_types(table, action),
        action=action,
        create=read_create(table, action),
        consent_text=text,
        confirm=confirm,
    )


def ticked(value: object) -> bool:
    """Whether a checkbox's value says yes (a boolean, "on", "true", a non-empty list ...)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, list | tuple):
        return any(ticked(v) if isinstance(v, bool) else v not in (None, "") for v in value)
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _UNTICKED:
        return False
    # A checkbox's own label ("I agree to receive ...") is what many tools send when ticked.
    return text in _TICKED or bool(text)


def _text(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return str(value).strip()


class FormTool(Provider):
    """A form tool's webhook: verify (the subclass's scheme), read, map by its table."""

    channel: ClassVar[Channel] = Channel.EMAIL
    list_types: ClassVar[bool] = False  # `types` is a list of type ids, not a list map
    max_body_bytes: ClassVar[int] = 256 * 1024  # one submission per delivery
    extra_settings: ClassVar[tuple[str, ...]] = ()  # the tool's own keys beyond its secrets
    default_name: ClassVar[tuple[str, ...]] = ()  # the name's fields when `name` is not set

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        super().__init__(settings, clock)
        self.fields = field_map(settings, (*self.required, *self.extra_settings))
        # The tool's one secret (its signing key or token), named by `required`.
        self.secret = settings.credential(self.required[0]) if self.required else ""

    def submitted(self, delivery: Delivery) -> Submitted | None:
        """The submission delivered; None if it is not one (a test); Malformed if unreadable."""
        raise NotImplementedError

    def parse(self, delivery: Delivery) -> Parsed:
        """The submission as one request, or ignored (not a submission, consent not ticked)."""
        parsed = Parsed()
        found = self.submitted(delivery)
        if found is None or (self.fields.consent and not ticked(found.lookup(self.fields.consent))):
            parsed.ignored += 1
            return parsed
        try:
            parsed.requests.append(self.request_for(found))
        except ValueError as exc:
            parsed.invalid.append(f"submission {found.event_id}: {exc}")
        return parsed

    def request_for(self, found: Submitted) -> ConsentRequest:
        """The request a submission makes; ValueError if it names nobody usable."""
        fields, context = self.fields, {"via": self.name, "action": self.fields.action.value}
        email = _text(found.lookup(fields.email) if fields.email else found.typed.get("email"))
        phone = _text(found.lookup(fields.phone) if fields.phone else found.typed.get("phone"))
        try:
            email = check_email(email) if email else ""
        except InvalidIdentity as exc:
            raise ValueError(f"email {exc}") from None
        try:
            phone = check_phone(phone) if phone else ""
        except InvalidIdentity as exc:
            if not email:
                raise ValueError(f"phone {exc}") from None
            context["phone_unusable"] = str(exc)  # the email still says who it is
            phone = ""
        if not (email or phone):
            raise ValueError("no email address or phone number in the mapped fields")
        refs = fields.name or self.default_name
        try:
            name = clean_name("name", " ".join(_text(found.lookup(ref)) for ref in refs))
        except InvalidField:
            name = None  # a junk name must not cost the person their choice
        if found.form:
            context["form"] = found.form
        if fields.consent_text is not None:
            context["consent_text"] = fields.consent_text
            context["consent_text_sha256"] = consent_text_sha256(fields.consent_text)
        subscribe = fields.action is FormAction.SUBSCRIBE
        return ConsentRequest(
            identity=Identity(email=email or None, phone=phone or None),
            wanted=Wanted.SUBSCRIBED if subscribe else Wanted.UNSUBSCRIBED,
            scope=Scope(type_ids=fields.types) if fields.types else Scope(channel=self.channel),
            occurred_at=found.occurred_at,
            source=self.name,
            event_id=found.event_id,
            context=context,
            create=NewContact(name=name) if subscribe and fields.create else None,
            # With no language in the payload the email goes out in the bridge's default.
            confirm=(
                Confirmation(fields.confirm.admin_id, fields.confirm.days, found.locale)
                if fields.confirm
                else None
            ),
        )


def settings_error(settings: ProviderSettings, key: str, problem: str) -> SettingsError:
    """A SettingsError naming `BRIDGE_CONFIG.providers.NAME.key`."""
    return SettingsError(f"BRIDGE_CONFIG.providers.{settings.name}.{key}: {problem}")
