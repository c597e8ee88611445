"""The Ruuvi Cloud user API contract, written once: codes, patterns, errors and envelopes.

The sign-in use cases refuse with the :class:`RuuviError` values defined here, the views answer with
:func:`error_response` / :func:`success_response`, and the schemas and the OpenAPI part
take their patterns, codes and examples from the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from flask import Response
from marshmallow import fields

from app.envelopes import OrderedSchema, json_response

CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CODE_LENGTH = 4
EMAIL_MAX_LENGTH = 254
# WHATWG's pattern, as the old backend used; matched with fullmatch (``$`` would let "\n" by).
EMAIL_RE = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
EMAIL_PATTERN = f"^{EMAIL_RE.pattern}$"  # anchored for JSON Schema
# A code as ``/verify`` takes it (any letter case).
CODE_PATTERN = rf"^[A-Za-z0-9]{{{CODE_LENGTH}}}$"
# An access token: hex("u" + user id), a slash, 64 letters and digits. hex("u" + id) is at
# least 4 hex digits; 64 bounds ids far beyond any real table.
TOKEN_PATTERN = "^([0-9a-f]{4,64})/[A-Za-z0-9]{64}$"
# A sensor as the user API names it (Ruuvi's document: ``^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$``).
MAC_PATTERN = "^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$"
# Every path of Ruuvi's user API that homepair serves; the Ruuvi error namespace also takes
# the root paths nobody else serves (app.ruuvi.errors).
PATHS = (
    "/register",
    "/verify",
    "/user",
    "/sessions",
    "/settings",
    "/subscription",
    "/sensors-dense",
    "/sensor-settings",
    "/alerts",
    "/share",
    "/unshare",
    "/push-register",
    "/air_firmwareupdate",
)
# Ruuvi's userapi/components/schemas/AlertType.yaml
ALERT_TYPES = (
    "temperature",
    "pressure",
    "humidity",
    "humidityAbsolute",
    "dewPoint",
    "signal",
    "movement",
    "battery",
    "offline",
    "luminosity",
    "voc",
    "co2",
    "sound",
    "soundInstant",
    "soundAverage",
    "soundPeak",
    "nox",
    "pm10",
    "pm25",
    "pm40",
    "pm100",
    "aqi",
)
PUSH_TYPES = ("iOS", "Android")  # Ruuvi's userapi/push-register.yaml: the enum of ``type``
FETCH_MODES = ("dense", "sparse", "mixed")  # Ruuvi's userapi/sensors-dense.yaml: ``mode``
# Per-account settings (``POST /settings``): bounded so one account cannot grow the table.
SETTINGS_MAX = 100
SETTING_NAME_MAX = 64
SETTING_VALUE_MAX = 1024
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
ERROR_CODES = [
    "ER_INVALID",
    "ER_THROTTLED",
    "ER_FORBIDDEN",
    "ER_UNAUTHORIZED",
    "ER_NOT_FOUND",
    "ER_INTERNAL",
]
SUB_CODES = [
    "ER_INVALID_FORMAT",
    "ER_INVALID_EMAIL_ADDRESS",
    "ER_INVALID_ARGUMENT",
    "ER_TOKEN_EXPIRED",
]


@dataclass(frozen=True)
class RuuviError:
    """A refusal: the HTTP status and the error, code and sub_code of its answer."""

    status: int
    error: str
    code: str
    sub_code: str | None = None

    def body(self) -> dict:
        """The error envelope's fields, in wire order."""
        return ruuvi_error.dump({"error": self.error, "code": self.code, "sub_code": self.sub_code})

    def response(self, headers: dict | None = None) -> Response:
        """The refusal as the Ruuvi JSON error answer."""
        return json_response(self.body(), self.status, headers)

    def about(self, shown: str) -> RuuviError:
        """This error with ``{shown}`` in its text filled in."""
        return replace(self, error=self.error.format(shown=shown))


