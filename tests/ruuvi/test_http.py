"""Answers outside the happy path: CORS, OPTIONS, wrong methods, odd bodies, big bodies.

No request here may get a 500 or an HTML page; every answer carries the CORS headers.
"""

from __future__ import annotations

import json

import pytest

from tests.ruuvi.helpers import BODY_401, BODY_404, CORS, unique_email

PATHS = [
    "/register",
    "/register/",
    "/verify",
    "/verify?token=abcd",
    "/user",
    "/sessions",
    "/sessions/1",
    "/sessions/abc",
    "/sessions/1/2",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODY_405 = b'{"result":"error","error":"Method not allowed","code":"ER_INVALID","sub_code":null}'
BODY_413 = (
    b'{"result":"error","error":"Request body too large","code":"ER_INVALID",'
    b'"sub_code":"ER_INVALID_FORMAT"}'
)


def assert_cors(response) -> None:
    for name, value in CORS.items():
        assert response.headers.get(name) == value, (response.request.method, response.url, name)


def test_options_register_answers_200_with_cors(ruuvi):
    response = ruuvi.request(
        "OPTIONS",
        "/register",
        headers={"Origin": "https://station.example", "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 200
    assert response.content == b""
    assert_cors(response)


@pytest.mark.parametrize("path", ["/verify", "/user", "/sessions", "/sessions/7"])
def test_preflight_needs_no_token(ruuvi, path):
    response = ruuvi.request("OPTIONS", path)

    assert response.status_code == 200
    assert response.content == b""
    assert_cors(response)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_every_path_gets_a_json_answer(ruuvi, method):
    bodies = [None, b"{}", b'{"email":"a@b.c"}', b"\x00\xff", b'{"email":{"a":[1,2,{}]}}']
    for path in PATHS:
        for body in bodies if method not in ("GET", "HEAD", "OPTIONS") else [None]:
            response = ruuvi.request(method, path, data=body)
            assert response.status_code != 500, (method, path, body)
            assert_cors(response)
            # Every Ruuvi path answers the preflight, one nobody serves too (issue 14).
            if method == "OPTIONS":
                assert (response.status_code, response.content) == (200, b"")
            elif method != "HEAD":
                assert response.headers["Content-Type"] == "application/json"
                assert json.loads(response.content)["result"] in ("error", "success")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/register"), ("PUT", "/register"), ("POST", "/verify"), ("POST", "/user"),
     ("PATCH", "/sessions"), ("GET", "/sessions/1"), ("POST", "/sessions/1")],
)  # fmt: skip
def test_wrong_methods_get_the_405_body(ruuvi, method, path):
    response = ruuvi.request(method, path)

    assert response.status_code == 405
    assert response.content == BODY_405


def test_a_body_over_one_mebibyte_gets_413(ruuvi):
    big = b'{"email":"' + b"a" * (1024 * 1024) + b'@b.c"}'

    sized = ruuvi.request("POST", "/register", data=big)
    chunked = ruuvi.request("POST", "/register", data=iter([big[:1000], big[1000:]]))
    small_chunked = ruuvi.request("POST", "/register", data=iter([b'{"email":', b'"c@d.e"}']))

    assert (sized.status_code, sized.content) == (413, BODY_413)
    assert (chunked.status_code, chunked.content) == (413, BODY_413)
    assert small_chunked.status_code == 200
    assert_cors(sized)
    assert_cors(chunked)


def test_session_paths_that_are_not_ids(ruuvi):
    token = ruuvi.sign_in(unique_email())["accessToken"]

    with_token = ruuvi.authed("DELETE", "/sessions/abc", token)
    without = ruuvi.request("DELETE", "/sessions/abc")
    nested = ruuvi.authed("DELETE", "/sessions/1/2", token)

    assert (with_token.status_code, with_token.content) == (404, BODY_404)
    assert (without.status_code, without.content) == (401, BODY_401)
    assert (nested.status_code, nested.content) == (404, BODY_404)


def test_the_server_logged_no_unhandled_error(ruuvi_live, ruuvi):
    assert ruuvi.request("GET", "/user").status_code == 401  # the server is up and answering

    log = ruuvi_live.log()

    assert "unhandled error" not in log
    assert "Traceback" not in log
