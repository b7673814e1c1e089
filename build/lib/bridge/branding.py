"""The operator's branding from the TOML file's `[branding]` table, checked once at start-up.

Colours become CSS custom properties in a small stylesheet served by the bridge itself, so the
pages keep a Content-Security-Policy without inline styles. The text colour on the brand
colour is chosen for contrast, so any brand colour gives readable buttons (WCAG 2.1 AA).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridge.settings import SettingsError

log = logging.getLogger(__name__)

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# URL characters (RFC 3986) without those that mean something in a CSP header: ; , ' and ".
_PLAIN_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+=%]+")
# A host name and an optional port: what a CSP source's host may be; no user info.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_LOCAL_HOSTS = ("localhost", "127.0.0.1")
_KNOWN = {
    "company_name",
    "logo_url",
    "logo_alt",
    "primary_color",
    "background_color",
    "stylesheet_url",
    "footer_text",
    "privacy_url",
    "templates",
}
INK = "#1a1a1a"
WHITE = "#ffffff"
AA_NORMAL_TEXT = 4.5


@dataclass(frozen=True)
class Branding:
    """How pages look: name, logo, colours, extra stylesheet, footer, privacy link."""

    company_name: str | None = None
    logo_url: str | None = None
    logo_alt: str | None = None
    primary_color: str | None = None
    background_color: str | None = None
    stylesheet_url: str | None = None
    footer_text: str | None = None
    privacy_url: str | None = None
    templates: Path | None = None

    @property
    def css(self) -> str:
        """The stylesheet that sets the brand's colours (empty without any)."""
        rules = []
        if self.primary_color:
            rules.append(f"--accent: {self.primary_color};")
            rules.append(f"--on-accent: {readable_on(self.primary_color)};")
        if self.background_color:
            rules.append(f"--bg: {self.background_color};")
        return ":root { " + " ".join(rules) + " }\n" if rules else ""

    @property
    def css_version(self) -> str:
        """A short hash of `css`, so a changed colour busts browser caches."""
        return hashlib.sha256(self.css.encode()).hexdigest()[:10]

    def external_origins(self) -> dict[str, str]:
        """The CSP sources the logo and stylesheet need: directive -> origin."""
        found = {}
        for directive, url in (("img-src", self.logo_url), ("style-src", self.stylesheet_url)):
            if url and urlsplit(url).scheme in ("http", "https"):
                parts = urlsplit(url)
                found[directive] = f"{parts.scheme}://{parts.netloc}"
        return found


def _channel(value: str) -> float:
    fraction = int(value, 16) / 255
    return fraction / 12.92 if fraction <= 0.03928 else ((fraction + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """Relative luminance of a #rrggbb colour (WCAG 2.1)."""
    red, green, blue = (_channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours, from 1 to 21."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_on(background: str) -> str:
    """White or near-black text, whichever reads better on `background`."""
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def _url(key: str, value: str) -> str:
    """A plain https URL (or http on localhost), or a /path on the bridge; else SettingsError.

    The logo's and stylesheet's origins go into the Content-Security-Policy header, so a URL
    must not be able to carry CSP syntax (`;`, quotes, spaces) or hide another host.
    """
    parts = urlsplit(value)
    plain = _PLAIN_URL.fullmatch(value) is not None
    if plain and parts.scheme == "https" and _HOST.fullmatch(parts.netloc):
        return value
    if plain and parts.scheme == "http" and parts.netloc.split(":")[0] in _LOCAL_HOSTS:
        return value
    if plain and not parts.scheme and not parts.netloc and value.startswith("/"):
        return value
    raise SettingsError(
        f"BRIDGE_CONFIG.branding.{key}: must be a plain https:// URL or a /path "
        "(no spaces, quotes, ';' or ',', and no user name in it)"
    )


def load_branding(config: Mapping[str, Any]) -> Branding:
    """The `[branding]` table as a Branding; a wrong value raises SettingsError naming it."""
    table = config.get("branding", {})
    if not isinstance(table, Mapping):
        raise SettingsError("BRIDGE_CONFIG.branding: must be a table")
    unknown = set(table) - _KNOWN
    if unknown:
        raise SettingsError(
            f"BRIDGE_CONFIG.branding: unknown keys {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_KNOWN))})"
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"BRIDGE_CONFIG.branding.{key}: must be non-empty text")
        value = value.strip()
        if key.endswith("_color") and not _HEX_COLOUR.match(value):
            raise SettingsError(f"BRIDGE_CONFIG.branding.{key}: must be #rrggbb (got {value!r})")
        if key.endswith("_url"):
            value = _url(key, value)
        values[key] = value
    if "templates" in values:
        folder = Path(values["templates"])
        if not folder.is_dir():
            raise SettingsError(f"BRIDGE_CONFIG.branding.templates: no such folder {str(folder)!r}")
        values["templates"] = folder
    branding = Branding(**values)
    colour = branding.primary_color
    if colour is not None:
        on_white = contrast(colour, WHITE)
        on_button = contrast(readable_on(colour), colour)
        if min(on_white, on_button) < AA_NORMAL_TEXT:
            log.warning(
                "branding.primary_color %s: contrast %.1f:1 as link text on white and %.1f:1 "
                "behind button text, below WCAG AA's 4.5:1",
                colour,
                on_white,
                on_button,
            )
    return branding
