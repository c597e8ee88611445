"""GET /api/devices, GET/DELETE /api/registered-devices (spec §7.2, §7.3)."""

from __future__ import annotations

from tests.nest.factories import auth, claim, issue_key, new_serial


def test_devices_listing(client):
    assert client.get("/api/devices").data == b'{"devices":[],"total":0}'
    paired, unpaired = new_serial(), new_serial()
    claim(client, issue_key(client, paired)["value"], user="alice")
    client.get("/nest/ping", headers=auth(unpaired))
    client.get("/nest/passphrase", headers=auth(unpaired))
    body = client.get("/api/devices").get_json()
    assert body["total"] == 2
    assert [d["serial"] for d in body["devices"]] == [unpaired, paired]  # newest first
    device = body["devices"][1]
    assert list(device) == ["serial", "userId", "paired", "lastSeen", "subscriptions", "createdAt"]
    assert device["userId"] == "alice" and device["paired"] is True and device["subscriptions"] == 0
    assert body["devices"][0]["userId"] is None and body["devices"][0]["paired"] is False
    only = client.get("/api/devices?userId=alice").get_json()
    assert [d["serial"] for d in only["devices"]] == [paired] and only["total"] == 1
    assert client.get("/api/devices?userId=nobody").data == b'{"devices":[],"total":0}'


def test_registered_devices_and_delete(client):
    first, second = new_serial(), new_serial()
    claim(client, issue_key(client, first)["value"])
    claim(client, issue_key(client, second)["value"])
    listing = client.get("/api/registered-devices").get_json()  # default userId homeassistant
    assert [d["serial"] for d in listing] == [second, first]
    assert all(list(d) == ["serial", "createdAt"] for d in listing)

    deleted = client.delete(f"/api/registered-devices/{first.lower()}")
    assert deleted.data == f'{{"success":true,"message":"Device {first.lower()} deleted"}}'.encode()
    again = client.delete(f"/api/registered-devices/{first}")
    assert again.data == f'{{"success":false,"message":"Device {first} not found"}}'.encode()
    other_user = client.delete(f"/api/registered-devices/{second}?userId=mallory")
    assert other_user.get_json()["success"] is False
    bad = client.delete("/api/registered-devices/bad.serial!")
    assert (bad.status_code, bad.data) == (
        400,
        b'{"success":false,"message":"Invalid device serial format"}',
    )
    # The remaining device's structure no longer lists the deleted one.
    sent = client.post("/nest/transport", data=b"{}", headers=auth(second)).get_json()["objects"]
    structure = [o for o in sent if o["object_key"] == "structure.homeassistant"][0]
    assert structure["value"]["devices"] == [second]


def test_minor_endpoints(client):
    serial = new_serial()
    ping = client.get("/nest/ping").get_json()
    assert list(ping) == ["status", "timestamp"] and ping["status"] == "ok"
    assert client.post("/upload", data=b"logs...").data == b'{"status":"ok"}'
    # No weather source: not advertised (issue 14), and not served.
    for path in ("/nest/weather/v1?query=x", "/nest/unknown/path"):
        response = client.get(path)
        assert (response.status_code, response.data) == (404, b'{"error":"Not found"}')
    response = client.get("/nest/transport", headers=auth(serial))
    assert (response.status_code, response.data) == (404, b'{"error":"Not found"}')
    response = client.delete("/nest/passphrase")
    assert (response.status_code, response.data) == (405, b'{"error":"Method not allowed"}')


def test_entry_urls(client):
    body = client.get("/nest/entry", base_url="http://thermo.lan").data.decode()
    assert body.startswith('{"czfe_url":"http://thermo.lan:80/nest/transport","transport_url":')
    assert body.endswith('"software_update_url":"","server_version":"1.0.0","tier_name":"local"}')
    https = client.post("/entry", base_url="https://h.example", data={"mac": "x"}).get_json()
    assert https["passphrase_url"] == "https://h.example:443/nest/passphrase"
    port = client.get("/entry/", base_url="http://192.168.1.5:8082").get_json()
    assert port["pro_info_url"] == "http://192.168.1.5:8082/nest/pro_info"
    assert "weather_url" not in port
    v6 = client.get("/nest/entry", base_url="http://[::1]:8082").get_json()
    assert v6["upload_url"] == "http://[::1]:8082/nest/upload"


def test_entry_origin_from_config(make_app):
    app = make_app(NEST_API_ORIGIN="http://10.0.0.2:8082/")
    body = app.test_client().get("/nest/entry").get_json()
    assert body["transport_url"] == "http://10.0.0.2:8082/nest/transport"
