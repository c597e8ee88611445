"""POST /nest/transport/put (spec §5)."""

from __future__ import annotations

import json

from tests.nest.factories import auth, claim, issue_key, new_serial


def put(client, serial, body, path="/nest/transport/put"):
    return client.post(path, data=json.dumps(body), headers=auth(serial))


def test_put_stores_and_never_echoes_values(client):
    serial = new_serial()
    key = f"shared.{serial}"
    response = put(client, serial, {"objects": [{"object_key": key, "value": {"t": 20}}]})
    assert response.status_code == 200
    assert response.headers["X-nl-defer-device-window"] == "15"
    [item] = response.get_json()["objects"]
    assert list(item) == ["object_revision", "object_timestamp", "object_key"]
    assert item["object_revision"] == 1
    # An identical value keeps the version.
    again = put(client, serial, {"objects": [{"object_key": key, "value": {"t": 20}}]}).get_json()[
        "objects"
    ]
    assert again == [item]
    changed = put(client, serial, {"objects": [{"object_key": key, "value": {"u": 1}}]}).get_json()[
        "objects"
    ]
    assert changed[0]["object_revision"] == 2


def test_if_object_revision_conflict(client):
    serial = new_serial()
    key = f"device.{serial}"
    first = put(client, serial, {"objects": [{"object_key": key, "value": {"a": 1}}]}).get_json()[
        "objects"
    ][0]
    conflict = put(
        client,
        serial,
        {"objects": [{"object_key": key, "value": {"a": 2}, "if_object_revision": 5}]},
    )
    assert conflict.get_json() == {"objects": [first]}
    unknown = put(
        client,
        serial,
        {"objects": [{"object_key": f"x.{serial}", "value": {"a": 2}, "if_object_revision": 3}]},
    )
    assert (
        unknown.data
        == f'{{"objects":[{{"object_revision":0,"object_timestamp":0,"object_key":"x.{serial}"}}]}}'.encode()
    )
    ok = put(
        client,
        serial,
        {"objects": [{"object_key": key, "value": {"a": 2}, "if_object_revision": 1}]},
    )
    assert ok.get_json()["objects"][0]["object_revision"] == 2


def test_firmware_form_and_versioned_path(client):
    serial = new_serial()
    body = {
        "session": "s",
        "shared.X": {
            "object_key": f"shared.{serial}",
            "base_object_revision": 457,
            "target_temperature": 21.5,
        },
    }
    response = put(client, serial, body, path="/nest/transport/v5/put")
    [item] = response.get_json()["objects"]
    assert item["object_key"] == f"shared.{serial}"
    listed = client.post(
        "/nest/transport",
        data=json.dumps({"objects": [{"object_key": f"shared.{serial}"}]}),
        headers=auth(serial),
    ).get_json()["objects"]
    assert listed[0]["value"] == {"target_temperature": 21.5}


def test_skipped_entries(client):
    serial = new_serial()
    body = {
        "objects": [
            {"value": {"a": 1}},
            {"object_key": "k.1", "value": {}},
            {"object_key": "k.2", "value": [1]},
            7,
        ]
    }
    assert put(client, serial, body).data == b'{"objects":[]}'


def test_owner_bucket_put_counts_as_sent(client):
    serial = new_serial()
    claim(client, issue_key(client, serial)["value"], user="erin")
    put(
        client,
        serial,
        {"objects": [{"object_key": "user.erin", "value": {"name": "erin", "x": 1}}]},
    )
    sent = client.post("/nest/transport", data=b'{"objects":[]}', headers=auth(serial)).get_json()[
        "objects"
    ]
    assert [o["object_key"] for o in sent] == ["structure.erin"]


def test_put_errors(client):
    missing = client.post("/nest/transport/put", data=b"{}")
    assert (missing.status_code, missing.data) == (400, b'{"error":"Device serial required"}')
    bad = client.post("/nest/transport/put", data=b"[1]", headers=auth(new_serial()))
    assert (bad.status_code, bad.data) == (400, b'{"error":"Invalid JSON"}')
