"""What every answer must look like, whatever the input, and ways to send fuzzed requests.

:func:`check_answer` is the oracle of the fuzz tests: no 5xx, never HTML, the spec's JSON byte
form, and the envelope of the protocol the path belongs to (README.md of the spec, "Answers
outside the happy path"). It takes plain values so the in-process tests (Flask test client)
and the live ones (schemathesis over HTTP) share it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from requests.structures import CaseInsensitiveDict
from sqlalchemy import select

import app.hue  # noqa: F401  (the protocols' error namespaces register as they are imported)
import app.nest  # noqa: F401
import app.ruuvi  # noqa: F401
from app import mail
from app.envelopes import json_bytes
from app.errors import namespace_of
from app.extensions import db
from app.models import MailOutbox
from tests.ruuvi.helpers import CODE_LINE

RUUVI_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
BUCKET_KEYS = ["object_revision", "object_timestamp", "object_key"]
ENTRY_KEYS = [
    "czfe_url",
    "transport_url",
    "direct_transport_url",
    "passphrase_url",
    "ping_url",
    "pro_info_url",
    "upload_url",
    "software_update_url",
    "server_version",
    "tier_name",
]
NEST_DEVICE_SHAPES = [
    ["objects"],
    ["value", "expires"],
    ["status", "claimed", "message"],
    ["status", "claimed", "claimedBy", "claimedAt"],
    ["status", "claimed", "expiresAt"],
    ["id", "pro_id", "dba", "locality", "website", "rating"],
    ["status", "timestamp"],
    ["status"],
    ENTRY_KEYS,
]
DEVICE_KEYS = ["serial", "userId", "paired", "lastSeen", "subscriptions", "createdAt"]
HUE_SHORT_CONFIG = [
    "name",
    "datastoreversion",
    "swversion",
    "apiversion",
    "mac",
    "bridgeid",
    "factorynew",
    "replacesbridgeid",
    "modelid",
    "starterkitid",
]
HUE_STATE = [
    "lights",
    "groups",
    "config",
    "schedules",
    "scenes",
    "rules",
    "sensors",
    "resourcelinks",
]


@dataclass
class Answer:
    """One answer as the client saw it. ``held``: a long-poll still open when we let go."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    held: bool = False

    def json(self):
        """The body as JSON."""
        return json.loads(self.body)


def send(client, method: str, path: str, data: bytes = b"", headers=None, ip=None) -> Answer:
    """One request through a Flask test client.

    The body is read lazily: a chunked subscribe that starts a hold yields an empty first
    piece and then waits, so it is closed at once and reported as ``held`` (a test cannot
    wait seconds per example); an answer sent at once is read whole.
    """
    environ = {"REMOTE_ADDR": ip} if ip else {}
    response = client.open(
        path, method=method, data=data, headers=headers or {}, environ_base=environ, buffered=False
    )
    try:
        pieces = []
        held = False
        for piece in response.response:
            if not piece and not pieces:
                held = True
                break
            pieces.append(piece)
        return Answer(response.status_code, dict(response.headers), b"".join(pieces), held)
    finally:
        response.close()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nest_device(status: int, value) -> None:
    if status >= 400:
        assert list(value) == ["error"] and isinstance(value["error"], str), value
        return
    assert status == 200, status
    assert isinstance(value, dict) and list(value) in NEST_DEVICE_SHAPES, value
    for item in value.get("objects", []):
        keys = list(item)
        assert keys in (BUCKET_KEYS, [*BUCKET_KEYS, "value"]), item
        assert _is_int(item["object_revision"]) and _is_int(item["object_timestamp"]), item
        assert isinstance(item["object_key"], str), item


def _nest_control(status: int, value) -> None:
    if isinstance(value, list):  # GET /api/registered-devices
        assert status == 200
        assert all(list(d) == ["serial", "createdAt"] for d in value), value
        return
    if list(value) == ["devices", "total"]:
        assert status == 200
        assert all(list(d) == DEVICE_KEYS for d in value["devices"]), value
        assert len(value["devices"]) <= value["total"]  # one page of them
        return
    assert list(value) in (["success", "message"], ["success", "serial", "message"]), value
    assert isinstance(value["success"], bool) and isinstance(value["message"], str), value
    if value["success"]:
        assert status == 200, value
    if status != 200:
        assert value["success"] is False, value


