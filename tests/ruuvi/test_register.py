"""``POST /register`` and ``GET /verify`` over real HTTP, with the code read from real SMTP."""

from __future__ import annotations

import json

import pytest

from tests.ruuvi.helpers import (
    BODY_403,
    BODY_INVALID_JSON,
    CORS,
    TOKEN_RE,
    invalid_email_body,
    unique_email,
)


def test_text_plain_body_registers_and_code_signs_in(ruuvi, mailbox):
    address = unique_email("First")

    response = ruuvi.register(address)

    assert response.status_code == 200
    assert response.content == b'{"result":"success","data":{"email":"' + address.encode() + b'"}}'
    assert response.headers["Content-Type"] == "application/json"
    [message] = mailbox.wait_for(address)
    assert message["Subject"] == "Your verification code"
    code = ruuvi.code_for(address)

    verified = ruuvi.verify(code.lower())

    assert verified.status_code == 200
    body = verified.json()
    assert list(body) == ["result", "data"]
    assert list(body["data"]) == ["email", "accessToken", "newUser"]
    assert body["data"]["email"] == address
    assert body["data"]["newUser"] is True
    token = body["data"]["accessToken"]
    assert TOKEN_RE.match(token)
    user = ruuvi.authed("GET", "/user", token)
    assert user.status_code == 200
    assert user.content == (
        b'{"result":"success","data":{"email":"' + address.encode() + b'","sensors":[]}}'
    )
    again = ruuvi.verify(code.lower())
    assert again.status_code == 403
    assert again.content == BODY_403
    assert ruuvi.verify(code).content == BODY_403


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", BODY_INVALID_JSON),
        (b"not json", BODY_INVALID_JSON),
        (b'["a@b.c"]', BODY_INVALID_JSON),
        (b'"a@b.c"', BODY_INVALID_JSON),
        (b"null", BODY_INVALID_JSON),
        (b'{"email":NaN}', BODY_INVALID_JSON),
        (b"\xff\xfe{}", BODY_INVALID_JSON),
        (b"{}", invalid_email_body("")),
        (b'{"email":null}', invalid_email_body("")),
        (b'{"email":"nope"}', invalid_email_body("nope")),
        (b'{"email":""}', invalid_email_body("")),
        (b'{"email":5}', invalid_email_body("5")),
        (b'{"email":["a"]}', invalid_email_body('["a"]')),
        (b'{"email":{"x":true}}', invalid_email_body('{"x":true}')),
        (b'{"email":"a@b.c\\n"}', invalid_email_body("a@b.c\n")),
        (b'{"email":" a@b.c"}', invalid_email_body(" a@b.c")),
        (b'{"email":"a@-b.c"}', invalid_email_body("a@-b.c")),
        (b'{"email":"\xc3\xa4@b.c"}', invalid_email_body("\u00e4@b.c")),
    ],
)
def test_bad_bodies_get_the_400_bodies_byte_for_byte(ruuvi, raw, expected):
    response = ruuvi.request("POST", "/register", data=raw)

    assert response.status_code == 400
    assert response.content == expected
    assert response.headers["Content-Type"] == "application/json"
    for name, value in CORS.items():
        assert response.headers[name] == value


def test_addresses_longer_than_254_characters_are_refused(ruuvi, mailbox):
    longest = "x" * (254 - len("@example.com")) + "@example.com"
    too_long = "y" + longest

    accepted = ruuvi.request("POST", "/register", json={"email": longest})
    refused = ruuvi.request("POST", "/register", json={"email": too_long})

    assert accepted.status_code == 200
    assert refused.status_code == 400
    assert refused.content == invalid_email_body(too_long)
    assert mailbox.wait_for(longest)


def test_the_address_is_kept_as_given_and_any_content_type_works(ruuvi, mailbox):
    address = unique_email("Mixed.CASE")
    for headers in ({"Content-Type": "application/json"}, {"Content-Type": "x/whatever"}, {}):
        response = ruuvi.request(
            "POST", "/register", data=json.dumps({"email": address}), headers=headers
        )
        assert response.status_code == 200
        assert response.json() == {"result": "success", "data": {"email": address}}

    messages = mailbox.wait_for(address, 3)

    assert [m["To"] for m in messages] == [address] * 3
    assert len({ruuvi.code_for(address, n) for n in (1, 2, 3)}) == 3


def test_a_bare_host_address_is_valid(ruuvi, mailbox):
    response = ruuvi.request("POST", "/register", json={"email": "a@b"})

    assert response.content == b'{"result":"success","data":{"email":"a@b"}}'


def test_a_new_code_ends_the_address_earlier_codes(ruuvi):
    address = unique_email()
    assert ruuvi.register(address).status_code == 200
    assert ruuvi.register(address).status_code == 200
    first, second = ruuvi.code_for(address, 1), ruuvi.code_for(address, 2)

    refused = ruuvi.verify(first)
    assert (refused.status_code, refused.content) == (403, BODY_403)
    assert ruuvi.verify(second).json()["data"]["newUser"] is True
