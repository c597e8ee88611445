"""The thermostat simulator pairs end to end against a live server."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests

from tests.live import BIN, ROOT, clean_env
from tests.nest.factories import new_serial

pytestmark = pytest.mark.live


def start_simulator(url: str, serial: str, tmp_path) -> tuple[subprocess.Popen, str]:
    """``flask nest simulate`` in its own process; returns it and the entry key it shows."""
    process = subprocess.Popen(
        [
            str(BIN / "flask"),
            "--app",
            "wsgi",
            "nest",
            "simulate",
            "--server",
            url,
            "--serial",
            serial,
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=clean_env(SECRET_KEY="sim", DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    match = None
    for _ in range(50):  # skip any log lines before the key
        line = process.stdout.readline()
        match = re.fullmatch(
            r"entry key: ([A-Z0-9]{7}) \(valid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
            r" \(in (59|60) min\)\)\n",
            line,
        )
        if match or not line:
            break
    assert match, line
    return process, match.group(1)


def claim(url: str, code: str, user: str):
    return requests.post(url + "/api/register", json={"code": code, "userId": user}, timeout=5)


def test_simulator_pairs_and_exits_zero(live, tmp_path):
    serial = new_serial()
    process, code = start_simulator(live.url, serial, tmp_path)
    try:
        time.sleep(0.5)  # let it open its held subscribe
        assert claim(live.url, code.lower(), "simuser").json()["success"] is True
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert '"object_key":"user.simuser","value":{"name":"simuser"}' in output
    assert (
        f'"object_key":"structure.simuser","value":{{"name":"Home","devices":["{serial}"]}}'
        in output
    )
    assert output.rstrip().endswith("paired to simuser")


def test_simulator_survives_a_restarted_server(start_server, tmp_path):
    server = start_server(NEST_SUSPEND_TIME_MAX=30)
    process, code = start_simulator(server.url, new_serial(), tmp_path)
    try:
        time.sleep(0.5)
        server.stop()  # its hold is cut; then nothing answers for a while
        time.sleep(2.5)
        server.start()
        assert claim(server.url, code, "restarted").json()["success"] is True
        output, _ = process.communicate(timeout=40)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "failed (" in output and "retrying in 1 s" in output
    assert output.rstrip().endswith("paired to restarted")
