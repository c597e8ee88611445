"""The Hue namespace: every ``/api…`` error is HTTP 200 with an error array."""

from __future__ import annotations

from flask import Response, request

from app import envelopes
from app.errors import Namespace, register_namespace


def hue_address(path: str) -> str:
    """The Hue resource address of a ``/api…`` path: ``/`` or ``/<rest after username>``."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:]  # drop "api" and the username
    return "/" + "/".join(rest)


def _render(status: int, message: str, headers: dict | None) -> Response:
    address = hue_address(request.path)
    if status == 413:
        item = envelopes.hue_error_item(2, address, "body contains invalid json")
    elif status == 405:
        item = envelopes.hue_error_item(
            4, address, f"method, {request.method}, not available for resource, {address}"
        )
    elif status in (404, 414):
        item = envelopes.hue_error_item(3, address, f"resource, {address}, not available")
    elif 400 <= status < 500 or status == 501:
        # The request could not be read whole (framing, headers, a slow body).
        item = envelopes.hue_error_item(2, address, "body contains invalid json")
    else:
        item = envelopes.hue_error_item(901, "/", "internal error, 500")
    return envelopes.hue_response([item])


register_namespace(
    Namespace("hue", 20, lambda bare: bare == "/api" or bare.startswith("/api/"), _render)
)
