"""Hue v1 request and response bodies as marshmallow schemas, for the OpenAPI document.

Every ``/api…`` answer is HTTP 200; the outcome is in the body. Result arrays hold
``{"success":…}`` or ``{"error":{"type","address","description"}}`` elements (the envelope
schemas of :mod:`app.hue.contract`); the item schemas below narrow ``success`` per resource.
Field order is the key order on the wire (spec hue.md).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.hue.contract import (
    BRIDGEID_PATTERN,
    CLIENTKEY_PATTERN,
    COLLECTIONS,
    MAC_PATTERN,
    MAX_DEVICETYPE_BYTES,
    USERNAME_PATTERN,
    WHITELIST_DELETED_PATTERN,
    HueSuccessSchema,
)

# --- POST /api ---------------------------------------------------------------------------


class HueCreateUserRequestSchema(Schema):
    """``POST /api`` (any Content-Type). Other keys are type 6 errors."""

    devicetype = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_DEVICETYPE_BYTES),
        metadata={
            "description": f"At most {MAX_DEVICETYPE_BYTES} bytes of UTF-8.",
            "example": "home-assistant#kitchen",
        },
    )
    username = fields.String(
        metadata={
            "pattern": USERNAME_PATTERN,
            "description": "Client-chosen key (while HUE_ALLOW_CLIENT_USERNAME is true).",
        }
    )
    generateclientkey = fields.Boolean(
        metadata={"description": "true: also return the Entertainment clientkey."}
    )


class HueCreatedSchema(Schema):
    """The success value of ``POST /api``."""

    username = fields.String(required=True)
    clientkey = fields.String(metadata={"pattern": CLIENTKEY_PATTERN})


class HueCreatedItemSchema(HueSuccessSchema):
    """``{"success":{"username":…[,"clientkey":…]}}``."""

    success = fields.Nested(HueCreatedSchema, required=True)


# --- config ------------------------------------------------------------------------------


class HueShortConfigSchema(Schema):
    """``GET /api/config`` and ``GET /api/<not whitelisted>/config``."""

    name = fields.String(required=True)
    datastoreversion = fields.String(required=True)
    swversion = fields.String(required=True)
    apiversion = fields.String(required=True)
    mac = fields.String(required=True, metadata={"pattern": MAC_PATTERN})
    bridgeid = fields.String(required=True, metadata={"pattern": BRIDGEID_PATTERN})
    factorynew = fields.Boolean(required=True)
    replacesbridgeid = fields.String(required=True, allow_none=True)
    modelid = fields.String(required=True)
    starterkitid = fields.String(required=True)


class HueWhitelistEntrySchema(Schema):
    """One whitelisted key; dates are UTC ``YYYY-MM-DDTHH:MM:SS`` without a zone."""

    last_use_date = fields.String(
        data_key="last use date", required=True, metadata={"example": "2018-10-14T02:57:05"}
    )
    create_date = fields.String(data_key="create date", required=True)
    name = fields.String(required=True)


class HueFullConfigSchema(HueShortConfigSchema):
    """``GET /api/<whitelisted>/config``: the short config's keys, then bridge details."""

    ipaddress = fields.String(required=True)
    netmask = fields.String(required=True)
    gateway = fields.String(required=True)
    dhcp = fields.Boolean(required=True)
    proxyaddress = fields.String(required=True)
    proxyport = fields.Integer(required=True)
    UTC = fields.String(required=True)
    localtime = fields.String(required=True)
    timezone = fields.String(required=True)
    zigbeechannel = fields.Integer(required=True)
    swupdate = fields.Dict(required=True, metadata={"description": "No updates offered."})
    swupdate2 = fields.Dict(required=True, metadata={"description": "No updates offered."})
    linkbutton = fields.Boolean(required=True)
    portalservices = fields.Boolean(required=True)
    portalconnection = fields.String(required=True, metadata={"example": "disconnected"})
    portalstate = fields.Dict(required=True)
    internetservices = fields.Dict(required=True)
    backup = fields.Dict(required=True)
    whitelist = fields.Dict(
        keys=fields.String(), values=fields.Nested(HueWhitelistEntrySchema), required=True
    )


class HueEmptySchema(Schema):
    """An empty collection, e.g. ``GET /api/<u>/lights`` → ``{}`` (there are no lights)."""


class HueFullStateSchema(Schema):
    """``GET /api/<whitelisted>``: the full config between empty collections."""

    lights = fields.Nested(HueEmptySchema, required=True)
    groups = fields.Nested(HueEmptySchema, required=True)
    config = fields.Nested(HueFullConfigSchema, required=True)
    schedules = fields.Nested(HueEmptySchema, required=True)
    scenes = fields.Nested(HueEmptySchema, required=True)
    rules = fields.Nested(HueEmptySchema, required=True)
    sensors = fields.Nested(HueEmptySchema, required=True)
    resourcelinks = fields.Nested(HueEmptySchema, required=True)


class HueConfigUpdateSchema(Schema):
    """``PUT /api/<u>/config``: only ``linkbutton`` is writable (other keys: type 6)."""

    linkbutton = fields.Boolean(
        required=True, metadata={"description": "true presses the link button, false closes it."}
    )


class HueLinkbuttonSchema(Schema):
    """The success value of a ``linkbutton`` update."""

    linkbutton = fields.Boolean(data_key="/config/linkbutton", required=True)


class HueLinkbuttonItemSchema(HueSuccessSchema):
    """``{"success":{"/config/linkbutton":<bool>}}``."""

    success = fields.Nested(HueLinkbuttonSchema, required=True)


class HueDeletedItemSchema(HueSuccessSchema):
    """``{"success":"/config/whitelist/<key> deleted"}`` (no final period)."""

    success = fields.String(required=True, metadata={"pattern": WHITELIST_DELETED_PATTERN})


COLLECTION_NAMES = list(COLLECTIONS)
