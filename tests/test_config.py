"""Configuration: defaults, parsing, and start-up refusals that name the variable."""

from __future__ import annotations

import subprocess

import pytest

from app.config import ConfigError, load
from tests.live import BIN, ROOT, clean_env


def test_defaults():
    settings = load({})
    assert settings["PORT"] == 8082
    assert settings["NEST_SUSPEND_TIME_MAX"] == 300
    assert settings["NEST_REGISTER_LIMIT_PER_IP"] == "20/minute"
    assert settings["HUE_ALLOW_CLIENT_USERNAME"] is True
    assert settings["MAIL_BACKEND"] == "console"
    assert settings["TRUSTED_PROXY_HOPS"] == 0


@pytest.mark.parametrize(
    "raw, value", [("TRUE", True), ("no", False), ("1", True), ("Yes", True), ("0", False)]
)
def test_booleans(raw, value):
    assert load({"HUE_ALLOW_CLIENT_USERNAME": raw})["HUE_ALLOW_CLIENT_USERNAME"] is value


@pytest.mark.parametrize(
    "name, raw",
    [
        ("NEST_SUSPEND_TIME_MAX", "4"),
        ("NEST_SUSPEND_TIME_MAX", "351"),
        ("NEST_SUSPEND_TIME_MAX", "abc"),
        ("HUE_ALLOW_CLIENT_USERNAME", "maybe"),
        ("NEST_REGISTER_LIMIT_PER_IP", "lots"),
        ("RUUVI_VERIFY_LIMIT_TOTAL", "10/fortnight"),
        ("HUE_MAC", "00:17:88"),
        ("MAIL_BACKEND", "pigeon"),
        ("PORT", "0"),
    ],
)
def test_bad_values_name_the_variable(name, raw):
    with pytest.raises(ConfigError) as info:
        load({name: raw})
    assert info.value.name == name
    assert name in str(info.value)


def test_limit_strings_accept_flask_limiter_syntax():
    settings = load(
        {
            "NEST_REGISTER_LIMIT_TOTAL": "5 per 10 seconds",
            "RUUVI_REGISTER_LIMIT_PER_EMAIL": "3/hour",
        }
    )
    assert settings["NEST_REGISTER_LIMIT_TOTAL"] == "5 per 10 seconds"


def test_mac_is_normalised():
    assert load({"HUE_MAC": "00-17-88-4A-15-15"})["HUE_MAC"] == "00:17:88:4a:15:15"
    assert load({"HUE_MAC": "0017884a1515"})["HUE_MAC"] == "00:17:88:4a:15:15"


def test_startup_stops_with_a_message_naming_the_variable(tmp_path):
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=clean_env(
            NEST_SUSPEND_TIME_MAX="400",
            DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
            SECRET_KEY="s",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "NEST_SUSPEND_TIME_MAX" in result.stderr


def test_secret_key_is_created_once_in_the_instance_folder(tmp_path):
    from app.config import instance_secret_key

    first = instance_secret_key(str(tmp_path))
    assert len(first) == 64
    assert instance_secret_key(str(tmp_path)) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
