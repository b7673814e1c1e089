"""Branding from the TOML file: checked once, contrast-safe colours, CSP sources."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bridge.branding import Branding, contrast, load_branding, readable_on
from bridge.settings import SettingsError


def test_no_branding_is_the_plain_look() -> None:
    branding = load_branding({})
    assert branding == Branding()
    assert branding.css == ""
    assert branding.external_origins() == {}


def test_a_full_table(tmp_path: Path) -> None:
    branding = load_branding(
        {
            "branding": {
                "company_name": "Acme",
                "logo_url": "https://cdn.acme.example/logo.png",
                "primary_color": "#0b57d0",
                "background_color": "#fafafa",
                "stylesheet_url": "/static/acme.css",
                "privacy_url": "https://acme.example/privacy",
                "templates": str(tmp_path),
            }
        }
    )
    assert branding.templates == tmp_path
    assert "--accent: #0b57d0;" in branding.css and "--on-accent: #ffffff;" in branding.css
    assert "--bg: #fafafa;" in branding.css
    # A same-origin stylesheet needs no CSP source; the logo's CDN does.
    assert branding.external_origins() == {"img-src": "https://cdn.acme.example"}


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"primary_color": "blue"}, "branding.primary_color: must be #rrggbb"),
        ({"logo_url": "javascript:alert(1)"}, "branding.logo_url: must be a plain https:// URL"),
        # The review's CSP injection: the origin would have put directives in the header.
        (
            {"logo_url": "https://cdn.example;frame-ancestors *;x/logo.png"},
            "branding.logo_url: must be a plain https:// URL",
        ),
        ({"stylesheet_url": "https://cdn.example 'unsafe-inline'/a.css"}, "stylesheet_url"),
        ({"logo_url": "https://user@evil.example/logo.png"}, "branding.logo_url"),
        ({"logo_url": "//evil.example/logo.png"}, "branding.logo_url"),
        ({"logo_url": "https://cdn.example,evil.example/logo.png"}, "branding.logo_url"),
        ({"privacy_url": "http://acme.example/p"}, "branding.privacy_url"),
        ({"company_name": ""}, "branding.company_name: must be non-empty text"),
        ({"company_name": 3}, "branding.company_name"),
        ({"colour": "#000000"}, "unknown keys colour"),
        ({"templates": "/no/such/folder"}, "no such folder"),
    ],
)
def test_a_wrong_value_is_named(table: dict[str, object], fragment: str) -> None:
    with pytest.raises(SettingsError, match=r"BRIDGE_CONFIG\.branding") as caught:
        load_branding({"branding": table})
    assert fragment in str(caught.value)


def test_contrast_follows_wcag() -> None:
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("colour", ["#ffcc00", "#0b57d0", "#e11d48", "#111111", "#a3e635"])
def test_button_text_is_always_readable_on_the_brand_colour(colour: str) -> None:
    assert contrast(readable_on(colour), colour) >= 4.5


def test_a_pale_brand_colour_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge.branding"):
        load_branding({"branding": {"primary_color": "#ffcc00"}})
    assert "below WCAG AA" in caplog.text


def test_the_css_version_changes_with_the_colours() -> None:
    first = Branding(primary_color="#000000").css_version
    assert first != Branding(primary_color="#000001").css_version
    assert first == Branding(primary_color="#000000").css_version