INVALID_JSON = RuuviError(400, "Invalid JSON", "ER_INVALID", "ER_INVALID_FORMAT")
INVALID_EMAIL = RuuviError(
    400, "Invalid e-mail address: {shown}", "ER_INVALID", "ER_INVALID_EMAIL_ADDRESS"
)
MISSING_TOKEN = RuuviError(400, "Missing token", "ER_INVALID", "ER_INVALID_ARGUMENT")
CODE_EXPIRED = RuuviError(403, "Code used or expired", "ER_FORBIDDEN", "ER_TOKEN_EXPIRED")
UNAUTHORIZED = RuuviError(401, "Unauthorized request.", "ER_UNAUTHORIZED")
NOT_FOUND = RuuviError(404, "NOT FOUND", "ER_NOT_FOUND")
# homepair keeps no sensors: an operation on one is refused with the error Ruuvi's document
# gives for a sensor the caller has no access to (403 or 404, per operation).
FORBIDDEN = RuuviError(403, "FORBIDDEN", "ER_FORBIDDEN")
# Bodies and query parameters of the account operations (texts from Ruuvi's document where
# it gives one).
INVALID_FIELD = RuuviError(
    400, "Invalid or missing field: {shown}", "ER_INVALID", "ER_INVALID_ARGUMENT"
)
NOT_A_MAC = RuuviError(400, "Sensor must be MAC address", "ER_INVALID", "ER_INVALID_ARGUMENT")
INVALID_SHARE_EMAIL = RuuviError(400, "Invalid email address", "ER_INVALID", "ER_INVALID_ARGUMENT")
MISSING_CODE = RuuviError(400, "Missing code", "ER_INVALID", "ER_INVALID_ARGUMENT")
# homepair sells nothing: no subscription code is ever valid.
INVALID_CODE = RuuviError(400, "Invalid code", "ER_INVALID", "ER_INVALID_ARGUMENT")
TOO_MANY_SETTINGS = RuuviError(
    400, f"At most {SETTINGS_MAX} settings per account", "ER_INVALID", "ER_INVALID_ARGUMENT"
)
# The answers by HTTP status when the protocol itself did not decide (routing, framing,
# limits, failures).
BY_STATUS = {
    400: RuuviError(400, "Bad request", "ER_INVALID"),
    404: NOT_FOUND,
    405: RuuviError(405, "Method not allowed", "ER_INVALID"),
    408: RuuviError(408, "Request body too slow", "ER_INVALID"),
    413: RuuviError(413, "Request body too large", "ER_INVALID", "ER_INVALID_FORMAT"),
    429: RuuviError(429, "Too many requests", "ER_THROTTLED"),
    500: RuuviError(500, "Internal error", "ER_INTERNAL"),
    503: RuuviError(503, "Service unavailable", "ER_INTERNAL"),
}


def for_status(status: int, message: str) -> RuuviError:
    """The answer for an HTTP ``status`` the views did not produce themselves."""
    if status in BY_STATUS:
        return BY_STATUS[status]
    if status >= 500:
        return replace(BY_STATUS[500], status=status)
    return RuuviError(status, message, "ER_INVALID")


# --- envelopes ---------------------------------------------------------------------------


class RuuviErrorSchema(OrderedSchema):
    """``{"result":"error","error":…,"code":…,"sub_code":…}``; sub_code always present."""

    result = fields.Constant("error")
    error = fields.String(required=True)
    code = fields.String(required=True)
    sub_code = fields.String(allow_none=True, dump_default=None)


class RuuviSuccessSchema(OrderedSchema):
    """``{"result":"success","data":{…}}``."""

    result = fields.Constant("success")
    data: fields.Field = fields.Raw(required=True)


ruuvi_error = RuuviErrorSchema()
ruuvi_success = RuuviSuccessSchema()


def success_response(data: dict, headers: dict | None = None) -> Response:
    """A Ruuvi success answer."""
    return json_response(ruuvi_success.dump({"data": data}), 200, headers)
