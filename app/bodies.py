"""Request bodies parsed as JSON whatever their Content-Type (all three protocols ask it)."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge


class Invalid:
    """Marker for a body that is not JSON (empty, bad UTF-8, bad syntax, NaN…)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = Invalid()


def _reject_constant(name: str):
    # NaN and Infinity are Python extensions, not JSON.
    raise ValueError(name)


def parse_json(data: bytes) -> Any:
    """Parse ``data`` as strict UTF-8 JSON; :data:`INVALID` if it is not."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return INVALID


def raw_body() -> bytes:
    """The request body; raises 413 when it exceeds ``MAX_CONTENT_LENGTH``.

    Werkzeug raises for a too-large Content-Length, but silently truncates a chunked body
    at the limit, so a body that fills the limit is probed for one more byte.
    """
    data = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    streamed = request.content_length is None
    if limit and streamed and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data


def json_body() -> Any:
    """The current request's body as JSON, or :data:`INVALID`.

    The error handlers turn a 413 into the protocol's answer.
    """
    return parse_json(raw_body())
