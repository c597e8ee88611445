"""Hue test helpers: apps with chosen settings, raw POSTs, the link button."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest
import requests

SEED_USERNAME = "burgestrand"
NOT_PRESSED = b'[{"error":{"type":101,"address":"","description":"link button not pressed"}}]'
HUE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
UNTIL = re.compile(
    r"Link button pressed; registration open until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z\n"
)


@pytest.fixture
def make_client(make_app):
    """Factory: ``make_client(**settings)`` → a test client on a fresh database."""
    return lambda **settings: make_app(**settings).test_client()


def press(client) -> None:
    """Press the link button the way the CLI does, in ``client``'s app."""
    result = client.application.test_cli_runner().invoke(args=["hue", "press-link-button"])
    assert result.exit_code == 0, result.output


def post_api(client, body, **kwargs):
    """``POST /api`` with ``body`` (bytes as is, anything else as JSON text), no Content-Type."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api", data=data, **kwargs)


def register(client, devicetype: str = "test#app", **extra) -> str:
    """Register (the button must be pressed) and return the username."""
    response = post_api(client, {"devicetype": devicetype, **extra})
    return response.get_json()[0]["success"]["username"]


def registered_client(make_client, **settings):
    """A client plus one registered key; the link window is closed again afterwards."""
    client = make_client(**settings)
    press(client)
    key = register(client)
    assert client.put(f"/api/{key}/config", data=b'{"linkbutton":false}').status_code == 200
    return client, key


def assert_hue_json(response, status: int = 200) -> None:
    """HTTP 200 (by default), ``application/json`` and a JSON body."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"


def epoch(hue_date: str) -> int:
    """A Hue UTC date string as epoch seconds."""
    return int(datetime.strptime(hue_date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())


# --- live servers --------------------------------------------------------------------------


def live_press(server) -> int:
    """Press with ``flask hue press-link-button`` as a separate process; returns the close time."""
    result = server.flask("hue", "press-link-button")
    match = UNTIL.fullmatch(result.stdout)
    assert match, result.stdout
    return epoch(match.group(1))


def live_post(server, body, path: str = "/api") -> requests.Response:
    """A raw ``POST`` with a JSON body and no Content-Type, on a fresh connection."""
    return requests.post(server.url + path, data=json.dumps(body).encode(), timeout=10)


def live_close(server, key: str) -> None:
    """Close the link window through a whitelisted key."""
    response = requests.put(
        f"{server.url}/api/{key}/config", data=b'{"linkbutton":false}', timeout=10
    )
    assert response.content == b'[{"success":{"/config/linkbutton":false}}]'


def wait_until(epoch_s: float) -> None:
    """Sleep until the wall clock reaches ``epoch_s`` (plus a little)."""
    delay = epoch_s - time.time() + 0.05
    if delay > 0:
        time.sleep(delay)
