"""No cheap request takes a worker down: dead holds, huge puts and subscribes, slow bodies,
endless devices, gunicorn's own refusals, shutdown with holds."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import insert

from app.extensions import db
from app.nest import contract, service
from app.nest.models import NestDevice
from tests.burst import burst, request_bytes
from tests.nest.factories import auth, issue_key, new_serial
from tests.rawhttp import subscribe

TOO_MANY = b'{"error":"Too many objects: at most 256 per request"}'


def held_total(base: str) -> int:
    listing = requests.get(base + "/api/devices?limit=1000", timeout=10).json()
    return sum(device["subscriptions"] for device in listing["devices"])


_PROBE = """
import json, sys, threading, time
import requests
base, stop, worst, failures = sys.argv[1], threading.Event(), 0.0, []
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.is_set():
    started = time.monotonic()
    try:
        status = requests.get(base + "/healthz", timeout=10).status_code
        if status != 200:
            failures.append(str(status))
    except requests.RequestException as exc:
        failures.append(repr(exc))
    worst = max(worst, time.monotonic() - started)
    stop.wait(0.05)
print(json.dumps({"worst": worst, "failures": failures}))
"""


class HealthProbe:
    """Polls /healthz every 50 ms; the slowest answer is what a user waited.

    In its own process: a thread of the test process would also measure the test's own
    threads (forty uploads of a megabyte) holding the GIL, not the server.
    """

    def __init__(self, base: str):
        self.base = base
        self.worst = 0.0
        self.failures: list[str] = []
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> HealthProbe:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, self.base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.3)  # started and polling before the load begins
        return self

    def __exit__(self, *exc) -> None:
        assert self._process is not None
        out, _ = self._process.communicate("", timeout=20)
        result = json.loads(out)
        self.worst, self.failures = result["worst"], result["failures"]


# --- holds whose clients left ------------------------------------------------------------


def _abandon_holds(base: str, count: int) -> None:
    streams = [subscribe(base, new_serial()) for _ in range(count)]
    for stream in streams:
        assert stream.read_head(timeout=10)[0] == 200
    deadline = time.monotonic() + 10
    while held_total(base) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert held_total(base) == count
    for stream in streams:
        stream.sock.close()


def _holds_freed(base: str, within: float) -> None:
    deadline = time.monotonic() + within
    while held_total(base) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert held_total(base) == 0
    started = time.monotonic()
    assert requests.get(base + "/healthz", timeout=5).status_code == 200
    assert time.monotonic() - started < 1


@pytest.mark.live
def test_holds_end_when_their_clients_close(start_server):
    server = start_server(GUNICORN_WORKER_CONNECTIONS=1000)
    _abandon_holds(server.url, 500)
    _holds_freed(server.url, within=15)


@pytest.mark.live
@pytest.mark.postgres
@pytest.mark.redis
def test_holds_end_when_their_clients_close_on_four_workers(four_workers):
    server = four_workers()
    _abandon_holds(server.url, 500)
    _holds_freed(server.url, within=15)


@pytest.mark.live
def test_a_pipelined_request_does_not_end_a_hold(start_server):
    server = start_server(NEST_SUSPEND_TIME_MAX=12)
    serial = new_serial()
    stream = subscribe(server.url, serial)
    stream.read_head(timeout=5)
    # A second request on the same connection waits for the first answer: still held.
    stream.sock.sendall(b"GET /nest/ping HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.5)
    assert held_total(server.url) == 1
    assert stream.read_chunk(timeout=5) is None  # the hold ends at its own time (2 s)
    stream.close()


# --- bounded work per request -----------------------------------------------------------


def _huge_bodies(objects: int) -> tuple[bytes, bytes]:
    listed = [{"object_key": f"device.{n:05d}", "object_timestamp": 1} for n in range(objects)]
    put = [{"object_key": f"shared.{n:05d}", "value": {"a": n}} for n in range(objects)]
    compact = {"separators": (",", ":")}
    return (
        json.dumps({"chunked": True, "objects": listed}, **compact).encode(),
        json.dumps({"objects": put}, **compact).encode(),
    )


def _heavy(base: str, serial: str, subscribe_body: bytes, put_body: bytes) -> list:
    headers = {**auth(serial), "Content-Type": "application/json"}
    return [
        requests.post(base + "/nest/transport", data=subscribe_body, headers=headers, timeout=30),
        requests.post(base + "/nest/transport/put", data=put_body, headers=headers, timeout=30),
    ]


@pytest.mark.live
def test_a_megabyte_of_objects_is_refused_quickly_one_worker(start_server):
    server = start_server()
    subscribe_body, put_body = _huge_bodies(20000)
    assert 800_000 < len(put_body) < 1024 * 1024 and 800_000 < len(subscribe_body) < 1024 * 1024
    with HealthProbe(server.url) as probe:
        started = time.monotonic()
        answers = _heavy(server.url, new_serial(), subscribe_body, put_body)
        took = time.monotonic() - started
    assert [(a.status_code, a.content) for a in answers] == [(400, TOO_MANY)] * 2
    assert took < 10
    assert probe.worst < 1 and not probe.failures


@pytest.mark.live
@pytest.mark.postgres
@pytest.mark.redis
def test_forty_huge_requests_in_parallel_on_four_workers(four_workers):
    server = four_workers()
    subscribe_body, put_body = _huge_bodies(20000)
    # At the cap: 256 objects with values, the most a request may make a server write.
    full_put = json.dumps(
        {"objects": [{"object_key": f"shared.{n}", "value": {"x": "v" * 200}} for n in range(256)]}
    ).encode()
    with HealthProbe(server.url) as probe:
        with ThreadPoolExecutor(40) as pool:
            answers = list(
                pool.map(
                    lambda n: (
                        _heavy(server.url, new_serial(), subscribe_body, put_body)
                        + [
                            requests.post(
                                server.url + "/nest/transport/put",
                                data=full_put,
                                headers=auth(new_serial()),
                                timeout=30,
                            )
                        ]
                    ),
                    range(40),
                )
            )
        ordinary = [requests.get(server.url + "/nest/ping", timeout=5) for _ in range(20)]
    assert all(a[0].content == TOO_MANY and a[1].content == TOO_MANY for a in answers)
    assert all(a[2].status_code == 200 and len(a[2].json()["objects"]) == 256 for a in answers)
    assert all(r.status_code == 200 for r in ordinary)
    # 80 MB of bodies and 40 x 256 bucket writes on 2 cores: /healthz waited up to 1.6 s
    # (measured on this and the previous release alike); issue 15 owns the CPU per request.
    assert not probe.failures and probe.worst < 2


def test_object_cap_is_configurable_and_exact(make_app):
    client = make_app(NEST_MAX_OBJECTS_PER_REQUEST=3).test_client()
    serial = new_serial()

    def put(count: int):
        body = {"objects": [{"object_key": f"shared.{n}", "value": {"n": n}} for n in range(count)]}
        return client.post("/nest/transport/put", json=body, headers=auth(serial))

    assert len(put(3).get_json()["objects"]) == 3
    refused = put(4)
    assert (refused.status_code, refused.data) == (
        400,
        b'{"error":"Too many objects: at most 3 per request"}',
    )
    listed = {"objects": [{"object_key": f"x.{n}"} for n in range(4)]}
    assert client.post("/nest/transport", json=listed, headers=auth(serial)).status_code == 400


def test_buckets_per_device_and_value_size_are_bounded(app, client, monkeypatch):
    monkeypatch.setattr(contract, "MAX_BUCKETS_PER_DEVICE", 5)
    serial = new_serial()
    body = {"objects": [{"object_key": f"shared.{n}", "value": {"n": n}} for n in range(8)]}
    answer = client.post("/nest/transport/put", json=body, headers=auth(serial)).get_json()
    assert [o["object_key"] for o in answer["objects"]] == [f"shared.{n}" for n in range(5)]
    # Existing buckets still take writes; a value over 64 KiB is refused.
    again = {"objects": [{"object_key": "shared.0", "value": {"n": 9}}]}
    assert (
        len(client.post("/nest/transport/put", json=again, headers=auth(serial)).json["objects"])
        == 1
    )
    big = {"objects": [{"object_key": "shared.1", "value": {"blob": "x" * (65 * 1024)}}]}
    assert client.post("/nest/transport/put", json=big, headers=auth(serial)).json["objects"] == []


# --- slow bodies ----------------------------------------------------------------------------


@pytest.mark.live
def test_a_slow_body_is_cut_off_at_the_deadline(start_server):
    server = start_server(REQUEST_BODY_TIMEOUT_SECONDS=2)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        f"POST /nest/transport/put HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
        f"{auth(new_serial())['Authorization'].split()[1]}\r\nContent-Length: 100\r\n\r\n"
    )
    sock.sendall(head.encode())
    started = time.monotonic()
    answer = b""
    try:
        for _ in range(40):  # a byte every half second: the body would take 50 s
            sock.sendall(b"{")
            time.sleep(0.5)
    except OSError:
        pass  # the server closed the connection
    sock.settimeout(5)
    while chunk := sock.recv(65536):
        answer += chunk
    took = time.monotonic() - started
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"error":"Request body too slow"}')
    assert 1.5 < took < 6


# --- bounded storage ----------------------------------------------------------------------


@pytest.mark.live
def test_new_device_identities_per_client_are_limited(start_server):
    server = start_server(NEST_NEW_DEVICES_LIMIT_PER_IP="100/hour")
    statuses = []
    for _ in range(5):
        requests_ = [
            request_bytes(server.url, "GET", "/nest/passphrase", headers=auth(new_serial()))
            for _ in range(1000)
        ]
        statuses += [a.status for a in burst(server.url, requests_)]
    assert statuses.count(200) == 100 and statuses.count(429) == 4900
    assert requests.get(server.url + "/api/devices", timeout=5).json()["total"] == 100
    # Known devices keep working: the budget counts new identities only.
    known = requests.get(server.url + "/api/devices?limit=1", timeout=5).json()["devices"][0]
    again = requests.get(server.url + "/nest/passphrase", headers=auth(known["serial"]), timeout=5)
    assert again.status_code == 200


@pytest.mark.live
def test_unpaired_devices_and_old_keys_are_swept(start_server):
    server = start_server(NEST_UNPAIRED_DEVICE_MAX_AGE_SECONDS=2, NEST_ENTRY_KEY_TTL_SECONDS=1)
    owned = new_serial()
    code = requests.get(server.url + "/nest/passphrase", headers=auth(owned), timeout=5).json()
    claimed = requests.post(
        server.url + "/api/register", json={"code": code["value"], "userId": "keeper"}, timeout=5
    )
    assert claimed.json()["success"] is True
    for _ in range(30):
        requests.get(server.url + "/nest/passphrase", headers=auth(new_serial()), timeout=5)
    assert requests.get(server.url + "/api/devices", timeout=5).json()["total"] == 31
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listing = requests.get(server.url + "/api/devices", timeout=5).json()
        if listing["total"] == 1:
            break
        time.sleep(0.5)
    assert [d["serial"] for d in listing["devices"]] == [owned]


def test_sweep_command_and_what_it_keeps(app, client, runner):
    owned, idle, recent = new_serial(), new_serial(), new_serial()
    key = issue_key(client, owned)["value"]
    assert client.post("/api/register", json={"code": key, "userId": "u"}).json["success"]
    issue_key(client, idle)
    issue_key(client, recent)
    with app.app_context():
        old = service.now_ms() - 10 * 24 * 3600 * 1000
        db.session.execute(
            NestDevice.__table__.update()
            .where(NestDevice.serial.in_([owned, idle]))
            .values(last_seen=old)
        )
        db.session.commit()
    result = runner.invoke(args=["nest", "sweep"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Swept 1 unpaired devices and 1 entry keys"
    serials = {d["serial"] for d in client.get("/api/devices").json["devices"]}
    assert serials == {owned, recent}


def test_devices_are_paged_at_ten_thousand(app, client):
    with app.app_context():
        db.session.execute(
            insert(NestDevice),
            [
                {"serial": f"PAGE{n:08d}", "created_at": 1_000_000 + n // 3, "last_seen": 1}
                for n in range(10_000)
            ],
        )
        db.session.commit()
    seen = []
    for offset in range(0, 10_000, 1000):
        page = client.get(f"/api/devices?limit=1000&offset={offset}").get_json()
        assert page["total"] == 10_000 and len(page["devices"]) == 1000
        seen += [(d["createdAt"], d["serial"]) for d in page["devices"]]
    assert seen == sorted(seen, key=lambda item: (-item[0], item[1]))
    assert len(set(seen)) == 10_000
    first = client.get("/api/devices").get_json()
    assert len(first["devices"]) == 100 and first["total"] == 10_000
    assert client.get("/api/devices?offset=10000").get_json() == {"devices": [], "total": 10_000}
    for bad in ("limit=0", "limit=1001", "limit=x", "offset=-1", "offset=1.5"):
        answer = client.get(f"/api/devices?{bad}")
        assert (answer.status_code, answer.data) == (
            400,
            b'{"success":false,"message":"Invalid paging parameters"}',
        )
