"""Subscribe in immediate mode: the rev/ts rules of spec §4.2, through the test client."""

from __future__ import annotations

import json

from tests.nest.factories import auth, claim, issue_key, new_serial


def subscribe(client, serial, objects=None, **body):
    payload = {"objects": objects or [], **body}
    return client.post("/nest/transport", data=json.dumps(payload), headers=auth(serial))


def objects(response):
    return response.get_json()["objects"]


def test_headers_and_empty_answer(client):
    response = subscribe(client, new_serial())
    assert response.status_code == 200
    assert response.data == b'{"objects":[]}'
    assert response.headers["X-nl-suspend-time-max"] == "300"
    assert response.headers["X-nl-defer-device-window"] == "15"
    assert int(response.headers["X-nl-service-timestamp"]) > 1_700_000_000_000


def test_inline_value_is_stored_and_echoed_as_new_version(client):
    serial = new_serial()
    key = f"shared.{serial}"
    first = objects(subscribe(client, serial, [{"object_key": key, "value": {"a": 1}}]))
    assert [o["object_key"] for o in first] == [key]
    assert first[0]["object_revision"] == 1 and first[0]["value"] == {"a": 1}
    merged = objects(subscribe(client, serial, [{"object_key": key, "value": {"b": 2}}]))
    assert merged[0]["object_revision"] == 2
    assert merged[0]["value"] == {"a": 1, "b": 2}
    assert merged[0]["object_timestamp"] > first[0]["object_timestamp"]
    # The same inline value again changes nothing but is still sent.
    same = objects(subscribe(client, serial, [{"object_key": key, "value": {"b": 2}}]))
    assert same[0]["object_revision"] == 2


def test_newer_server_copy_is_sent_equal_timestamp_is_in_sync(client):
    serial = new_serial()
    key = f"device.{serial}"
    stored = objects(subscribe(client, serial, [{"object_key": key, "value": {"x": 1}}]))[0]
    ts, rev = stored["object_timestamp"], stored["object_revision"]
    older = objects(
        subscribe(
            client,
            serial,
            [{"object_key": key, "object_revision": rev, "object_timestamp": ts - 5}],
        )
    )
    assert older == [stored]
    # Equal timestamp: in sync, even with a different revision (no revision tiebreak).
    assert (
        objects(
            subscribe(
                client,
                serial,
                [{"object_key": key, "object_revision": rev + 9, "object_timestamp": ts}],
            )
        )
        == []
    )
    # Listed with ts 0 (and no value): the device knows nothing, send it.
    assert objects(subscribe(client, serial, [{"object_key": key}])) == [stored]


def test_device_newer_copy_is_stored_and_nothing_sent(client):
    serial = new_serial()
    key = f"device.{serial}"
    stored = objects(subscribe(client, serial, [{"object_key": key, "value": {"x": 1, "y": 1}}]))[0]
    newer_ts = stored["object_timestamp"] + 1000
    answer = subscribe(
        client,
        serial,
        [
            {
                "object_key": key,
                "object_revision": 77,
                "object_timestamp": newer_ts,
                "value": {"y": 2},
            }
        ],
    )
    assert objects(answer) == []
    # Listed as known-old, the stored copy comes back with the device's version and merge.
    back = objects(
        subscribe(
            client, serial, [{"object_key": key, "object_revision": 1, "object_timestamp": 1}]
        )
    )
    assert back == [
        {
            "object_revision": 77,
            "object_timestamp": newer_ts,
            "object_key": key,
            "value": {"x": 1, "y": 2},
        }
    ]


def test_unknown_bucket_gets_the_placeholder(client):
    # Issue 14 replaces spec §4 rule 4: "no data here" makes the device upload its state.
    serial = new_serial()
    assert objects(subscribe(client, serial, [{"object_key": f"schedule.{serial}"}])) == [
        {
            "object_revision": 0,
            "object_timestamp": 0,
            "object_key": f"schedule.{serial}",
            "value": {},
        }
    ]


