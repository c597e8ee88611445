"""Tokens on ``/user`` and ``/sessions``: several sign-ins, revocation, 401s."""

from __future__ import annotations

import time

import pytest

from tests.ruuvi.helpers import BODY_401, BODY_404, TOKEN_RE, unique_email


def test_a_second_sign_in_in_other_case_adds_a_token(ruuvi):
    address = unique_email("Case.Mixed")
    first = ruuvi.sign_in(address)

    second = ruuvi.sign_in(address.upper())

    assert first["newUser"] is True
    assert second["newUser"] is False
    assert second["email"] == address  # the display e-mail is the first one given
    assert TOKEN_RE.match(second["accessToken"])
    assert first["accessToken"] != second["accessToken"]
    assert first["accessToken"].split("/")[0] == second["accessToken"].split("/")[0]
    for token in (first["accessToken"], second["accessToken"]):
        user = ruuvi.authed("GET", "/user", token)
        assert user.status_code == 200
        assert user.json()["data"] == {"email": address, "sensors": []}


def test_deleting_one_session_revokes_that_one_only(ruuvi):
    address = unique_email()
    keep = ruuvi.sign_in(address)["accessToken"]
    drop = ruuvi.sign_in(address)["accessToken"]
    listing = ruuvi.authed("GET", "/sessions", drop).json()["data"]["sessions"]
    [current] = [s for s in listing if s["current"]]

    deleted = ruuvi.authed("DELETE", f"/sessions/{current['id']}", keep)

    assert deleted.status_code == 200
    assert deleted.content == b'{"result":"success","data":{}}'
    assert ruuvi.authed("GET", "/user", drop).content == BODY_401
    assert ruuvi.authed("GET", "/user", keep).status_code == 200
    remaining = ruuvi.authed("GET", "/sessions", keep).json()["data"]["sessions"]
    assert [s["id"] for s in remaining] == [s["id"] for s in listing if s["id"] != current["id"]]
    assert ruuvi.authed("DELETE", f"/sessions/{current['id']}", keep).content == BODY_404


def test_session_listing_shape_and_order(ruuvi):
    address = unique_email()
    tokens = [ruuvi.sign_in(address)["accessToken"] for _ in range(3)]
    ids = sorted(
        s["id"] for s in ruuvi.authed("GET", "/sessions", tokens[2]).json()["data"]["sessions"]
    )
    # Touches within one second are not written; cross a second so the next one is.
    time.sleep(1.0 - time.time() % 1.0 + 0.01)

    response = ruuvi.authed("GET", "/sessions", tokens[0])

    assert response.status_code == 200
    sessions = response.json()["data"]["sessions"]
    assert all(list(s) == ["id", "createdAt", "lastAccessed", "current"] for s in sessions)
    # The caller's token was used last; the other two tie and go newest id first.
    assert [s["id"] for s in sessions] == [ids[0], ids[2], ids[1]]
    assert [s["current"] for s in sessions] == [True, False, False]
    assert sessions[0]["lastAccessed"] > sessions[1]["lastAccessed"]
    assert sessions[0]["lastAccessed"] == pytest.approx(time.time(), abs=2)
    assert all(s["createdAt"] <= s["lastAccessed"] for s in sessions)


def test_other_users_sessions_and_bad_ids_are_not_found(ruuvi):
    mine = ruuvi.sign_in(unique_email())["accessToken"]
    theirs = ruuvi.sign_in(unique_email())["accessToken"]
    [their_session] = ruuvi.authed("GET", "/sessions", theirs).json()["data"]["sessions"]

    for session_id in (str(their_session["id"]), "abc", "-1", "1.0", "99999999999999999999"):
        response = ruuvi.authed("DELETE", f"/sessions/{session_id}", mine)
        assert response.status_code == 404
        assert response.content == BODY_404
    assert ruuvi.authed("GET", "/user", theirs).status_code == 200


def test_deleting_all_sessions_signs_out_everywhere(ruuvi):
    address = unique_email()
    tokens = [ruuvi.sign_in(address)["accessToken"] for _ in range(2)]
    bystander = ruuvi.sign_in(unique_email())["accessToken"]

    response = ruuvi.authed("DELETE", "/sessions", tokens[1])

    assert response.content == b'{"result":"success","data":{}}'
    assert all(ruuvi.authed("GET", "/user", t).status_code == 401 for t in tokens)
    assert ruuvi.authed("GET", "/user", bystander).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER  ", ""])
def test_bearer_in_any_case_or_the_bare_token(ruuvi, scheme):
    token = ruuvi.sign_in(unique_email())["accessToken"]

    response = ruuvi.request("GET", "/user", headers={"Authorization": scheme + token})

    assert response.status_code == 200


def test_missing_malformed_or_unknown_tokens_get_401(ruuvi):
    token = ruuvi.sign_in(unique_email())["accessToken"]
    prefix, secret = token.split("/")
    other_user = "753939393939/" + secret  # right secret, another user's id
    bad = [
        None,
        "",
        "Bearer",
        "Basic " + token,
        "Bearer " + token[:-1],
        "Bearer " + token + "x",
        "Bearer " + prefix + "/" + "A" * 64,
        "Bearer " + other_user,
        "Bearer zz/" + secret,
    ]
    for header in bad:
        headers = {} if header is None else {"Authorization": header}
        for method, path in (("GET", "/user"), ("GET", "/sessions"), ("DELETE", "/sessions")):
            response = ruuvi.request(method, path, headers=headers)
            assert response.status_code == 401, (header, path)
            assert response.content == BODY_401
    assert ruuvi.authed("GET", "/user", token).status_code == 200
