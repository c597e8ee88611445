"""The Hue namespace: every ``/api…`` error is HTTP 200 with an error array."""

from __future__ import annotations

from flask import Response, request

from app.errors import Namespace, register_namespace
from app.hue import contract


def hue_address(path: str) -> str:
    """The Hue resource address of a ``/api…`` path: ``/`` or ``/<rest after username>``."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:]  # drop "api" and the username
    return "/" + "/".join(rest)


def _render(status: int, message: str, headers: dict | None) -> Response:
    address = hue_address(request.path)
    if status == 413:
        error = contract.invalid_json(address)
    elif status == 405:
        # A method no Hue rule lists: the views' own answer (type 1, 3 or 4).
        from app.hue.views import any_method  # the views register this namespace's routes

        return any_method()
    elif status in (404, 414):
        error = contract.resource_not_available(address)
    elif 400 <= status < 500 or status == 501:
        # The request could not be read whole (framing, headers, a slow body).
        error = contract.invalid_json(address)
    else:
        error = contract.internal_error()
    return contract.response([error])


register_namespace(
    Namespace("hue", 20, lambda bare: bare == "/api" or bare.startswith("/api/"), _render)
)
