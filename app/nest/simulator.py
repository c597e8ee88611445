"""A thermostat simulator that speaks the NoLongerEvil firmware's side of the protocol.

It discovers the transport through ``/nest/entry``, shows its entry key, then holds chunked
subscribes as the firmware does and reports every bucket pushed to it. Users run it against
their own deployment (``flask --app wsgi nest simulate``); the test suite runs it too.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
import urllib3

# What a dropped, reset or refused connection raises, inside requests or while streaming.
DROPPED = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)
# The firmware retries with a growing wait; so does the simulator, up to this.
MAX_BACKOFF_SECONDS = 30.0


def human_time(epoch_ms: int) -> str:
    """``2026-12-01 23:10:00 UTC (in 59 min)`` for an epoch-milliseconds time."""
    when = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    minutes = round((epoch_ms / 1000 - time.time()) / 60)
    relative = f"in {minutes} min" if minutes >= 0 else f"{-minutes} min ago"
    return f"{when:%Y-%m-%d %H:%M:%S} UTC ({relative})"


class Thermostat:
    """One simulated device; ``buckets`` holds what the server has sent it."""

    def __init__(self, server: str, serial: str, say: Callable[[str], None] = print):
        self.server = server.rstrip("/")
        self.serial = serial
        self.say = say
        self.buckets: dict[str, dict] = {}
        self.http = requests.Session()
        token = base64.b64encode(f"d.{serial}.sim:unused".encode()).decode()
        self.http.headers["Authorization"] = f"Basic {token}"
        self.urls: dict[str, str] = {}

    def discover(self) -> dict:
        """``GET /nest/entry``: learn the transport and passphrase URLs."""
        response = self.http.get(f"{self.server}/nest/entry", timeout=10)
        response.raise_for_status()
        self.urls = response.json()
        return self.urls

    def entry_key(self) -> dict:
        """``GET`` the passphrase URL: the key the pairing screen shows."""
        response = self.http.get(self.urls["passphrase_url"], timeout=10)
        response.raise_for_status()
        return response.json()

    def _listed(self) -> list[dict]:
        listed = [
            {"object_key": f"device.{self.serial}", "object_revision": 0, "object_timestamp": 0},
            {"object_key": f"shared.{self.serial}", "object_revision": 0, "object_timestamp": 0},
        ]
        for key, bucket in self.buckets.items():
            if key.startswith(("device.", "shared.")):
                continue
            listed.append(
                {
                    "object_key": key,
                    "object_revision": bucket["object_revision"],
                    "object_timestamp": bucket["object_timestamp"],
                }
            )
        return listed

    def subscribe(self, read_timeout: float) -> list[dict]:
        """One chunked subscribe, held until the server ends it; the objects pushed."""
        body: dict[str, Any] = {
            "chunked": True,
            "session": f"sim-{time.monotonic_ns()}",
            "objects": self._listed(),
        }
        url = f"{self.urls['transport_url']}/v5/subscribe"
        received = []
        with self.http.post(url, json=body, stream=True, timeout=(10, read_timeout)) as response:
            response.raise_for_status()
            for chunk in response.raw.read_chunked(decode_content=True):
                if not chunk:
                    continue
                for obj in json.loads(chunk).get("objects", []):
                    self.buckets[obj["object_key"]] = obj
                    received.append(obj)
                    self.say(f"pushed {json.dumps(obj, separators=(',', ':'))}")
        return received

    def paired_user(self) -> str | None:
        """The user id once a ``user.*`` bucket has arrived."""
        for key in self.buckets:
            if key.startswith("user."):
                return key[len("user.") :]
        return None


def run(server: str, serial: str, timeout: float, say: Callable[[str], None] = print) -> int:
    """Pair end to end; exit status 0 once a ``user.*`` bucket arrives, 1 on timeout.

    Survives what a thermostat survives: a server that is down or restarting, a dropped or
    reset hold. It retries with a growing wait (1 s, 2 s, 4 s … 30 s), as the firmware does.
    """
    device = Thermostat(server, serial, say)
    deadline = time.monotonic() + timeout
    backoff = 1.0

    def wait_and_retry(what: str, exc: Exception) -> bool:
        nonlocal backoff
        if time.monotonic() + backoff > deadline:
            return False
        say(f"{what} failed ({exc.__class__.__name__}); retrying in {backoff:.0f} s")
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        return True

    while True:
        try:
            device.discover()
            key = device.entry_key()
            break
        except DROPPED as exc:
            if not wait_and_retry("reaching the server", exc):
                say("timed out waiting for the server")
                return 1
    say(f"entry key: {key['value']} (valid until {human_time(key['expires'])})")
    backoff = 1.0
    while time.monotonic() < deadline:
        try:
            # A hold lasts up to 340 s; never wait past our own deadline.
            device.subscribe(read_timeout=max(1.0, min(350.0, deadline - time.monotonic())))
            backoff = 1.0
        except DROPPED as exc:  # a dropped or reset hold, a restarting server
            if not wait_and_retry("subscribe", exc):
                break
        user = device.paired_user()
        if user is not None:
            say(f"paired to {user}")
            return 0
    say("timed out waiting for pairing")
    return 1
