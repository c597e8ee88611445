"""POST /api: validation order, link button, usernames and client keys (spec §2, §3)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from app.clock import now_s
from app.extensions import db
from app.hue.models import HueWhitelist, HueWhitelistPair
from app.models import Setting
from tests.hue.conftest import (
    NOT_PRESSED,
    SEED_USERNAME,
    UNTIL,
    assert_hue_json,
    epoch,
    post_api,
    press,
    register,
)

INVALID_JSON = b'[{"error":{"type":2,"address":"/","description":"body contains invalid json"}}]'


@pytest.fixture
def client(make_client):
    """A client on a fresh database with the default settings."""
    return make_client()


# --- the seed and the spec's examples, byte for byte ---------------------------------------


def test_seed_short_username_and_empty_devicetype(client):
    response = post_api(client, {"username": "burges", "devicetype": ""})
    assert_hue_json(response)
    assert response.data == (
        b'[{"error":{"type":7,"address":"/username","description":"invalid value, burges, '
        b'for parameter, username"}},{"error":{"type":2,"address":"/","description":"body '
        b'contains invalid json"}}]'
    )


def test_seed_success_needs_the_button(client):
    body = {"username": SEED_USERNAME, "devicetype": "Ruhue API Client"}
    refused = post_api(client, body)
    assert_hue_json(refused)
    assert refused.data == NOT_PRESSED
    press(client)
    accepted = post_api(client, body)
    assert_hue_json(accepted)
    assert accepted.data == b'[{"success":{"username":"burgestrand"}}]'


def test_empty_object_is_missing_parameters(client):
    assert post_api(client, {}).data == (
        b'[{"error":{"type":5,"address":"/","description":"invalid/missing parameters in body"}}]'
    )


def test_unknown_key_and_bad_generateclientkey(client):
    response = post_api(client, {"devicetype": "x", "foo": 1, "generateclientkey": "yes"})
    assert response.data == (
        b'[{"error":{"type":6,"address":"/foo","description":"parameter, foo, not available"}},'
        b'{"error":{"type":7,"address":"/generateclientkey","description":"invalid value, yes, '
        b'for parameter, generateclientkey"}}]'
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'"x"',
        b"not json",
        b"",
        b"null",
        b"123",
        b"true",
        b'[{"devicetype":"x"}]',
        b'{"devicetype":',
        b'{"devicetype":"x"}garbage',
        b'{"devicetype":NaN}',
        b'{"devicetype":"\xff\xfe"}',
        '{"devicetype":"caf\u00e9"}'.encode("latin-1"),
    ],
)
def test_not_an_object_is_only_type_2(client, raw):
    press(client)  # the link check must not even run
    response = post_api(client, raw)
    assert_hue_json(response)
    assert response.data == INVALID_JSON


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded", "bogus"],
)
def test_body_parsed_whatever_the_content_type(client, content_type):
    press(client)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(
        "/api", data=b'{"username":"burgestrand","devicetype":"x"}', headers=headers
    )
    assert_hue_json(response)
    assert response.data == b'[{"success":{"username":"burgestrand"}}]'


# --- every row of the validation table -----------------------------------------------------


def _error(type_: int, address: str, description: str) -> dict:
    return {"error": {"type": type_, "address": address, "description": description}}


def _bad_value(param: str, shown: str) -> dict:
    return _error(7, f"/{param}", f"invalid value, {shown}, for parameter, {param}")


MISSING = _error(5, "/", "invalid/missing parameters in body")
EMPTY_DEVICETYPE = _error(2, "/", "body contains invalid json")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # step 2: unknown keys, in body order
        (
            {"b": 1, "devicetype": "x", "a": 2},
            [
                _error(6, "/b", "parameter, b, not available"),
                _error(6, "/a", "parameter, a, not available"),
            ],
        ),
        # step 3: username
        ({"username": "burges", "devicetype": "x"}, [_bad_value("username", "burges")]),
        ({"username": "a" * 41, "devicetype": "x"}, [_bad_value("username", "a" * 41)]),
        ({"username": "abcdefghi-", "devicetype": "x"}, [_bad_value("username", "abcdefghi-")]),
        ({"username": "abcdefghij\n", "devicetype": "x"}, [_bad_value("username", "abcdefghij\n")]),
        ({"username": "abcdéfghij", "devicetype": "x"}, [_bad_value("username", "abcdéfghij")]),
        ({"username": 1234567890, "devicetype": "x"}, [_bad_value("username", "1234567890")]),
        ({"username": None, "devicetype": "x"}, [_bad_value("username", "null")]),
        ({"username": ["a"], "devicetype": "x"}, [_bad_value("username", '["a"]')]),
        # step 4: devicetype
        ({"generateclientkey": True}, [MISSING]),
        ({"devicetype": ""}, [EMPTY_DEVICETYPE]),
        ({"devicetype": None}, [_bad_value("devicetype", "null")]),
        ({"devicetype": 5}, [_bad_value("devicetype", "5")]),
        ({"devicetype": True}, [_bad_value("devicetype", "true")]),
        ({"devicetype": {"a": 1}}, [_bad_value("devicetype", '{"a":1}')]),
        ({"devicetype": "x" * 41}, [_bad_value("devicetype", "x" * 41)]),
        # 41 bytes of UTF-8 in 21 characters
        ({"devicetype": "é" * 20 + "x"}, [_bad_value("devicetype", "é" * 20 + "x")]),
        # step 5: generateclientkey
        ({"devicetype": "x", "generateclientkey": 1}, [_bad_value("generateclientkey", "1")]),
        ({"devicetype": "x", "generateclientkey": None}, [_bad_value("generateclientkey", "null")]),
        (
            {"devicetype": "x", "generateclientkey": "true"},
            [_bad_value("generateclientkey", "true")],
        ),
        # several errors in one array, in step order whatever the body order
        (
            {"generateclientkey": 0, "zz": 1, "username": "x", "aa": None},
            [
                _error(6, "/zz", "parameter, zz, not available"),
                _error(6, "/aa", "parameter, aa, not available"),
                _bad_value("username", "x"),
                MISSING,
                _bad_value("generateclientkey", "0"),
            ],
        ),
        (
            {"devicetype": "", "username": 12, "generateclientkey": "no"},
            [_bad_value("username", "12"), EMPTY_DEVICETYPE, _bad_value("generateclientkey", "no")],
        ),
    ],
)
def test_validation_table(client, body, expected):
    press(client)  # errors win over an open window
    response = post_api(client, body)
    assert_hue_json(response)
    assert response.get_json() == expected
    # keys go out in the order type, address, description
    assert response.data.count(b'{"type":') == len(expected)
    assert re.findall(rb'\{"(\w+)":\d+,"(\w+)":"[^"]*","(\w+)":', response.data) == [
        (b"type", b"address", b"description")
    ] * len(expected)
    with client.application.app_context():
        assert db.session.execute(select(HueWhitelist)).first() is None


def test_forty_bytes_of_utf8_is_accepted(client):
    press(client)
    devicetype = "é" * 20  # 40 bytes
    key = register(client, devicetype)
    config = client.get(f"/api/{key}/config").get_json()
    assert config["whitelist"][key]["name"] == devicetype


def test_validation_errors_come_before_the_link_check(client):
    assert post_api(client, {"devicetype": None}).get_json() == [_bad_value("devicetype", "null")]


def test_username_refused_when_client_usernames_are_off(make_client):
    client = make_client(HUE_ALLOW_CLIENT_USERNAME="false")
    press(client)
    # no step-3 check: only the step-2 error, even for an invalid value
    response = post_api(client, {"username": "x", "devicetype": "app"})
    assert response.data == (
        b'[{"error":{"type":6,"address":"/username","description":"parameter, username, '
        b'not available"}}]'
    )
    generated = post_api(client, {"devicetype": "app"}).get_json()[0]["success"]["username"]
    assert re.fullmatch(r"[A-Za-z0-9]{40}", generated)


# --- success -------------------------------------------------------------------------------


def test_generated_usernames_are_new_each_time(client):
    press(client)
    keys = {register(client, "same#device") for _ in range(3)}
    assert len(keys) == 3
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9]{40}", key)


def test_known_username_records_the_pair_and_never_renames(client):
    press(client)
    body = {"username": SEED_USERNAME, "devicetype": "first"}
    assert post_api(client, body).data == b'[{"success":{"username":"burgestrand"}}]'
    with client.application.app_context():
        created = db.session.get(HueWhitelist, SEED_USERNAME).created_at
        # Back-date it, so a create date rewritten to now would show.
        db.session.execute(
            update(HueWhitelist).values(created_at=created - 100, last_used_at=created - 100)
        )
        db.session.commit()
    second = post_api(client, {"username": SEED_USERNAME, "devicetype": "second"})
    assert second.data == b'[{"success":{"username":"burgestrand"}}]'
    again = post_api(client, {"username": SEED_USERNAME, "devicetype": "second"})
    assert again.data == b'[{"success":{"username":"burgestrand"}}]'
    with client.application.app_context():
        entry = db.session.get(HueWhitelist, SEED_USERNAME)
        # The key may be another app's: whoever re-registers it does not rename it.
        assert entry.name == "first"
        assert entry.created_at == created - 100
        pairs = db.session.execute(
            select(HueWhitelistPair.devicetype).where(HueWhitelistPair.username == SEED_USERNAME)
        ).scalars()
        assert sorted(pairs) == ["first", "second"]


def test_new_entry_dates_are_now(client):
    press(client)
    before = now_s()
    key = register(client)
    entry = client.get(f"/api/{key}/config").get_json()["whitelist"][key]
    assert before <= epoch(entry["create date"]) <= now_s()
    assert entry["last use date"] >= entry["create date"]


def test_generateclientkey(client):
    press(client)
    response = post_api(client, {"devicetype": "ent#x", "generateclientkey": True})
    assert re.fullmatch(
        rb'\[\{"success":\{"username":"[A-Za-z0-9]{40}","clientkey":"[0-9A-F]{32}"\}\}\]',
        response.data,
    )
    without = post_api(client, {"devicetype": "ent#x", "generateclientkey": False})
    assert list(without.get_json()[0]["success"]) == ["username"]


def test_a_clientkey_only_for_the_request_that_creates_the_key(client):
    press(client)
    made = post_api(
        client, {"username": SEED_USERNAME, "devicetype": "a", "generateclientkey": True}
    ).get_json()[0]["success"]
    assert made["username"] == SEED_USERNAME
    assert re.fullmatch(r"[0-9A-F]{32}", made["clientkey"])
    # Re-registering the key (another app that knows or guesses it) never gets its clientkey.
    again = post_api(
        client, {"username": SEED_USERNAME, "devicetype": "b", "generateclientkey": True}
    )
    assert again.data == b'[{"success":{"username":"burgestrand"}}]'
    plain = post_api(client, {"username": "LaterUsername1", "devicetype": "c"}).get_json()
    assert plain == [{"success": {"username": "LaterUsername1"}}]
    # An existing key without a clientkey does not get one later either.
    late = post_api(
        client, {"username": "LaterUsername1", "devicetype": "c", "generateclientkey": True}
    )
    assert late.data == b'[{"success":{"username":"LaterUsername1"}}]'
    with client.application.app_context():
        assert db.session.get(HueWhitelist, SEED_USERNAME).clientkey == made["clientkey"]
        assert db.session.get(HueWhitelist, "LaterUsername1").clientkey is None


def test_registrations_per_window_are_capped(make_app):
    client = make_app(HUE_LINK_MAX_REGISTRATIONS=3).test_client()
    press(client)
    answers = [post_api(client, {"devicetype": f"app#{n}"}).get_json() for n in range(5)]
    assert [next(iter(a[0])) for a in answers] == ["success"] * 3 + ["error"] * 2
    assert answers[3] == [
        {"error": {"type": 101, "address": "", "description": "link button not pressed"}}
    ]
    # A new press opens a new window with a new allowance.
    press(client)
    assert "success" in post_api(client, {"devicetype": "app#6"}).get_json()[0]


# --- the link button -----------------------------------------------------------------------


def _set_press(at: int) -> None:
    db.session.merge(Setting(name="hue.link_pressed_at", value=str(at)))
    db.session.commit()


@pytest.mark.parametrize(
    ("offset", "open_"),
    [(0, True), (-28, True), (-30, False), (-31, False), (-3600, False), (5, False)],
)
def test_window_is_press_to_press_plus_window(client, offset, open_):
    # -28, not -29: the clock may tick between the write and the request.
    # A press time "in the future" (another host's clock ahead) is not open either.
    with client.application.app_context():
        _set_press(now_s() + offset)
    body = {"username": SEED_USERNAME, "devicetype": "x"}
    response = post_api(client, body)
    assert response.data == (b'[{"success":{"username":"burgestrand"}}]' if open_ else NOT_PRESSED)


def test_window_length_is_configurable(make_client):
    client = make_client(HUE_LINK_WINDOW_SECONDS="5")
    with client.application.app_context():
        _set_press(now_s() - 5)
    assert post_api(client, {"devicetype": "x"}).data == NOT_PRESSED
    with client.application.app_context():
        _set_press(now_s() - 3)
    assert b"success" in post_api(client, {"devicetype": "x"}).data


def test_known_username_still_needs_the_button(client):
    press(client)
    body = {"username": SEED_USERNAME, "devicetype": "x"}
    assert b"success" in post_api(client, body).data
    with client.application.app_context():
        _set_press(now_s() - 31)
    assert post_api(client, body).data == NOT_PRESSED


def test_one_press_serves_several_apps(client):
    press(client)
    keys = [register(client, f"app#{i}") for i in range(5)]
    assert len(set(keys)) == 5


def test_cli_prints_until_when(client):
    before = now_s()
    result = client.application.test_cli_runner().invoke(args=["hue", "press-link-button"])
    assert result.exit_code == 0
    match = UNTIL.fullmatch(result.output)
    assert match, result.output
    assert before + 30 <= epoch(match.group(1)) <= now_s() + 30
    assert b'"linkbutton":true' in client.get(f"/api/{register(client)}/config").data


# --- other methods and odd bodies ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/api", "/api/"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
def test_other_methods_on_api_are_type_4(client, path, method):
    response = client.open(path, method=method, data=b'{"devicetype":"x"}')
    assert_hue_json(response)
    description = f"method, {method}, not available for resource, /"
    expected = b'[{"error":{"type":4,"address":"/","description":"' + description.encode()
    assert response.data == expected + b'"}}]'


def test_head_on_api_is_200_json(client):
    response = client.head("/api")
    assert_hue_json(response)
    assert response.data == b""


def test_trailing_slash_registers_too(client):
    press(client)
    response = client.post("/api/", data=b'{"username":"burgestrand","devicetype":"x"}')
    assert response.data == b'[{"success":{"username":"burgestrand"}}]'


def test_body_over_one_mebibyte_is_type_2(client):
    press(client)
    body = b'{"devicetype":"' + b"x" * (1024 * 1024) + b'"}'
    response = client.post("/api", data=body)
    assert_hue_json(response)
    assert response.data == INVALID_JSON
