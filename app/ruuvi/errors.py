"""The Ruuvi namespace: errors as ``{"result":"error",…}`` with the Ruuvi codes."""

from __future__ import annotations

from flask import Response

from app.errors import Namespace, register_namespace
from app.ruuvi.contract import PATHS, for_status


def _render(status: int, message: str, headers: dict | None) -> Response:
    return for_status(status, message).response(headers)


register_namespace(
    Namespace("ruuvi", 40, lambda bare: bare in PATHS or bare.startswith("/sessions/"), _render)
)
