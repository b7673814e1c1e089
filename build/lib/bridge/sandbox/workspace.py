"""The sandbox workspace's state: subscription types, contacts and explicit preferences."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
ROLES = ("user", "lead")
CONSENT_TYPES = ("opt_out", "opt_in")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_NULL_FIELDS = (
    "avatar",
    "owner_id",
    "last_seen_at",
    "last_replied_at",
    "last_contacted_at",
    "last_email_opened_at",
    "last_email_clicked_at",
    "language_override",
    "browser",
    "browser_version",
    "browser_language",
    "os",
    "android_app_name",
    "android_app_version",
    "android_device",
    "android_os_version",
    "android_sdk_version",
    "android_last_seen_at",
    "ios_app_name",
    "ios_app_version",
    "ios_device",
    "ios_os_version",
    "ios_sdk_version",
    "ios_last_seen_at",
    "utm_campaign",
    "utm_content",
    "utm_medium",
    "utm_source",
    "utm_term",
    "referrer",
)


class ApiError(Exception):
    """An answer the sandbox gives as an Intercom `error.list`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)


def user_not_found() -> ApiError:
    """Intercom's answer for an unknown contact id."""
    return _not_found("User Not Found")


def resource_not_found() -> ApiError:
    """Intercom's answer for an unknown id of anything else."""
    return _not_found("Resource Not Found")


def _formatted_phone(phone: str | None) -> str | None:
    if phone is None:
        return None
    compact = re.sub(r"[\s().-]", "", phone)
    return compact if _E164.fullmatch(compact) else None


def _list_of(url: str) -> JSON:
    return {"type": "list", "data": [], "url": url, "total_count": 0, "has_more": False}


