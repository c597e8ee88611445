"""Ruuvi Cloud User API bodies as marshmallow schemas, for the OpenAPI document.

Answers use the envelopes of :mod:`app.ruuvi.contract` (``result, data`` and
``result, error, code, sub_code``); the success schemas below narrow ``data`` per endpoint.
Field order is the key order on the wire (spec ruuvi.md).
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.ruuvi.contract import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    ERROR_CODES,
    SUB_CODES,
    TOKEN_PATTERN,
    RuuviErrorSchema,
    RuuviSuccessSchema,
)


class RuuviRegisterRequestSchema(Schema):
    """``POST /register`` (parsed as JSON whatever the Content-Type; other keys ignored)."""

    class Meta:
        unknown = INCLUDE

    email = fields.String(
        required=True,
        validate=validate.Length(min=1, max=EMAIL_MAX_LENGTH),
        metadata={
            # The WHATWG pattern the server applies (re.fullmatch), anchored for JSON Schema.
            "pattern": EMAIL_PATTERN,
            "example": "user@example.com",
        },
    )


class RuuviRegisteredSchema(Schema):
    """``data`` of a ``/register`` success: the address as given."""

    email = fields.String(required=True)


class RuuviVerifiedSchema(Schema):
    """``data`` of a ``/verify`` success."""

    email = fields.String(required=True)
    accessToken = fields.String(required=True, metadata={"pattern": TOKEN_PATTERN})  # noqa: N815
    newUser = fields.Boolean(required=True)  # noqa: N815


class RuuviUserSchema(Schema):
    """``data`` of ``GET /user``: homepair keeps no sensors."""

    email = fields.String(required=True)
    sensors = fields.List(fields.Raw(), required=True, metadata={"maxItems": 0})


class RuuviSessionSchema(Schema):
    """One session (token); times in epoch seconds."""

    id = fields.Integer(required=True)
    createdAt = fields.Integer(required=True)  # noqa: N815
    lastAccessed = fields.Integer(required=True)  # noqa: N815
    current = fields.Boolean(required=True)


class RuuviSessionsSchema(Schema):
    """``data`` of ``GET /sessions``: most recently accessed first."""

    sessions = fields.List(fields.Nested(RuuviSessionSchema), required=True)


class RuuviEmptySchema(Schema):
    """``data`` of the ``DELETE /sessions…`` successes: ``{}``."""


class _Success(RuuviSuccessSchema):
    # The envelope's Constant dumps "success" whatever the input; on the wire it is required.
    result = fields.Constant("success", required=True)


class RuuviRegisterSuccessSchema(_Success):
    """``{"result":"success","data":{"email":…}}``."""

    data = fields.Nested(RuuviRegisteredSchema, required=True)


class RuuviVerifySuccessSchema(_Success):
    """``{"result":"success","data":{"email","accessToken","newUser"}}``."""

    data = fields.Nested(RuuviVerifiedSchema, required=True)


class RuuviUserSuccessSchema(_Success):
    """``{"result":"success","data":{"email","sensors":[]}}``."""

    data = fields.Nested(RuuviUserSchema, required=True)


class RuuviSessionsSuccessSchema(_Success):
    """``{"result":"success","data":{"sessions":[…]}}``."""

    data = fields.Nested(RuuviSessionsSchema, required=True)


class RuuviDeletedSuccessSchema(_Success):
    """``{"result":"success","data":{}}``."""

    data = fields.Nested(RuuviEmptySchema, required=True)


class RuuviErrorDocSchema(RuuviErrorSchema):
    """The error envelope as documented: every key present, ``sub_code`` null when none."""

    result = fields.Constant("error", required=True)
    code = fields.String(required=True, validate=validate.OneOf(ERROR_CODES))
    sub_code = fields.String(
        required=True, allow_none=True, validate=validate.OneOf([*SUB_CODES, None])
    )
