"""The OpenAPI 3.1 document of all three protocols, generated with apispec from the schemas.

``GET /openapi.json`` serves it. Bodies come from the marshmallow schemas in
:mod:`app.envelopes` and each protocol's ``schemas`` module, so the document and the wire
share one description; the examples are the spec's own bodies, byte for byte. The document
does not depend on the request or the settings, so each app builds it once, on first use.

What OpenAPI cannot say is said in descriptions: Hue answers HTTP 200 whatever happened
(the outcome is a ``oneOf`` success/error item), a chunked Nest subscribe is a long-poll whose
chunks are each an ``{"objects":[…]}`` body, and the device identity comes from any of
several headers.
"""

from __future__ import annotations

import threading
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app
from marshmallow import Schema, fields

from app import envelopes
from app.envelopes import json_response
from app.hue import schemas as hue
from app.nest import schemas as nest
from app.ruuvi import schemas as ruuvi

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
_EXTENSION = "homepair.openapi"
_LOCK = threading.Lock()

bp = Blueprint("openapi", __name__)


class HealthSchema(Schema):
    """``GET /healthz``: each part's state; ``error`` (503) only when the database fails."""

    status = fields.String(required=True, metadata={"enum": ["ok", "degraded", "error"]})
    database = fields.String(required=True, metadata={"enum": ["ok", "down"]})
    migrations = fields.String(
        required=True, metadata={"enum": ["head", "behind", "not migrated", "unknown"]}
    )
    redis = fields.String(required=True, metadata={"enum": ["ok", "down", "not used"]})


def _constant(self, field, **_kwargs) -> dict:
    """apispec attribute function: a ``fields.Constant`` is a one-value enum of its type."""
    if not isinstance(field, fields.Constant):
        return {}
    kind = {str: "string", bool: "boolean", int: "integer"}.get(type(field.constant))
    return {"type": kind, "enum": [field.constant]} if kind else {"enum": [field.constant]}


# --- small builders ----------------------------------------------------------------------


def _body(schema: Any, description: str, examples: dict | None = None, headers=None) -> dict:
    """A JSON response object; ``examples`` maps a name to a body."""
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    response: dict[str, Any] = {"description": description, "content": {JSON: media}}
    if headers:
        response["headers"] = headers
    return response


def _request(schema: Any, required: bool = True, description: str | None = None) -> dict:
    body: dict[str, Any] = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _query(name: str, description: str, **schema) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _path(name: str, description: str, **schema) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _items(*schemas: Any) -> dict:
    """A Hue result array whose elements are one of ``schemas``."""
    return {"type": "array", "minItems": 1, "items": {"oneOf": list(schemas)}}


RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds until the exhausted limit frees a slot (at least 1).",
        "schema": {"type": "integer", "minimum": 1},
    }
}
WWW_BEARER = {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}}


def _control(message: str, success: bool = False) -> dict:
    return {"success": success, "message": message}


def _ruuvi_error(error: str, code: str, sub_code: str | None = None) -> dict:
    return {"result": "error", "error": error, "code": code, "sub_code": sub_code}


# --- Nest control API --------------------------------------------------------------------

_CONTROL_SECURITY = [{}, {"nestControlToken": []}]


def _control_errors(*statuses: int) -> dict:
    table = {
        400: None,
        401: _body(
            envelopes.NestControlSchema,
            "`NEST_CONTROL_TOKEN` is set and the bearer token is missing or wrong.",
            {"unauthorized": _control("Unauthorized")},
            WWW_BEARER,
        ),
        408: _body(
            envelopes.NestControlSchema,
            "The body took longer than `REQUEST_BODY_TIMEOUT_SECONDS`; the connection closes.",
            {"tooSlow": _control("Request body too slow")},
        ),
        413: _body(
            envelopes.NestControlSchema,
            "Body over 1 MiB.",
            {"tooLarge": _control("Request body too large")},
        ),
        429: _body(
            envelopes.NestControlSchema,
            "A claim limit (per client IP, or in total) or, with a control token set, the "
            "client's token budget is exhausted.",
            {"limited": _control("Too many registration attempts")},
            RETRY_AFTER,
        ),
        503: _body(
            envelopes.NestControlSchema,
            "The rate-limit store is unreachable: guessing limits fail closed, nothing was tried.",
            {"unavailable": _control("Service unavailable")},
            RETRY_AFTER,
        ),
        500: _body(
            envelopes.NestControlSchema,
            "Internal failure (e.g. the database is down).",
            {"internal": _control("Internal error")},
        ),
    }
    return {str(status): table[status] for status in statuses}