class Workspace:
    """Types, contacts (indexed by email, phone and external_id) and explicit preferences."""

    def __init__(self, *, clock: Callable[[], float], workspace_id: str = "sandbox1") -> None:
        self.workspace_id = workspace_id
        self.types: dict[str, JSON] = {}
        self.contacts: dict[str, JSON] = {}
        # contact id -> {type id: consent_type}, in the order the preferences were made
        self.preferences: dict[str, dict[str, str]] = {}
        self.seq: dict[str, int] = {}
        self.visible_at: dict[str, float] = {}
        self.index: dict[str, dict[str, list[str]]] = {"email": {}, "phone": {}, "external_id": {}}
        self._clock = clock

    def add_type(self, **fields: Any) -> JSON:
        """Add a subscription type; missing fields get defaults, `name` builds translations."""
        name = fields.pop("name", None)
        description = fields.pop("description", "")
        type_id = str(fields.pop("id", None) or self._next_type_id())
        if type_id in self.types:
            raise ValueError(f"subscription type {type_id} already exists")
        translation = {
            "name": name or f"Type {type_id}",
            "description": description,
            "locale": "en",
        }
        subscription_type: JSON = {
            "type": "subscription",
            "id": type_id,
            "state": "live",
            "default_translation": translation,
            "translations": [translation],
            "consent_type": "opt_out",
            "content_types": ["email"],
            **fields,
        }
        if subscription_type["consent_type"] not in CONSENT_TYPES:
            raise ValueError(
                f"consent_type must be opt_out or opt_in, not {subscription_type['consent_type']!r}"
            )
        self.types[type_id] = subscription_type
        return subscription_type

    def _next_type_id(self) -> str:
        return str(max((int(t) for t in self.types if t.isdigit()), default=100) + 1)

    def add_contact(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
        role: str = "user",
        name: str | None = None,
        created_at: float | None = None,
        contact_id: str | None = None,
    ) -> JSON:
        """Add a contact without the API's duplicate checks, and return its JSON."""
        if role not in ROLES:
            raise ValueError(f"role must be user or lead, not {role!r}")
        now = self._clock()
        created = now if created_at is None else created_at
        seq = len(self.seq)
        # 24 hex digits like Intercom's ids: creation time, then a per-workspace counter.
        contact_id = contact_id or f"{int(created) & 0xFFFFFFFF:08x}{0xB0000000 + seq:016x}"
        if contact_id in self.contacts:
            raise ValueError(f"contact {contact_id} already exists")
        timestamp = int(created)
        contact: JSON = {
            "type": "contact",
            "id": contact_id,
            "workspace_id": self.workspace_id,
            "external_id": external_id,
            "role": role,
            # The 2.11 schema types these as non-nullable strings, so "no email" is "".
            "email": email or "",
            "email_domain": email.rpartition("@")[2] if email else "",
            "phone": phone,
            "formatted_phone": _formatted_phone(phone),
            "name": name,
            "social_profiles": {"type": "list", "data": []},
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": False,
            "created_at": timestamp,
            "updated_at": timestamp,
            "signed_up_at": timestamp if role == "user" else None,
            "location": {
                "type": "location",
                "country": None,
                "region": None,
                "city": None,
                "country_code": None,
                "continent_code": None,
            },
            "custom_attributes": {},
            "tags": _list_of(f"/contacts/{contact_id}/tags"),
            "notes": _list_of(f"/contacts/{contact_id}/notes"),
            "companies": _list_of(f"/contacts/{contact_id}/companies"),
            **dict.fromkeys(_NULL_FIELDS),
        }
        self.contacts[contact_id] = contact
        self.preferences[contact_id] = {}
        self.seq[contact_id] = seq
        self.visible_at[contact_id] = created
        for field, value in (
            ("email", email.lower() if email else None),
            ("phone", phone),
            ("external_id", external_id),
        ):
            if value:
                self.index[field].setdefault(value, []).append(contact_id)
        return contact

    def view(self, contact_id: str) -> JSON:
        """A contact as the API returns it, with its explicit preferences summarised."""
        contact = self.contacts[contact_id]
        url = f"/contacts/{contact_id}/subscriptions"
        lists = {"opt_out": _list_of(url), "opt_in": _list_of(url)}
        for type_id, consent_type in self.preferences[contact_id].items():
            entry = lists[consent_type]
            entry["data"].append(
                {"type": "subscription", "id": type_id, "url": f"/subscription_types/{type_id}"}
            )
            entry["total_count"] += 1
        return {
            **contact,
            "opted_out_subscription_types": lists["opt_out"],
            "opted_in_subscription_types": lists["opt_in"],
        }

    def explicit(self, contact_id: str) -> dict[str, str]:
        """Type id -> consent_type of the contact's explicit preferences."""
        return dict(self.preferences[contact_id])

    def receives(self, contact_id: str, type_id: str) -> bool:
        """Whether the contact receives the type: listed for opt-in, unlisted for opt-out."""
        in_list = type_id in self.preferences[contact_id]
        if self.types[type_id]["consent_type"] == "opt_in":
            return in_list
        return not in_list

    def attach(self, contact_id: str, type_id: Any, consent_type: Any) -> JSON:
        """Record an explicit preference, as POST /contacts/{id}/subscriptions does."""
        preferences = self._preferences_of(contact_id)
        # The spec's own examples send the id as an integer.
        if isinstance(type_id, bool) or not isinstance(type_id, str | int):
            raise ApiError(400, "parameter_invalid", "id must be a string")
        subscription_type = self.types.get(str(type_id))
        if subscription_type is None:
            raise resource_not_found()
        expected = subscription_type["consent_type"]
        if consent_type not in CONSENT_TYPES:
            raise ApiError(400, "parameter_invalid", "consent_type must be opt_out or opt_in")
        if consent_type != expected:
            # Undocumented; refusing makes a stale cached consent_type visible to clients.
            raise ApiError(
                400,
                "parameter_invalid",
                f"consent_type {consent_type} does not match subscription type"
                f" {subscription_type['id']}, which is {expected}",
            )
        preferences[subscription_type["id"]] = consent_type
        return subscription_type

    def detach(self, contact_id: str, type_id: str) -> JSON:
        """Remove an explicit preference, as DELETE /contacts/{id}/subscriptions/{sid} does."""
        preferences = self._preferences_of(contact_id)
        subscription_type = self.types.get(type_id)
        if subscription_type is None:
            raise resource_not_found()
        # Intercom does not document detaching a type the contact has no entry for; a 404,
        # not a 200, is the stricter choice: a client that copes with it copes with either.
        if preferences.pop(type_id, None) is None:
            raise resource_not_found()
        return subscription_type

    def subscriptions(self, contact_id: str) -> list[JSON]:
        """The types the contact has explicit preferences for."""
        return [self.types[t] for t in self._preferences_of(contact_id)]

    def create(self, body: Any) -> JSON:
        """Create a contact as POST /contacts does, refusing duplicates with a 409."""
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        if not any(key in body for key in ("email", "external_id", "role")):
            raise ApiError(
                400, "parameter_invalid", "one of email, external_id or role is required"
            )
        role = body.get("role", "user")
        if role not in ROLES:
            raise ApiError(400, "parameter_invalid", "role must be user or lead")
        for key in ("email", "external_id", "phone", "name"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise ApiError(400, "parameter_invalid", f"{key} must be a string")
        email, external_id = body.get("email"), body.get("external_id")
        clashes = self.index["external_id"].get(external_id, []) if external_id else []
        if email:
            clashes = clashes + [
                cid
                for cid in self.index["email"].get(email.lower(), [])
                if self.contacts[cid]["role"] == role
            ]
        if clashes:
            raise ApiError(
                409,
                "conflict",
                f"A contact matching those details already exists with id={clashes[0]}",
            )
        contact = self.add_contact(
            email=email,
            phone=body.get("phone"),
            external_id=external_id,
            role=role,
            name=body.get("name"),
        )
        return self.view(contact["id"])

    def _preferences_of(self, contact_id: str) -> dict[str, str]:
        preferences = self.preferences.get(contact_id)
        if preferences is None:
            raise user_not_found()
        return preferences
