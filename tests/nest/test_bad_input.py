"""No input gets a 500 or an HTML page on the Nest paths (in-process and on the wire)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.nest.factories import auth, new_serial

BODIES = [
    b"",
    b"\x00\xff",
    b"null",
    b"[]",
    b"{",
    b'{"objects":null}',
    b'{"objects":[null,1,"x",[],{}]}',
    b'{"objects":[{"object_key":"' + b"k" * 300 + b'","value":{"a":1}}]}',
    b'{"objects":[{"object_key":"a.b","value":{"a":1},"object_revision":1e400}]}',
    b'{"objects":[{"object_key":"a.b","object_timestamp":-5,"object_revision":-1}]}',
    b'{"chunked":"yes","objects":{}}',
    b'{"code":{"x":1},"userId":[1]}',
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps(
        {"objects": [{"object_key": f"k.{i}", "value": {"v": i}} for i in range(50)]}
    ).encode(),
]
PATHS = [
    ("POST", "/nest/transport"),
    ("POST", "/nest/transport/v5/subscribe"),
    ("POST", "/czfe/v5/subscribe"),
    ("POST", "/nest/transport/put"),
    ("POST", "/transport/v1/put"),
    ("POST", "/api/register"),
    ("GET", "/nest/passphrase"),
    ("GET", "/nest/passphrase/status"),
    ("POST", "/nest/entry"),
    ("POST", "/nest/upload"),
    ("DELETE", "/api/registered-devices/ABCDEFGHIJK"),
    ("GET", "/api/devices"),
    ("PUT", "/nest/ping"),
    ("GET", "/nest/does/not/exist"),
    ("PATCH", "/api/devices"),
]


def _check(status: int, content_type: str, data: bytes) -> None:
    assert status < 500, data
    assert content_type == "application/json", data
    assert isinstance(json.loads(data), (dict, list))


@pytest.mark.parametrize("method, path", PATHS)
def test_sweep_in_process(client, method, path):
    serial = new_serial()
    for body in BODIES:
        for headers in ({}, auth(serial), {"Content-Type": "application/json", **auth(serial)}):
            response = client.open(path, method=method, data=body, headers=headers)
            _check(response.status_code, response.headers["Content-Type"], response.data)


@pytest.mark.live
def test_sweep_on_the_wire(live):
    serial = new_serial()
    huge = b"x" * (1024 * 1024 + 10)
    for method, path in PATHS:
        for body in (b"not json", b"{}", huge):
            response = requests.request(
                method, live.url + path, data=body, headers=auth(serial), timeout=10
            )
            _check(response.status_code, response.headers["Content-Type"], response.content)
            if (
                body is huge
                and method in ("POST", "PUT", "PATCH", "DELETE")
                and response.status_code == 413
            ):
                assert b"Request body too large" in response.content
    chunked = requests.post(
        live.url + "/nest/transport/put",
        data=iter([b"x" * 600_000, b"y" * 600_000]),
        headers=auth(serial),
        timeout=10,
    )
    assert chunked.status_code == 413
    assert chunked.content == b'{"error":"Request body too large"}'