def _nest_control(spec: APISpec) -> None:
    register_400 = _body(
        envelopes.NestControlSchema,
        "Malformed request (counted as a claim attempt).",
        {
            "invalidJson": _control("Invalid JSON"),
            "missing": _control("Missing required fields: code, userId"),
            "badCode": _control(
                "Invalid entry code format. Must be exactly 7 alphanumeric characters."
            ),
            "badUser": _control("Invalid userId"),
        },
    )
    spec.path(
        path="/api/register",
        operations={
            "post": {
                "tags": ["nest-control"],
                "operationId": "nestRegister",
                "summary": "Claim the entry key shown on a thermostat for a user",
                "description": (
                    "The body is parsed as JSON whatever its Content-Type. A claim that finds "
                    "no live key is HTTP 200 with `success:false`. Every attempt is counted "
                    "against the claim limits before it is evaluated, successes too."
                ),
                "security": _CONTROL_SECURITY,
                "requestBody": _request(nest.NestRegisterRequestSchema),
                "responses": {
                    "200": _body(
                        envelopes.NestControlSchema,
                        "Claimed (`success:true`, with `serial`), or no live key matched.",
                        {
                            "claimed": {
                                "success": True,
                                "serial": "02AB01AC012345678",
                                "message": "Device 02AB01AC012345678 registered to homeassistant",
                            },
                            "noLiveKey": _control("Invalid, expired, or already claimed entry key"),
                        },
                    ),
                    "400": register_400,
                    **_control_errors(401, 408, 413, 429, 500, 503),
                },
            }
        },
    )
    user_param = _query("userId", "Keep this user's devices only.", type="string")
    spec.path(
        path="/api/devices",
        operations={
            "get": {
                "tags": ["nest-control"],
                "operationId": "nestDevices",
                "summary": "Every known device with its owner and held subscribes",
                "security": _CONTROL_SECURITY,
                "parameters": [
                    user_param,
                    _query(
                        "limit",
                        "Devices per page.",
                        type="integer",
                        minimum=1,
                        maximum=1000,
                        default=100,
                    ),
                    _query("offset", "Devices to skip.", type="integer", minimum=0, default=0),
                ],
                "responses": {
                    "200": _body(
                        nest.NestDevicesSchema,
                        "One page, newest `createdAt` first, then serial; `total` counts every "
                        "match.",
                    ),
                    "400": _body(
                        envelopes.NestControlSchema,
                        "`limit` or `offset` is not a whole number in range.",
                        {"badPage": _control("Invalid paging parameters")},
                    ),
                    **_control_errors(401, 429, 500, 503),
                },
            }
        },
    )
    default_user = _query(
        "userId", "The owner (default `homeassistant`).", type="string", default="homeassistant"
    )
    spec.path(
        path="/api/registered-devices",
        operations={
            "get": {
                "tags": ["nest-control"],
                "operationId": "nestRegisteredDevices",
                "summary": "A user's devices, newest ownership first",
                "security": _CONTROL_SECURITY,
                "parameters": [default_user],
                "responses": {
                    "200": _body(
                        {"type": "array", "items": nest.NestRegisteredDeviceSchema},
                        "The user's devices.",
                    ),
                    **_control_errors(401, 429, 500, 503),
                },
            }
        },
    )
    spec.path(
        path="/api/registered-devices/{serial}",
        operations={
            "delete": {
                "tags": ["nest-control"],
                "operationId": "nestUnregister",
                "summary": "The user gives a device up",
                "description": "`serial` is echoed as given and matched after sanitizing.",
                "security": _CONTROL_SECURITY,
                "parameters": [
                    _path("serial", "Device serial.", type="string", pattern="^[A-Za-z0-9_-]+$"),
                    default_user,
                ],
                "responses": {
                    "200": _body(
                        envelopes.NestControlSchema,
                        "Deleted, or the user does not own it.",
                        {
                            "deleted": _control("Device 02AB01AC012345678 deleted", True),
                            "notFound": _control("Device 02AB01AC012345678 not found"),
                        },
                    ),
                    "400": _body(
                        envelopes.NestControlSchema,
                        "`serial` has characters outside `[A-Za-z0-9_-]`.",
                        {"badSerial": _control("Invalid device serial format")},
                    ),
                    **_control_errors(401, 429, 500, 503),
                },
            }
        },
    )


