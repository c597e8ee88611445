"""GET /nest/passphrase and /nest/passphrase/status."""

from __future__ import annotations

import re

from app.clock import now_ms
from app.extensions import db
from app.nest.models import NestEntryKey
from tests.nest.factories import auth, claim, issue_key, new_serial


def test_key_shape_and_expiry_in_ms(app, client):
    before = now_ms()
    response = client.get("/nest/passphrase", headers=auth(new_serial()))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert list(body) == ["value", "expires"]
    assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{7}", body["value"])
    assert isinstance(body["expires"], int)
    assert before + 3600_000 <= body["expires"] <= now_ms() + 3600_000
    assert response.data == f'{{"value":"{body["value"]}","expires":{body["expires"]}}}'.encode()


def test_pending_key_is_served_again(client):
    serial = new_serial()
    first = issue_key(client, serial)
    assert issue_key(client, serial) == first
    # Aliases and trailing slash reach the same endpoint.
    assert client.get("/passphrase/", headers=auth(serial)).get_json() == first


def test_new_key_after_claim(client):
    serial = new_serial()
    first = issue_key(client, serial)
    assert claim(client, first["value"]).get_json()["success"] is True
    second = issue_key(client, serial)
    assert second["value"] != first["value"]
    # The claimed key was deleted: its code can no longer be found in any state.
    assert claim(client, first["value"]).get_json()["success"] is False


def test_new_key_after_expiry(app, client):
    serial = new_serial()
    first = issue_key(client, serial)
    with app.app_context():
        row = db.session.query(NestEntryKey).filter_by(serial=serial).one()
        row.expires_at = now_ms() - 1
        db.session.commit()
    second = issue_key(client, serial)
    assert second["value"] != first["value"]
    assert second["expires"] > first["expires"] - 1
    with app.app_context():
        assert db.session.query(NestEntryKey).filter_by(serial=serial).count() == 1


def test_ttl_is_configurable(make_app):
    app = make_app(NEST_ENTRY_KEY_TTL_SECONDS=1800)
    before = now_ms()
    body = app.test_client().get("/nest/passphrase", headers=auth(new_serial())).get_json()
    assert before + 1800_000 <= body["expires"] <= now_ms() + 1800_000


def test_status_cases(client):
    serial = new_serial()
    no_key = client.get("/nest/passphrase/status", headers=auth(serial))
    assert no_key.data == (
        b'{"status":"no_key","claimed":false,"message":"No entry key found for this device"}'
    )
    key = issue_key(client, serial)
    pending = client.get("/nest/passphrase/status", headers=auth(serial))
    assert (
        pending.data
        == f'{{"status":"pending","claimed":false,"expiresAt":{key["expires"]}}}'.encode()
    )
    claim(client, key["value"], user="alice")
    claimed = client.get("/nest/passphrase/status", headers=auth(serial)).get_json()
    assert list(claimed) == ["status", "claimed", "claimedBy", "claimedAt"]
    assert claimed["status"] == "claimed" and claimed["claimedBy"] == "alice"
    assert isinstance(claimed["claimedAt"], int)
    missing = client.get("/nest/passphrase/status")
    assert (missing.status_code, missing.data) == (400, b'{"error":"Device serial required"}')


def test_short_serials_are_not_serials(client):
    response = client.get("/nest/passphrase", headers={"X-nl-device-id": "ABC-123"})
    assert response.status_code == 400


def test_codes_are_unique_among_pending_keys(client):
    codes = {issue_key(client, new_serial())["value"] for _ in range(200)}
    assert len(codes) == 200
