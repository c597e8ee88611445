"""Whitelist, last use date, PUT config and the type 1/3/4 rules (spec §3, §4, §6)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, select, update

from app.clock import hue_time, now_s
from app.extensions import db
from app.hue.models import HueWhitelist, HueWhitelistPair
from tests.hue.conftest import (
    NOT_PRESSED,
    assert_hue_json,
    post_api,
    press,
    register,
    registered_client,
)


@pytest.fixture
def bridge(make_client):
    """``(client, key)``: a whitelisted key, link window closed."""
    return registered_client(make_client)


def _type_1(address: str) -> bytes:
    return (
        b'[{"error":{"type":1,"address":"' + address.encode() + b'","description":"unauthorized '
        b'user"}}]'
    )


def _type_3(address: str) -> bytes:
    a = address.encode()
    return (
        b'[{"error":{"type":3,"address":"' + a + b'","description":"resource, ' + a + b", not "
        b'available"}}]'
    )


def _type_4(method: str, address: str) -> bytes:
    a = address.encode()
    return (
        b'[{"error":{"type":4,"address":"'
        + a
        + b'","description":"method, '
        + method.encode()
        + b", not available for resource, "
        + a
        + b'"}}]'
    )


# --- type 1 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "address"),
    [
        ("GET", "/api/unknownuser1", "/"),
        ("GET", "/api/unknownuser1/", "/"),
        ("GET", "/api/unknownuser1/lights", "/lights"),
        ("GET", "/api/unknownuser1/lights/1", "/lights"),
        ("GET", "/api/bad/lights/1/state", "/lights"),
        ("PUT", "/api/unknownuser1/lights/1/state", "/lights"),
        ("PUT", "/api/unknownuser1/config", "/config"),
        ("POST", "/api/unknownuser1/config", "/config"),
        ("DELETE", "/api/unknownuser1/config/whitelist/unknownuser1", "/config"),
        ("GET", "/api/unknownuser1/nothing", "/nothing"),
        ("PROPFIND", "/api/unknownuser1", "/"),
        ("PUT", "/api/config", "/"),
        ("GET", "/api/" + "x" * 300, "/"),
        ("GET", "/api/%C3%A9t%C3%A9/lights", "/lights"),
        ("GET", "/api/register/x", "/x"),
    ],
)
def test_unknown_username_is_type_1(bridge, method, path, address):
    client, _ = bridge
    # The Flask test client speaks from 127.0.0.1: no loopback exception.
    response = client.open(path, method=method, data=b'{"linkbutton":true}')
    assert response.request.remote_addr == "127.0.0.1"
    assert_hue_json(response)
    assert response.data == _type_1(address)


def test_a_prefix_or_case_variant_of_a_key_is_unknown(bridge):
    client, key = bridge
    for guess in (key[:-1], key + "x", key.swapcase(), key.lower()):
        assert client.get(f"/api/{guess}/lights").data == _type_1("/lights")


def test_unknown_username_does_not_open_the_window(bridge):
    client, _ = bridge
    client.put("/api/unknownuser1/config", data=b'{"linkbutton":true}')
    assert post_api(client, {"devicetype": "x"}).data == NOT_PRESSED


# --- types 3 and 4 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "rest"),
    [
        ("PUT", ""),
        ("POST", ""),
        ("DELETE", ""),
        ("POST", "/config"),
        ("DELETE", "/config"),
        ("PATCH", "/config"),
        ("PUT", "/lights"),
        ("POST", "/groups"),
        ("DELETE", "/resourcelinks"),
        ("GET", "/config/whitelist/somekey123"),
        ("PUT", "/config/whitelist/somekey123"),
        ("PROPFIND", "/config"),
        ("OPTIONS", "/sensors"),
    ],
)
def test_known_resource_wrong_method_is_type_4(bridge, method, rest):
    client, key = bridge
    response = client.open(f"/api/{key}{rest}", method=method, data=b"{}")
    assert_hue_json(response)
    assert response.data == _type_4(method, rest or "/")


@pytest.mark.parametrize(
    "rest",
    ["/lights/1", "/nothing", "/config/whitelist", "/config/name", "/groups/0", "//config"],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_resource_is_type_3(bridge, rest, method):
    client, key = bridge
    response = client.open(f"/api/{key}{rest}", method=method, data=b"{}")
    assert_hue_json(response)
    assert response.data == _type_3(rest)


def test_trailing_slash_is_the_same_resource(bridge):
    client, key = bridge
    assert client.get(f"/api/{key}/lights/1/").data == _type_3("/lights/1")
    assert client.post(f"/api/{key}/config/").data == _type_4("POST", "/config")


def test_head_answers_like_get_without_a_body(bridge):
    client, key = bridge
    response = client.head(f"/api/{key}/config")
    assert_hue_json(response)
    assert response.data == b""


# --- DELETE /api/<u>/config/whitelist/<key> ------------------------------------------------


def test_seed_delete_of_itself(bridge):
    client, key = bridge
    response = client.delete(f"/api/{key}/config/whitelist/{key}")
    assert_hue_json(response)
    assert response.data == f'[{{"success":"/config/whitelist/{key} deleted"}}]'.encode()
    assert client.get(f"/api/{key}/config/").get_json()["name"] == "homepair"  # short config
    assert client.get(f"/api/{key}").data == _type_1("/")
    assert client.delete(f"/api/{key}/config/whitelist/{key}").data == _type_1("/config")


def test_any_app_deletes_any_key_with_its_pairs(bridge):
    client, key = bridge
    press(client)
    other = register(client, "other#1")
    post_api(client, {"username": other, "devicetype": "other#2"})
    response = client.delete(f"/api/{key}/config/whitelist/{other}/")
    assert response.data == f'[{{"success":"/config/whitelist/{other} deleted"}}]'.encode()
    with client.application.app_context():
        pairs = db.session.execute(
            select(HueWhitelistPair).where(HueWhitelistPair.username == other)
        )
        assert pairs.first() is None
    whitelist = client.get(f"/api/{key}/config").get_json()["whitelist"]
    assert list(whitelist) == [key]
    assert client.get(f"/api/{other}/lights").data == _type_1("/lights")


def test_delete_unknown_key_is_type_3(bridge):
    client, key = bridge
    response = client.delete(f"/api/{key}/config/whitelist/nosuchkey123")
    assert response.data == _type_3("/config/whitelist/nosuchkey123")


# --- PUT /api/<u>/config -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", b'[{"error":{"type":2,"address":"/config","description":"body contains invalid json"}}]'),
        (b"", b'[{"error":{"type":2,"address":"/config","description":"body contains invalid json"}}]'),
        (b"[]", b'[{"error":{"type":2,"address":"/config","description":"body contains invalid json"}}]'),
        (b"{}", b'[{"error":{"type":5,"address":"/config","description":"invalid/missing parameters in body"}}]'),
        (b'{"linkbutton":"true"}', b'[{"error":{"type":7,"address":"/config/linkbutton","description":"invalid value, true, for parameter, linkbutton"}}]'),
        (b'{"linkbutton":1}', b'[{"error":{"type":7,"address":"/config/linkbutton","description":"invalid value, 1, for parameter, linkbutton"}}]'),
        (b'{"linkbutton":null}', b'[{"error":{"type":7,"address":"/config/linkbutton","description":"invalid value, null, for parameter, linkbutton"}}]'),
        (b'{"name":"x"}', b'[{"error":{"type":6,"address":"/config/name","description":"parameter, name, not available"}}]'),
        (b'{"linkbutton":false}', b'[{"success":{"/config/linkbutton":false}}]'),
    ],
)  # fmt: skip
def test_put_config_table(bridge, body, expected):
    client, key = bridge
    response = client.put(f"/api/{key}/config", data=body)
    assert_hue_json(response)
    assert response.data == expected
    assert post_api(client, {"devicetype": "x"}).data == NOT_PRESSED


def test_put_linkbutton_true_opens_and_false_closes(bridge):
    client, key = bridge
    response = client.put(
        f"/api/{key}/config", data=b'{"zz":1,"linkbutton":true}', content_type="text/plain"
    )
    assert response.data == (
        b'[{"error":{"type":6,"address":"/config/zz","description":"parameter, zz, not '
        b'available"}},{"success":{"/config/linkbutton":true}}]'
    )
    assert client.get(f"/api/{key}/config").get_json()["linkbutton"] is True
    assert "success" in post_api(client, {"devicetype": "x"}).get_json()[0]
    assert client.put(f"/api/{key}/config", data=b'{"linkbutton":false}').status_code == 200
    assert client.get(f"/api/{key}/config").get_json()["linkbutton"] is False
    assert post_api(client, {"devicetype": "x"}).data == NOT_PRESSED


def test_put_config_body_over_one_mebibyte_is_type_2(bridge):
    client, key = bridge
    response = client.put(f"/api/{key}/config", data=b"{" + b" " * (1024 * 1024) + b"}")
    assert_hue_json(response)
    assert response.data == (
        b'[{"error":{"type":2,"address":"/config","description":"body contains invalid json"}}]'
    )


# --- last use date -------------------------------------------------------------------------


def _backdate(client, key: str, seconds: int) -> None:
    with client.application.app_context():
        db.session.execute(
            update(HueWhitelist)
            .where(HueWhitelist.username == key)
            .values(
                created_at=HueWhitelist.created_at - seconds,
                last_used_at=HueWhitelist.last_used_at - seconds,
            )
        )
        db.session.commit()


def test_last_use_date_is_refreshed_before_the_answer(bridge):
    client, key = bridge
    _backdate(client, key, 3600)
    before = now_s()
    # The caller's own entry already shows this request.
    entry = client.get(f"/api/{key}/config").get_json()["whitelist"][key]
    assert hue_time(before) <= entry["last use date"] <= hue_time(now_s())
    assert entry["create date"] < hue_time(before - 3000)


@pytest.mark.parametrize(
    ("method", "rest"),
    [("GET", "/lights"), ("GET", "/nothing"), ("POST", ""), ("DELETE", "/config/whitelist/x")],
)
def test_any_authenticated_request_counts_as_use(bridge, method, rest):
    client, key = bridge
    _backdate(client, key, 3600)
    before = now_s()
    client.open(f"/api/{key}{rest}", method=method)
    with client.application.app_context():
        assert db.session.get(HueWhitelist, key).last_used_at >= before


def test_other_keys_are_not_touched(bridge):
    client, key = bridge
    press(client)
    other = register(client, "other#1")
    _backdate(client, other, 3600)
    whitelist = client.get(f"/api/{key}/config").get_json()["whitelist"]
    assert whitelist[other]["last use date"] < hue_time(now_s() - 3000)


def test_at_most_one_write_per_second(bridge):
    client, key = bridge
    _backdate(client, key, 10)
    if time.time() % 1 > 0.7:
        # Keep both requests inside one wall-clock second.
        time.sleep(1 - time.time() % 1)
    writes = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE HUE_WHITELIST"):
            writes.append(statement)

    with client.application.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            assert client.get(f"/api/{key}/lights").data == b"{}"
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(writes) == 1
