"""The pages' own words in many languages, and choosing a language for a person.

Each language is one TOML catalog in `bridge/locales/` (`fr.toml`, `ar.toml`, ...): a `[meta]`
table with the language's own name and its direction, and tables of messages. English is the
reference; a message missing from another catalog falls back to it. Adding a language is
adding one file.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.consent import SubscriptionType, Translation

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_MAX_ACCEPT_LANGUAGE_ITEMS = 20


class CatalogError(ValueError):
    """A catalog file is missing, unreadable or inconsistent with the English one."""


@dataclass(frozen=True)
class Catalog:
    """One language's messages, keyed `table.name` (e.g. `preferences.title`)."""

    code: str
    name: str
    direction: str
    messages: Mapping[str, str]

    def gettext(self, key: str, /, **params: str) -> str:
        """The message for `key` with its {placeholders} filled in."""
        text = self.messages[key]
        return text.format_map(params) if params else text


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise CatalogError(f"{name}: a message must be text")
    return flat


def placeholders(text: str) -> set[str]:
    """The `{names}` a message expects."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def load_catalog(path: Path) -> Catalog:
    """Read one catalog file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from None
    meta = data.pop("meta", {})
    direction = meta.get("direction", "ltr")
    if direction not in ("ltr", "rtl"):
        raise CatalogError(f"{path.name}: meta.direction must be ltr or rtl")
    if not isinstance(meta.get("name"), str):
        raise CatalogError(f"{path.name}: meta.name (the language's own name) is required")
    return Catalog(path.stem, meta["name"], direction, _flatten(data))


def load_catalogs(directory: Path = LOCALES_DIR) -> dict[str, Catalog]:
    """Every catalog in `directory`, English first; others fall back to English per message."""
    english = load_catalog(directory / f"{DEFAULT_LANGUAGE}.toml")
    catalogs = {english.code: english}
    for path in sorted(directory.glob("*.toml")):
        if path.stem == DEFAULT_LANGUAGE:
            continue
        catalog = load_catalog(path)
        unknown = set(catalog.messages) - set(english.messages)
        if unknown:
            raise CatalogError(f"{path.name}: unknown messages {', '.join(sorted(unknown))}")
        for key, text in catalog.messages.items():
            if placeholders(text) != placeholders(english.messages[key]):
                raise CatalogError(f"{path.name}: {key} must use {english.messages[key]!r}'s names")
        merged = {**english.messages, **catalog.messages}
        catalogs[catalog.code] = Catalog(catalog.code, catalog.name, catalog.direction, merged)
    return catalogs


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most preferred first (q=0 dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:_MAX_ACCEPT_LANGUAGE_ITEMS]):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not _LANGUAGE_TAG.match(tag):
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def clean_tag(value: str | None) -> str | None:
    """A language tag from an untrusted place (a query string), or None if it isn't one."""
    if value and len(value) <= 35 and _LANGUAGE_TAG.match(value):
        return value
    return None


def _match(tag: str, available: Iterable[str]) -> str | None:
    """The available locale for a tag: exact (any case), then the same language (pt-BR -> pt)."""
    lowered = tag.lower().replace("_", "-")
    options = list(available)
    for option in options:
        if option.lower().replace("_", "-") == lowered:
            return option
    language = lowered.split("-")[0]
    for option in options:
        if option.lower().replace("_", "-").split("-")[0] == language:
            return option
    return None


def negotiate(preferred: Sequence[str], available: Iterable[str]) -> str | None:
    """The first available locale that one of the preferred tags matches, in their order."""
    options = list(available)
    for tag in preferred:
        found = _match(tag, options)
        if found is not None:
            return found
    return None


def localise(subscription_type: SubscriptionType, preferred: Sequence[str]) -> Translation:
    """A type's name and description in the first preferred language Intercom has for it."""
    by_locale = {t.locale: t for t in subscription_type.translations if t.locale}
    found = negotiate(preferred, by_locale)
    if found is not None and by_locale[found].name:
        return by_locale[found]
    return subscription_type.default_translation
