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

import requests


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
        body = {"chunked": True, "session": f"sim-{time.monotonic_ns()}", "objects": self._listed()}
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
    """Pair end to end; exit status 0 once a ``user.*`` bucket arrives, 1 on timeout."""
    device = Thermostat(server, serial, say)
    device.discover()
    key = device.entry_key()
    say(f"entry key: {key['value']} (expires {key['expires']})")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # A hold lasts up to 340 s; never wait past our own deadline.
            device.subscribe(read_timeout=max(1.0, min(350.0, deadline - time.monotonic())))
        except requests.RequestException as exc:  # a dropped hold: re-poll, as firmware does
            say(f"subscribe ended: {exc.__class__.__name__}; re-subscribing")
            time.sleep(1)
        user = device.paired_user()
        if user is not None:
            say(f"paired to {user}")
            return 0
    say("timed out waiting for pairing")
    return 1