def test_malformed_entries_are_skipped(client):
    serial = new_serial()
    entries = [
        "string",
        {"object_revision": 1},
        {"object_key": 5},
        {
            "object_key": f"a.{serial}",
            "object_revision": "x",
            "object_timestamp": None,
            "value": {"k": 1},
        },
        {"object_key": f"b.{serial}", "value": [1, 2]},
    ]
    sent = objects(subscribe(client, serial, entries))
    # Non-integer rev/ts count as 0, so the first valid entry is an inline value; the second,
    # its non-object value absent, is unknown at 0: the placeholder.
    assert [o["object_key"] for o in sent] == [f"a.{serial}", f"b.{serial}"]
    assert sent[1]["value"] == {} and sent[1]["object_timestamp"] == 0


def test_top_level_bucket_form(client):
    serial = new_serial()
    body = {
        "session": "x",
        "shared": {"object_key": f"shared.{serial}", "value": {"t": 20}},
        "bogus": {"object_key": "z"},
    }
    response = client.post("/nest/transport", data=json.dumps(body), headers=auth(serial))
    assert [o["object_key"] for o in objects(response)] == [f"shared.{serial}"]


def test_owner_buckets_are_sent_until_recorded(client):
    serial = new_serial()
    claim(client, issue_key(client, serial)["value"], user="user_alice")
    first = objects(subscribe(client, serial))
    assert [o["object_key"] for o in first] == ["user.user_alice", "structure.alice"]
    assert first[0]["value"] == {"name": "user_alice"}
    assert first[1]["value"] == {"name": "Home", "devices": [serial]}
    # Delivered: the next subscribe has nothing new.
    assert objects(subscribe(client, serial)) == []
    # Back on the pairing screen (a passphrase request): they are sent again.
    issue_key(client, serial)
    assert [o["object_key"] for o in objects(subscribe(client, serial))] == [
        "user.user_alice",
        "structure.alice",
    ]


def test_wire_key_order(client):
    serial = new_serial()
    claim(client, issue_key(client, serial)["value"], user="homeassistant")
    raw = subscribe(client, serial).data.decode()
    assert raw.startswith('{"objects":[{"object_revision":1,"object_timestamp":')
    assert '"object_key":"user.homeassistant","value":{"name":"homeassistant"}}' in raw
    assert (
        f'"object_key":"structure.homeassistant","value":{{"name":"Home","devices":["{serial}"]}}}}]}}'
        in raw
    )


def test_structure_lists_all_devices_of_the_user(client):
    first, second = new_serial(), new_serial()
    claim(client, issue_key(client, first)["value"], user="bob")
    claim(client, issue_key(client, second)["value"], user="bob")
    for serial in (first, second):
        sent = {o["object_key"]: o for o in objects(subscribe(client, serial))}
        assert sent["structure.bob"]["value"]["devices"] == [first, second]


def test_transfer_drops_device_from_old_owner_structure(client):
    kept, moved = new_serial(), new_serial()
    claim(client, issue_key(client, kept)["value"], user="carol")
    claim(client, issue_key(client, moved)["value"], user="carol")
    objects(subscribe(client, kept))  # deliver
    claim(client, issue_key(client, moved)["value"], user="dave")
    update = {o["object_key"]: o for o in objects(subscribe(client, kept))}
    assert update["structure.carol"]["value"]["devices"] == [kept]


def test_bad_requests(client):
    serial = new_serial()
    missing = client.post("/nest/transport", data=b"{}")
    assert (missing.status_code, missing.data) == (400, b'{"error":"Device serial required"}')
    for data in (b"", b"[]", b"nope", b'"x"'):
        response = client.post("/nest/transport", data=data, headers=auth(serial))
        assert (response.status_code, response.data) == (400, b'{"error":"Invalid JSON"}')


def test_target_temperature_header_only_for_chunked(client):
    serial = new_serial()
    entry = [{"object_key": f"shared.{serial}", "value": {"target_temperature": 21.5}}]
    response = subscribe(client, serial, entry)
    assert "X-nl-disable-defer-window" not in response.headers
