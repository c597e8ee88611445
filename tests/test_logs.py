"""Secrets stay out of logs: gunicorn's and the shipped nginx site's access logs, console mail."""

from __future__ import annotations

import runpy
import time

import pytest
import requests

from tests.live import ROOT
from tests.nginx import Nginx

CODE = "Q7XK"
HUE_KEY = "a" * 20 + "B" * 20
OTHER_KEY = "Zz9" * 10
REFERER_CODE = "W3RD"
BEARER = "control-token-in-a-header"


def redact(text: str) -> str:
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["redact"](text)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /verify?token=AB12 HTTP/1.1", "GET /verify?token=[redacted] HTTP/1.1"),
        ("/verify?x=1&token=ab12&y=2", "/verify?x=1&token=[redacted]&y=2"),
        ("token=AB12", "token=[redacted]"),
        (f"/api/{HUE_KEY}/config", "/api/[redacted]/config"),
        (f"/api//{HUE_KEY}", "/api//[redacted]"),
        (
            f"/api/{HUE_KEY}/config/whitelist/{OTHER_KEY}",
            "/api/[redacted]/config/whitelist/[redacted]",
        ),
        ("/api/register", "/api/register"),
        ("/api/registered-devices/02AB01AC0123", "/api/registered-devices/02AB01AC0123"),
        ("/api/config", "/api/config"),
        ("/api", "/api"),
        ("/nest/passphrase?serial=02AB", "/nest/passphrase?serial=02AB"),
    ],
)
def test_redaction_rules(line, expected):
    assert redact(line) == expected


def _requests_with_secrets(base: str) -> None:
    session = requests.Session()
    session.get(
        f"{base}/verify?token={CODE}", headers={"Referer": f"{base}/x?token={REFERER_CODE}"}
    )
    session.get(f"{base}/api/{HUE_KEY}/config")
    session.delete(f"{base}/api/{HUE_KEY}/config/whitelist/{OTHER_KEY}")
    session.get(f"{base}/api/config")
    session.get(f"{base}/api/devices", headers={"Authorization": f"Bearer {BEARER}"})
    session.close()


def _assert_clean(log: str) -> None:
    for secret in (CODE, HUE_KEY, OTHER_KEY, REFERER_CODE, BEARER):
        assert secret not in log
    assert "/verify?token=[redacted]" in log
    assert "/api/[redacted]/config/whitelist/[redacted]" in log
    assert "/api/config" in log and "/api/devices" in log


@pytest.mark.live
def test_gunicorn_access_log_carries_no_secret(start_server, tmp_path):
    access = tmp_path / "access.log"
    server = start_server(GUNICORN_ACCESSLOG=str(access))
    _requests_with_secrets(server.url)
    time.sleep(0.3)
    _assert_clean(access.read_text())


@pytest.mark.live
def test_nginx_access_log_carries_no_secret(start_server, tmp_path):
    server = start_server(TRUSTED_PROXY_HOPS=1)
    proxy = Nginx(tmp_path, f"127.0.0.1:{server.port}").start()
    try:
        _requests_with_secrets(proxy.url)
        time.sleep(0.3)
        log = (tmp_path / "logs" / "access.log").read_text()
    finally:
        proxy.stop()
    _assert_clean(log)


@pytest.mark.live
def test_console_mail_says_loudly_it_is_for_development(start_server):
    console = start_server()
    assert "MAIL_BACKEND=console is for development" in console.log()
    smtp = start_server(MAIL_BACKEND="smtp")
    assert "MAIL_BACKEND=console" not in smtp.log()
