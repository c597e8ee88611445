"""Nest under arbitrary traffic: every answer in its envelope, claims and owners never corrupted.

A state machine issues entry keys, claims them (well-formed and fuzzed), removes devices,
and throws fuzzed subscribes, puts and passphrase requests with every identity source at
the server. Its model says which code is pending for which device, which codes were claimed
and who owns what; after each step the server must agree:

- a pending key is re-served unchanged and claimable exactly once, by anyone holding it;
- a claimed code never succeeds again, whatever traffic follows;
- the owner of each device is the last successful claimer unless that user removed it, and
  its owner buckets are always there to be sent.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, invariant, multiple, precondition, rule

from tests.fuzz import strategies as fs
from tests.fuzz.machine import ProtocolMachine, run_machine
from tests.nest.factories import auth

NO_KEY = {"success": False, "message": "Invalid, expired, or already claimed entry key"}
SUBSCRIBE_PATHS = ["/nest/transport", "/nest/transport/v5/subscribe", "/czfe/v1/subscribe/"]
PUT_PATHS = ["/nest/transport/put", "/transport/v2/put", "/czfe/put"]
OTHER_DEVICE_ROUTES = [
    ("GET", "/nest/passphrase"),
    ("GET", "/passphrase/status"),
    ("GET", "/nest/entry"),
    ("POST", "/entry"),
    ("GET", "/nest/ping"),
    ("POST", "/nest/upload"),
    ("GET", "/nest/weather/v1"),
    ("GET", "/nest/transport"),
    ("DELETE", "/nest/transport"),
    ("PROPFIND", "/nest/passphrase"),
]
# Routes that name a device: without a serial they answer 400 before reading anything else.
NEEDS_SERIAL = {
    *(("POST", p) for p in SUBSCRIBE_PATHS + PUT_PATHS),
    ("GET", "/nest/passphrase"),
    ("GET", "/passphrase/status"),
}
CONTROL_PATHS = [
    ("GET", "/api/devices"),
    ("GET", "/api/registered-devices"),
    ("PUT", "/api/register"),
    ("DELETE", "/api/registered-devices/"),
    ("GET", "/api/registered-devices/x"),
]


class NestMachine(ProtocolMachine):
    """Model: pending code per serial, claimed codes, owner per serial."""

    serials = Bundle("serials")

    def __init__(self):
        super().__init__()
        self.pending: dict[str, str] = {}
        self.code_serial: dict[str, str] = {}
        self.claimed: set[str] = set()
        self.owner: dict[str, str] = {}

    # --- keys and claims -----------------------------------------------------------------

    @initialize(target=serials, batch=st.lists(fs.serial_numbers(), min_size=3, max_size=3))
    def devices(self, batch):
        """Three devices showing their keys, so every rule has something to work on."""
        for serial in batch:
            self.passphrase(serial)
        return multiple(*batch)

    @rule(target=serials, serial=fs.serial_numbers())
    def new_device(self, serial):
        """Another device the model knows."""
        return serial

    def _known_codes(self) -> st.SearchStrategy[str]:
        return st.sampled_from(list(self.code_serial)) if self.code_serial else fs.entry_codes()

    def _key_served(self, serial: str, code: str) -> None:
        if serial in self.pending:
            assert code == self.pending[serial], "a pending key must be re-served unchanged"
        assert code not in self.claimed, "a claimed code was served again"
        self.pending[serial] = code
        self.code_serial[code] = serial

    @rule(serial=serials)
    def passphrase(self, serial):
        """The device asks for its key (firmware credentials)."""
        answer = self.request("GET", "/nest/passphrase", headers=auth(serial))
        assert answer.status == 200
        self._key_served(serial, answer.json()["value"])

    def _claimed(self, serial: str, user: str) -> None:
        code = self.pending.pop(serial)
        self.claimed.add(code)
        self.owner[serial] = user

    @precondition(lambda self: self.code_serial)
    @rule(
        data=st.data(), user=st.sampled_from(fs.USERS), form=st.sampled_from(["", "lower", "pad"])
    )
    def claim(self, data, user, form):
        """A well-formed claim of a code the model knows (pending or already claimed)."""
        code = data.draw(self._known_codes(), label="code")
        sent = {"": code, "lower": code.lower(), "pad": f" {code}  "}[form]
        answer = self.request(
            "POST", "/api/register", json.dumps({"code": sent, "userId": user}).encode()
        )
        serial = self.code_serial[code]
        if self.pending.get(serial) == code:
            assert answer.json() == {
                "success": True,
                "serial": serial,
                "message": f"Device {serial} registered to {user}",
            }
            self._claimed(serial, user)
        else:
            assert (answer.status, answer.json()) == (200, NO_KEY)

    @rule(data=st.data(), ip=st.sampled_from(["10.0.0.1", "10.0.0.2"]))
    def claim_fuzzed(self, data, ip):
        """Any body at all; a success must be a pending code, and it is then claimed."""
        body = data.draw(fs.register_bodies(self._known_codes()), label="body")
        value = self.request("POST", "/api/register", body, ip=ip).json()
        if value["success"]:
            serial = value["serial"]
            assert serial in self.pending, "a claim succeeded without a pending key"
            self._claimed(serial, value["message"].split(" registered to ", 1)[1])

    @rule(serial=serials, user=st.sampled_from(fs.USERS))
    def unregister(self, serial, user):
        """The user gives the device up; only its owner can."""
        answer = self.request("DELETE", f"/api/registered-devices/{serial}", query={"userId": user})
        if self.owner.get(serial) == user:
            assert answer.json() == {"success": True, "message": f"Device {serial} deleted"}
            del self.owner[serial]
        else:
            assert answer.json() == {"success": False, "message": f"Device {serial} not found"}

    # --- fuzzed device traffic -----------------------------------------------------------

    def _device(self, method, path, body, identity):
        headers, query, expected = identity
        answer = self.request(method, path, body, headers=headers, query=query)
        if (method, path) not in NEEDS_SERIAL:
            return
        if expected is None:
            assert (answer.status, answer.json()) == (400, {"error": "Device serial required"})
        elif path == "/nest/passphrase":
            self._key_served(expected, answer.json()["value"])
        elif answer.status != 200:
            assert (answer.status, answer.json()) == (400, {"error": "Invalid JSON"})

    @rule(data=st.data(), kind=st.sampled_from(["subscribe", "put"]))
    def transport(self, data, kind):
        """Fuzzed subscribes (immediate and chunked; a started hold is let go at once) and
        puts, under any identity. Neither ever changes who owns what."""
        paths, bodies = {
            "subscribe": (SUBSCRIBE_PATHS, fs.subscribe_bodies),
            "put": (PUT_PATHS, fs.put_bodies),
        }[kind]
        path = data.draw(st.sampled_from(paths), label="path")
        identity = data.draw(fs.identities(self.serials), label="identity")
        serial = identity[2] or "02AA0000000001"
        self._device("POST", path, data.draw(bodies(serial), label="body"), identity)

    @rule(
        route=st.sampled_from(OTHER_DEVICE_ROUTES),
        identity=fs.identities(serials),
        body=fs.bodies(),
    )
    def device_request(self, route, identity, body):
        """Other device endpoints, wrong methods and unknown paths, any identity and body."""
        self._device(*route, body, identity)

    @rule(serial=serials)
    def owner_buckets_are_sent(self, serial):
        """An owned device listing its owner buckets gets both, whatever happened before."""
        user = self.owner.get(serial)
        if user is None:
            return
        structure = user[5:] if user.startswith("user_") and user != "user_" else user
        keys = [f"user.{user}", f"structure.{structure}"]
        body = json.dumps({"objects": [{"object_key": k} for k in keys]}).encode()
        answer = self.request("POST", "/nest/transport", body, headers=auth(serial))
        assert [o["object_key"] for o in answer.json()["objects"]] == keys

    @rule(route=st.sampled_from(CONTROL_PATHS), body=fs.bodies(), user=fs.text())
    def control_request(self, route, body, user):
        """Other control API traffic (listings, wrong methods, odd paths)."""
        method, path = route
        self.request(method, path, body, query={"userId": user})

    # --- the server agrees with the model ------------------------------------------------

    @invariant()
    def owners_match(self):
        """Every device the model knows has the owner the model says, and no other."""
        devices = self.request("GET", "/api/devices").json()["devices"]
        listed = {d["serial"]: d["userId"] for d in devices}
        for serial in self.code_serial.values():
            assert listed.get(serial) == self.owner.get(serial), serial


# Limits high enough that fuzzed failures do not turn every later claim into a 429 (the
# limit answers themselves are checked by the oracle whenever they occur).
LIMITS = {
    "NEST_REGISTER_LIMIT_PER_IP": "100000/minute",
    "NEST_REGISTER_LIMIT_TOTAL": "100000/minute",
}


def test_nest_state_survives_arbitrary_traffic_sqlite(make_app):
    run_machine(NestMachine, make_app(**LIMITS), examples=25, steps=30)


@pytest.mark.postgres
def test_nest_state_survives_arbitrary_traffic_postgres(make_app, postgres_url):
    run_machine(NestMachine, make_app(DATABASE_URL=postgres_url, **LIMITS), examples=10, steps=30)
