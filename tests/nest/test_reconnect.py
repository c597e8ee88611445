"""The firmware's reconnects (issue 14): owner buckets again after a reboot, without a spin;
the ts-0 placeholder; the entry URLs; an ownership transfer clears the old owner's buckets."""

from __future__ import annotations

import json
import time

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.nest.models import NestBucket
from tests.nest.factories import auth, claim, issue_key, new_serial
from tests.rawhttp import subscribe


def _keys(response) -> list[str]:
    return [o["object_key"] for o in response.get_json()["objects"]]


def _subscribe(client, serial: str, objects: list | None = None):
    return client.post("/nest/transport", json={"objects": objects or []}, headers=auth(serial))


def test_a_device_that_does_not_list_its_owner_buckets_gets_them_again(make_app):
    # Hold period = NEST_SUSPEND_TIME_MAX - 10 = 1 s.
    client = make_app(NEST_SUSPEND_TIME_MAX=11).test_client()
    serial = new_serial()
    assert claim(client, issue_key(client, serial)["value"], "ivy").get_json()["success"]
    owner = ["user.ivy", "structure.ivy"]
    assert _keys(_subscribe(client, serial)) == owner
    # At once again (a rebooted thermostat that lost them), within the hold period: nothing,
    # so a device that never lists them is held, not answered in a loop.
    assert _keys(_subscribe(client, serial)) == []
    time.sleep(1.1)
    # A hold period later they come again: a device that lost them is paired again.
    again = _subscribe(client, serial).get_json()["objects"]
    assert [o["object_key"] for o in again] == owner
    # Listing them, current, is enough to have nothing sent.
    listed = [
        {k: o[k] for k in ("object_key", "object_revision", "object_timestamp")} for o in again
    ]
    time.sleep(1.1)
    assert _keys(_subscribe(client, serial, listed)) == []


@pytest.mark.live
def test_a_device_that_never_lists_its_owner_buckets_does_not_spin(start_server):
    # A firmware-like loop for 30 s: subscribe (chunked), read the answer, subscribe again.
    server = start_server(NEST_SUSPEND_TIME_MAX=20)  # held 10 s
    serial = new_serial()
    code = requests.get(server.url + "/nest/passphrase", headers=auth(serial), timeout=5)
    done = requests.post(
        server.url + "/api/register",
        json={"code": code.json()["value"], "userId": "jay"},
        timeout=5,
    )
    assert done.json()["success"] is True
    subscribes, deliveries = 0, 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stream = subscribe(server.url, serial)
        subscribes += 1
        stream.read_head(timeout=5)
        try:
            chunk = stream.read_chunk(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            chunk = None
        stream.close()
        if chunk:
            deliveries += 1
            assert [o["object_key"] for o in json.loads(chunk)["objects"]] == [
                "user.jay",
                "structure.jay",
            ]
    # Without the guard every subscribe is answered at once: thousands in 30 s. With it, one
    # answer and one 10 s hold per period.
    assert 2 <= deliveries <= 4 and subscribes <= 2 * deliveries + 1, (subscribes, deliveries)


def test_an_unknown_bucket_listed_at_timestamp_0_gets_the_placeholder_once(client):
    serial = new_serial()
    key = f"schedule.{serial}"
    listed = [{"object_key": key, "object_revision": 0, "object_timestamp": 0}]
    first = _subscribe(client, serial, listed)
    assert (
        first.data
        == (
            f'{{"objects":[{{"object_revision":0,"object_timestamp":0,"object_key":"{key}",'
            f'"value":{{}}}}]}}'
        ).encode()
    )
    # Answered once: listing it again at 0 is held, not answered at once in a loop.
    assert _keys(_subscribe(client, serial, listed)) == []
    # The device then uploads its state, which is stored as a server write.
    put = client.post(
        "/nest/transport/put",
        json={"objects": [{"object_key": key, "value": {"days": {}}}]},
        headers=auth(serial),
    ).get_json()["objects"]
    assert put[0]["object_revision"] == 1 and put[0]["object_timestamp"] > 0
    # A listed owner bucket at 0 is the real bucket, never a placeholder.
    other = new_serial()
    assert claim(client, issue_key(client, other)["value"], "kim").get_json()["success"]
    owned = [{"object_key": "user.kim", "object_revision": 0, "object_timestamp": 0}]
    sent = _subscribe(client, other, owned).get_json()["objects"]
    assert sent[0]["object_key"] == "user.kim" and sent[0]["value"] == {"name": "kim"}


def test_every_entry_url_answers_2xx_or_is_absent(client):
    serial = new_serial()
    entry = client.get("/nest/entry", base_url="http://thermo.lan").get_json()
    assert "weather_url" not in entry
    # Each URL with the method the firmware uses on it.
    methods = {"passphrase_url": "GET", "pro_info_url": "GET", "upload_url": "POST"}
    for name, url in entry.items():
        if not name.endswith("_url") or not url:
            continue  # software_update_url is empty: no updates offered
        path = url.removeprefix("http://thermo.lan:80")
        method = methods.get(name, "POST")  # the transport URLs take subscribes
        response = client.open(path, method=method, data=b"{}", headers=auth(serial))
        assert 200 <= response.status_code < 300, (name, response.status_code, response.data)
    code = client.get("/nest/pro_info/A1B2C3").get_json()
    assert code["pro_id"] == "A1B2C3" and code["dba"] == "homepair"


def test_a_transfer_clears_the_previous_owners_buckets_from_the_device(app, client):
    serial, others = new_serial(), new_serial()
    for device in (serial, others):
        assert claim(client, issue_key(client, device)["value"], "lee").get_json()["success"]
    assert claim(client, issue_key(client, serial)["value"], "max").get_json()["success"]
    with app.app_context():
        stored = set(
            db.session.execute(
                select(NestBucket.object_key).where(NestBucket.serial == serial)
            ).scalars()
        )
    assert {"user.max", "structure.max"} <= stored
    assert not stored & {"user.lee", "structure.lee"}
    # What the device is sent names the new owner only; the old owner's other device no
    # longer lists it.
    assert _keys(_subscribe(client, serial)) == ["user.max", "structure.max"]
    sent = _subscribe(client, others).get_json()["objects"]
    structure = [o for o in sent if o["object_key"] == "structure.lee"][0]
    assert structure["value"]["devices"] == [others]
