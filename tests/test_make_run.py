"""The README's run command serves /healthz on a fresh clone."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.live import make_run_on_a_clone

pytestmark = pytest.mark.live


def test_make_run_on_a_fresh_clone(tmp_path):
    process, clone, base = make_run_on_a_clone(tmp_path)
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                # Connection: close: an idle keep-alive connection would hold the graceful
                # shutdown in the finally clause for gunicorn's keepalive (5 s).
                response = requests.get(
                    f"{base}/healthz", timeout=1, headers={"Connection": "close"}
                )
                healthy = response.json()["status"] == "ok"
                if healthy:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        assert healthy, (
            process.stdout.read().decode() if process.poll() is not None else "no answer"
        )
        instance = clone / "instance"
        assert (instance / "homepair.db").exists()
        assert (instance / "secret_key").exists()
        # Secrets at rest are the owner's alone: make run sets umask 077.
        assert instance.stat().st_mode & 0o777 == 0o700
        for path in instance.iterdir():
            assert path.stat().st_mode & 0o077 == 0, path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
