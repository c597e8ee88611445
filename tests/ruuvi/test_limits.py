"""Rate limits on ``/register`` and ``/verify``: what counts, what wins, Retry-After."""

from __future__ import annotations

import pytest

from app import create_app
from app.extensions import db, limiter
from tests.ruuvi.helpers import (
    BODY_403,
    BODY_429,
    BODY_INVALID_JSON,
    RuuviClient,
    unique_email,
)


def assert_throttled(response, max_wait: int = 3600) -> None:
    """A 429 in the Ruuvi envelope with a whole-second Retry-After."""
    assert response.status_code == 429
    # requests names the body .content, Flask's test client .data
    body = response.content if hasattr(response, "content") else response.data
    assert body == BODY_429
    assert 1 <= int(response.headers["Retry-After"]) <= max_wait
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_eleventh_register_of_one_address_in_an_hour_is_throttled(ruuvi):
    address = unique_email("Limit")
    spellings = [address, address.upper(), address.lower()]
    answers = [ruuvi.register(spellings[n % 3]) for n in range(10)]

    eleventh = ruuvi.register(address.swapcase())

    assert [a.status_code for a in answers] == [200] * 10
    assert all("Retry-After" not in a.headers for a in answers)
    assert_throttled(eleventh)
    assert ruuvi.register(unique_email()).status_code == 200  # other addresses go on
    other_ip = RuuviClient(ruuvi.url)
    assert_throttled(other_ip.register(address))  # the address is the key, not the IP
    other_ip.close()


def test_every_register_counts_per_ip_but_only_addresses_have_an_address_budget(ruuvi):
    # Counted before evaluation: invalid bodies spend the per-IP budget (30) too ...
    for _ in range(12):
        assert ruuvi.request("POST", "/register", data=b"[]").content == BODY_INVALID_JSON
    for _ in range(12):
        assert ruuvi.request("POST", "/register", json={"email": 5}).status_code == 400
    # ... but a body without an address shares no per-address bucket with anyone.
    assert ruuvi.register(unique_email()).status_code == 200
    for _ in range(5):
        assert ruuvi.register(unique_email()).status_code == 200
    assert_throttled(ruuvi.register(unique_email()))


def test_the_per_ip_register_limit_wins_over_a_bad_body(ruuvi):
    for _ in range(30):
        assert ruuvi.register(unique_email("ip")).status_code == 200

    assert_throttled(ruuvi.register(unique_email("ip")))
    assert_throttled(ruuvi.request("POST", "/register", data=b"not json"))
    with RuuviClient(ruuvi.url) as elsewhere:
        assert elsewhere.register(unique_email("ip")).status_code == 200


def test_verifies_beyond_the_ip_limit_throttle_even_a_correct_code(ruuvi):
    with RuuviClient(ruuvi.url, ruuvi.mailbox) as registrar:
        addresses = [unique_email("v") for _ in range(3)]
        for address in addresses:
            assert registrar.register(address).status_code == 200
    codes = [ruuvi.code_for(address) for address in addresses]
    # Every attempt is counted before it is evaluated, successes included.
    assert ruuvi.verify(codes[0]).status_code == 200
    failures = [ruuvi.verify(codes[0]) for _ in range(8)]  # used: 403
    failures.append(ruuvi.request("GET", "/verify"))  # missing: 400
    throttled = ruuvi.verify(codes[1])

    assert [f.status_code for f in failures] == [403] * 8 + [400]
    assert all(f.content == BODY_403 for f in failures[:8])
    assert_throttled(throttled)
    with RuuviClient(ruuvi.url) as elsewhere:
        assert elsewhere.verify(codes[1]).status_code == 200


# --- total limits, in process (small limits so the suite stays fast) ----------------------


@pytest.fixture
def limited_app(tmp_path):
    """An app with small total limits, on a fresh SQLite file."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'limits.db'}",
            "SECRET_KEY": "limits",
            "RUUVI_REGISTER_LIMIT_TOTAL": "3/hour",
            "RUUVI_VERIFY_LIMIT_TOTAL": "2 per 10 minutes",
        }
    )
    with app.app_context():
        db.create_all()
    limiter.reset()
    yield app
    limiter.reset()
    with app.app_context():
        db.engine.dispose()


def _from(ip: str) -> dict:
    """Test-client arguments for a request from ``ip``."""
    return {"environ_base": {"REMOTE_ADDR": ip}}


def test_the_total_register_limit_spans_addresses_and_ips(limited_app):
    client = limited_app.test_client()
    for n in range(3):
        response = client.post(
            "/register", json={"email": f"t{n}@example.com"}, **_from(f"10.0.0.{n}")
        )
        assert response.status_code == 200

    response = client.post("/register", json={"email": "t9@example.com"}, **_from("10.0.0.9"))

    assert_throttled(response)


def test_the_total_verify_limit_counts_failures_from_every_ip(limited_app):
    client = limited_app.test_client()
    assert client.get("/verify?token=AAAA", **_from("10.1.0.1")).status_code == 403
    assert client.get("/verify", **_from("10.1.0.2")).status_code == 400

    response = client.get("/verify?token=AAAA", **_from("10.1.0.3"))

    assert_throttled(response, max_wait=600)
