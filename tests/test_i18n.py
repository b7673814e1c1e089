"""Catalogs, language negotiation and type translations."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.consent import ConsentType, SubscriptionType, Translation
from bridge.i18n import (
    LOCALES_DIR,
    CatalogError,
    clean_tag,
    load_catalogs,
    localise,
    negotiate,
    parse_accept_language,
    placeholders,
)

REQUIRED = {"en", "fr", "de", "es", "pt", "it", "nl", "ja", "ar"}


def test_every_required_language_has_a_complete_catalog() -> None:
    catalogs = load_catalogs()
    assert set(catalogs) >= REQUIRED
    english = catalogs["en"].messages
    for code in REQUIRED - {"en"}:
        own = load_catalogs()[code]
        raw_keys = _raw_keys(LOCALES_DIR / f"{code}.toml")
        # Complete, not merely patched up by the English fallback.
        assert raw_keys == set(english), (code, set(english) ^ raw_keys)
        for key, text in own.messages.items():
            assert placeholders(text) == placeholders(english[key]), (code, key)


def _raw_keys(path: Path) -> set[str]:
    """Every message key written in the file itself, at any depth (meta excluded)."""
    data = tomllib.loads(path.read_text("utf-8"))
    data.pop("meta")

    def keys(table: dict[str, object], prefix: str) -> set[str]:
        found = set()
        for name, value in table.items():
            if isinstance(value, dict):
                found |= keys(value, f"{prefix}{name}.")
            else:
                found.add(f"{prefix}{name}")
        return found

    return keys(data, "")


def test_arabic_is_right_to_left_and_the_rest_left_to_right() -> None:
    catalogs = load_catalogs()
    assert catalogs["ar"].direction == "rtl"
    assert {c.direction for code, c in catalogs.items() if code != "ar"} == {"ltr"}


def test_catalogs_name_their_language_in_itself() -> None:
    catalogs = load_catalogs()
    assert catalogs["fr"].name == "Français"
    assert catalogs["ja"].name == "日本語"


def test_a_new_language_is_one_file(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text((LOCALES_DIR / "en.toml").read_text("utf-8"), "utf-8")
    (tmp_path / "pl.toml").write_text(
        '[meta]\nname = "Polski"\n\n[preferences]\ntitle = "Twoje subskrypcje"\n', "utf-8"
    )
    catalogs = load_catalogs(tmp_path)
    assert catalogs["pl"].gettext("preferences.title") == "Twoje subskrypcje"
    # Untranslated messages fall back to English rather than breaking the page.
    assert catalogs["pl"].gettext("preferences.save") == "Save my choices"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[meta]\nname = "X"\n[preferences]\nnope = "?"\n', "unknown messages preferences.nope"),
        ('[meta]\nname = "X"\n[preferences]\nfor_who = "{whom}"\n', "preferences.for_who"),
        ('[meta]\nname = "X"\ndirection = "up"\n', "direction"),
        ('[meta]\ndirection = "ltr"\n', "meta.name"),
        ("not toml = = 1", "xx.toml"),
    ],
)
def test_a_broken_catalog_is_refused_by_name(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "en.toml").write_text((LOCALES_DIR / "en.toml").read_text("utf-8"), "utf-8")
    (tmp_path / "xx.toml").write_text(content, "utf-8")
    with pytest.raises(CatalogError, match=problem):
        load_catalogs(tmp_path)


def test_gettext_fills_placeholders() -> None:
    french = load_catalogs()["fr"]
    assert "j***@example.com" in french.gettext("preferences.for_who", who="j***@example.com")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", ["fr-CH", "fr", "en", "de"]),
        ("en;q=0.1, ja", ["ja", "en"]),
        ("de;q=0, nl", ["nl"]),
        ("", []),
        (None, []),
        ("<script>, fr;q=abc, es", ["es"]),
        ("pt-BR;q=0.5,pt;q=0.5", ["pt-BR", "pt"]),  # equal weights keep the header's order
    ],
)
def test_accept_language(header: str | None, expected: list[str]) -> None:
    assert parse_accept_language(header) == expected


def test_negotiate_prefers_exact_then_same_language() -> None:
    assert negotiate(["pt-BR", "en"], ["en", "pt"]) == "pt"
    assert negotiate(["fr-CA"], ["fr", "fr-CA"]) == "fr-CA"
    assert negotiate(["sv"], ["en", "fr"]) is None


def test_clean_tag_refuses_what_is_not_a_language_tag() -> None:
    assert clean_tag("fr") == "fr"
    assert clean_tag("zh-Hant-TW") == "zh-Hant-TW"
    assert clean_tag('fr"><script>') is None
    assert clean_tag("x" * 40) is None
    assert clean_tag(None) is None


def _type(*translations: Translation) -> SubscriptionType:
    return SubscriptionType(
        id="1",
        state="live",
        consent_type=ConsentType.OPT_OUT,
        content_types=("email",),
        default_translation=Translation("Newsletter", "Monthly", "en"),
        translations=translations,
    )


def test_localise_follows_the_preferred_order_and_falls_back_to_the_default() -> None:
    french = Translation("Lettre", "Mensuelle", "fr")
    german = Translation("Rundbrief", "Monatlich", "de")
    subscription_type = _type(french, german)
    assert localise(subscription_type, ["de", "fr"]) is german
    assert localise(subscription_type, ["fr-BE"]) is french
    assert localise(subscription_type, ["ja"]).name == "Newsletter"
    assert localise(_type(Translation("", "", "fr")), ["fr"]).name == "Newsletter"
