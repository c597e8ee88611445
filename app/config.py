"""Configuration from environment variables.

Every variable the spec names is read here, once, and validated: a malformed value stops
start-up with a message naming the variable, so an operator never runs with a silently
ignored setting.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

from limits import parse_many

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class ConfigError(ValueError):
    """A configuration variable has a value homepair cannot use."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name}: {problem}")
        self.name = name


def parse_bool(name: str, raw: Any) -> bool:
    """Parse ``true/false/1/0/yes/no`` in any case (or a real bool)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(name, f"expected true/false/1/0/yes/no, got {raw!r}")


def parse_int(name: str, raw: Any, low: int | None = None, high: int | None = None) -> int:
    """Parse an integer, optionally bounded (inclusive)."""
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) or isinstance(raw, bool) else raw
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if isinstance(value, bool):
        raise ConfigError(name, f"expected an integer, got {raw!r}")
    if low is not None and value < low or high is not None and value > high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def parse_limit(name: str, raw: Any) -> str:
    """Check a flask-limiter limit string (``10/hour``, ``5 per 10 seconds``)."""
    text = str(raw).strip()
    try:
        if not text or not parse_many(text):
            raise ValueError
    except ValueError:
        raise ConfigError(name, f"not a rate limit string: {raw!r}") from None
    return text


def parse_mac(name: str, raw: Any) -> str:
    """Normalise a MAC given with ``:``, ``-`` or no separators to lower case with colons."""
    digits = re.sub(r"[:\-]", "", str(raw).strip()).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", digits):
        raise ConfigError(name, f"not a MAC address: {raw!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_discovery(name: str, raw: Any) -> tuple[str, ...]:
    """Where Hue discovery advertises: IPv4 addresses and interface names (comma or space
    separated), or ``all``; empty is off."""
    import ipaddress

    import ifaddr

    tokens = tuple(t for t in re.split(r"[\s,]+", str(raw).strip()) if t)
    if tokens == ("all",):
        return tokens
    interfaces = {adapter.nice_name for adapter in ifaddr.get_adapters()}
    for token in tokens:
        try:
            ipaddress.IPv4Address(token)
        except ValueError:
            if token not in interfaces:
                known = ", ".join(sorted(interfaces))
                raise ConfigError(
                    name,
                    f"{token!r} is neither an IPv4 address nor an interface ({known}), nor all",
                ) from None
    return tokens


# name -> (default, parser). Parsers take (name, raw) and return the typed value.
_SPEC: dict[str, tuple[Any, Any]] = {
    "PORT": (8082, lambda n, r: parse_int(n, r, 1, 65535)),
    "DATABASE_URL": (None, lambda n, r: database_url(n, r)),
    "REDIS_URL": (None, lambda n, r: str(r) or None),
    "TRUSTED_PROXY_HOPS": (0, lambda n, r: parse_int(n, r, 0, 10)),
    "LIMIT_IPV6_PREFIX": (64, lambda n, r: parse_int(n, r, 16, 128)),
    "SECRET_KEY": (None, lambda n, r: str(r) or None),
    "REQUEST_BODY_TIMEOUT_SECONDS": (15, lambda n, r: parse_int(n, r, 1, 300)),
    "NEST_ENTRY_KEY_TTL_SECONDS": (3600, lambda n, r: parse_int(n, r, 1)),
    "NEST_SUSPEND_TIME_MAX": (300, lambda n, r: parse_int(n, r, 5, 350)),
    "NEST_MAX_OBJECTS_PER_REQUEST": (256, lambda n, r: parse_int(n, r, 1, 10000)),
    "NEST_NEW_DEVICES_LIMIT_PER_IP": ("100/hour", parse_limit),
    "NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS": (7 * 24 * 3600, lambda n, r: parse_int(n, r, 1)),
    "NEST_CONTROL_TOKEN": (None, lambda n, r: str(r) or None),
    "NEST_REGISTER_LIMIT_PER_IP": ("20/minute", parse_limit),
    "NEST_REGISTER_LIMIT_TOTAL": ("300/minute", parse_limit),
    "NEST_CONTROL_AUTH_LIMIT_PER_IP": ("60/minute", parse_limit),
    "NEST_API_ORIGIN": (None, lambda n, r: str(r).rstrip("/") or None),
    "HUE_LINK_WINDOW_SECONDS": (30, lambda n, r: parse_int(n, r, 1)),
    "HUE_ALLOW_CLIENT_USERNAME": (True, parse_bool),
    "HUE_LINK_MAX_REGISTRATIONS": (10, lambda n, r: parse_int(n, r, 1, 10000)),
    "HUE_MAC": (None, lambda n, r: parse_mac(n, r) if str(r).strip() else None),
    "HUE_DISCOVERY": ((), parse_discovery),
    "RUUVI_CODE_TTL_SECONDS": (600, lambda n, r: parse_int(n, r, 1)),
    "RUUVI_REGISTER_LIMIT_PER_EMAIL": ("10/hour", parse_limit),
    "RUUVI_REGISTER_LIMIT_PER_IP": ("30/hour", parse_limit),
    "RUUVI_REGISTER_LIMIT_TOTAL": ("1000/hour", parse_limit),
    "RUUVI_VERIFY_LIMIT_PER_IP": ("10/hour", parse_limit),
    "RUUVI_VERIFY_LIMIT_TOTAL": ("100/hour", parse_limit),
    "RUUVI_VERIFY_URL": (None, lambda n, r: str(r) or None),
    "MAIL_BACKEND": ("console", lambda n, r: _choice(n, r, ("console", "smtp"))),
    "MAIL_SERVER": ("localhost", lambda n, r: str(r)),
    "MAIL_PORT": (25, lambda n, r: parse_int(n, r, 1, 65535)),
    "MAIL_USE_TLS": (False, parse_bool),
    "MAIL_USE_SSL": (False, parse_bool),
    "MAIL_USERNAME": (None, lambda n, r: str(r) or None),
    "MAIL_PASSWORD": (None, lambda n, r: str(r) or None),
    "MAIL_DEFAULT_SENDER": ("homepair@localhost", lambda n, r: str(r)),
    "ADMIN_EMAILS": ((), lambda n, r: _email_list(r)),
    "LOG_FORMAT": ("text", lambda n, r: _choice(n, r, ("text", "json"))),
    "AUDIT_RETENTION_DAYS": (90, lambda n, r: parse_int(n, r, 1, 3650)),
}

KNOWN = tuple(_SPEC)


def database_url(name: str, raw: Any) -> str | None:
    """A SQLAlchemy URL; ``postgresql://`` and ``postgres://`` mean psycopg 3 (the driver
    homepair ships), never the psycopg2 SQLAlchemy would otherwise pick."""
    text = str(raw).strip()
    if not text:
        return None
    for scheme in ("postgresql://", "postgres://"):
        if text.startswith(scheme):
            return "postgresql+psycopg://" + text[len(scheme) :]
    if text.startswith("postgresql+psycopg2"):
        raise ConfigError(name, "psycopg2 is not installed; use postgresql:// (psycopg 3)")
    return text


def _choice(name: str, raw: Any, allowed: tuple[str, ...]) -> str:
    text = str(raw).strip().lower()
    if text not in allowed:
        raise ConfigError(name, f"expected one of {', '.join(allowed)}, got {raw!r}")
    return text


def _email_list(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    return tuple(sorted({str(i).strip().lower() for i in items if str(i).strip()}))


def load(environ: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the typed homepair settings from ``environ``, then ``overrides``.

    Raises :class:`ConfigError` naming the first bad variable.
    """
    merged = {k: environ[k] for k in KNOWN if k in environ and environ[k] is not None}
    if overrides:
        merged.update({k: v for k, v in overrides.items() if k in _SPEC})
    settings = {}
    for name, (default, parser) in _SPEC.items():
        settings[name] = parser(name, merged[name]) if name in merged else default
    if settings["MAIL_USE_TLS"] and settings["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_SSL", "MAIL_USE_TLS and MAIL_USE_SSL cannot both be true")
    return settings


