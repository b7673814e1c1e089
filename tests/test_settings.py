"""Settings: defaults, one-line errors naming the key, secrets kept out of reprs, docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.settings import ENVIRONMENT, Secret, SettingsError, load_settings

KEYS = "first-key-0123456789,second-key-0123456789"
BASE = {"BRIDGE_SECRET_KEYS": KEYS}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.intercom_base_url == "https://api.intercom.io"
    assert settings.intercom_version == "2.11"
    assert settings.database_url == "sqlite:///bridge.db"
    assert settings.unsubscribe_max_age is None
    assert settings.admin_token is None
    assert settings.worker.in_process is True
    assert [k.reveal() for k in settings.secret_keys] == KEYS.split(",")


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("us", "https://api.intercom.io"),
        ("EU", "https://api.eu.intercom.io"),
        ("au", "https://api.au.intercom.io"),
    ],
)
def test_region_picks_the_base_url(region: str, url: str) -> None:
    assert load_settings({**BASE, "INTERCOM_REGION": region}).intercom_base_url == url


def test_base_url_overrides_region() -> None:
    settings = load_settings(
        {**BASE, "INTERCOM_REGION": "eu", "INTERCOM_BASE_URL": "http://proxy.internal:8080/"}
    )
    assert settings.intercom_base_url == "http://proxy.internal:8080"


@pytest.mark.parametrize(
    ("env", "key", "fragment"),
    [
        ({}, "BRIDGE_SECRET_KEYS", "required"),
        ({"BRIDGE_SECRET_KEYS": "short"}, "BRIDGE_SECRET_KEYS", "key 1 is shorter"),
        ({**BASE, "INTERCOM_REGION": "mars"}, "INTERCOM_REGION", "'mars'"),
        ({**BASE, "INTERCOM_VERSION": "9.9"}, "INTERCOM_VERSION", "'9.9'"),
        ({**BASE, "INTERCOM_BASE_URL": "ftp://x"}, "INTERCOM_BASE_URL", "http(s) URL"),
        ({**BASE, "BRIDGE_PUBLIC_URL": "consent.example.com"}, "BRIDGE_PUBLIC_URL", "http(s)"),
        ({**BASE, "DATABASE_URL": "mysql://x"}, "DATABASE_URL", "'mysql'"),
        ({**BASE, "BRIDGE_ADMIN_TOKEN": "tiny"}, "BRIDGE_ADMIN_TOKEN", "at least"),
        ({**BASE, "BRIDGE_WORKER_CONCURRENCY": "0"}, "BRIDGE_WORKER_CONCURRENCY", "positive"),
        ({**BASE, "BRIDGE_WORKER_IN_PROCESS": "maybe"}, "BRIDGE_WORKER_IN_PROCESS", "true or"),
        ({**BASE, "BRIDGE_UNSUBSCRIBE_MAX_AGE": "-1"}, "BRIDGE_UNSUBSCRIBE_MAX_AGE", "positive"),
        ({**BASE, "BRIDGE_LOG_LEVEL": "loud"}, "BRIDGE_LOG_LEVEL", "'LOUD'"),
        ({**BASE, "BRIDGE_CONFIG": "/nonexistent.toml"}, "BRIDGE_CONFIG", "no such file"),
        ({**BASE, "BRIDGE_FRAME_ANCESTORS": "www.x.com"}, "BRIDGE_FRAME_ANCESTORS", "origin"),
        ({**BASE, "BRIDGE_FRAME_ANCESTORS": "https://x.com/a"}, "BRIDGE_FRAME_ANCESTORS", "x.com"),
        ({**BASE, "BRIDGE_CORS_ORIGINS": "'self'"}, "BRIDGE_CORS_ORIGINS", "not an origin"),
        ({**BASE, "BRIDGE_PROOF_FIELDS": "ip,cookies"}, "BRIDGE_PROOF_FIELDS", "cookies"),
    ],
)
def test_invalid_values_name_the_key_in_one_line(
    env: dict[str, str], key: str, fragment: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(f"{key}: ")
    assert fragment in message
    assert "\n" not in message


def test_embedding_and_proof_settings() -> None:
    defaults = load_settings(BASE)
    assert defaults.frame_ancestors == ("'self'",)
    assert defaults.cors_origins == ()
    assert defaults.proof_fields == frozenset()
    settings = load_settings(
        {
            **BASE,
            "BRIDGE_FRAME_ANCESTORS": "self, https://WWW.example.com/, http://localhost:3000",
            "BRIDGE_CORS_ORIGINS": "https://www.example.com,https://www.example.com",
            "BRIDGE_PROOF_FIELDS": "user_agent, ip",
        }
    )
    assert settings.frame_ancestors == (
        "'self'",
        "https://WWW.example.com",
        "http://localhost:3000",
    )
    assert settings.cors_origins == ("https://www.example.com",)
    assert settings.proof_fields == {"ip", "user_agent"}
    assert load_settings({**BASE, "BRIDGE_FRAME_ANCESTORS": "'none'"}).frame_ancestors == ()


def test_intercom_token_is_required_only_where_intercom_is_reached() -> None:
    settings = load_settings(BASE)
    with pytest.raises(SettingsError, match=r"^INTERCOM_ACCESS_TOKEN: required"):
        settings.require_intercom_token()
    token = load_settings({**BASE, "INTERCOM_ACCESS_TOKEN": "dG9rOmFiYw=="})
    assert token.require_intercom_token().reveal() == "dG9rOmFiYw=="


def test_secrets_never_show_in_reprs() -> None:
    settings = load_settings(
        {
            **BASE,
            "INTERCOM_ACCESS_TOKEN": "tok-very-secret",
            "BRIDGE_ADMIN_TOKEN": "admin-very-secret-123",
        }
    )
    text = repr(settings) + str(settings)
    for secret in ("tok-very-secret", "admin-very-secret-123", "first-key-0123456789"):
        assert secret not in text
    assert repr(Secret("x")) == "Secret('**********')"


def test_toml_file_with_env_references(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[providers.mailgun]\nsigning_key = "env:MG_KEY"\ntypes = { a = 1 }\n')
    settings = load_settings({**BASE, "BRIDGE_CONFIG": str(config), "MG_KEY": "k123"})
    assert settings.config["providers"]["mailgun"] == {"signing_key": "k123", "types": {"a": 1}}
    with pytest.raises(SettingsError, match=r"^BRIDGE_CONFIG\.providers\.mailgun\.signing_key"):
        load_settings({**BASE, "BRIDGE_CONFIG": str(config)})


def test_invalid_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[providers\n")
    with pytest.raises(SettingsError, match=r"^BRIDGE_CONFIG: .* is not valid TOML"):
        load_settings({**BASE, "BRIDGE_CONFIG": str(config)})


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.MULTILINE))
    assert set(ENVIRONMENT) <= documented, sorted(set(ENVIRONMENT) - documented)
    # ... and nothing documented that the code does not read (except PORT, read by the CLI).
    assert documented - set(ENVIRONMENT) <= {"PORT"}, sorted(documented - set(ENVIRONMENT))


def test_the_log_format_is_text_unless_json_is_asked_for() -> None:
    assert load_settings(BASE).log_format == "text"
    assert load_settings({**BASE, "BRIDGE_LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(
        SettingsError, match=r"^BRIDGE_LOG_FORMAT: must be text or json \(got 'logfmt'\)$"
    ):
        load_settings({**BASE, "BRIDGE_LOG_FORMAT": "logfmt"})
