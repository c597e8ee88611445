"""The README's "Several workers on one host" block, run as written.

Only what a test machine must change is replaced, and each replacement must find its text, so
a README edit that this test does not follow fails it: the role and database get a unique
name, Redis a logical database of its own, /etc/nginx a folder of the test's (holding a copy of
Debian's default site, which the block must remove), gunicorn a pid file, the copied site the
test's ports, and nginx starts rather than reloads (no nginx runs here yet).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import requests

from tests.live import ROOT, clean_env, free_port
from tests.nest.factories import auth, new_serial
from tests.nginx import NGINX
from tests.rawhttp import subscribe
from tests.services import PG_ADMIN

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]


def walkthrough() -> str:
    """The shell block between the README's walkthrough markers."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- walkthrough -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    return block.split("```sh\n", 1)[1].split("```", 1)[0]


def _replace(script: str, old: str, new: str) -> str:
    assert old in script, f"the README walkthrough no longer says {old!r}"
    return script.replace(old, new)


@pytest.mark.skipif(os.geteuid() != 0, reason="the walkthrough runs as root")
def test_the_readme_walkthrough_serves_through_nginx(tmp_path, redis_url):
    name = f"hpwalk_{secrets.token_hex(4)}"
    etc = tmp_path / "etc-nginx"
    for folder in ("sites-available", "sites-enabled", "snippets"):
        (etc / folder).mkdir(parents=True)
    default = Path("/etc/nginx/sites-available/default")
    if default.exists():
        shutil.copy(default, etc / "sites-enabled" / "default")
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (etc / "nginx.conf").write_text(
        f"""pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {etc}/sites-enabled/*;
}}
"""
    )
    port, app_port = free_port(), free_port()
    site_copy = (
        f"sed -e 's/127.0.0.1:8082/127.0.0.1:{app_port}/'"
        f" -e 's/listen 80 default_server;/listen 127.0.0.1:{port} default_server;/'"
        " -e '/listen \\[::\\]:80/d'"
        # (spelled ngin[x] so the /etc/nginx/ replacement below leaves the pattern alone)
        f" -e 's#/etc/ngin[x]/snippets/#{etc}/snippets/#'"
        f" -e 's#/var/log/nginx/#{prefix}/logs/#'"
        f" deploy/nginx/homepair.conf > {etc}/sites-available/homepair"
    )
    nginx = f"{NGINX} -p {prefix} -c {etc}/nginx.conf"

    script = walkthrough()
    for old, new in (
        ("ROLE homepair LOGIN", f"ROLE {name} LOGIN"),
        ("DATABASE homepair OWNER homepair", f"DATABASE {name} OWNER {name}"),
        ("homepair:change-me@127.0.0.1/homepair", f"{name}:change-me@127.0.0.1/{name}"),
        ("redis://127.0.0.1:6379/0", redis_url),
        ("--daemon", f"--daemon --pid {tmp_path}/gunicorn.pid"),
        ("cp deploy/nginx/homepair.conf /etc/nginx/sites-available/homepair", site_copy),
        ("nginx -t && nginx -s reload", f"{nginx} -t && {nginx}"),
        ("/etc/nginx/", f"{etc}/"),
    ):
        script = _replace(script, old, new)
    base = f"http://127.0.0.1:{port}"
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=clean_env(PORT=app_port),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert not (etc / "sites-enabled" / "default").exists()
        deadline = time.monotonic() + 20
        health = None
        while time.monotonic() < deadline:
            try:
                health = requests.get(base + "/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        assert health is not None and health.json() == {
            "status": "ok",
            "database": "ok",
            "migrations": "head",
            "redis": "ok",
        }
        # A thermostat pairs through nginx.
        serial = new_serial()
        code = requests.get(base + "/nest/passphrase", headers=auth(serial), timeout=5).json()
        stream = subscribe(base, serial)
        assert stream.read_head(timeout=5)[0] == 200
        claim = {"code": code["value"], "userId": "walkthrough"}
        assert requests.post(base + "/api/register", json=claim, timeout=5).json()["success"]
        assert b"user.walkthrough" in stream.read_chunk(timeout=5)
        stream.close()
    finally:
        pid_file = tmp_path / "gunicorn.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        subprocess.run(f"{nginx} -s quit", shell=True, capture_output=True)
        time.sleep(1)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')
