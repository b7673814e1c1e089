"""Settings: the only reader of the environment and the TOML file.

Everything is read once into a frozen `Settings`; a missing or invalid value raises
`SettingsError` with one line naming the key and what is wrong with it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bridge.intercom.client import REGION_URLS

REGIONS = ("us", "eu", "au")
LOG_FORMATS = ("text", "json")
INTERCOM_VERSIONS = ("2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16")

T = TypeVar("T")

# Ninety days: longer than the 30 days CAN-SPAM wants an opt-out to keep working after a send,
# and longer than the gap between a quarterly newsletter's issues, so everyone who gets mail
# holds a working link; short enough that a forwarded or leaked preferences link (which can
# opt a person *into* messages) stops working within a season.
PREFERENCES_MAX_AGE = 90 * 86_400.0


class SettingsError(ValueError):
    """A setting is missing or invalid; the message is one line naming the key."""


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class WorkerSettings:
    """How the worker paces, retries and gives up."""

    in_process: bool = True
    concurrency: int = 8
    batch_size: int = 32
    lease_seconds: float = 120.0
    max_attempts: int = 12
    max_age_seconds: float = 3 * 24 * 3600.0
    contact_lag_seconds: float = 900.0
    poll_seconds: float = 1.0
    types_ttl_seconds: float = 300.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 900.0
    # Days a raw payload is kept (0: none is); the worker prunes older ones once a day.
    payload_retention_days: int = 30


@dataclass(frozen=True)
class Settings:
    """Everything the bridge is configured with."""

    secret_keys: tuple[Secret, ...]
    intercom_access_token: Secret | None = None
    intercom_base_url: str = "https://api.intercom.io"
    intercom_version: str = "2.11"
    public_url: str = "http://127.0.0.1:8000"
    database_url: str = "sqlite:///bridge.db"
    admin_token: Secret | None = None
    metrics_token: Secret | None = None
    unsubscribe_max_age: float | None = None
    preferences_max_age: float = PREFERENCES_MAX_AGE
    log_level: str = "INFO"
    log_format: str = "text"
    max_body_bytes: int = 65_536
    max_webhook_bytes: int | None = None  # None: each provider's own limit
    allowed_hosts: tuple[str, ...] = ()
    max_connections: int = 512
    intercom_timeout: float = 10.0
    auto_migrate: bool = True
    frame_ancestors: tuple[str, ...] = ("'self'",)
    cors_origins: tuple[str, ...] = ()
    proof_fields: frozenset[str] = frozenset()
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    config: Mapping[str, Any] = field(default_factory=dict)
    demo: bool = False  # `bridge demo`'s settings (never read from the environment)

    def require_intercom_token(self) -> Secret:
        """The access token, or a SettingsError for commands that must reach Intercom."""
        if self.intercom_access_token is None:
            raise SettingsError(
                "INTERCOM_ACCESS_TOKEN: required to reach Intercom "
                "(create one in Intercom's Developer Hub; `bridge demo` needs none)"
            )
        return self.intercom_access_token


# Every environment setting, with its meaning, so the README test can check they are documented.
ENVIRONMENT = {
    "INTERCOM_ACCESS_TOKEN": "Intercom access token; required for serve and worker",
    "INTERCOM_REGION": "us (default), eu or au",
    "INTERCOM_BASE_URL": "overrides the region's URL",
    "INTERCOM_VERSION": "Intercom-Version header, default 2.11",
    "BRIDGE_INTERCOM_TIMEOUT_SECONDS": "seconds before an Intercom call is abandoned, default 10",
    "BRIDGE_SECRET_KEYS": "comma-separated signing keys; the first signs, all verify",
    "BRIDGE_PUBLIC_URL": "the public base URL of the bridge",
    "DATABASE_URL": "sqlite:///bridge.db (default) or postgresql://...",
    "BRIDGE_ADMIN_TOKEN": (
        "bearer token for POST /api/v1/links and the /admin pages (its login); both off when unset"
    ),
    "BRIDGE_METRICS_TOKEN": "bearer token for /metrics and detailed /readyz; open when unset",
    "BRIDGE_CONFIG": "path of the TOML file",
    "BRIDGE_UNSUBSCRIBE_MAX_AGE": "seconds an unsubscribe link stays valid; unset = forever",
    "BRIDGE_PREFERENCES_MAX_AGE": "seconds a preferences link stays valid, default 7776000",
    "BRIDGE_LOG_LEVEL": "DEBUG, INFO (default), WARNING or ERROR",
    "BRIDGE_LOG_FORMAT": "text (default) or json: one JSON object per line, with request ids",
    "BRIDGE_MAX_BODY_BYTES": "largest page form or API body accepted, default 65536",
    "BRIDGE_MAX_WEBHOOK_BYTES": "largest webhook body for every provider; default each its own",
    "BRIDGE_ALLOWED_HOSTS": "Host names accepted besides BRIDGE_PUBLIC_URL's and localhost",
    "BRIDGE_MAX_CONNECTIONS": "connections and requests at once before 503, default 512",
    "BRIDGE_AUTO_MIGRATE": "apply pending migrations when serving, default true",
    "BRIDGE_FRAME_ANCESTORS": "origins allowed to embed the preference page and forms in an iframe",
    "BRIDGE_CORS_ORIGINS": "origins allowed to call the JSON preferences API from a browser",
    "BRIDGE_PROOF_FIELDS": "what else to keep as proof of consent: ip, user_agent (or both)",
    "BRIDGE_WORKER_IN_PROCESS": "run the worker inside the web process, default true",
    "BRIDGE_WORKER_CONCURRENCY": "Intercom calls in flight at once, default 8",
    "BRIDGE_WORKER_BATCH_SIZE": "requests claimed at a time, default 32",
    "BRIDGE_WORKER_LEASE_SECONDS": "seconds a claim lasts before another worker may take it",
    "BRIDGE_MAX_ATTEMPTS": "attempts before a request is dead, default 12",
    "BRIDGE_MAX_AGE_SECONDS": "age after which a failing request is dead, default 259200 (3 days)",
    "BRIDGE_CONTACT_LAG_SECONDS": "how long an unknown contact is looked for again, default 900",
    "BRIDGE_PAYLOAD_RETENTION_DAYS": "days raw payloads are kept, default 30; 0 keeps none",
}

_MIN_KEY_LENGTH = 16


def _read(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _parse(
    env: Mapping[str, str], key: str, default: T, convert: Callable[[str], T], hint: str
) -> T:
    raw = _read(env, key)
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError:
        raise SettingsError(f"{key}: {hint} (got {raw!r})") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError
    return value


# A hundred years: further than any retention a law asks for, and inside what dates can hold.
MAX_RETENTION_DAYS = 36_500


def _retention_days(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= MAX_RETENTION_DAYS:
        raise ValueError
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _http_url(key: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{key}: must be an http(s) URL such as https://consent.example.com")
    if parts.query or parts.fragment:
        raise SettingsError(f"{key}: must not have a query or fragment")
    return raw.rstrip("/")


def _secret_keys(env: Mapping[str, str]) -> tuple[Secret, ...]:
    raw = _read(env, "BRIDGE_SECRET_KEYS")
    if raw is None:
        raise SettingsError(
            "BRIDGE_SECRET_KEYS: required; set one or more comma-separated random keys "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    short = [i + 1 for i, k in enumerate(keys) if len(k) < _MIN_KEY_LENGTH]
    if short:
        position = ", ".join(str(i) for i in short)
        raise SettingsError(
            f"BRIDGE_SECRET_KEYS: key {position} is shorter than {_MIN_KEY_LENGTH} characters"
        )
    return tuple(Secret(k) for k in keys)


def _token(env: Mapping[str, str], key: str) -> Secret | None:
    """A bearer token setting, refused when too short to be secret."""
    value = _read(env, key)
    if value is not None and len(value) < _MIN_KEY_LENGTH:
        raise SettingsError(f"{key}: must be at least {_MIN_KEY_LENGTH} characters")
    return Secret(value) if value else None


# A host name or an IPv4 address, optionally led by `*.` for every subdomain.
_HOST = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _read(env, "BRIDGE_ALLOWED_HOSTS")
    hosts = [h.strip().lower() for h in (raw or "").split(",") if h.strip()]
    for host in hosts:
        if not _HOST.match(host):
            raise SettingsError(
                f"BRIDGE_ALLOWED_HOSTS: {host[:80]!r} is not a host name "
                "(write names without scheme or port, e.g. consent.internal, *.example.com)"
            )
    return tuple(hosts)


def _database_url(env: Mapping[str, str]) -> str:
    url = _read(env, "DATABASE_URL") or "sqlite:///bridge.db"
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise SettingsError(f"DATABASE_URL: scheme must be sqlite or postgresql (got {scheme!r})")
    return url


def _config_file(env: Mapping[str, str]) -> dict[str, Any]:
    raw = _read(env, "BRIDGE_CONFIG")
    if raw is None:
        return {}
    path = Path(raw)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"BRIDGE_CONFIG: no such file {raw!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"BRIDGE_CONFIG: {raw!r} is not valid TOML: {exc}") from None
    resolved: dict[str, Any] = resolve_env_references(data, env, "BRIDGE_CONFIG")
    return resolved


def resolve_env_references(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Replace every `"env:NAME"` string in the TOML data with that environment variable."""
    if isinstance(value, dict):
        return {k: resolve_env_references(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env_references(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        found = _read(env, name)
        if found is None:
            raise SettingsError(f"{where}: names environment variable {name}, which is not set")
        return found
    return value


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lowercased: what a browser's `Origin` header says."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _origins(
    env: Mapping[str, str], key: str, default: tuple[str, ...], *, keywords: bool
) -> tuple[str, ...]:
    """A comma-separated list of origins; `keywords` allows CSP's 'self' and 'none'."""
    raw = _read(env, key)
    if raw is None:
        return default
    found = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if keywords and item in ("'self'", "self"):
            found.append("'self'")
            continue
        if keywords and item in ("'none'", "none"):
            return ()
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise SettingsError(
                f"{key}: {item!r} is not an origin; write scheme://host[:port], "
                "e.g. https://www.example.com"
            )
        found.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(dict.fromkeys(found))


def _proof_fields(env: Mapping[str, str]) -> frozenset[str]:
    raw = _read(env, "BRIDGE_PROOF_FIELDS")
    fields = frozenset(f.strip() for f in (raw or "").split(",") if f.strip())
    unknown = fields - {"ip", "user_agent"}
    if unknown:
        raise SettingsError(
            f"BRIDGE_PROOF_FIELDS: unknown {', '.join(sorted(unknown))}; use ip, user_agent"
        )
    return fields


def _worker(env: Mapping[str, str]) -> WorkerSettings:
    d = WorkerSettings()
    count, seconds = "must be a positive integer", "must be a positive number of seconds"
    return WorkerSettings(
        in_process=_parse(
            env, "BRIDGE_WORKER_IN_PROCESS", d.in_process, _boolean, "must be true or false"
        ),
        concurrency=_parse(env, "BRIDGE_WORKER_CONCURRENCY", d.concurrency, _positive_int, count),
        batch_size=_parse(env, "BRIDGE_WORKER_BATCH_SIZE", d.batch_size, _positive_int, count),
        lease_seconds=_parse(
            env, "BRIDGE_WORKER_LEASE_SECONDS", d.lease_seconds, _positive_float, seconds
        ),
        max_attempts=_parse(env, "BRIDGE_MAX_ATTEMPTS", d.max_attempts, _positive_int, count),
        max_age_seconds=_parse(
            env, "BRIDGE_MAX_AGE_SECONDS", d.max_age_seconds, _positive_float, seconds
        ),
        contact_lag_seconds=_parse(
            env, "BRIDGE_CONTACT_LAG_SECONDS", d.contact_lag_seconds, _positive_float, seconds
        ),
        payload_retention_days=_parse(
            env,
            "BRIDGE_PAYLOAD_RETENTION_DAYS",
            d.payload_retention_days,
            _retention_days,
            f"must be a whole number of days from 0 (keep no payloads) to {MAX_RETENTION_DAYS}",
        ),
    )


def listen_port(env: Mapping[str, str] | None = None) -> str | None:
    """`PORT`, where platforms such as Heroku say to listen; the listening command checks it."""
    return _read(os.environ if env is None else env, "PORT")


def log_level(env: Mapping[str, str] | None = None) -> str:
    """`BRIDGE_LOG_LEVEL`, checked: read before the rest for commands that log early."""
    level = (_read(os.environ if env is None else env, "BRIDGE_LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            f"BRIDGE_LOG_LEVEL: must be DEBUG, INFO, WARNING or ERROR (got {level!r})"
        )
    return level


def log_format(env: Mapping[str, str] | None = None) -> str:
    """`BRIDGE_LOG_FORMAT`, checked: read with the level, before the rest."""
    found = (_read(os.environ if env is None else env, "BRIDGE_LOG_FORMAT") or "text").lower()
    if found not in LOG_FORMATS:
        raise SettingsError(f"BRIDGE_LOG_FORMAT: must be text or json (got {found!r})")
    return found


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Read and check every setting; raise SettingsError on the first problem.

    `defaults` fill in what the environment leaves unset and `overrides` replace what it
    says (`bridge demo` points the bridge at its sandbox this way).
    """
    env = {**(defaults or {}), **(os.environ if env is None else env), **(overrides or {})}
    region = (_read(env, "INTERCOM_REGION") or "us").lower()
    if region not in REGIONS:
        raise SettingsError(f"INTERCOM_REGION: must be one of us, eu, au (got {region!r})")
    base_url = _read(env, "INTERCOM_BASE_URL")
    version = _read(env, "INTERCOM_VERSION") or "2.11"
    if version not in INTERCOM_VERSIONS:
        raise SettingsError(
            f"INTERCOM_VERSION: must be one of {', '.join(INTERCOM_VERSIONS)} (got {version!r})"
        )
    token = _read(env, "INTERCOM_ACCESS_TOKEN")
    admin = _token(env, "BRIDGE_ADMIN_TOKEN")
    metrics_token = _token(env, "BRIDGE_METRICS_TOKEN")
    config = _config_file(env)
    public_url = _read(env, "BRIDGE_PUBLIC_URL")
    return Settings(
        secret_keys=_secret_keys(env),
        intercom_access_token=Secret(token) if token else None,
        intercom_base_url=(
            _http_url("INTERCOM_BASE_URL", base_url) if base_url else REGION_URLS[region]
        ),
        intercom_version=version,
        public_url=(
            _http_url("BRIDGE_PUBLIC_URL", public_url) if public_url else Settings.public_url
        ),
        database_url=_database_url(env),
        admin_token=admin,
        metrics_token=metrics_token,
        unsubscribe_max_age=_parse(
            env,
            "BRIDGE_UNSUBSCRIBE_MAX_AGE",
            None,
            _positive_float,
            "must be a positive number of seconds, or unset for links that never expire",
        ),
        preferences_max_age=_parse(
            env,
            "BRIDGE_PREFERENCES_MAX_AGE",
            PREFERENCES_MAX_AGE,
            _positive_float,
            "must be a positive number of seconds",
        ),
        log_level=log_level(env),
        log_format=log_format(env),
        max_body_bytes=_parse(
            env,
            "BRIDGE_MAX_BODY_BYTES",
            Settings.max_body_bytes,
            _positive_int,
            "must be a positive integer",
        ),
        max_webhook_bytes=_parse(
            env, "BRIDGE_MAX_WEBHOOK_BYTES", None, _positive_int, "must be a positive integer"
        ),
        allowed_hosts=_hosts(env),
        max_connections=_parse(
            env,
            "BRIDGE_MAX_CONNECTIONS",
            Settings.max_connections,
            _positive_int,
            "must be a positive integer",
        ),
        intercom_timeout=_parse(
            env,
            "BRIDGE_INTERCOM_TIMEOUT_SECONDS",
            Settings.intercom_timeout,
            _positive_float,
            "must be a positive number of seconds",
        ),
        auto_migrate=_parse(
            env, "BRIDGE_AUTO_MIGRATE", Settings.auto_migrate, _boolean, "must be true or false"
        ),
        frame_ancestors=_origins(
            env, "BRIDGE_FRAME_ANCESTORS", Settings.frame_ancestors, keywords=True
        ),
        cors_origins=_origins(env, "BRIDGE_CORS_ORIGINS", (), keywords=False),
        proof_fields=_proof_fields(env),
        worker=_worker(env),
        config=config,
    )
