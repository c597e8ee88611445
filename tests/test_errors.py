"""Failures answer in the protocol's envelope: never an HTML page, never a bare 500."""

from __future__ import annotations

from sqlalchemy import text

from app import create_app
from app.extensions import db
from tests.nest.factories import auth, new_serial


def test_healthz_reports_a_broken_database(tmp_path):
    folder = tmp_path / "gone"
    folder.mkdir()
    # TESTING: no background loops (mail, sweeps, audit) left polling a vanished database.
    broken = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{folder}/x.db", "SECRET_KEY": "s"}
    )
    folder.rmdir()  # the database's folder disappears under the running app
    response = broken.test_client().get("/healthz")
    assert (response.status_code, response.data) == (
        503,
        b'{"status":"error","database":"down","migrations":"unknown","redis":"not used"}',
    )


def test_internal_failures_use_each_namespace_envelope(app, client):
    with app.app_context():
        db.session.execute(text("DROP TABLE nest_device"))
        db.session.execute(text("DROP TABLE nest_entry_key"))
        db.session.commit()
    device = client.get("/nest/passphrase", headers=auth(new_serial()))
    assert (device.status_code, device.data) == (500, b'{"error":"Internal error"}')
    control = client.post("/api/register", json={"code": "ABCDEFG", "userId": "u"})
    assert (control.status_code, control.data) == (
        500,
        b'{"success":false,"message":"Internal error"}',
    )
    assert control.headers["Content-Type"] == "application/json"


def test_unknown_paths_elsewhere_are_json(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert b"<html" not in response.data.lower()
