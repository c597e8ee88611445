"""Nest request and response bodies as marshmallow schemas, for the OpenAPI document.

The envelopes (``{"success","message"}``, ``{"error"}``, ``{"objects"}``) live in
:mod:`app.nest.contract`; these are the bodies inside and around them. Field order is the key
order on the wire (spec nest.md). Request schemas accept unknown keys (``INCLUDE``): the
firmware and the control API ignore what they do not know.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.nest.contract import CLAIM_CODE_PATTERN, ENTRY_KEY_PATTERN, MAX_KEY_LENGTH


class _Request(Schema):
    class Meta:
        unknown = INCLUDE


# --- control API -------------------------------------------------------------------------


class NestRegisterRequestSchema(_Request):
    """``POST /api/register``: the code on the thermostat's screen and the user claiming it."""

    code = fields.String(
        required=True,
        metadata={
            "pattern": CLAIM_CODE_PATTERN,
            "description": "Entry key; surrounding spaces are stripped and it is upper-cased.",
            "example": "A3XR7M2",
        },
    )
    userId = fields.String(  # noqa: N815 (wire name)
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Printable characters only.", "example": "homeassistant"},
    )


class NestDeviceSchema(Schema):
    """One device in ``GET /api/devices``."""

    serial = fields.String(required=True)
    userId = fields.String(required=True, allow_none=True)  # noqa: N815
    paired = fields.Boolean(required=True)
    lastSeen = fields.Integer(required=True, allow_none=True, metadata={"format": "int64"})  # noqa: N815
    subscriptions = fields.Integer(
        required=True, metadata={"description": "Held subscribes now (all workers with Redis)."}
    )
    createdAt = fields.Integer(required=True, metadata={"format": "int64"})  # noqa: N815


class NestDevicesSchema(Schema):
    """``GET /api/devices``: every known device, newest first."""

    devices = fields.List(fields.Nested(NestDeviceSchema), required=True)
    total = fields.Integer(required=True)


class NestRegisteredDeviceSchema(Schema):
    """One element of ``GET /api/registered-devices``."""

    serial = fields.String(required=True)
    createdAt = fields.Integer(required=True, metadata={"format": "int64"})  # noqa: N815


# --- device transport --------------------------------------------------------------------


class NestEntrySchema(Schema):
    """``/nest/entry``: where the firmware finds the other endpoints."""

    czfe_url = fields.String(required=True)
    transport_url = fields.String(required=True)
    direct_transport_url = fields.String(required=True)
    passphrase_url = fields.String(required=True)
    ping_url = fields.String(required=True)
    pro_info_url = fields.String(required=True)
    upload_url = fields.String(required=True)
    software_update_url = fields.String(required=True)
    server_version = fields.String(required=True)
    tier_name = fields.String(required=True)


class NestProInfoSchema(Schema):
    """``GET /nest/pro_info[/<code>]``: an installer record (homepair has none but itself)."""

    id = fields.Integer(required=True)
    pro_id = fields.String(required=True)
    dba = fields.String(required=True)
    locality = fields.String(required=True)
    website = fields.String(required=True)
    rating = fields.Float(required=True)


class NestPassphraseSchema(Schema):
    """``GET /nest/passphrase``: the entry key and when it expires (epoch ms, an integer)."""

    value = fields.String(required=True, metadata={"pattern": ENTRY_KEY_PATTERN})
    expires = fields.Integer(required=True, metadata={"format": "int64"})


class NestKeyNoneSchema(Schema):
    """``/nest/passphrase/status`` when the device never had a key."""

    status = fields.String(required=True, validate=validate.OneOf(["no_key"]))
    claimed = fields.Boolean(required=True, validate=validate.OneOf([False]))
    message = fields.String(required=True)


class NestKeyClaimedSchema(Schema):
    """``/nest/passphrase/status`` when the newest key was claimed."""

    status = fields.String(required=True, validate=validate.OneOf(["claimed"]))
    claimed = fields.Boolean(required=True, validate=validate.OneOf([True]))
    claimedBy = fields.String(required=True)  # noqa: N815
    claimedAt = fields.Integer(required=True, metadata={"format": "int64"})  # noqa: N815


class NestKeyPendingSchema(Schema):
    """``/nest/passphrase/status`` when the newest key is unclaimed (even expired)."""

    status = fields.String(required=True, validate=validate.OneOf(["pending"]))
    claimed = fields.Boolean(required=True, validate=validate.OneOf([False]))
    expiresAt = fields.Integer(required=True, metadata={"format": "int64"})  # noqa: N815


class NestPingSchema(Schema):
    """``GET /nest/ping``."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))
    timestamp = fields.Integer(required=True, metadata={"format": "int64"})


class NestUploadSchema(Schema):
    """``POST /nest/upload`` (the body is dropped)."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class NestListedBucketSchema(_Request):
    """A bucket a subscribe lists: what the device has (rev/ts 0 or absent: nothing)."""

    object_key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_KEY_LENGTH),
        metadata={"example": "device.02AB01AC012345678"},
    )
    object_revision = fields.Integer()
    object_timestamp = fields.Integer(metadata={"format": "int64"})
    value = fields.Dict(metadata={"description": "Inline value, merged into the stored one."})


class NestSubscribeRequestSchema(_Request):
    """Subscribe body; top-level bucket-type keys holding a bucket also count as listed."""

    chunked = fields.Boolean(
        metadata={"description": "true: long-poll, held until a push or the hold ends."}
    )
    session = fields.String(metadata={"description": "Ignored."})
    objects = fields.List(fields.Nested(NestListedBucketSchema))


class NestPutObjectSchema(_Request):
    """One object of a put: merged into the stored bucket unless the revision check fails."""

    object_key = fields.String(required=True, validate=validate.Length(min=1, max=MAX_KEY_LENGTH))
    value = fields.Dict(required=True, metadata={"minProperties": 1})
    if_object_revision = fields.Integer(
        allow_none=True, metadata={"description": "Conflict unless it equals the stored one."}
    )
    base_object_revision = fields.Integer(metadata={"description": "Ignored."})


class NestPutRequestSchema(_Request):
    """Put body (the firmware's ``{"session", "<type>.<id>": {...}}`` form is also accepted)."""

    session = fields.String(metadata={"description": "Ignored."})
    objects = fields.List(fields.Nested(NestPutObjectSchema))
