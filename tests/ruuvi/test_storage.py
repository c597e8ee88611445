"""What the database keeps: no code and no token in clear, only their HMAC and SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import re

from tests.ruuvi.helpers import read_rows, unique_email


def _every_value(database_url: str) -> list[str]:
    tables = [
        name
        for (name,) in read_rows(database_url, "SELECT name FROM sqlite_master WHERE type='table'")
    ]
    values = []
    for table in tables:
        for row in read_rows(database_url, f'SELECT * FROM "{table}"'):
            values.extend(str(value) for value in row if value is not None)
    return values


def test_the_database_holds_no_code_or_token_in_clear(ruuvi, ruuvi_live):
    address = unique_email("Stored")
    assert ruuvi.register(address).status_code == 200
    used_code = ruuvi.code_for(address)
    token = ruuvi.verify(used_code).json()["data"]["accessToken"]
    assert ruuvi.register(address).status_code == 200
    live_code = ruuvi.code_for(address, 2)  # issued, not yet used
    url = ruuvi_live.env["DATABASE_URL"]

    values = _every_value(url)

    secret = token.split("/")[1]
    for code in (used_code, live_code):
        alone = re.compile(rf"(?<![A-Za-z0-9]){code}(?![A-Za-z0-9])", re.IGNORECASE)
        assert not [v for v in values if alone.search(v)], code
    assert not [v for v in values if secret in v or token in v]
    assert not [v for v in values if "verification code is" in v]  # outbox bodies are sealed
    key = ruuvi_live.env["SECRET_KEY"].encode()
    stored_codes = {c for (c,) in read_rows(url, "SELECT code_hmac FROM ruuvi_code")}
    assert hmac.new(key, live_code.encode(), hashlib.sha256).hexdigest() in stored_codes
    stored_tokens = {t for (t,) in read_rows(url, "SELECT token_hash FROM ruuvi_token")}
    assert hashlib.sha256(token.encode()).hexdigest() in stored_tokens
