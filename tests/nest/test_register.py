"""POST /api/register: every row of the spec's table, byte for byte."""

from __future__ import annotations

import json

import pytest

from app.extensions import db
from app.nest.models import NestEntryKey
from tests.nest.factories import auth, claim, issue_key, new_serial

INVALID_KEY = b'{"success":false,"message":"Invalid, expired, or already claimed entry key"}'
MISSING = b'{"success":false,"message":"Missing required fields: code, userId"}'
BAD_FORMAT = (
    b'{"success":false,"message":"Invalid entry code format. '
    b'Must be exactly 7 alphanumeric characters."}'
)
BAD_USER = b'{"success":false,"message":"Invalid userId"}'
BAD_JSON = b'{"success":false,"message":"Invalid JSON"}'


def _success(serial: str, user: str) -> bytes:
    return (
        f'{{"success":true,"serial":"{serial}","message":"Device {serial} registered to {user}"}}'
    ).encode()


def test_claim_success_body_is_the_seed_shape(client):
    serial = new_serial()
    key = issue_key(client, serial)
    response = claim(client, key["value"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.data == _success(serial, "homeassistant")


@pytest.mark.parametrize(
    "transform", [str.lower, lambda c: f"  {c}  ", lambda c: c.lower().strip()]
)
def test_code_is_trimmed_and_case_insensitive(client, transform):
    serial = new_serial()
    key = issue_key(client, serial)
    response = claim(client, transform(key["value"]), user="alice")
    assert response.data == _success(serial, "alice")


def test_claimed_key_cannot_be_claimed_again(client):
    key = issue_key(client, new_serial())
    assert claim(client, key["value"]).get_json()["success"] is True
    again = claim(client, key["value"], user="mallory")
    assert (again.status_code, again.data) == (200, INVALID_KEY)


def test_unknown_code(client):
    response = claim(client, "ZZZZZZZ")
    assert (response.status_code, response.data) == (200, INVALID_KEY)


def test_expired_key(app, client):
    serial = new_serial()
    key = issue_key(client, serial)
    with app.app_context():
        row = db.session.query(NestEntryKey).filter_by(serial=serial).one()
        row.expires_at = row.created_at  # expired when now >= expires
        db.session.commit()
    response = claim(client, key["value"])
    assert (response.status_code, response.data) == (200, INVALID_KEY)


def test_dashes_are_not_removed(client):
    key = issue_key(client, new_serial())
    code = key["value"]
    response = claim(client, f"{code[:3]}-{code[3:]}")
    assert (response.status_code, response.data) == (400, BAD_FORMAT)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "ABCDEFG"},
        {"userId": "homeassistant"},
        {"code": None, "userId": "x"},
        {"code": "", "userId": "x"},
        {"code": "ABCDEFG", "userId": ""},
        {"code": "ABCDEFG", "userId": None},
    ],
)
def test_missing_fields(client, body):
    response = client.post("/api/register", json=body)
    assert (response.status_code, response.data) == (400, MISSING)


@pytest.mark.parametrize(
    "code", ["ABC", "ABCDEFGH", "ABC DEFG", "ÄBCDEFG", 1234567, True, ["ABCDEFG"], {"a": 1}, 0]
)
def test_bad_code_format(client, code):
    response = client.post("/api/register", json={"code": code, "userId": "u"})
    assert (response.status_code, response.data) == (400, BAD_FORMAT)


@pytest.mark.parametrize("user", ["x" * 65, "tab\there", "new\nline", "\x00", 5, ["u"], True])
def test_bad_user_id(client, user):
    response = client.post("/api/register", json={"code": "ABCDEFG", "userId": user})
    assert (response.status_code, response.data) == (400, BAD_USER)


def test_user_id_of_64_printable_chars_is_accepted(client):
    serial = new_serial()
    key = issue_key(client, serial)
    user = "ü" * 64
    response = claim(client, key["value"], user=user)
    assert json.loads(response.data) == {
        "success": True,
        "serial": serial,
        "message": f"Device {serial} registered to {user}",
    }


@pytest.mark.parametrize(
    "data", [b"", b"not json", b"[]", b'"code"', b"123", b"null", b"\xff\xfe", b'{"code":NaN}']
)
def test_invalid_json(client, data):
    response = client.post("/api/register", data=data, content_type="text/plain")
    assert (response.status_code, response.data) == (400, BAD_JSON)


def test_body_parsed_whatever_the_content_type(client):
    serial = new_serial()
    key = issue_key(client, serial)
    payload = json.dumps({"code": key["value"], "userId": "bob"})
    response = client.post(
        "/api/register", data=payload, content_type="application/x-www-form-urlencoded"
    )
    assert response.data == _success(serial, "bob")


def test_wrong_method(client):
    for method in ("get", "put", "delete", "patch"):
        response = getattr(client, method)("/api/register")
        assert response.status_code == 405
        assert response.data == b'{"success":false,"message":"Method not allowed"}'


