"""Regression tests for what the fuzzing found: each answered 500 (or Hue's type 901) before.

Every case runs on SQLite and on PostgreSQL: several only failed on PostgreSQL, which refuses
NUL in text, values over 64 bits and strings longer than a column.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from tests.fuzz.helpers import check_answer, send
from tests.hue.conftest import press
from tests.nest.factories import auth, new_serial

SURROGATE = b'"\\ud800"'  # valid JSON syntax, but half a UTF-16 pair: no UTF-8 text
HUE_INVALID = b'[{"error":{"type":2,"address":"/","description":"body contains invalid json"}}]'


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def client(request, make_app):
    """A test client on SQLite or on PostgreSQL, the Hue link button pressed."""
    settings = {}
    if request.param == "postgres":
        settings["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    client = make_app(**settings).test_client()
    press(client)
    return client


def ask(client, method: str, path: str, body: bytes = b"", headers=None):
    """Send, check the answer with the fuzz oracle, return it."""
    answer = send(client, method, path, body, headers)
    check_answer(method, path, answer)
    return answer


@pytest.mark.parametrize(
    "path, body, expected",
    [
        ("/api/register", b'{"code":"ABCDEFG","userId":' + SURROGATE + b"}", None),
        (
            "/nest/transport/put",
            b'{"objects":[{"object_key":"a.b","value":{"x":' + SURROGATE + b"}}]}",
            None,
        ),
        (
            "/nest/transport",
            b'{"objects":[{"object_key":' + SURROGATE + b',"value":{"x":1}}]}',
            None,
        ),
        ("/api", b'{"devicetype":"x","username":' + SURROGATE + b"}", HUE_INVALID),
        ("/api", b"{" + SURROGATE + b':1,"devicetype":"x"}', HUE_INVALID),
        ("/register", b'{"email":' + SURROGATE + b"}", None),
    ],
)
def test_lone_surrogate_escapes_are_invalid_json(client, path, body, expected):
    answer = ask(client, "POST", path, body, auth(new_serial()))
    if expected is not None:
        assert answer.body == expected
    else:
        assert answer.status == 400 and b"Invalid JSON" in answer.body
    # A proper pair (an emoji) is fine.
    fine = ask(client, "POST", "/api", b'{"devicetype":"\\ud83d\\ude00"}')
    assert b'"success"' in fine.body


@pytest.mark.parametrize(
    "field, stored",
    [
        # Revision 0, timestamp 7: the device is newer, its value is stored as listed.
        ("object_revision", [{"object_revision": 0, "object_timestamp": 7}]),
        # Timestamp 0: the device claims nothing newer, nothing is stored; listed again at 0
        # it is unknown here, so it gets the placeholder (issue 14).
        ("object_timestamp", [{"object_revision": 0, "object_timestamp": 0}]),
    ],
)
def test_listed_integers_beyond_64_bits_count_as_zero(client, field, stored):
    serial = new_serial()
    key = f"shared.{serial}"
    listed = {"object_key": key, "object_revision": 3, "object_timestamp": 7, "value": {"t": 1}}
    listed[field] = 10**30
    body = json.dumps({"objects": [listed]}).encode()
    assert ask(client, "POST", "/nest/transport", body, auth(serial)).json() == {"objects": []}
    body = json.dumps({"objects": [{"object_key": key}]}).encode()
    served = ask(client, "POST", "/nest/transport", body, auth(serial)).json()["objects"]
    value = {"t": 1} if field == "object_revision" else {}
    assert served == [{**s, "object_key": key, "value": value} for s in stored]


def test_object_keys_with_nul_are_skipped(client):
    serial = new_serial()
    put = {"objects": [{"object_key": "shared.\x00", "value": {"a": 1}}]}
    answer = ask(client, "POST", "/nest/transport/put", json.dumps(put).encode(), auth(serial))
    assert answer.json() == {"objects": []}
    listed = {"objects": [{"object_key": "a\x00", "value": {"a": 1}}]}
    answer = ask(client, "POST", "/nest/transport", json.dumps(listed).encode(), auth(serial))
    assert answer.json() == {"objects": []}


def test_devicetype_with_nul_is_an_invalid_value(client):
    answer = ask(client, "POST", "/api", b'{"devicetype":"a\\u0000b"}')
    assert answer.body == (
        b'[{"error":{"type":7,"address":"/devicetype","description":'
        b'"invalid value, a\\u0000b, for parameter, devicetype"}}]'
    )


@pytest.mark.parametrize("user", ["a%00b", "x" * 65, "tab%09"])
def test_control_user_ids_no_claim_can_make_own_nothing(client, user):
    assert ask(client, "GET", f"/api/devices?userId={user}").json() == {"devices": [], "total": 0}
    assert ask(client, "GET", f"/api/registered-devices?userId={user}").json() == []
    answer = ask(client, "DELETE", f"/api/registered-devices/ABCDEFGHIJKL?userId={user}")
    assert answer.json() == {"success": False, "message": "Device ABCDEFGHIJKL not found"}


def test_serials_longer_than_64_characters_are_no_serial(client):
    long = "A" * 65
    for path in ("/nest/passphrase", "/nest/passphrase/status"):
        answer = ask(client, "GET", f"{path}?serial={long}")
        assert (answer.status, answer.json()) == (400, {"error": "Device serial required"})
    answer = ask(client, "POST", f"/nest/transport?serial={long}", b"{}")
    assert answer.status == 400
    # The next identity source still counts: a long Basic username falls back to ?serial=.
    serial = new_serial()
    answer = ask(client, "GET", f"/nest/passphrase?serial={serial}", headers=auth(long))
    assert answer.status == 200
    assert ask(client, "GET", "/nest/passphrase", headers=auth("B" * 64)).status == 200


def test_a_newline_in_a_hue_username_is_an_unauthorized_user(client):
    answer = ask(client, "PUT", "/api/%0A/config", b'{"linkbutton":true}')
    assert answer.json() == [
        {"error": {"type": 1, "address": "/config", "description": "unauthorized user"}}
    ]
    # Nest's control paths keep their own answer for such a path.
    answer = ask(client, "DELETE", "/api/registered-devices/a%0Ab")
    assert (answer.status, answer.json()) == (404, {"success": False, "message": "Not found"})


def _stalled_request(server, method: str, path: str, body: bytes, headers: dict):
    """Send the head and a first byte of the body, then stall (a slow client)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[:1])
    return sock


@pytest.mark.live
def test_a_slow_body_does_not_stall_the_worker(start_server):
    """Found by schemathesis: a view wrote (device seen, Hue last use date), then read the rest
    of a slow body; the next writer's SQLite busy wait blocked the gevent worker for 10 s and
    failed with 500. Bodies are now read before any view runs."""
    server = start_server()
    server.flask("hue", "press-link-button")
    key = requests.post(server.url + "/api", json={"devicetype": "slow#body"}, timeout=5).json()
    key = key[0]["success"]["username"]
    time.sleep(1.1)  # the next use of the key writes its last use date again
    stalled = [
        _stalled_request(
            server, "POST", "/nest/transport/put", b'{"objects":[]}', auth(new_serial())
        ),
        _stalled_request(server, "PUT", f"/api/{key}/config", b'{"linkbutton":true}', {}),
    ]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        other = requests.get(
            server.url + "/nest/passphrase", headers=auth(new_serial()), timeout=15
        )
        assert other.status_code == 200, other.content
        assert time.monotonic() - started < 1.0
    finally:
        for sock in stalled:
            sock.close()
    assert "database is locked" not in server.log()
