"""``GET /verify``: missing, unknown, used, expired and concurrently redeemed codes."""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.live import LiveServer
from tests.ruuvi.helpers import (
    BODY_403,
    BODY_MISSING_TOKEN,
    RuuviClient,
    body_lines,
    code_of,
    unique_email,
)
from tests.services import fresh_redis_url, migrated_postgres_database


@pytest.mark.parametrize("query", ["", "?token=", "?other=ABCD", "?token"])
def test_a_missing_token_gets_the_400_body(ruuvi, query):
    response = ruuvi.request("GET", "/verify" + query)

    assert response.status_code == 400
    assert response.content == BODY_MISSING_TOKEN


@pytest.mark.parametrize("token", ["ZZZZ", "zz", "ABCDE", "AB%20D", "%C3%9F%C3%9F", "%00%00%00%00"])
def test_unknown_or_malformed_codes_get_the_403_body(ruuvi, token):
    response = ruuvi.request("GET", "/verify?token=" + token)

    assert response.status_code == 403
    assert response.content == BODY_403


def test_an_expired_code_gets_the_403_body(start_server, smtp):
    controller, mailbox = smtp
    server = start_server(
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=controller.port,
        RUUVI_CODE_TTL_SECONDS=2,
    )
    client = RuuviClient(server.url, mailbox)
    fresh, stale = unique_email("fresh"), unique_email("stale")
    assert client.register(fresh).status_code == 200
    assert client.register(stale).status_code == 200
    issued_by = math.floor(time.time())
    fresh_code, stale_code = client.code_for(fresh), client.code_for(stale)

    assert client.verify(fresh_code).status_code == 200
    assert "It is valid for 1 minutes and can be used once." in " ".join(
        body_lines(mailbox.to(stale)[0])
    )
    # Expired when now >= issue second + TTL; the issue second is at most issued_by.
    time.sleep(max(0.0, issued_by + 2 - time.time()) + 0.05)
    expired = client.verify(stale_code)
    client.close()

    assert expired.status_code == 403
    assert expired.content == BODY_403


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def pair(request, tmp_path_factory, smtp):
    """gunicorn with two gevent workers on one database: a SQLite file or PostgreSQL."""
    controller, _ = smtp
    env = {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "TRUSTED_PROXY_HOPS": 1,
    }
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url, drop = migrated_postgres_database()
            stack.callback(drop)
            env["DATABASE_URL"] = url
        # Two workers need Redis (start-up refuses them without it).
        env["REDIS_URL"] = fresh_redis_url()
        server = LiveServer(tmp_path_factory.mktemp("pair"), workers=2, **env)
        stack.callback(server.stop_in_background)
        yield server.start()


def test_concurrent_verifies_of_one_code_have_one_winner(pair, mailbox):
    address = unique_email("race")
    with RuuviClient(pair.url, mailbox) as client:
        assert client.register(address).status_code == 200
        code = client.code_for(address)

    def attempt(_):
        with RuuviClient(pair.url) as racer:
            return racer.verify(code)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(attempt, range(12)))

    assert sorted(a.status_code for a in answers) == [200] + [403] * 11
    assert all(a.content == BODY_403 for a in answers if a.status_code == 403)


def test_simultaneous_registers_of_one_address_leave_one_live_code(pair, mailbox):
    address = unique_email("twice")

    def register(_):
        with RuuviClient(pair.url) as client:
            return client.register(address).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(register, range(8))) == [200] * 8
    codes = [code_of(message) for message in mailbox.wait_for(address, 8)]
    with RuuviClient(pair.url) as client:
        answers = [client.verify(code) for code in codes]
    # Whichever registration committed last, exactly one of the eight codes is live.
    assert sorted(a.status_code for a in answers) == [200] + [403] * 7
    assert [a.json()["data"]["newUser"] for a in answers if a.status_code == 200] == [True]


def test_two_workers_send_each_message_exactly_once(pair, mailbox):
    addresses = [unique_email("pair") for _ in range(16)]

    def register(address):
        with RuuviClient(pair.url) as client:
            return client.register(address).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(register, addresses)) == [200] * 16
    for address in addresses:
        mailbox.wait_for(address)
    # Both workers poll the outbox; a second send would arrive within a poll period.
    time.sleep(1.0)

    assert all(len(mailbox.to(address)) == 1 for address in addresses)