def refuse_bypasses(environ: Mapping[str, Any]) -> None:
    """``FLASK_<SETTING>`` would be applied after the checks (``from_prefixed_env``), so a
    homepair setting given that way is refused rather than silently unchecked."""
    for name in sorted(environ):
        if name.startswith("FLASK_") and name[len("FLASK_") :] in _SPEC:
            setting = name[len("FLASK_") :]
            raise ConfigError(name, f"set {setting} instead (FLASK_ settings skip the checks)")


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///`` URL (None for memory databases and other engines)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def check_writable_database(url: str) -> None:
    """Refuse a SQLite file (or folder) this process cannot write."""
    path = sqlite_path(url)
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    target = path if os.path.exists(path) else folder
    if not os.path.isdir(folder) or not os.access(target, os.W_OK):
        raise ConfigError("DATABASE_URL", f"{target} is not writable by this user")
    if os.path.exists(path) and not os.access(folder, os.W_OK):
        # SQLite writes its -wal and -shm files beside the database.
        raise ConfigError("DATABASE_URL", f"{folder} is not writable (SQLite needs it)")


def check_shared_secret(settings: Mapping[str, Any]) -> None:
    """A database several hosts may share needs one SECRET_KEY everywhere: a key generated
    per host would make each host refuse the others' codes, sessions and queued mail."""
    url = settings.get("DATABASE_URL")
    if url and not url.startswith("sqlite") and not settings.get("SECRET_KEY"):
        raise ConfigError(
            "SECRET_KEY",
            "must be set (the same on every host) when DATABASE_URL is not SQLite",
        )


def check_workers(environ: Mapping[str, Any]) -> int:
    """``WEB_CONCURRENCY`` as a worker count; more than one needs ``REDIS_URL``."""
    raw = environ.get("WEB_CONCURRENCY")
    if raw in (None, ""):
        return 1
    workers = parse_int("WEB_CONCURRENCY", raw, 1, 256)
    if workers > 1 and not str(environ.get("REDIS_URL") or "").strip():
        raise ConfigError(
            "WEB_CONCURRENCY",
            f"{workers} workers need REDIS_URL (pushes and limits across workers);"
            " set REDIS_URL or WEB_CONCURRENCY=1",
        )
    return workers


def startup_checks(environ: Mapping[str, Any], instance_path: str) -> dict[str, Any]:
    """Everything that must hold before serving, from the environment alone; the settings.

    Raises :class:`ConfigError` naming the first variable at fault.
    """
    refuse_bypasses(environ)
    settings = load(environ)
    check_shared_secret(settings)
    url = settings["DATABASE_URL"] or "sqlite:///" + os.path.join(instance_path, "homepair.db")
    os.makedirs(instance_path, mode=0o700, exist_ok=True)
    check_writable_database(url)
    return settings


def instance_secret_key(instance_path: str) -> str:
    """Return the secret key stored in the instance folder, creating it once.

    Several workers may race to create it; ``O_EXCL`` lets exactly one write it and the
    others read what it wrote.
    """
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):
        with open(path) as fh:
            key = fh.read().strip()
        if key:
            return key
        # Another worker created the file and has not written it yet.
        import time

        time.sleep(0.01)
    raise ConfigError("SECRET_KEY", f"could not read {path}")
