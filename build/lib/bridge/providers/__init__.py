"""The providers whose webhooks the bridge accepts, and their settings from the TOML file.

Each provider lives in its own module; `PROVIDERS` names them. A provider is on when the
TOML file has a `[providers.NAME]` table; its secrets are checked at start-up, so a typo stops
the service with the key's name rather than refusing every webhook later.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from bridge.clock import Clock
from bridge.settings import SettingsError

from .base import (
    Answer,
    Delivery,
    Malformed,
    Parsed,
    Policy,
    Provider,
    ProviderSettings,
    Rejected,
    TextPart,
    Unreachable,
)

# name -> "module:class", imported when configured.
PROVIDERS = {
    "sendgrid": "bridge.providers.sendgrid:SendGrid",
    "mailgun": "bridge.providers.mailgun:Mailgun",
    "postmark": "bridge.providers.postmark:Postmark",
    "mandrill": "bridge.providers.mandrill:Mandrill",
    "ses": "bridge.providers.ses:SES",
    "brevo": "bridge.providers.brevo:Brevo",
    "sparkpost": "bridge.providers.sparkpost:SparkPost",
    "resend": "bridge.providers.resend:Resend",
    "mailjet": "bridge.providers.mailjet:Mailjet",
    "standard": "bridge.providers.standard:Standard",
    "generic": "bridge.providers.generic:Generic",
    "typeform": "bridge.providers.typeform:Typeform",
    "tally": "bridge.providers.tally:Tally",
    "webflow": "bridge.providers.webflow:Webflow",
    "hubspot": "bridge.providers.hubspot:HubSpot",
    "jotform": "bridge.providers.jotform:Jotform",
    "twilio": "bridge.providers.twilio:Twilio",
    "vonage": "bridge.providers.vonage:Vonage",
    "telnyx": "bridge.providers.telnyx:Telnyx",
    "plivo": "bridge.providers.plivo:Plivo",
    "messagebird": "bridge.providers.messagebird:MessageBird",
}
_COMMON = ("types", "complaints", "bounces")

__all__ = [
    "PROVIDERS",
    "Answer",
    "Delivery",
    "Malformed",
    "Parsed",
    "Policy",
    "Provider",
    "ProviderSettings",
    "Rejected",
    "TextPart",
    "Unreachable",
    "load_providers",
    "provider_class",
    "provider_settings",
]


def provider_class(name: str) -> type[Provider]:
    """The class of a known provider."""
    module, _, attribute = PROVIDERS[name].partition(":")
    found: type[Provider] = getattr(importlib.import_module(module), attribute)
    return found


def _policy(name: str, key: str, value: object, default: Policy) -> Policy:
    if value is None:
        return default
    try:
        return Policy(str(value))
    except ValueError:
        raise SettingsError(
            f"BRIDGE_CONFIG.providers.{name}.{key}: must be unsubscribe or ignore (got {value!r})"
        ) from None


def _types(name: str, value: object) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    where = f"BRIDGE_CONFIG.providers.{name}.types"
    if not isinstance(value, Mapping):
        raise SettingsError(f'{where}: must be a table, e.g. {{ "123" = ["108"] }}')
    mapped = {}
    for list_id, type_ids in value.items():
        ids = [type_ids] if isinstance(type_ids, str | int) else type_ids
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str | int) for i in ids):
            raise SettingsError(f"{where}.{list_id}: must be a type id or a list of type ids")
        mapped[str(list_id)] = tuple(str(i) for i in ids)
    return mapped


def provider_settings(name: str, table: Mapping[str, Any]) -> ProviderSettings:
    """One `[providers.NAME]` table, its common settings checked."""
    if name in PROVIDERS and not provider_class(name).list_types:
        return ProviderSettings(name=name, values=dict(table))  # a form tool reads it all
    return ProviderSettings(
        name=name,
        types=_types(name, table.get("types")),
        complaints=_policy(name, "complaints", table.get("complaints"), Policy.UNSUBSCRIBE),
        bounces=_policy(name, "bounces", table.get("bounces"), Policy.IGNORE),
        values={k: v for k, v in table.items() if k not in _COMMON},
    )


def load_providers(config: Mapping[str, Any], clock: Clock | None = None) -> dict[str, Provider]:
    """The configured providers on `clock`, checked; SettingsError names the first problem."""
    tables = config.get("providers", {})
    if not isinstance(tables, Mapping):
        raise SettingsError("BRIDGE_CONFIG.providers: must be a table of [providers.NAME]")
    unknown = sorted(set(tables) - set(PROVIDERS))
    if unknown:
        raise SettingsError(
            f"BRIDGE_CONFIG.providers.{unknown[0]}: unknown provider "
            f"(known: {', '.join(sorted(PROVIDERS))})"
        )
    loaded = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise SettingsError(f"BRIDGE_CONFIG.providers.{name}: must be a table")
        loaded[name] = provider_class(name)(provider_settings(name, table), clock)
    return loaded
