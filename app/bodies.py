"""Request bodies parsed as JSON whatever their Content-Type (all three protocols ask it)."""

from __future__ import annotations

import json
from typing import Any

from flask import request


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


def json_body() -> Any:
    """The current request's body as JSON, or :data:`INVALID`.

    Reading the body raises 413 when it exceeds ``MAX_CONTENT_LENGTH``; the error handlers
    turn that into the protocol's answer.
    """
    return parse_json(request.get_data(cache=True))
