"""The Hue bridge v1 wire contract, written once: limits, patterns, errors and envelopes.

The service returns :class:`HueError` values (the bridge's domain errors: type, address,
description) and domain results; the views turn them into result arrays with
:func:`response`. The marshmallow schemas and the OpenAPI part build their patterns and
examples from these same names.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from flask import Response
from marshmallow import fields

from app.envelopes import OrderedSchema, compact, json_response

USERNAME_ALPHABET = string.ascii_letters + string.digits
USERNAME_LENGTH = 40
# A client-chosen username (HUE_ALLOW_CLIENT_USERNAME): what the bridge accepted.
USERNAME_PATTERN = "^[0-9A-Za-z]{10,40}$"
MAX_DEVICETYPE_BYTES = 40
# The Entertainment key: 16 random bytes, upper-case hex.
CLIENTKEY_PATTERN = "^[0-9A-F]{32}$"
PHILIPS_OUI = "00:17:88"
MAC_PATTERN = "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
# The MAC with FFFE in its middle, upper-case.
BRIDGEID_PATTERN = "^[0-9A-F]{16}$"
WHITELIST_DELETED = "/config/whitelist/{key} deleted"
WHITELIST_DELETED_PATTERN = "^" + WHITELIST_DELETED.format(key="[^/]+") + "$"
COLLECTIONS = ("lights", "groups", "schedules", "scenes", "rules", "sensors", "resourcelinks")


class Desc:
    """The bridge's error descriptions (``{}`` fields are filled per answer)."""

    UNAUTHORIZED = "unauthorized user"
    INVALID_JSON = "body contains invalid json"
    NO_RESOURCE = "resource, {address}, not available"
    NO_METHOD = "method, {method}, not available for resource, {address}"
    MISSING = "invalid/missing parameters in body"
    NO_PARAMETER = "parameter, {key}, not available"
    BAD_VALUE = "invalid value, {value}, for parameter, {key}"
    NOT_PRESSED = "link button not pressed"
    INTERNAL = "internal error, {status}"


@dataclass(frozen=True)
class HueError:
    """One bridge error: its type number, the resource address and the description."""

    type: int
    address: str
    description: str

    def item(self) -> dict:
        """The error as a result-array element."""
        return error_item(self.type, self.address, self.description)


def invalid_json(address: str) -> HueError:
    """Type 2 at ``address``."""
    return HueError(2, address, Desc.INVALID_JSON)


def missing_parameters(address: str) -> HueError:
    """Type 5 at ``address``."""
    return HueError(5, address, Desc.MISSING)


def not_available(address: str, key: str) -> HueError:
    """Type 6 for a body key the resource does not take."""
    return HueError(6, f"{address.rstrip('/')}/{key}", Desc.NO_PARAMETER.format(key=key))


def invalid_value(address: str, key: str, value: Any) -> HueError:
    """Type 7 for a value the parameter does not accept."""
    text = Desc.BAD_VALUE.format(value=compact(value), key=key)
    return HueError(7, f"{address.rstrip('/')}/{key}", text)


def unauthorized(address: str) -> HueError:
    """Type 1 at ``address``."""
    return HueError(1, address, Desc.UNAUTHORIZED)


def resource_not_available(address: str) -> HueError:
    """Type 3 for an unknown resource."""
    return HueError(3, address, Desc.NO_RESOURCE.format(address=address))


def method_not_available(method: str, address: str) -> HueError:
    """Type 4 for a known resource and a method it does not serve."""
    return HueError(4, address, Desc.NO_METHOD.format(method=method, address=address))


def link_button_not_pressed() -> HueError:
    """Type 101, the seed's "press the button" answer."""
    return HueError(101, "", Desc.NOT_PRESSED)


def internal_error() -> HueError:
    """Type 901: the bridge's answer when it failed itself."""
    return HueError(901, "/", Desc.INTERNAL.format(status=500))


# --- envelopes ---------------------------------------------------------------------------


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

    success: fields.Field = fields.Raw(required=True)


hue_error = HueErrorSchema()
hue_success = HueSuccessSchema()


def error_item(type_: int, address: str, description: str) -> dict:
    """One Hue error element."""
    return hue_error.dump(
        {"error": {"type": type_, "address": address, "description": description}}
    )


def success_item(value: Any) -> dict:
    """One Hue success element."""
    return hue_success.dump({"success": value})


def response(answer: Any) -> Response:
    """A Hue result array (its :class:`HueError` values as error elements) or object;
    always HTTP 200."""
    if isinstance(answer, list):
        answer = [x.item() if isinstance(x, HueError) else x for x in answer]
    return json_response(answer, 200)
