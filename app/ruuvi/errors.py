"""The Ruuvi namespace: errors as ``{"result":"error",…}`` with the Ruuvi codes."""

from __future__ import annotations

from flask import Response

from app import envelopes
from app.errors import Namespace, register_namespace

PATHS = ("/register", "/verify", "/user", "/sessions")
_TABLE = {
    400: ("Bad request", "ER_INVALID", None),
    404: ("NOT FOUND", "ER_NOT_FOUND", None),
    405: ("Method not allowed", "ER_INVALID", None),
    413: ("Request body too large", "ER_INVALID", "ER_INVALID_FORMAT"),
    429: ("Too many requests", "ER_THROTTLED", None),
    500: ("Internal error", "ER_INTERNAL", None),
    503: ("Service unavailable", "ER_INTERNAL", None),
}


def _render(status: int, message: str, headers: dict | None) -> Response:
    fallback = _TABLE[500] if status >= 500 else (message, "ER_INVALID", None)
    error, code, sub = _TABLE.get(status, fallback)
    return envelopes.ruuvi_error_response(status, error, code, sub, headers=headers)


register_namespace(
    Namespace("ruuvi", 40, lambda bare: bare in PATHS or bare.startswith("/sessions/"), _render)
)
