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


def test_simulator_pairs_and_exits_zero(live, tmp_path):
    serial = new_serial()
    process = subprocess.Popen(
        [
            str(BIN / "flask"),
            "--app",
            "wsgi",
            "nest",
            "simulate",
            "--server",
            live.url,
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
    try:
        match = None
        for _ in range(50):  # skip any log lines before the key
            line = process.stdout.readline()
            match = re.fullmatch(r"entry key: ([A-Z0-9]{7}) \(expires (\d+)\)\n", line)
            if match or not line:
                break
        assert match, line
        time.sleep(0.5)  # let it open its held subscribe
        claim = requests.post(
            live.url + "/api/register",
            json={"code": match.group(1).lower(), "userId": "simuser"},
            timeout=5,
        )
        assert claim.json()["success"] is True
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