# --- Nest device transport ---------------------------------------------------------------

_DEVICE_SECURITY = [{}, {"nestDevice": []}]
_DEVICE_PARAMS = [
    {
        "name": "X-nl-client-id",
        "in": "header",
        "description": "`d.SERIAL.rand`: the second dot-separated part is the serial.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-nl-device-id",
        "in": "header",
        "description": "The serial (whole value).",
        "schema": {"type": "string"},
    },
    {
        "name": "X-NL-Device-Serial",
        "in": "header",
        "description": "The serial.",
        "schema": {"type": "string"},
    },
    _query("serial", "The serial.", type="string", pattern=nest.SERIAL_PATTERN),
]
_STANDARD_HEADERS = {
    "X-nl-service-timestamp": {"description": "Now, epoch ms.", "schema": {"type": "string"}},
    "X-nl-suspend-time-max": {
        "description": "`NEST_SUSPEND_TIME_MAX`.",
        "schema": {"type": "string"},
    },
    "X-nl-defer-device-window": {"description": "Always 15.", "schema": {"type": "string"}},
}


def _device_error(description: str, *messages: str) -> dict:
    return _body(
        envelopes.NestErrorSchema,
        description,
        {message.replace(" ", "")[:20]: {"error": message} for message in messages},
    )


def _device_errors(*statuses: int) -> dict:
    table = {
        408: _device_error(
            "The body took longer than `REQUEST_BODY_TIMEOUT_SECONDS`; the connection closes.",
            "Request body too slow",
        ),
        413: _device_error("Body over 1 MiB.", "Request body too large"),
        429: _body(
            envelopes.NestErrorSchema,
            "A serial seen for the first time, and this client IP has made its "
            "`NEST_NEW_DEVICES_LIMIT_PER_IP` new devices.",
            {"limited": {"error": "Too many requests"}},
            RETRY_AFTER,
        ),
        500: _device_error("Internal failure (e.g. the database is down).", "Internal error"),
    }
    return {str(status): table[status] for status in statuses}


_NO_SERIAL = _device_error(
    "No serial in any identity source, the body is not a JSON object, or it lists more "
    "than `NEST_MAX_OBJECTS_PER_REQUEST` (256) objects.",
    "Device serial required",
    "Invalid JSON",
    "Too many objects: at most 256 per request",
)
_PAIRING_PUSH = {
    "objects": [
        {
            "object_revision": 1,
            "object_timestamp": 1795291295684,
            "object_key": "user.homeassistant",
            "value": {"name": "homeassistant"},
        },
        {
            "object_revision": 1,
            "object_timestamp": 1795291295684,
            "object_key": "structure.homeassistant",
            "value": {"name": "Home", "devices": ["02AB01AC012345678"]},
        },
    ]
}


