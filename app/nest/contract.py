"""The Nest wire contract, written once: limits, patterns, messages and envelopes.

The service enforces these, the views answer with them, the marshmallow schemas validate
with them and the OpenAPI part documents them; ``tests/test_contract.py`` replays every
message the document names against a live app.
"""

from __future__ import annotations

import re

from flask import Response
from marshmallow import fields

from app.envelopes import OrderedSchema, json_response

# --- identities and codes --------------------------------------------------------------

ENTRY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ENTRY_LENGTH = 7
# A key as the thermostat shows it.
ENTRY_KEY_PATTERN = f"^[{ENTRY_ALPHABET}]{{{ENTRY_LENGTH}}}$"
# What a claim may name as the code (after trimming, any letter case): the entry alphabet
# is a subset, so a near-miss is "no live key", not a format error.
CLAIM_CODE_PATTERN = rf"^[A-Za-z0-9]{{{ENTRY_LENGTH}}}$"
# Serials are stored in 64-character columns; real ones have 16 or 17 characters.
MIN_SERIAL_LENGTH = 10
MAX_SERIAL_LENGTH = 64
# A serial after sanitizing (keep [A-Za-z0-9], upper-case).
SERIAL_PATTERN = rf"^[A-Z0-9]{{{MIN_SERIAL_LENGTH},{MAX_SERIAL_LENGTH}}}$"
# What ``DELETE /api/registered-devices/<serial>`` accepts (whole) before sanitizing.
SERIAL_PATH_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_USER_ID_LENGTH = 64
DEFAULT_USER = "homeassistant"

# --- buckets -----------------------------------------------------------------------------

MAX_KEY_LENGTH = 255
# Storage per device is bounded: the firmware knows 28 bucket types (a few with several
# instances) and its largest value, the device bucket, has ~200 fields.
MAX_BUCKETS_PER_DEVICE = 512
MAX_VALUE_BYTES = 64 * 1024
# Listed revisions and timestamps outside JSON's exact integer range (I-JSON) count as 0
# like non-integers: the store holds 64-bit integers, and a server write adds 1 to them.
MAX_WIRE_INT = 2**53 - 1
BUCKET_TYPES = frozenset(
    [
        "device",
        "shared",
        "structure",
        "schedule",
        "custom_schedule",
        "user",
        "topaz",
        "demand_response",
        "demand_response_event",
        "where",
        "kryptonite",
        "diagnostics",
        "device_alert_dialog",
        "servicegroup",
        "link",
        "message",
        "tuneups",
        "utility",
        "diamond_sensor_config",
        "diamond_sensor_event",
        "rate_plan",
        "tou",
        "demand_charge",
        "demand_charge_event",
        "hvac_partner",
        "rcs_settings",
        "cloud_algo",
        "occupancy",
    ]
)
# A pushed value with one of these makes the firmware act at once rather than defer.
TARGET_FIELDS = (
    "target_temperature",
    "target_temperature_high",
    "target_temperature_low",
    "target_temperature_type",
    "hvac_mode",
)
MAX_HELD_PER_DEVICE = 100
BATCH_WINDOW_SECONDS = 3.0

# --- paths (the error namespaces) ---------------------------------------------------------

CONTROL_PATHS = ("/api/register", "/api/devices", "/api/registered-devices")
DEVICE_PATHS = ("/nest", "/entry", "/ping", "/passphrase", "/upload", "/transport")
DEVICE_PREFIXES = ("/nest/", "/transport/", "/czfe/", "/passphrase/")

# --- messages ----------------------------------------------------------------------------


class Msg:
    """Every text the Nest endpoints answer with (``{}`` fields are filled per answer)."""

    INVALID_JSON = "Invalid JSON"
    MISSING_FIELDS = "Missing required fields: code, userId"
    BAD_CODE = "Invalid entry code format. Must be exactly 7 alphanumeric characters."
    BAD_USER_ID = "Invalid userId"
    NO_LIVE_KEY = "Invalid, expired, or already claimed entry key"
    REGISTERED = "Device {serial} registered to {user}"
    NOT_FOUND_DEVICE = "Device {serial} not found"
    DELETED = "Device {serial} deleted"
    BAD_SERIAL = "Invalid device serial format"
    BAD_PAGING = "Invalid paging parameters"
    UNAUTHORIZED = "Unauthorized"
    LIMITED = "Too many registration attempts"
    SERIAL_REQUIRED = "Device serial required"
    KEYS_UNAVAILABLE = "Entry key service unavailable"
    TOO_MANY_OBJECTS = "Too many objects: at most {cap} per request"
    NO_KEY = "No entry key found for this device"


# --- envelopes ---------------------------------------------------------------------------


class NestErrorSchema(OrderedSchema):
    """Device transport error: ``{"error":"…"}``."""

    error = fields.String(required=True)


class NestControlSchema(OrderedSchema):
    """Control API envelope: ``{"success":…,"serial":…,"message":…}`` (serial optional)."""

    success = fields.Boolean(required=True)
    serial = fields.String()
    message = fields.String(required=True)


class NestBucketSchema(OrderedSchema):
    """A bucket on the wire: revision, timestamp, key, then value (left out on put answers)."""

    object_revision = fields.Integer(required=True)
    object_timestamp = fields.Integer(required=True)
    object_key = fields.String(required=True)
    value = fields.Raw()


class NestObjectsSchema(OrderedSchema):
    """Device transport body: ``{"objects":[…]}``."""

    objects = fields.List(fields.Nested(NestBucketSchema), required=True)


nest_error = NestErrorSchema()
nest_control = NestControlSchema()
nest_objects = NestObjectsSchema()


def error_response(message: str, status: int, headers: dict | None = None) -> Response:
    """A Nest device error answer."""
    return json_response(nest_error.dump({"error": message}), status, headers)


def control_response(
    success: bool,
    message: str,
    status: int = 200,
    serial: str | None = None,
    headers: dict | None = None,
) -> Response:
    """A Nest control API answer in the success/message envelope."""
    body: dict[str, object] = {"success": success, "message": message}
    if serial is not None:
        body["serial"] = serial
    return json_response(nest_control.dump(body), status, headers)
