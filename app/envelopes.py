"""The JSON byte form every protocol shares.

Every JSON answer homepair sends goes through :func:`json_response`, so the byte form
(compact separators, UTF-8, no trailing newline, keys in insertion order) is decided once.
Each protocol's envelopes are :class:`OrderedSchema` subclasses in its own ``contract``
module; their field order is the key order on the wire.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from marshmallow import Schema


def json_bytes(obj: Any) -> bytes:
    """Serialize ``obj`` in the spec's byte form (no sorting, no newline)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A ``Content-Type: application/json`` response carrying ``obj``."""
    return Response(json_bytes(obj), status=status, headers=headers, mimetype="application/json")


def compact(value: Any) -> str:
    """A value as it is quoted in error texts: strings verbatim, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class OrderedSchema(Schema):
    """Dump only; keys in declaration order; absent attributes left out."""
