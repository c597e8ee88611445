"""Small factories for Nest tests."""

from __future__ import annotations

import base64
import itertools
import secrets

_counter = itertools.count(1)


def new_serial() -> str:
    """A unique, valid device serial."""
    return f"02AA{secrets.token_hex(4).upper()}{next(_counter):05d}"


def auth(serial: str) -> dict[str, str]:
    """Firmware-style Basic credentials for ``serial``."""
    token = base64.b64encode(f"d.{serial}.rand:password".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def issue_key(client, serial: str) -> dict:
    """``GET /nest/passphrase`` for ``serial`` through a Flask test client."""
    response = client.get("/nest/passphrase", headers=auth(serial))
    assert response.status_code == 200, response.data
    return response.get_json()


def claim(client, code: str, user: str = "homeassistant", **kw):
    """``POST /api/register`` through a Flask test client."""
    return client.post("/api/register", json={"code": code, "userId": user}, **kw)
