"""/healthz reports each part: the database, the migrations, Redis."""

import requests

HEALTHY = b'{"status":"ok","database":"ok","migrations":"head","redis":"not used"}'


def test_healthz_in_process(client):
    # The in-process fixtures build tables without Alembic: healthy, but not migrated.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "degraded",
        "database": "ok",
        "migrations": "not migrated",
        "redis": "not used",
    }


def test_healthz_live(live):
    response = requests.get(live.url + "/healthz", timeout=5)
    assert response.content == HEALTHY
    assert response.headers["Content-Type"] == "application/json"
