"""Faults on a live server: the database locked or gone, a worker killed, SMTP refusing, Redis gone.

Each fault is brought about for real on this machine (another SQLite connection holding the
write lock, PostgreSQL backends terminated and connections refused, SIGKILL to a gunicorn
worker, an SMTP server answering 451 or stopped, a private redis-server killed), and each test
checks what the spec promises: the protocol's own error envelope or success after waiting,
and recovery without a restart.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time

import psycopg
import pytest
import requests

from tests.fuzz.helpers import Answer, check_answer
from tests.live import worker_pids
from tests.nest.factories import auth, new_serial
from tests.nginx import RedisServer
from tests.rawhttp import subscribe
from tests.ruuvi.helpers import Mailbox, RuuviClient, code_of, start_smtp, unique_email
from tests.services import PG_ADMIN

pytestmark = pytest.mark.live


def call(
    server, method: str, path: str, down: bool = False, limits_down: bool = False, **kwargs
) -> requests.Response:
    """One request on a fresh connection; the answer must pass the fuzz oracle (``down``: the
    database is gone, so the spec's 500 envelope is the right answer; ``limits_down``: Redis
    is gone, so guesses are refused with 503)."""
    response = requests.request(method, server.url + path, timeout=15, **kwargs)
    answer = Answer(response.status_code, response.headers, response.content)
    check_answer(method, path, answer, database_down=down, limits_down=limits_down)
    return response


def key_for(server, serial: str) -> str:
    """The entry key the device shows."""
    return call(server, "GET", "/nest/passphrase", headers=auth(serial)).json()["value"]


def claim(server, code: str, user: str = "homeassistant") -> requests.Response:
    """``POST /api/register``."""
    return call(server, "POST", "/api/register", json={"code": code, "userId": user})


def writes_of_every_protocol(server, tag: str) -> list[requests.Response]:
    """One database write per protocol: a new entry key, a claim, a Hue user, a Ruuvi code."""
    serial = new_serial()
    return [
        call(server, "GET", "/nest/passphrase", headers=auth(serial)),
        claim(server, key_for(server, new_serial())),
        call(server, "POST", "/api", json={"devicetype": f"fault#{tag}"}),
        call(
            server, "POST", "/register", json={"email": f"{tag}.{time.monotonic_ns()}@example.com"}
        ),
    ]


# --- the database --------------------------------------------------------------------------


def test_sqlite_locked_for_a_moment_waits_then_succeeds(start_server):
    server = start_server()
    server.flask("hue", "press-link-button")
    path = server.env["DATABASE_URL"].removeprefix("sqlite:///")
    locked = threading.Event()

    def hold_lock():
        locker = sqlite3.connect(path, isolation_level=None, timeout=5)
        locker.execute("BEGIN IMMEDIATE")  # the write lock, as another process would hold it
        locked.set()
        time.sleep(2)
        locker.execute("ROLLBACK")
        locker.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(5)
    started = time.monotonic()
    answers = writes_of_every_protocol(server, "locked")
    waited = time.monotonic() - started
    holder.join()
    # Every write queued behind the lock (busy timeout 10 s) and then succeeded.
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert answers[1].json()["success"] is True
    assert "success" in answers[2].json()[0]
    assert 1.0 < waited < 9, waited
    # Nothing to recover from: the next requests are quick.
    started = time.monotonic()
    assert [a.status_code for a in writes_of_every_protocol(server, "after")] == [200] * 4
    assert time.monotonic() - started < 1.5


@pytest.fixture
def pg_server(migrated_postgres_url, start_server):
    """A live server on a fresh, migrated PostgreSQL database; yields (server, database name)."""
    database = migrated_postgres_url.rsplit("/", 1)[1]
    server = start_server(DATABASE_URL=migrated_postgres_url)
    yield server, database
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')


def _terminate_backends(admin, database: str) -> int:
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    return len(rows)


@pytest.mark.postgres
def test_postgresql_restarted_and_gone_then_back(pg_server):
    server, database = pg_server
    server.flask("hue", "press-link-button")
    assert [a.status_code for a in writes_of_every_protocol(server, "warm")] == [200] * 4
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        # A restart as the server sees it: every pooled connection is dead.
        assert _terminate_backends(admin, database) > 0
        # pool_pre_ping notices and reconnects: no request fails.
        assert [a.status_code for a in writes_of_every_protocol(server, "restart")] == [200] * 4

        # Gone: no new connection is accepted.
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        _terminate_backends(admin, database)
        serial = new_serial()
        body = {"code": "ABCDEFG", "userId": "u"}
        down = {
            "nest device": call(server, "GET", "/nest/passphrase", True, headers=auth(serial)),
            "nest control": call(server, "POST", "/api/register", True, json=body),
            "hue": call(server, "POST", "/api", True, json={"devicetype": "fault#down"}),
            "ruuvi": call(server, "GET", "/verify?token=ABCD", True),
            "health": call(server, "GET", "/healthz", True),
        }
        assert (down["nest device"].status_code, down["nest device"].json()) == (
            500,
            {"error": "Internal error"},
        )
        assert (down["nest control"].status_code, down["nest control"].json()) == (
            500,
            {"success": False, "message": "Internal error"},
        )
        assert (down["hue"].status_code, down["hue"].json()) == (
            200,
            [{"error": {"type": 901, "address": "/", "description": "internal error, 500"}}],
        )
        assert (down["ruuvi"].status_code, down["ruuvi"].json()["code"]) == (500, "ER_INTERNAL")
        assert (down["health"].status_code, down["health"].json()) == (
            503,
            {"status": "error", "database": "down", "migrations": "unknown", "redis": "not used"},
        )

        # Back: the same workers serve again, no restart.
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    assert call(server, "GET", "/healthz").status_code == 200
    assert [a.status_code for a in writes_of_every_protocol(server, "back")] == [200] * 4
    assert server.process.poll() is None


# --- a worker killed while holding subscribes ---------------------------------------------


def test_worker_killed_with_sigkill_while_holding_subscribes(start_server):
    server = start_server(NEST_SUSPEND_TIME_MAX=60)
    serials = [new_serial() for _ in range(6)]
    codes = {serial: key_for(server, serial) for serial in serials}
    streams = {serial: subscribe(server.url, serial) for serial in serials}
    for stream in streams.values():
        assert stream.read_head(timeout=5)[0] == 200
    (worker,) = worker_pids(server.process.pid)
    os.kill(worker, signal.SIGKILL)

    # The held connections die with the worker.
    for stream in streams.values():
        with pytest.raises((ConnectionError, OSError)):
            while stream.read_chunk(timeout=5) is not None:
                pass
        stream.close()
    # Claims made after the kill are served by the worker the master spawns instead.
    for serial, code in codes.items():
        answer = claim(server, code)
        assert answer.json()["serial"] == serial, answer.content
    replacement = worker_pids(server.process.pid)
    assert replacement and worker not in replacement
    # Devices re-subscribe (as the firmware does) and get their owner buckets: nothing lost.
    for serial in serials:
        stream = subscribe(server.url, serial)
        assert stream.read_head(timeout=5)[0] == 200
        chunk = json.loads(stream.read_chunk(timeout=5))
        assert [o["object_key"] for o in chunk["objects"]] == [
            "user.homeassistant",
            "structure.homeassistant",
        ]
        assert serial in chunk["objects"][1]["value"]["devices"]
        stream.close()


# --- SMTP refusing, then recovering --------------------------------------------------------


class RefusingMailbox(Mailbox):
    """Answers DATA with 451 (try again later) the first ``refusals`` times."""

    def __init__(self, refusals: int):
        super().__init__()
        self.refusals = refusals
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """Refuse, then accept."""
        if self.refused < self.refusals:
            self.refused += 1
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


def test_smtp_refusing_then_recovering_delivers_once(start_server):
    from aiosmtpd.controller import Controller

    from tests.live import free_port

    port = free_port()
    mailbox = RefusingMailbox(refusals=2)
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    server = start_server(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    ruuvi = RuuviClient(server.url, mailbox)
    try:
        # 451 twice: the request does not notice; the outbox retries after 1 s and 2 s.
        refused = unique_email("refused")
        assert ruuvi.register(refused).status_code == 200
        (message,) = mailbox.wait_for(refused, timeout=15)
        assert mailbox.refused == 2

        # Down altogether (connection refused), then back on the same port.
        smtp.stop()
        down = unique_email("down")
        assert ruuvi.register(down).status_code == 200
        time.sleep(1.5)  # at least two failed attempts
        smtp, mailbox_again = start_smtp(port=port)
        (late,) = mailbox_again.wait_for(down, timeout=15)

        # Delivered once each (a short grace for any duplicate), and the codes work.
        time.sleep(1.0)
        assert len(mailbox.to(refused)) == 1 and len(mailbox_again.to(down)) == 1
        assert ruuvi.verify(code_of(message)).status_code == 200
        assert ruuvi.verify(code_of(late)).status_code == 200
    finally:
        ruuvi.close()
        smtp.stop()


# --- Redis gone ----------------------------------------------------------------------------


def test_redis_gone_guesses_fail_closed_and_everything_else_answers(start_server, tmp_path):
    redis_server = RedisServer().start()
    try:
        server = start_server(REDIS_URL=redis_server.url, NEST_SUSPEND_TIME_MAX=30)
        server.flask("hue", "press-link-button")
        # Two devices of one user, claimed while Redis is up.
        first, second = new_serial(), new_serial()
        for serial in (first, second):
            assert claim(server, key_for(server, serial)).json()["success"] is True
        drain = subscribe(server.url, second)  # the claim's buckets, so the next hold waits
        drain.read_head(timeout=2)
        drain.read_chunk(timeout=2)
        drain.close()
        code = key_for(server, new_serial())
        redis_server.stop()

        def timed(method, path, **kwargs):
            started = time.monotonic()
            response = call(server, method, path, limits_down=True, **kwargs)
            assert time.monotonic() - started < 1.2, (method, path)
            return response

        # Guesses fail closed: nothing is evaluated, the answer says so in its envelope.
        refused = timed("POST", "/api/register", json={"code": code, "userId": "u"})
        assert (refused.status_code, refused.content) == (
            503,
            b'{"success":false,"message":"Service unavailable"}',
        )
        assert int(refused.headers["Retry-After"]) >= 1
        verify = timed("GET", "/verify?token=ZZZZ")
        assert verify.status_code == 503 and verify.json()["code"] == "ER_INTERNAL"

        # A held subscribe still gets its push: the hub falls back to this worker's waiters.
        stream = subscribe(server.url, second)
        assert stream.read_head(timeout=2)[0] == 200
        deleted = timed("DELETE", f"/api/registered-devices/{first}?userId=homeassistant")
        assert deleted.json()["success"] is True
        chunk = stream.read_chunk(timeout=2)
        assert b'"object_key":"structure.homeassistant"' in chunk
        stream.close()

        # Every other protocol answers, within the Redis socket timeout.
        assert timed("GET", "/api/devices").status_code == 200
        assert timed("GET", "/nest/passphrase", headers=auth(new_serial())).status_code == 200
        assert timed("POST", "/api", json={"devicetype": "redis#gone"}).status_code == 200
        assert timed("GET", "/api/config").status_code == 200
        # /register only guards mail cost: it fails open to per-process counting.
        assert timed("POST", "/register", json={"email": unique_email("redis")}).status_code == 200
        health = timed("GET", "/healthz")
        assert (health.status_code, health.json()["status"], health.json()["redis"]) == (
            200,
            "degraded",
            "down",
        )

        # Redis back: nothing to restart; claims are counted and evaluated again.
        redis_server.start()
        time.sleep(1.5)  # the refuse-at-once window after a failure passes
        assert timed("POST", "/api/register", json={"code": code, "userId": "u"}).json()["success"]
        assert timed("GET", "/verify?token=ZZZZ").status_code == 403
        assert timed("GET", "/healthz").json()["status"] == "ok"
        assert timed("GET", "/api/devices").status_code == 200
        assert timed("POST", "/register", json={"email": unique_email("back")}).status_code == 200
    finally:
        redis_server.stop()
