"""The JSON byte form and the envelope schemas of the three protocols.

Every JSON answer homepair sends goes through :func:`json_response`, so the byte form
(compact separators, UTF-8, no trailing newline, keys in insertion order) is decided once.
Each envelope has one marshmallow schema here; its field order is the key order on the wire.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from marshmallow import Schema, fields


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


# --- Hue ---------------------------------------------------------------------------------


class HueErrorBodySchema(OrderedSchema):
    """The inner error object, keys in the order type, address, description."""

    type = fields.Integer(required=True)
    address = fields.String(required=True)
    description = fields.String(required=True)


class HueErrorSchema(OrderedSchema):
    """One error element of a Hue result array."""

    error = fields.Nested(HueErrorBodySchema, required=True)


class HueSuccessSchema(OrderedSchema):
    """One success element of a Hue result array."""

    success = fields.Raw(required=True)


# --- Ruuvi -------------------------------------------------------------------------------


class RuuviErrorSchema(OrderedSchema):
    """``{"result":"error","error":…,"code":…,"sub_code":…}``; sub_code always present."""

    result = fields.Constant("error")
    error = fields.String(required=True)
    code = fields.String(required=True)
    sub_code = fields.String(allow_none=True, dump_default=None)


class RuuviSuccessSchema(OrderedSchema):
    """``{"result":"success","data":{…}}``."""

    result = fields.Constant("success")
    data = fields.Raw(required=True)


hue_error = HueErrorSchema()
hue_success = HueSuccessSchema()
ruuvi_error = RuuviErrorSchema()
ruuvi_success = RuuviSuccessSchema()


def hue_error_item(type_: int, address: str, description: str) -> dict:
    """One Hue error element."""
    return hue_error.dump(
        {"error": {"type": type_, "address": address, "description": description}}
    )


def hue_success_item(value: Any) -> dict:
    """One Hue success element."""
    return hue_success.dump({"success": value})


def hue_response(items: list) -> Response:
    """A Hue result array or object; always HTTP 200."""
    return json_response(items, 200)


def ruuvi_error_response(
    status: int, error: str, code: str, sub_code: str | None = None, headers=None
) -> Response:
    """A Ruuvi error answer."""
    body = ruuvi_error.dump({"error": error, "code": code, "sub_code": sub_code})
    return json_response(body, status, headers)


def ruuvi_success_response(data: dict, headers=None) -> Response:
    """A Ruuvi success answer."""
    return json_response(ruuvi_success.dump({"data": data}), 200, headers)
