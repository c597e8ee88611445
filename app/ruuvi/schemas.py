"""Ruuvi Cloud User API bodies as marshmallow schemas, for the OpenAPI document.

Answers use the envelopes of :mod:`app.ruuvi.contract` (``result, data`` and
``result, error, code, sub_code``); the success schemas below narrow ``data`` per endpoint.
Field order is the key order on the wire (spec ruuvi.md).
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.ruuvi.contract import (
    ALERT_TYPES,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    ERROR_CODES,
    PUSH_TYPES,
    SETTING_NAME_MAX,
    SETTING_VALUE_MAX,
    SUB_CODES,
    TOKEN_PATTERN,
    RuuviErrorSchema,
    RuuviSuccessSchema,
)

# Described, not given as a ``pattern``: every pattern of the document has its admitted and
# refused request in tests/test_contract.py.
MAC_DESCRIPTION = "MAC address of the sensor, e.g. `C6:F1:E7:D3:DA:11` (any letter case)."
_NONE = {"maxItems": 0}  # homepair keeps no sensors, alerts or subscriptions


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


class RuuviSettingsSchema(Schema):
    """``data`` of ``GET /settings``: the account's settings by name."""

    settings = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class RuuviSettingRequestSchema(Schema):
    """``POST /settings``: one account setting (at most 100 per account)."""

    class Meta:
        unknown = INCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=SETTING_NAME_MAX))
    value = fields.String(required=True, validate=validate.Length(max=SETTING_VALUE_MAX))


class RuuviActionSchema(Schema):
    """``data`` of ``POST /settings``: whether the name was new."""

    action = fields.String(required=True, validate=validate.OneOf(["added", "updated"]))


class RuuviSubscriptionsSchema(Schema):
    """``data`` of ``GET /subscription``: no subscription was ever had."""

    subscriptions = fields.List(fields.Raw(), required=True, metadata=_NONE)


class RuuviSensorsSchema(Schema):
    """``data`` of ``GET /sensors-dense``, ``/sensor-settings`` and ``/alerts``: no sensors."""

    sensors = fields.List(fields.Raw(), required=True, metadata=_NONE)


class RuuviPushRegisteredSchema(Schema):
    """``data`` of ``POST /push-register`` (the token is not stored)."""

    id = fields.Integer(required=True)
    lastAccessed = fields.Integer(required=True)  # noqa: N815
    name = fields.String(required=True)


class RuuviClaimRequestSchema(Schema):
    """``POST /subscription``: a subscription claim code."""

    class Meta:
        unknown = INCLUDE

    code = fields.String(required=True)


class RuuviAlertRequestSchema(Schema):
    """``POST /alerts`` (Ruuvi's ``userapi/alerts.yaml``)."""

    class Meta:
        unknown = INCLUDE

    sensor = fields.String(required=True, metadata={"description": MAC_DESCRIPTION})
    type = fields.String(required=True, validate=validate.OneOf(ALERT_TYPES))
    enabled = fields.Boolean()
    min = fields.Float()
    max = fields.Float()
    counter = fields.Integer()
    description = fields.String()
    delay = fields.Integer()
    timestamp = fields.Integer()


class RuuviSensorSettingRequestSchema(Schema):
    """``POST /sensor-settings`` (Ruuvi's ``userapi/sensor-settings.yaml``)."""

    class Meta:
        unknown = INCLUDE

    sensor = fields.String(required=True, metadata={"description": MAC_DESCRIPTION})
    value = fields.List(fields.String(), required=True)
    type = fields.List(fields.String(), required=True)
    timestamp = fields.Integer()


class RuuviShareRequestSchema(Schema):
    """``POST /share``: a sensor and the address to share it with."""

    class Meta:
        unknown = INCLUDE

    sensor = fields.String(required=True, metadata={"description": MAC_DESCRIPTION})
    user = fields.String(required=True, metadata={"pattern": EMAIL_PATTERN})


class RuuviUnshareRequestSchema(Schema):
    """``POST /unshare``: a sensor, and the address to take it from (else the caller)."""

    class Meta:
        unknown = INCLUDE

    sensor = fields.String(required=True, metadata={"description": MAC_DESCRIPTION})
    user = fields.String(metadata={"pattern": EMAIL_PATTERN})


class RuuviPushRequestSchema(Schema):
    """``POST /push-register`` (Ruuvi's ``userapi/push-register.yaml``)."""

    class Meta:
        unknown = INCLUDE

    token = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(PUSH_TYPES))
    name = fields.String(required=True)
    data = fields.Dict()
    params = fields.Dict()


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


class RuuviSettingsSuccessSchema(_Success):
    """``{"result":"success","data":{"settings":{…}}}``."""

    data = fields.Nested(RuuviSettingsSchema, required=True)


class RuuviActionSuccessSchema(_Success):
    """``{"result":"success","data":{"action":"added"|"updated"}}``."""

    data = fields.Nested(RuuviActionSchema, required=True)


class RuuviSubscriptionsSuccessSchema(_Success):
    """``{"result":"success","data":{"subscriptions":[]}}``."""

    data = fields.Nested(RuuviSubscriptionsSchema, required=True)


class RuuviSensorsSuccessSchema(_Success):
    """``{"result":"success","data":{"sensors":[]}}``."""

    data = fields.Nested(RuuviSensorsSchema, required=True)


class RuuviPushSuccessSchema(_Success):
    """``{"result":"success","data":{"id","lastAccessed","name"}}``."""

    data = fields.Nested(RuuviPushRegisteredSchema, required=True)


class RuuviFirmwareSuccessSchema(_Success):
    """``{"result":"success","data":{}}``: no firmware versions are offered."""

    data = fields.Nested(RuuviEmptySchema, required=True)
