"""Guessing limits under simultaneous bursts, on one worker and on four, with Redis failing.

Every burst here is released at one instant (:mod:`tests.burst`): a limit that tested first
and counted afterwards let whole bursts through (400 of 400 wrong claims evaluated against a
20/minute limit). Counted first and atomically, at most the limit's amount is evaluated.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from tests.burst import Answer, burst, request_bytes, same
from tests.nginx import RedisServer

pytestmark = pytest.mark.live

WRONG_CLAIM = {"code": "ZZZZZZZ", "userId": "attacker"}
INVALID_KEY = b'{"success":false,"message":"Invalid, expired, or already claimed entry key"}'
CLAIM_LIMITED = b'{"success":false,"message":"Too many registration attempts"}'
CLAIM_UNAVAILABLE = b'{"success":false,"message":"Service unavailable"}'
VERIFY_FORBIDDEN = (
    b'{"result":"error","error":"Code used or expired","code":"ER_FORBIDDEN",'
    b'"sub_code":"ER_TOKEN_EXPIRED"}'
)
RUUVI_LIMITED = (
    b'{"result":"error","error":"Too many requests","code":"ER_THROTTLED","sub_code":null}'
)
RUUVI_UNAVAILABLE = (
    b'{"result":"error","error":"Service unavailable","code":"ER_INTERNAL","sub_code":null}'
)


def wrong_claims(url: str, count: int) -> list[bytes]:
    return same(url, count, "POST", "/api/register", body=WRONG_CLAIM)


def wrong_verifies(url: str, count: int) -> list[bytes]:
    return same(url, count, "GET", "/verify?token=ZZZZ")


def tally(answers: list[Answer], evaluated: bytes, refused: set[bytes]) -> int:
    """How many answers were evaluated; every other answer must be one of ``refused``."""
    bodies = Counter(a.body for a in answers)
    assert set(bodies) <= {evaluated} | refused, bodies
    for answer in answers:
        if answer.status in (429, 503):
            assert int(answer.headers["retry-after"]) >= 1
    return bodies[evaluated]


# --- one worker, SQLite, in-memory limits (the default `make run`) ---------------------------


def test_default_limits_hold_against_simultaneous_bursts(start_server):
    server = start_server()

    claims = burst(server.url, wrong_claims(server.url, 400))
    assert tally(claims, INVALID_KEY, {CLAIM_LIMITED}) == 20
    assert all(a.status == 429 for a in claims if a.body == CLAIM_LIMITED)

    verifies = burst(server.url, wrong_verifies(server.url, 300))
    assert tally(verifies, VERIFY_FORBIDDEN, {RUUVI_LIMITED}) == 10

    registers = burst(
        server.url, same(server.url, 200, "POST", "/register", body={"email": "victim@example.com"})
    )
    codes = [a for a in registers if a.status == 200]
    assert len(codes) == 10
    assert {a.body for a in registers if a.status != 200} == {RUUVI_LIMITED}


def two_bursts_of_a_thousand_claims(url: str) -> int:
    """Claims evaluated of two simultaneous bursts of 1,000 wrong claims, 3 s apart."""
    first = burst(url, wrong_claims(url, 1000))
    time.sleep(3)
    second = burst(url, wrong_claims(url, 1000))
    return tally(first + second, INVALID_KEY, {CLAIM_LIMITED})


def test_two_bursts_of_a_thousand_one_worker(start_server):
    assert two_bursts_of_a_thousand_claims(start_server().url) == 20


def test_the_published_verify_bound_holds_across_many_ips(start_server):
    """SECURITY.md: at most 10 wrong codes per client IP and 100 in total per hour."""
    server = start_server()
    ips = [f"127.0.0.{n}" for n in range(2, 14)]  # 12 clients x 10 > the total of 100
    evaluated = {}
    for ip in ips:
        answers = burst(server.url, wrong_verifies(server.url, 60), source=ip)
        evaluated[ip] = tally(answers, VERIFY_FORBIDDEN, {RUUVI_LIMITED})
    assert all(count <= 10 for count in evaluated.values())
    assert sum(evaluated.values()) == 100


def test_ipv6_clients_are_one_identity_per_64(start_server):
    server = start_server(TRUSTED_PROXY_HOPS=1)

    def claims_from(addresses: list[str]) -> list[bytes]:
        return [
            request_bytes(
                server.url,
                "POST",
                "/api/register",
                body=WRONG_CLAIM,
                headers={"X-Forwarded-For": address},
            )
            for address in addresses
        ]

    # 100 different addresses of one /64: one budget of 20.
    one_net = [f"2001:db8:aa:bb::{n:x}" for n in range(1, 101)]
    assert tally(burst(server.url, claims_from(one_net)), INVALID_KEY, {CLAIM_LIMITED}) == 20
    # The next /64 is another client.
    other_net = [f"2001:db8:aa:bc:{n:x}::1" for n in range(1, 41)]
    assert tally(burst(server.url, claims_from(other_net)), INVALID_KEY, {CLAIM_LIMITED}) == 20
    # An IPv4-mapped IPv6 address is the IPv4 client.
    mapped = ["::ffff:198.51.100.7"] * 15 + ["198.51.100.7"] * 15
    assert tally(burst(server.url, claims_from(mapped)), INVALID_KEY, {CLAIM_LIMITED}) == 20


def test_hue_registrations_per_press_are_capped_under_a_burst(start_server):
    server = start_server(HUE_LINK_MAX_REGISTRATIONS=10)
    server.flask("hue", "press-link-button")
    answers = burst(server.url, same(server.url, 60, "POST", "/api", body={"devicetype": "b#x"}))
    results = Counter(next(iter(a.json()[0])) for a in answers)
    assert results == {"success": 10, "error": 50}


# --- four workers, PostgreSQL + Redis ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_limits_hold_across_four_workers(four_workers):
    server = four_workers()
    assert two_bursts_of_a_thousand_claims(server.url) == 20

    verifies = burst(server.url, wrong_verifies(server.url, 300))
    assert tally(verifies, VERIFY_FORBIDDEN, {RUUVI_LIMITED}) == 10

    registers = burst(
        server.url, same(server.url, 200, "POST", "/register", body={"email": "victim@example.com"})
    )
    assert sum(a.status == 200 for a in registers) == 10


@pytest.mark.postgres
@pytest.mark.redis
def test_guessing_fails_closed_while_redis_is_paused_or_gone(four_workers):
    redis = RedisServer().start()
    try:
        server = four_workers(redis=redis.url)
        before = burst(server.url, wrong_claims(server.url, 300))
        assert tally(before, INVALID_KEY, {CLAIM_LIMITED}) == 20

        # Paused: connections open, nothing answers. Nothing is evaluated, every answer is
        # the protocol's envelope, and the burst is over within the client timeouts.
        redis.pause()
        started = time.monotonic()
        paused = burst(server.url, wrong_claims(server.url, 300) + wrong_verifies(server.url, 300))
        took = time.monotonic() - started
        redis.resume()
        assert tally(paused[:300], INVALID_KEY, {CLAIM_UNAVAILABLE, CLAIM_LIMITED}) == 0
        assert tally(paused[300:], VERIFY_FORBIDDEN, {RUUVI_UNAVAILABLE, RUUVI_LIMITED}) == 0
        assert {a.status for a in paused} <= {429, 503}
        assert took < 15

        # Resumed: it forgot nothing, so the spent claim budget is still spent.
        time.sleep(1.5)
        after = burst(server.url, wrong_claims(server.url, 300))
        assert tally(after, INVALID_KEY, {CLAIM_LIMITED}) == 0
        # Commands sent while it was frozen run when it wakes: those attempts count (unseen
        # by their clients, who were refused), so at most the budget's rest is evaluated.
        verifies = burst(server.url, wrong_verifies(server.url, 100))
        assert tally(verifies, VERIFY_FORBIDDEN, {RUUVI_LIMITED}) <= 10

        # Gone: refused connections; still nothing evaluated, answered at once.
        redis.stop()
        started = time.monotonic()
        gone = burst(server.url, wrong_verifies(server.url, 300))
        assert tally(gone, VERIFY_FORBIDDEN, {RUUVI_UNAVAILABLE}) == 0
        assert time.monotonic() - started < 10
        # Protocol paths that guard no guess keep working.
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200

        # Back (empty: this test's Redis keeps nothing on disk): counting resumes at once.
        redis.start_again()
        time.sleep(1.5)
        back = burst(server.url, wrong_verifies(server.url, 100))
        assert tally(back, VERIFY_FORBIDDEN, {RUUVI_LIMITED}) == 10
    finally:
        redis.stop()
