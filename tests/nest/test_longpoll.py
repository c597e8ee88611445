"""Chunked long-poll subscribes against a real gunicorn + gevent server."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.nest.factories import auth, new_serial
from tests.rawhttp import subscribe

pytestmark = pytest.mark.live


def entry_key(server, serial: str) -> str:
    response = requests.get(server.url + "/nest/passphrase", headers=auth(serial), timeout=5)
    return response.json()["value"]


def register(server, code: str, user: str = "homeassistant") -> requests.Response:
    return requests.post(
        server.url + "/api/register", json={"code": code, "userId": user}, timeout=5
    )


def pairing_chunk_pattern(serial: str, user: str) -> re.Pattern:
    structure = user[5:] if user.startswith("user_") else user
    return re.compile(
        (
            r'\{"objects":\[\{"object_revision":1,"object_timestamp":(\d+),"object_key":"user\.'
            + re.escape(user)
            + r'","value":\{"name":"'
            + re.escape(user)
            + r'"\}\},\{"object_revision":1,"object_timestamp":(\d+),"object_key":"structure\.'
            + re.escape(structure)
            + r'","value":\{"name":"Home","devices":\["'
            + serial
            + r'"\]\}\}\]\}'
        ).encode()
    )


def test_held_subscribe_receives_the_pairing_push(live):
    serial = new_serial()
    code = entry_key(live, serial)
    stream = subscribe(live.url, serial)
    # Status and headers arrive before any body byte, while the poll is held.
    status, headers = stream.read_head(timeout=2)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/json"
    assert headers["x-nl-suspend-time-max"] == "300"
    assert headers["x-nl-defer-device-window"] == "15"
    assert "x-nl-service-timestamp" in headers
    assert stream.buffer == b""

    sent = time.monotonic()
    response = register(live, code)
    assert (
        response.content
        == (
            f'{{"success":true,"serial":"{serial}","message":"Device {serial} registered to homeassistant"}}'
        ).encode()
    )
    chunk = stream.read_chunk(timeout=1.0)
    assert time.monotonic() - sent < 1.0
    match = pairing_chunk_pattern(serial, "homeassistant").fullmatch(chunk)
    assert match, chunk
    # One claim, one timestamp, as in the seed's example.
    assert match.group(1) == match.group(2)
    # Nothing else within the 3 s batching window: the response ends.
    assert stream.read_chunk(timeout=5) is None
    stream.close()


def test_pending_buckets_are_delivered_on_the_next_subscribe_then_it_holds(live):
    serial = new_serial()
    assert register(live, entry_key(live, serial), user="user_frank").json()["success"] is True
    stream = subscribe(live.url, serial)
    stream.read_head(timeout=2)
    chunk = stream.read_chunk(timeout=2)
    assert pairing_chunk_pattern(serial, "user_frank").fullmatch(chunk), chunk
    assert stream.read_chunk(timeout=2) is None
    stream.close()

    # Delivered now: a further subscribe is held, not answered at once.
    held = subscribe(live.url, serial)
    held.read_head(timeout=2)
    with pytest.raises(TimeoutError):
        held.read_chunk(timeout=1.5)
    held.close()


def test_a_device_listing_its_buckets_also_holds(live):
    serial = new_serial()
    register(live, entry_key(live, serial), user="gina")
    first = subscribe(live.url, serial)
    first.read_head()
    objects = json.loads(first.read_chunk(timeout=2))["objects"]
    first.close()
    listed = [
        {
            "object_key": o["object_key"],
            "object_revision": o["object_revision"],
            "object_timestamp": o["object_timestamp"],
        }
        for o in objects
    ]
    again = subscribe(live.url, serial, objects=listed)
    again.read_head()
    with pytest.raises(TimeoutError):
        again.read_chunk(timeout=1.0)
    again.close()


def test_idle_subscribe_ends_with_an_empty_body(start_server):
    server = start_server(NEST_SUSPEND_TIME_MAX=15)
    stream = subscribe(server.url, new_serial())
    status, headers = stream.read_head(timeout=2)
    assert status == 200 and headers["x-nl-suspend-time-max"] == "15"
    assert stream.read_chunk(timeout=8) is None  # terminator only: empty body
    elapsed = time.monotonic() - stream.sent_at
    assert 4.5 <= elapsed <= 6.5, elapsed
    stream.close()


def test_immediate_mode_is_a_plain_answer(live):
    serial = new_serial()
    stream = subscribe(live.url, serial, chunked=False)
    status, headers = stream.read_head()
    assert status == 200
    assert headers["content-length"] == "14"
    assert stream.read_body() == b'{"objects":[]}'
    stream.close()


def test_target_temperature_disables_defer_window(live):
    serial = new_serial()
    objects = [{"object_key": f"shared.{serial}", "value": {"target_temperature": 21.0}}]
    stream = subscribe(live.url, serial, objects=objects)
    _, headers = stream.read_head()
    assert headers["x-nl-disable-defer-window"] == "60"
    assert json.loads(stream.read_chunk(timeout=2))["objects"][0]["value"] == {
        "target_temperature": 21.0
    }
    stream.close()


def test_concurrent_claims_of_one_key_have_one_winner(start_server):
    server = start_server(NEST_REGISTER_LIMIT_PER_IP="1000/minute")
    serial = new_serial()
    code = entry_key(server, serial)

    def attempt(n: int) -> dict:
        return requests.post(
            server.url + "/api/register", json={"code": code, "userId": f"user{n}"}, timeout=10
        ).json()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(attempt, range(50)))
    winners = [r for r in results if r["success"]]
    assert len(winners) == 1
    losers = [r for r in results if not r["success"]]
    assert all(r["message"] == "Invalid, expired, or already claimed entry key" for r in losers)
    owner = winners[0]["message"].rsplit(" ", 1)[1]
    devices = requests.get(server.url + f"/api/registered-devices?userId={owner}", timeout=5).json()
    assert [d["serial"] for d in devices] == [serial]


def test_many_held_subscribes_do_not_starve_the_worker(start_server):
    """300 holds on one worker (100 per device, the cap): everything else stays prompt."""
    server = start_server(NEST_REGISTER_LIMIT_PER_IP="1000/minute")
    serials = [new_serial() for _ in range(3)]
    codes = {s: entry_key(server, s) for s in serials}
    streams = []
    for serial in serials:
        for _ in range(100):
            stream = subscribe(server.url, serial)
            streams.append((serial, stream))
    for _, stream in streams:
        assert stream.read_head(timeout=10)[0] == 200

    devices = requests.get(server.url + "/api/devices", timeout=5).json()["devices"]
    assert {d["serial"]: d["subscriptions"] for d in devices} == {s: 100 for s in serials}

    started = time.monotonic()
    assert requests.get(server.url + "/healthz", timeout=2).status_code == 200
    assert time.monotonic() - started < 1.0

    # The 101st subscribe of a device is answered at once with nothing.
    extra = subscribe(server.url, serials[0])
    extra.read_head(timeout=2)
    assert extra.read_body(timeout=2) == b'{"objects":[]}'
    extra.close()

    # A new device's subscribe is still accepted and held.
    newcomer = subscribe(server.url, new_serial())
    assert newcomer.read_head(timeout=1)[0] == 200
    newcomer.close()

    # A claim answers promptly and reaches all 100 holds of that device within 1 s.
    target = serials[1]
    started = time.monotonic()
    assert register(server, codes[target]).json()["success"] is True
    for serial, stream in streams:
        if serial == target:
            assert pairing_chunk_pattern(target, "homeassistant").fullmatch(
                stream.read_chunk(timeout=1.5)
            )
    assert time.monotonic() - started < 1.5
    for _, stream in streams:
        stream.close()