def test_oversized_body(client):
    response = client.post("/api/register", data=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.data == b'{"success":false,"message":"Request body too large"}'


def test_new_owner_takes_over_with_the_on_screen_code(client):
    serial = new_serial()
    assert claim(client, issue_key(client, serial)["value"], user="alice").status_code == 200
    response = claim(client, issue_key(client, serial)["value"], user="bob")
    assert response.data == _success(serial, "bob")
    owned = client.get("/api/registered-devices?userId=alice").get_json()
    assert owned == []
    assert [d["serial"] for d in client.get("/api/registered-devices?userId=bob").get_json()] == [
        serial
    ]


class TestControlToken:
    @pytest.fixture
    def app(self, make_app):
        return make_app(NEST_CONTROL_TOKEN="s3cret-token", NEST_REGISTER_LIMIT_PER_IP="2/minute")

    UNAUTHORIZED = b'{"success":false,"message":"Unauthorized"}'

    @pytest.mark.parametrize(
        "header",
        [None, "Bearer wrong", "Basic s3cret-token", "s3cret-token", "Bearer s3cret-tokenX"],
    )
    def test_missing_or_wrong_token(self, client, header):
        headers = {"Authorization": header} if header else {}
        for path, method in [
            ("/api/register", "post"),
            ("/api/devices", "get"),
            ("/api/registered-devices", "get"),
            ("/api/registered-devices/ABCDEFGHIJ", "delete"),
        ]:
            response = getattr(client, method)(path, headers=headers, json={})
            assert response.status_code == 401
            assert response.data == self.UNAUTHORIZED
            assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_scheme_is_case_insensitive(self, client):
        response = client.get("/api/devices", headers={"Authorization": "bearer s3cret-token"})
        assert response.status_code == 200

    def test_unauthorized_attempts_do_not_count_against_limits(self, client):
        for _ in range(5):
            assert client.post("/api/register", json={}).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert client.post("/api/register", json={}, headers=good).status_code == 400

    def test_wrong_tokens_are_limited_per_ip_before_the_compare(self, make_app):
        client = make_app(
            NEST_CONTROL_TOKEN="s3cret-token", NEST_CONTROL_AUTH_LIMIT_PER_IP="3/minute"
        ).test_client()
        wrong = {"Authorization": "Bearer guess"}
        good = {"Authorization": "Bearer s3cret-token"}
        for _ in range(3):
            assert client.get("/api/devices", headers=wrong).status_code == 401
        # Spent: even the right token waits (it is only known to be right once compared).
        refused = client.get("/api/devices", headers=good)
        assert refused.status_code == 429
        assert refused.data == b'{"success":false,"message":"Too many registration attempts"}'
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        elsewhere = client.get(
            "/api/devices", headers=good, environ_base={"REMOTE_ADDR": "10.9.9.9"}
        )
        assert elsewhere.status_code == 200


class TestLimits:
    @pytest.fixture
    def app(self, make_app):
        return make_app(NEST_REGISTER_LIMIT_PER_IP="3/minute", NEST_REGISTER_LIMIT_TOTAL="5/minute")

    LIMITED = b'{"success":false,"message":"Too many registration attempts"}'

    def test_failures_count_per_ip_and_429_beats_everything(self, client):
        for _ in range(3):
            assert (
                client.post("/api/register", json={"code": "ZZZZZZZ", "userId": "u"}).status_code
                == 200
            )
        # Even a valid claim or an invalid body gets the 429 once the budget is spent.
        serial = new_serial()
        key = issue_key(client, serial)
        for body in ({"code": key["value"], "userId": "u"}, "garbage"):
            response = client.post("/api/register", data=json.dumps(body))
            assert response.status_code == 429
            assert response.data == self.LIMITED
            assert 1 <= int(response.headers["Retry-After"]) <= 60

    def test_every_attempt_counts_successes_included(self, client):
        # Counted before evaluation, so a success spends the budget too (a household claims
        # a few keys; an attacker's guesses are what the budget is for).
        for _ in range(3):
            key = issue_key(client, new_serial())
            assert claim(client, key["value"]).get_json()["success"] is True
        key = issue_key(client, new_serial())
        assert claim(client, key["value"]).data == self.LIMITED

    def test_per_ip_and_total_budgets(self, client):
        ip = lambda n: {"REMOTE_ADDR": f"10.0.0.{n}"}  # noqa: E731
        for n in (1, 1, 1):
            assert claim(client, "ZZZZZZZ", environ_base=ip(n)).status_code == 200
        assert claim(client, "ZZZZZZZ", environ_base=ip(1)).status_code == 429
        # Another address still has its own budget until the total (5) is spent.
        assert claim(client, "ZZZZZZZ", environ_base=ip(2)).status_code == 200
        assert claim(client, "ZZZZZZZ", environ_base=ip(3)).status_code == 200
        assert claim(client, "ZZZZZZZ", environ_base=ip(4)).status_code == 429

    def test_retry_after_only_on_429(self, client):
        response = claim(client, "ZZZZZZZ")
        assert "Retry-After" not in response.headers


def test_passphrase_rejects_missing_serial(client):
    response = client.get("/nest/passphrase")
    assert (response.status_code, response.data) == (400, b'{"error":"Device serial required"}')


def test_claim_wakes_nothing_when_no_key(client):
    response = client.post("/api/register", json={"code": "2345678", "userId": "homeassistant"})
    assert response.data == INVALID_KEY


def test_serial_from_every_identity_source(client):
    serial = new_serial()
    for headers, query in [
        (auth(serial), ""),
        ({"X-nl-client-id": f"d.{serial}.abc"}, ""),
        ({"X-nl-device-id": serial}, ""),
        ({"X-NL-Device-Serial": serial.lower()}, ""),
        ({}, f"?serial={serial}"),
    ]:
        response = client.get(f"/nest/passphrase/status{query}", headers=headers)
        assert response.status_code == 200, headers
