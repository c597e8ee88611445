"""Several gevent workers behind the shipped nginx site, on PostgreSQL and Redis."""

from __future__ import annotations

import http.client
import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.nest.factories import auth, new_serial
from tests.nginx import Nginx, RedisServer
from tests.rawhttp import subscribe

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]

INVALID_KEY = "Invalid, expired, or already claimed entry key"


@pytest.fixture
def cluster(tmp_path, migrated_postgres_url, redis_url, start_server):
    """Factory: gunicorn (N workers, PostgreSQL, Redis) behind nginx; returns (server, nginx)."""
    proxies = []

    def make(workers: int = 4, redis: str | None = None, **env):
        server = start_server(
            workers=workers,
            DATABASE_URL=migrated_postgres_url,
            REDIS_URL=redis or redis_url,
            TRUSTED_PROXY_HOPS=1,
            **env,
        )
        folder = tmp_path / f"nginx-{len(proxies)}"
        folder.mkdir()
        proxy = Nginx(folder, f"127.0.0.1:{server.port}").start()
        proxies.append(proxy)
        return server, proxy

    yield make
    for proxy in proxies:
        proxy.stop()


def entry_key(base: str, serial: str) -> str:
    return requests.get(base + "/nest/passphrase", headers=auth(serial), timeout=5).json()["value"]


def claim(base: str, code: str, user: str = "homeassistant", **kw) -> requests.Response:
    return requests.post(
        base + "/api/register", json={"code": code, "userId": user}, timeout=5, **kw
    )


def hold(base: str, count: int) -> tuple[dict[str, str], dict]:
    """``count`` new devices with entry keys, each holding a subscribe: (codes, streams)."""
    serials = [new_serial() for _ in range(count)]
    codes = {s: entry_key(base, s) for s in serials}
    streams = {s: subscribe(base, s) for s in serials}
    for stream in streams.values():
        status, _ = stream.read_head(timeout=5)
        assert status == 200
    return codes, streams


def buckets_arrive(base: str, serial: str, stream, timeout: float) -> bytes:
    """The pairing chunk: on the held connection, or (hold lost or ended) the next subscribe."""
    try:
        chunk = stream.read_chunk(timeout=timeout)
    except (ConnectionError, TimeoutError, OSError):
        chunk = None  # the worker holding it went away
    stream.close()
    if chunk is None:
        stream = subscribe(base, serial)
        stream.read_head(timeout=5)
        chunk = stream.read_chunk(timeout=3)
        stream.close()
    assert b'"object_key":"user.homeassistant"' in chunk, serial
    return chunk


def test_pushes_reach_every_worker_through_nginx(cluster):
    server, proxy = cluster(workers=4, NEST_REGISTER_LIMIT_PER_IP="1000/minute")
    serials = [new_serial() for _ in range(40)]
    codes = {s: entry_key(proxy.url, s) for s in serials}
    streams = {s: subscribe(proxy.url, s) for s in serials}
    for stream in streams.values():
        status, headers = stream.read_head(timeout=5)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
    # The per-worker held counts are summed over Redis.
    time.sleep(0.3)
    listed = requests.get(proxy.url + "/api/devices", timeout=5).json()["devices"]
    assert {d["serial"]: d["subscriptions"] for d in listed if d["serial"] in codes} == {
        s: 1 for s in serials
    }

    worst = 0.0
    for serial in serials:
        started = time.monotonic()
        assert claim(proxy.url, codes[serial]).json()["success"] is True
        chunk = json.loads(streams[serial].read_chunk(timeout=1.0))
        worst = max(worst, time.monotonic() - started)
        assert [o["object_key"] for o in chunk["objects"]] == [
            "user.homeassistant",
            "structure.homeassistant",
        ]
    assert worst < 1.0
    for stream in streams.values():
        stream.close()
    # Entry URLs keep the port nginx was reached on.
    entry = requests.get(proxy.url + "/nest/entry", timeout=5).json()
    assert entry["transport_url"] == f"{proxy.url}/nest/transport"


