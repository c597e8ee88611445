"""The same code and migrations on PostgreSQL (psycopg 3), live under gunicorn + gevent."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live import BIN, ROOT, clean_env
from tests.nest.factories import auth, new_serial
from tests.rawhttp import subscribe

pytestmark = [pytest.mark.postgres, pytest.mark.live]


def flask_db(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=clean_env(DATABASE_URL=url, SECRET_KEY="s"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrations_up_check_and_down_on_postgres(postgres_url):
    up = flask_db(postgres_url, "upgrade")
    assert up.returncode == 0, up.stderr
    check = flask_db(postgres_url, "check")
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    down = flask_db(postgres_url, "downgrade", "base")
    assert down.returncode == 0, down.stderr


@pytest.fixture
def pg_server(migrated_postgres_url, start_server):
    return start_server(
        DATABASE_URL=migrated_postgres_url, NEST_REGISTER_LIMIT_PER_IP="1000/minute"
    )


def test_pairing_push_and_key_order_on_postgres(pg_server):
    serial = new_serial()
    # Bucket values keep their key order (stored as text, never jsonb).
    objects = [{"object_key": f"shared.{serial}", "value": {"z": 1, "a": 2, "m": 3}}]
    immediate = requests.post(
        pg_server.url + "/nest/transport",
        data=json.dumps({"objects": objects}),
        headers=auth(serial),
        timeout=5,
    )
    assert b'"value":{"z":1,"a":2,"m":3}' in immediate.content

    code = requests.get(pg_server.url + "/nest/passphrase", headers=auth(serial), timeout=5).json()[
        "value"
    ]
    stream = subscribe(pg_server.url, serial)
    stream.read_head()
    claim = requests.post(
        pg_server.url + "/api/register", json={"code": code, "userId": "pguser"}, timeout=5
    )
    assert claim.json()["success"] is True
    chunk = json.loads(stream.read_chunk(timeout=1.0))
    assert [o["object_key"] for o in chunk["objects"]] == ["user.pguser", "structure.pguser"]
    stream.close()


def test_races_on_postgres(pg_server):
    serial = new_serial()
    with ThreadPoolExecutor(20) as pool:
        keys = list(
            pool.map(
                lambda _: requests.get(
                    pg_server.url + "/nest/passphrase", headers=auth(serial), timeout=10
                ).json(),
                range(20),
            )
        )
    assert len({k["value"] for k in keys}) == 1, keys
    code = keys[0]["value"]
    with ThreadPoolExecutor(50) as pool:
        results = list(
            pool.map(
                lambda n: requests.post(
                    pg_server.url + "/api/register",
                    json={"code": code, "userId": f"u{n}"},
                    timeout=10,
                ).json(),
                range(50),
            )
        )
    assert sum(r["success"] for r in results) == 1