def _nest_device(spec: APISpec) -> None:
    device = {"tags": ["nest-device"], "security": _DEVICE_SECURITY}
    origin = "http://192.168.1.5:8082"
    entry_example = {
        "czfe_url": f"{origin}/nest/transport",
        "transport_url": f"{origin}/nest/transport",
        "direct_transport_url": f"{origin}/nest/transport",
        "passphrase_url": f"{origin}/nest/passphrase",
        "ping_url": f"{origin}/nest/transport",
        "pro_info_url": f"{origin}/nest/pro_info",
        "weather_url": f"{origin}/nest/weather/v1?query=",
        "upload_url": f"{origin}/nest/upload",
        "software_update_url": "",
        "server_version": "1.0.0",
        "tier_name": "local",
    }
    entry = {
        "tags": ["nest-device"],
        "summary": "Service discovery (also `/entry`); posted form fields are ignored",
        "responses": {
            "200": _body(nest.NestEntrySchema, "Always.", {"entry": entry_example}),
            **_device_errors(408, 413, 500),
        },
    }
    spec.path(
        path="/nest/entry",
        operations={
            "get": {**entry, "operationId": "nestEntry"},
            "post": {**entry, "operationId": "nestEntryPost"},
        },
    )
    spec.path(
        path="/nest/passphrase",
        operations={
            "get": {
                **device,
                "operationId": "nestPassphrase",
                "summary": "The device's entry key, re-served while pending (also `/passphrase`)",
                "parameters": _DEVICE_PARAMS,
                "responses": {
                    "200": _body(
                        nest.NestPassphraseSchema,
                        "The live key, or a new one; `expires` is epoch ms.",
                        {"key": {"value": "A3XR7M2", "expires": 1795294895684}},
                    ),
                    "400": _device_error("No serial.", "Device serial required"),
                    "503": _device_error(
                        "No free code in 20 tries.", "Entry key service unavailable"
                    ),
                    **_device_errors(429, 500),
                },
            }
        },
    )
    spec.path(
        path="/nest/passphrase/status",
        operations={
            "get": {
                **device,
                "operationId": "nestPassphraseStatus",
                "summary": "Whether the device's newest key is pending or claimed",
                "parameters": _DEVICE_PARAMS,
                "responses": {
                    "200": _body(
                        {
                            "oneOf": [
                                nest.NestKeyNoneSchema,
                                nest.NestKeyClaimedSchema,
                                nest.NestKeyPendingSchema,
                            ]
                        },
                        "No key, claimed, or pending.",
                        {
                            "noKey": {
                                "status": "no_key",
                                "claimed": False,
                                "message": "No entry key found for this device",
                            },
                            "claimed": {
                                "status": "claimed",
                                "claimed": True,
                                "claimedBy": "homeassistant",
                                "claimedAt": 1795291295684,
                            },
                            "pending": {
                                "status": "pending",
                                "claimed": False,
                                "expiresAt": 1795294895684,
                            },
                        },
                    ),
                    "400": _device_error("No serial.", "Device serial required"),
                    **_device_errors(429, 500),
                },
            }
        },
    )
    spec.path(
        path="/nest/ping",
        operations={
            "get": {
                "tags": ["nest-device"],
                "operationId": "nestPing",
                "summary": "Liveness for the firmware (also `/ping`)",
                "responses": {"200": _body(nest.NestPingSchema, "Always.")},
            }
        },
    )
    spec.path(
        path="/nest/upload",
        operations={
            "post": {
                "tags": ["nest-device"],
                "operationId": "nestUpload",
                "summary": "Log upload, accepted and dropped (also `/upload`)",
                "requestBody": {
                    "required": False,
                    "content": {"application/octet-stream": {"schema": {}}},
                },
                "responses": {
                    "200": _body(nest.NestUploadSchema, "Always (up to 1 MiB)."),
                    **_device_errors(408, 413),
                },
            }
        },
    )
    subscribe = {
        **device,
        "summary": "Subscribe: immediate answer, or a chunked long-poll",
        "description": (
            "With `chunked:true` the status and headers go out at once and the body is "
            'chunked: at most one `{"objects":[…]}` chunk at once, or a hold of '
            "`NEST_SUSPEND_TIME_MAX` − 10 s during which each push (and each further one "
            "within 3 s) is one such chunk; a hold that ends idle has an empty body. "
            "OpenAPI cannot describe a stream: the schema is that of one chunk. Aliases: "
            "`/transport`, `/czfe/{version}/subscribe`."
        ),
        "parameters": _DEVICE_PARAMS,
        "requestBody": _request(nest.NestSubscribeRequestSchema),
        "responses": {
            "200": _body(
                envelopes.NestObjectsSchema,
                "Buckets the device lacks, in request order, then its owner buckets.",
                {"pairingPush": _PAIRING_PUSH, "nothingNew": {"objects": []}},
                _STANDARD_HEADERS,
            ),
            "400": _NO_SERIAL,
            **_device_errors(408, 413, 429, 500),
        },
    }
    version = _path("version", "Firmware protocol version, e.g. `v5`.", type="string")
    spec.path(
        path="/nest/transport", operations={"post": {**subscribe, "operationId": "nestSubscribe"}}
    )
    spec.path(
        path="/nest/transport/{version}/subscribe",
        operations={
            "post": {
                **subscribe,
                "operationId": "nestSubscribeVersioned",
                "parameters": [version, *_DEVICE_PARAMS],
            }
        },
    )
    put = {
        **device,
        "summary": "Device writes; conflicts reported per object, values never echoed",
        "description": (
            "Each object is merged into the stored bucket unless `if_object_revision` differs "
            "from the stored revision (then its item carries the stored version and nothing "
            "is written). Aliases: `/transport/put`, `/czfe/put`, `/czfe/{version}/put`."
        ),
        "parameters": _DEVICE_PARAMS,
        "requestBody": _request(nest.NestPutRequestSchema),
        "responses": {
            "200": _body(
                envelopes.NestObjectsSchema,
                "One item (revision, timestamp, key; no value) per object written or refused.",
                {
                    "written": {
                        "objects": [
                            {
                                "object_revision": 458,
                                "object_timestamp": 1795291295684,
                                "object_key": "shared.02AB01AC012345678",
                            }
                        ]
                    }
                },
                _STANDARD_HEADERS,
            ),
            "400": _NO_SERIAL,
            **_device_errors(408, 413, 429, 500),
        },
    }
    spec.path(path="/nest/transport/put", operations={"post": {**put, "operationId": "nestPut"}})
    spec.path(
        path="/nest/transport/{version}/put",
        operations={
            "post": {
                **put,
                "operationId": "nestPutVersioned",
                "parameters": [version, *_DEVICE_PARAMS],
            }
        },
    )