def _hue_item(item) -> None:
    assert isinstance(item, dict) and list(item) in (["success"], ["error"]), item
    if "error" in item:
        error = item["error"]
        assert list(error) == ["type", "address", "description"], error
        assert _is_int(error["type"]), error
        assert isinstance(error["address"], str) and isinstance(error["description"], str)


def _hue(status: int, value) -> None:
    assert status == 200, status
    if isinstance(value, list):
        assert value, "empty result array"
        for item in value:
            _hue_item(item)
    elif "bridgeid" in value:
        assert list(value)[: len(HUE_SHORT_CONFIG)] == HUE_SHORT_CONFIG, value
    elif "lights" in value:
        assert list(value) == HUE_STATE, value
    else:
        assert value == {}, value


def _ruuvi(status: int, value) -> None:
    if value.get("result") == "error":
        assert list(value) == ["result", "error", "code", "sub_code"], value
        assert status >= 400, status
        assert value["code"].startswith("ER_"), value
        assert value["sub_code"] is None or value["sub_code"].startswith("ER_"), value
    else:
        assert list(value) == ["result", "data"] and value["result"] == "success", value
        assert status == 200, status


def _other(status: int, value) -> None:
    if status >= 400:  # the Nest-style error, or /healthz's {"status":"error",…}
        assert list(value) in (["error"], ["status", "database", "migrations", "redis"]), value
    else:
        assert isinstance(value, dict), value


_CHECKS = {
    "nest-device": _nest_device,
    "nest-control": _nest_control,
    "hue": _hue,
    "ruuvi": _ruuvi,
    "other": _other,
}


def check_answer(
    method: str, path: str, answer: Answer, database_down: bool = False, limits_down: bool = False
) -> None:
    """Assert the protocol's rules for any answer (see the module docstring).

    ``database_down``: the fault tests' planned failure, where the spec's 500 envelope (503
    for ``/healthz``) is the right answer. ``limits_down``: the rate-limit store is gone, so a
    guessing endpoint may refuse with 503 and ``Retry-After``.
    """
    status, headers, body = answer.status, CaseInsensitiveDict(answer.headers), answer.body
    context = (method, path, status, body[:300])
    assert (
        status < 500 or (database_down and status in (500, 503)) or (limits_down and status == 503)
    ), context
    # Never an HTML page (JSON may of course carry "<html>" inside a string).
    assert "html" not in headers.get("Content-Type", ""), context
    assert not body.lstrip()[:9].lower().startswith((b"<!doctype", b"<html")), context
    path = path.partition("?")[0]
    space = namespace_of(path)
    if space == "ruuvi":
        for name, value in RUUVI_CORS.items():
            assert headers.get(name) == value, (name, context)
    if space in ("ruuvi", "nest-control"):
        # Retry-After on 429 only (the spec's rule, not flask-limiter's header option), and on
        # the 503 of a guessing limit whose store is gone.
        limited = status == 429 or (limits_down and status == 503)
        assert ("Retry-After" in headers) == limited, context
        if limited:
            assert int(headers["Retry-After"]) >= 1, context
    if method == "HEAD":
        return
    if method == "OPTIONS" and space == "ruuvi":
        assert status == 200 and body == b"", context
        return
    if path.rstrip("/") == "/description.xml" and status == 200:
        assert headers.get("Content-Type", "").startswith("text/xml"), context
        return
    assert headers.get("Content-Type") == "application/json", context
    if answer.held:
        assert space == "nest-device" and status == 200 and body == b"", context
        return
    value = json.loads(body)
    # The spec's byte form: compact, UTF-8, no trailing newline, keys as built.
    assert json_bytes(value) == body, context
    try:
        _CHECKS[space](status, value)
    except AssertionError as exc:
        raise AssertionError(f"{context}: {exc}") from None


# --- state helpers -------------------------------------------------------------------------


def ruuvi_code_for(app, address: str) -> str:
    """The code in the newest queued e-mail to ``address``, read from the sealed outbox."""
    with app.app_context():
        try:
            sealed = db.session.execute(
                select(MailOutbox.body)
                .where(MailOutbox.to_addr == address)
                .order_by(MailOutbox.id.desc())
                .limit(1)
            ).scalar_one()
            text = mail.unseal(sealed)
        finally:
            db.session.remove()
    codes = [line for line in text.splitlines() if CODE_LINE.fullmatch(line)]
    assert len(codes) == 1, text
    return codes[0]


def clear_database(app) -> None:
    """Delete every row of every table (children first), so a state machine starts empty."""
    with app.app_context():
        try:
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
        finally:
            db.session.remove()