def _request_from(source_ip: str, port: int, method: str, path: str, body=None, headers=None):
    """One request on a fresh connection from ``source_ip`` (a loopback address)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source_ip, 0))
    conn.request(method, path, None if body is None else json.dumps(body), headers or {})
    response = conn.getresponse()
    result = response.status, response.read()
    conn.close()
    return result


def _post_from(source_ip: str, port: int, path: str, body: dict, headers: dict | None = None):
    return _request_from(source_ip, port, "POST", path, body, headers)


def test_limits_count_across_workers_per_real_ip(cluster):
    server, proxy = cluster(workers=4, NEST_REGISTER_LIMIT_PER_IP="3/minute")
    bad = {"code": "ZZZZZZZ", "userId": "u"}
    for _ in range(3):
        assert _post_from("127.0.0.1", proxy.port, "/api/register", bad)[0] == 200
    # New connections land on any worker; the fourth failure is refused on all of them.
    for _ in range(4):
        status, body = _post_from("127.0.0.1", proxy.port, "/api/register", bad)
        assert (status, body) == (
            429,
            b'{"success":false,"message":"Too many registration attempts"}',
        )
    # A forged X-Forwarded-For does not make a new client.
    status, _ = _post_from(
        "127.0.0.1", proxy.port, "/api/register", bad, {"X-Forwarded-For": "203.0.113.9"}
    )
    assert status == 429
    # Another real address (as nginx sees it) has its own budget.
    assert _post_from("127.0.0.2", proxy.port, "/api/register", bad)[0] == 200


def test_redis_outage_refuses_claims_keeps_holds_then_recovers(cluster):
    redis_server = RedisServer().start()
    try:
        server, proxy = cluster(
            workers=2,
            redis=redis_server.url,
            NEST_SUSPEND_TIME_MAX=15,
            NEST_REGISTER_LIMIT_PER_IP="1000/minute",
        )
        codes, streams = hold(proxy.url, 6)
        redis_server.stop()
        time.sleep(0.5)

        # Claims are guesses: with their limit store gone they are refused, never evaluated.
        for code in codes.values():
            started = time.monotonic()
            response = claim(proxy.url, code)
            assert (response.status_code, response.content) == (
                503,
                b'{"success":false,"message":"Service unavailable"}',
            )
            assert time.monotonic() - started < 1.5  # no stall beyond the socket timeout
        assert requests.get(proxy.url + "/api/devices", timeout=5).status_code == 200

        # Redis back: the same keys claim, and every device gets its buckets on the held
        # connection or, if its hold ended meanwhile, on its next subscribe.
        redis_server.start()
        time.sleep(2)
        for code in codes.values():
            assert claim(proxy.url, code).json()["success"] is True
        for serial, stream in streams.items():
            buckets_arrive(proxy.url, serial, stream, timeout=8)

        # Live pushes across workers again.
        late_codes, late_streams = hold(proxy.url, 6)
        for serial in late_codes:
            assert claim(proxy.url, late_codes[serial]).json()["success"] is True
            assert b'"object_key":"user.homeassistant"' in late_streams[serial].read_chunk(
                timeout=1.0
            )
            late_streams[serial].close()
    finally:
        redis_server.stop()


def test_graceful_reload_loses_nothing(cluster):
    server, proxy = cluster(
        workers=2, NEST_SUSPEND_TIME_MAX=15, NEST_REGISTER_LIMIT_PER_IP="1000/minute"
    )
    codes, streams = hold(proxy.url, 10)
    server.signal(signal.SIGHUP)
    for code in codes.values():  # registered while the workers are being replaced
        assert claim(proxy.url, code).json()["success"] is True
    for serial, stream in streams.items():
        buckets_arrive(proxy.url, serial, stream, timeout=10)


# gunicorn logs "pid:<1234>:GET:/verify" per request, so a test sees which worker answered.
ACCESS_LOG = "--access-logfile - --access-logformat=pid:%(p)s:%(m)s:%(U)s"


def _answered_by(server, method: str, path: str) -> list[str]:
    return re.findall(rf"pid:<(\d+)>:{method}:{re.escape(path)}$", server.log(), re.MULTILINE)


@pytest.fixture
def smtp_server():
    from tests.ruuvi.helpers import start_smtp

    controller, mailbox = start_smtp()
    yield controller, mailbox
    controller.stop()


def test_ruuvi_limits_and_codes_across_workers(cluster, smtp_server):
    from tests.ruuvi.helpers import code_of

    controller, mailbox = smtp_server
    server, proxy = cluster(
        workers=4,
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=controller.port,
        RUUVI_REGISTER_LIMIT_PER_EMAIL="3/hour",
        RUUVI_REGISTER_LIMIT_PER_IP="6/hour",
        GUNICORN_CMD_ARGS=ACCESS_LOG,
    )
    throttled = (
        b'{"result":"error","error":"Too many requests","code":"ER_THROTTLED","sub_code":null}'
    )
    # Per e-mail, whatever worker answers and whatever the letter case.
    for address in ("Limit@Example.com", "limit@example.com", "LIMIT@example.com"):
        assert _post_from("127.0.0.1", proxy.port, "/register", {"email": address})[0] == 200
    for _ in range(4):
        assert _post_from("127.0.0.1", proxy.port, "/register", {"email": "limit@EXAMPLE.com"}) == (
            429,
            throttled,
        )
    # Per real client IP (as nginx sees it): 127.0.0.1 has 3 counted registrations left to 6.
    for n in range(3):
        assert (
            _post_from("127.0.0.1", proxy.port, "/register", {"email": f"ip{n}@example.com"})[0]
            == 200
        )
    assert _post_from("127.0.0.1", proxy.port, "/register", {"email": "ip9@example.com"})[0] == 429
    forged = {"X-Forwarded-For": "198.51.100.7"}
    assert (
        _post_from("127.0.0.1", proxy.port, "/register", {"email": "ip8@example.com"}, forged)[0]
        == 429
    )
    assert _post_from("127.0.0.2", proxy.port, "/register", {"email": "ip8@example.com"})[0] == 200

    # A code registered on one worker verifies on another. nginx reuses one keep-alive upstream
    # connection for sequential requests, so the verify goes to gunicorn on a fresh connection.
    crossed = False
    for n in range(12):
        address = f"cross{n}@example.com"
        source = f"127.0.1.{n + 1}"
        assert _post_from(source, proxy.port, "/register", {"email": address})[0] == 200
        code = code_of(mailbox.wait_for(address)[0])
        status, body = _request_from(source, server.port, "GET", f"/verify?token={code}")
        assert status == 200 and json.loads(body)["data"]["newUser"] is True
        time.sleep(0.2)  # the access log line is written after the answer
        registered, verified = (
            _answered_by(server, "POST", "/register"),
            _answered_by(server, "GET", "/verify"),
        )
        if registered[-1] != verified[-1]:
            crossed = True
            break
    assert crossed, "every verify landed on the worker that registered"


def test_cli_link_button_press_is_honoured_by_every_worker(cluster):
    # Many apps per press here (the per-press cap has its own burst test).
    server, proxy = cluster(
        workers=4, GUNICORN_CMD_ARGS=ACCESS_LOG, HUE_LINK_MAX_REGISTRATIONS=10000
    )
    refused = _post_from("127.0.0.1", proxy.port, "/api", {"devicetype": "before#press"})
    assert b'"type":101' in refused[1]
    server.flask("hue", "press-link-button")
    deadline = time.monotonic() + 20
    workers: set[str] = set()
    while len(workers) < 4 and time.monotonic() < deadline:
        seen = len(_answered_by(server, "POST", "/api"))
        with ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(
                    lambda n: requests.post(
                        server.url + "/api", json={"devicetype": f"w#{n}"}, timeout=5
                    ).json(),
                    range(16),
                )
            )
        assert all("success" in a[0] for a in answers), answers
        time.sleep(0.2)
        workers |= set(_answered_by(server, "POST", "/api")[seen:])
    assert len(workers) == 4, workers