# --- Hue ---------------------------------------------------------------------------------


def _hue_error(type_: int, address: str, description: str) -> dict:
    return {"error": {"type": type_, "address": address, "description": description}}


_HUE_200 = "Always HTTP 200: the outcome is in the body."
_USERNAME = _path(
    "username",
    "A whitelisted key (anything else: type 1, or the short config for `/config`).",
    type="string",
    pattern=hue.USERNAME_PATTERN,
)


def _hue(spec: APISpec) -> None:
    tags = ["hue"]
    spec.path(
        path="/api",
        operations={
            "post": {
                "tags": tags,
                "operationId": "hueCreateUser",
                "summary": "Register an application while the link button window is open",
                "description": (
                    "Validation errors come in one array in the bridge's order; the link check "
                    "(type 101) runs only when there is none. Other methods: type 4."
                ),
                "requestBody": _request(hue.HueCreateUserRequestSchema),
                "responses": {
                    "200": _body(
                        _items(hue.HueCreatedItemSchema, envelopes.HueErrorSchema),
                        _HUE_200,
                        {
                            "created": [{"success": {"username": "burgestrand"}}],
                            "notPressed": [_hue_error(101, "", "link button not pressed")],
                            "invalid": [
                                _hue_error(
                                    7,
                                    "/username",
                                    "invalid value, burges, for parameter, username",
                                ),
                                _hue_error(2, "/", "body contains invalid json"),
                            ],
                        },
                    )
                },
            }
        },
    )
    short_example = {
        "name": "homepair",
        "datastoreversion": "126",
        "swversion": "1967054020",
        "apiversion": "1.67.0",
        "mac": "00:17:88:4a:15:15",
        "bridgeid": "001788FFFE4A1515",
        "factorynew": False,
        "replacesbridgeid": None,
        "modelid": "BSB002",
        "starterkitid": "",
    }
    spec.path(
        path="/api/config",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueShortConfig",
                "summary": "The unauthenticated config (apps read `bridgeid` here)",
                "responses": {
                    "200": _body(hue.HueShortConfigSchema, _HUE_200, {"config": short_example})
                },
            }
        },
    )
    type1 = {"unauthorized": [_hue_error(1, "/", "unauthorized user")]}
    spec.path(
        path="/api/{username}",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueFullState",
                "summary": "Full state: the config between empty collections",
                "parameters": [_USERNAME],
                "responses": {
                    "200": _body(
                        {"oneOf": [hue.HueFullStateSchema, _items(envelopes.HueErrorSchema)]},
                        _HUE_200,
                        type1,
                    )
                },
            }
        },
    )
    spec.path(
        path="/api/{username}/config",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueConfig",
                "summary": "Full config for a whitelisted key, else the short config",
                "parameters": [_USERNAME],
                "responses": {
                    "200": _body(
                        {"oneOf": [hue.HueFullConfigSchema, hue.HueShortConfigSchema]},
                        _HUE_200,
                        {"short": short_example},
                    )
                },
            },
            "put": {
                "tags": tags,
                "operationId": "hueUpdateConfig",
                "summary": "Press (true) or release (false) the virtual link button",
                "parameters": [_USERNAME],
                "requestBody": _request(hue.HueConfigUpdateSchema),
                "responses": {
                    "200": _body(
                        _items(hue.HueLinkbuttonItemSchema, envelopes.HueErrorSchema),
                        _HUE_200 + " One result per body key, in body order.",
                        {
                            "pressed": [{"success": {"/config/linkbutton": True}}],
                            "unauthorized": [_hue_error(1, "/config", "unauthorized user")],
                        },
                    )
                },
            },
        },
    )
    spec.path(
        path="/api/{username}/{collection}",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueCollection",
                "summary": "Empty collections (Home Assistant polls them)",
                "parameters": [
                    _USERNAME,
                    _path(
                        "collection", "Collection name.", type="string", enum=hue.COLLECTION_NAMES
                    ),
                ],
                "responses": {
                    "200": _body(
                        {"oneOf": [hue.HueEmptySchema, _items(envelopes.HueErrorSchema)]},
                        _HUE_200,
                        {"empty": {}},
                    )
                },
            }
        },
    )
    key = "1028d66426293e821ecfd9ef1a0731df"
    spec.path(
        path="/api/{username}/config/whitelist/{key}",
        operations={
            "delete": {
                "tags": tags,
                "operationId": "hueDeleteKey",
                "summary": "Remove a whitelisted key (any whitelisted app may remove any key)",
                "parameters": [_USERNAME, _path("key", "The key to remove.", type="string")],
                "responses": {
                    "200": _body(
                        _items(hue.HueDeletedItemSchema, envelopes.HueErrorSchema),
                        _HUE_200,
                        {
                            "deleted": [{"success": f"/config/whitelist/{key} deleted"}],
                            "unknownKey": [
                                _hue_error(
                                    3,
                                    f"/config/whitelist/{key}",
                                    f"resource, /config/whitelist/{key}, not available",
                                )
                            ],
                        },
                    )
                },
            }
        },
    )
    spec.path(
        path="/description.xml",
        operations={
            "get": {
                "tags": tags,
                "operationId": "hueDescription",
                "summary": "UPnP description, addressed as the request was",
                "responses": {
                    "200": {
                        "description": "The bridge's description.",
                        "content": {"text/xml": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    )


# --- Ruuvi -------------------------------------------------------------------------------

_RUUVI_SECURITY = [{"ruuviToken": []}]


def _ruuvi_errors(*statuses: int) -> dict:
    table = {
        401: _body(
            ruuvi.RuuviErrorDocSchema,
            "Missing, malformed, unknown or stale token.",
            {"unauthorized": _ruuvi_error("Unauthorized request.", "ER_UNAUTHORIZED")},
            WWW_BEARER,
        ),
        408: _body(
            ruuvi.RuuviErrorDocSchema,
            "The body took longer than `REQUEST_BODY_TIMEOUT_SECONDS`; the connection closes.",
            {"tooSlow": _ruuvi_error("Request body too slow", "ER_INVALID")},
        ),
        413: _body(
            ruuvi.RuuviErrorDocSchema,
            "Body over 1 MiB.",
            {"tooLarge": _ruuvi_error("Request body too large", "ER_INVALID", "ER_INVALID_FORMAT")},
        ),
        429: _body(
            ruuvi.RuuviErrorDocSchema,
            "A limit of this endpoint is exhausted.",
            {"throttled": _ruuvi_error("Too many requests", "ER_THROTTLED")},
            RETRY_AFTER,
        ),
        503: _body(
            ruuvi.RuuviErrorDocSchema,
            "The rate-limit store is unreachable: `/verify` fails closed, nothing was tried.",
            {"unavailable": _ruuvi_error("Service unavailable", "ER_INTERNAL")},
            RETRY_AFTER,
        ),
        500: _body(
            ruuvi.RuuviErrorDocSchema,
            "Internal failure (e.g. the database is down).",
            {"internal": _ruuvi_error("Internal error", "ER_INTERNAL")},
        ),
    }
    return {str(status): table[status] for status in statuses}


def _ruuvi(spec: APISpec) -> None:
    tags = ["ruuvi"]
    spec.path(
        path="/register",
        operations={
            "post": {
                "tags": tags,
                "operationId": "ruuviRegister",
                "summary": "E-mail a sign-in code (new or existing account alike)",
                "description": "The body is parsed as JSON whatever its Content-Type.",
                "requestBody": _request(ruuvi.RuuviRegisterRequestSchema),
                "responses": {
                    "200": _body(
                        ruuvi.RuuviRegisterSuccessSchema,
                        "Queued (not yet delivered).",
                        {"queued": {"result": "success", "data": {"email": "user@example.com"}}},
                    ),
                    "400": _body(
                        ruuvi.RuuviErrorDocSchema,
                        "Not a JSON object, or not an e-mail address.",
                        {
                            "invalidJson": _ruuvi_error(
                                "Invalid JSON", "ER_INVALID", "ER_INVALID_FORMAT"
                            ),
                            "invalidEmail": _ruuvi_error(
                                "Invalid e-mail address: nope",
                                "ER_INVALID",
                                "ER_INVALID_EMAIL_ADDRESS",
                            ),
                        },
                    ),
                    **_ruuvi_errors(408, 413, 429, 500),
                },
            }
        },
    )
    spec.path(
        path="/verify",
        operations={
            "get": {
                "tags": tags,
                "operationId": "ruuviVerify",
                "summary": "Trade an e-mailed code for an access token",
                "parameters": [
                    {
                        **_query(
                            "token",
                            "The 4-character code (any letter case).",
                            type="string",
                            pattern="^[A-Za-z0-9]{4}$",
                        ),
                        "required": True,
                    }
                ],
                "responses": {
                    "200": _body(
                        ruuvi.RuuviVerifySuccessSchema,
                        "Signed in; `newUser` when the account was created now.",
                        {
                            "signedIn": {
                                "result": "success",
                                "data": {
                                    "email": "user@example.com",
                                    "accessToken": "753231/" + "A" * 64,
                                    "newUser": True,
                                },
                            }
                        },
                    ),
                    "400": _body(
                        ruuvi.RuuviErrorDocSchema,
                        "`token` absent or empty.",
                        {
                            "missing": _ruuvi_error(
                                "Missing token", "ER_INVALID", "ER_INVALID_ARGUMENT"
                            )
                        },
                    ),
                    "403": _body(
                        ruuvi.RuuviErrorDocSchema,
                        "No live code matches: unknown, malformed, used or expired.",
                        {
                            "expired": _ruuvi_error(
                                "Code used or expired", "ER_FORBIDDEN", "ER_TOKEN_EXPIRED"
                            )
                        },
                    ),
                    **_ruuvi_errors(429, 500, 503),
                },
            }
        },
    )
    spec.path(
        path="/user",
        operations={
            "get": {
                "tags": tags,
                "operationId": "ruuviUser",
                "summary": "The account's e-mail (homepair keeps no sensors)",
                "security": _RUUVI_SECURITY,
                "responses": {
                    "200": _body(
                        ruuvi.RuuviUserSuccessSchema,
                        "The signed-in account.",
                        {
                            "user": {
                                "result": "success",
                                "data": {"email": "user@example.com", "sensors": []},
                            }
                        },
                    ),
                    **_ruuvi_errors(401, 500),
                },
            }
        },
    )
    deleted = _body(
        ruuvi.RuuviDeletedSuccessSchema,
        "Revoked.",
        {"revoked": {"result": "success", "data": {}}},
    )
    spec.path(
        path="/sessions",
        operations={
            "get": {
                "tags": tags,
                "operationId": "ruuviSessions",
                "summary": "The caller's sessions, most recently used first",
                "security": _RUUVI_SECURITY,
                "responses": {
                    "200": _body(
                        ruuvi.RuuviSessionsSuccessSchema,
                        "Times in epoch seconds; `current` marks this request's token.",
                        {
                            "sessions": {
                                "result": "success",
                                "data": {
                                    "sessions": [
                                        {
                                            "id": 984231,
                                            "createdAt": 1764412800,
                                            "lastAccessed": 1764448800,
                                            "current": True,
                                        }
                                    ]
                                },
                            }
                        },
                    ),
                    **_ruuvi_errors(401, 500),
                },
            },
            "delete": {
                "tags": tags,
                "operationId": "ruuviRevokeAll",
                "summary": "Sign out everywhere, this token included",
                "security": _RUUVI_SECURITY,
                "responses": {"200": deleted, **_ruuvi_errors(401, 500)},
            },
        },
    )
    spec.path(
        path="/sessions/{id}",
        operations={
            "delete": {
                "tags": tags,
                "operationId": "ruuviRevokeOne",
                "summary": "Revoke one of the caller's sessions",
                "security": _RUUVI_SECURITY,
                "parameters": [_path("id", "A session id of the caller.", type="integer")],
                "responses": {
                    "200": deleted,
                    "404": _body(
                        ruuvi.RuuviErrorDocSchema,
                        "Not an id of one of the caller's sessions.",
                        {"notFound": _ruuvi_error("NOT FOUND", "ER_NOT_FOUND")},
                    ),
                    **_ruuvi_errors(401, 500),
                },
            }
        },
    )


def _health(spec: APISpec) -> None:
    spec.path(
        path="/healthz",
        operations={
            "get": {
                "tags": ["health"],
                "operationId": "healthz",
                "summary": "The database, the migrations and Redis, each on its own",
                "responses": {
                    "200": _body(
                        HealthSchema,
                        "Serving: `ok`, or `degraded` when Redis is down or the schema is not "
                        "at the newest migration.",
                        {
                            "ok": {
                                "status": "ok",
                                "database": "ok",
                                "migrations": "head",
                                "redis": "ok",
                            },
                            "degraded": {
                                "status": "degraded",
                                "database": "ok",
                                "migrations": "head",
                                "redis": "down",
                            },
                        },
                    ),
                    "503": _body(
                        HealthSchema,
                        "The database failed.",
                        {
                            "error": {
                                "status": "error",
                                "database": "down",
                                "migrations": "unknown",
                                "redis": "not used",
                            }
                        },
                    ),
                },
            }
        },
    )


# --- the document --------------------------------------------------------------------------


def build_spec() -> dict:
    """Generate the OpenAPI document (a plain dict, keys in the order they are written)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="homepair",
        version="0.1.0",
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": (
                "Self-hosted registration server: Nest thermostats (NoLongerEvil firmware), "
                "Philips Hue v1 apps and Ruuvi Cloud sign-in on one port. JSON bodies are "
                "parsed whatever their Content-Type; keys go out in the order shown."
            )
        },
        tags=[
            {"name": "nest-control", "description": "Claim entry keys, list devices."},
            {"name": "nest-device", "description": "What the thermostat firmware calls."},
            {"name": "hue", "description": "Bridge API v1 registration; always HTTP 200."},
            {
                "name": "ruuvi",
                "description": "Ruuvi Cloud User API sign-in (CORS on every answer).",
            },
            {"name": "health", "description": "Liveness."},
        ],
    )
    plugin.converter.add_attribute_function(_constant)
    spec.components.security_scheme(
        "nestControlToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "Required only when `NEST_CONTROL_TOKEN` is set.",
        },
    )
    spec.components.security_scheme(
        "nestDevice",
        {
            "type": "http",
            "scheme": "basic",
            "description": (
                "The username (`SERIAL`, `nest.SERIAL` or `d.SERIAL.x`) names the device; the "
                "password is never checked. Other identity sources are the `X-nl-…` headers "
                "and `?serial=`, in that order."
            ),
        },
    )
    spec.components.security_scheme(
        "ruuviToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "The `accessToken` from `/verify` (the bare token also works).",
        },
    )
    _nest_control(spec)
    _nest_device(spec)
    _hue(spec)
    _ruuvi(spec)
    _health(spec)
    document = spec.to_dict()
    # Readers expect the version first; apispec writes it after the paths.
    return {"openapi": document.pop("openapi"), **document}


def document() -> dict:
    """This app's OpenAPI document, built on first use and kept for the app's lifetime."""
    extensions = current_app.extensions
    if _EXTENSION not in extensions:
        with _LOCK:
            if _EXTENSION not in extensions:
                extensions[_EXTENSION] = build_spec()
    return extensions[_EXTENSION]


@bp.get("/openapi.json")
def openapi_json():
    """``GET /openapi.json``: the OpenAPI document."""
    return json_response(document())
