"""Hue registration on PostgreSQL under gunicorn: races on one username, key order, deletes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.hue.conftest import live_post, live_press

pytestmark = [pytest.mark.postgres, pytest.mark.live]


def test_registration_races_and_whitelist_on_postgres(
    migrated_postgres_url, redis_url, start_server
):
    server = start_server(
        workers=2,
        DATABASE_URL=migrated_postgres_url,
        REDIS_URL=redis_url,
        HUE_LINK_MAX_REGISTRATIONS=17,
    )
    live_press(server)

    # Concurrent first registrations of one client username: one row, every answer a success,
    # and only the request that created the key gets its clientkey.
    body = {"username": "racingname01", "devicetype": "race#1", "generateclientkey": True}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: live_post(server, body).json(), range(16)))
    assert all(answer[0]["success"]["username"] == "racingname01" for answer in answers)
    clientkeys = [answer[0]["success"].get("clientkey") for answer in answers]
    assert len([key for key in clientkeys if key is not None]) == 1
    generated = live_post(server, {"devicetype": "pg#gen"}).json()[0]["success"]["username"]

    config = requests.get(f"{server.url}/api/racingname01/config", timeout=10)
    assert config.content.startswith(b'{"name":"homepair","datastoreversion":"126"')
    whitelist = config.json()["whitelist"]
    assert list(whitelist["racingname01"]) == ["last use date", "create date", "name"]
    assert generated in whitelist

    deleted = requests.delete(
        f"{server.url}/api/{generated}/config/whitelist/racingname01", timeout=10
    )
    assert deleted.content == b'[{"success":"/config/whitelist/racingname01 deleted"}]'
    refused = requests.get(f"{server.url}/api/racingname01/lights", timeout=10)
    assert refused.content == (
        b'[{"error":{"type":1,"address":"/lights","description":"unauthorized user"}}]'
    )
