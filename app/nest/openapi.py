"""The Nest part of the OpenAPI document: the control API and the device transport."""

from __future__ import annotations

from apispec import APISpec

from app.errors import message_for
from app.nest import contract
from app.nest import schemas as nest
from app.nest.contract import Msg
from app.openapi import (
    RETRY_AFTER,
    WWW_BEARER,
    Part,
    body,
    path_param,
    query,
    register,
    request_body,
)


def _control(message: str, success: bool = False) -> dict:
    return {"success": success, "message": message}


# --- Nest control API --------------------------------------------------------------------

_CONTROL_SECURITY: list[dict[str, list[str]]] = [{}, {"nestControlToken": []}]


def _control_errors(*statuses: int) -> dict:
    table = {
        400: None,
        401: body(
            contract.NestControlSchema,
            "`NEST_CONTROL_TOKEN` is set and the bearer token is missing or wrong.",
            {"unauthorized": _control(Msg.UNAUTHORIZED)},
            WWW_BEARER,
        ),
        408: body(
            contract.NestControlSchema,
            "The body took longer than `REQUEST_BODY_TIMEOUT_SECONDS`; the connection closes.",
            {"tooSlow": _control(message_for(408))},
        ),
        413: body(
            contract.NestControlSchema,
            "Body over 1 MiB.",
            {"tooLarge": _control(message_for(413))},
        ),
        429: body(
            contract.NestControlSchema,
            "A claim limit (per client IP, or in total) or, with a control token set, the "
            "client's token budget is exhausted.",
            {"limited": _control(Msg.LIMITED)},
            RETRY_AFTER,
        ),
        503: body(
            contract.NestControlSchema,
            "The rate-limit store is unreachable: guessing limits fail closed, nothing was tried.",
            {"unavailable": _control(message_for(503))},
            RETRY_AFTER,
        ),
        500: body(
            contract.NestControlSchema,
            "Internal failure (e.g. the database is down).",
            {"internal": _control(message_for(500))},
        ),
    }
    return {str(status): table[status] for status in statuses}


def _nest_control(spec: APISpec) -> None:
    register_400 = body(
        contract.NestControlSchema,
        "Malformed request (counted as a claim attempt).",
        {
            "invalidJson": _control(Msg.INVALID_JSON),
            "missing": _control(Msg.MISSING_FIELDS),
            "badCode": _control(Msg.BAD_CODE),
            "badUser": _control(Msg.BAD_USER_ID),
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
                "requestBody": request_body(nest.NestRegisterRequestSchema),
                "responses": {
                    "200": body(
                        contract.NestControlSchema,
                        "Claimed (`success:true`, with `serial`), or no live key matched.",
                        {
                            "claimed": {
                                "success": True,
                                "serial": "02AB01AC012345678",
                                "message": Msg.REGISTERED.format(
                                    serial="02AB01AC012345678", user=contract.DEFAULT_USER
                                ),
                            },
                            "noLiveKey": _control(Msg.NO_LIVE_KEY),
                        },
                    ),
                    "400": register_400,
                    **_control_errors(401, 408, 413, 429, 500, 503),
                },
            }
        },
    )
    user_param = query("userId", "Keep this user's devices only.", type="string")
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
                    query(
                        "limit",
                        "Devices per page.",
                        type="integer",
                        minimum=1,
                        maximum=1000,
                        default=100,
                    ),
                    query("offset", "Devices to skip.", type="integer", minimum=0, default=0),
                ],
                "responses": {
                    "200": body(
                        nest.NestDevicesSchema,
                        "One page, newest `createdAt` first, then serial; `total` counts every "
                        "match.",
                    ),
                    "400": body(
                        contract.NestControlSchema,
                        "`limit` or `offset` is not a whole number in range.",
                        {"badPage": _control(Msg.BAD_PAGING)},
                    ),
                    **_control_errors(401, 429, 500, 503),
                },
            }
        },
    )
    default_user = query(
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
                    "200": body(
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
                    path_param(
                        "serial",
                        "Device serial.",
                        type="string",
                        pattern=f"^{contract.SERIAL_PATH_RE.pattern}$",
                    ),
                    default_user,
                ],
                "responses": {
                    "200": body(
                        contract.NestControlSchema,
                        "Deleted, or the user does not own it.",
                        {
                            "deleted": _control("Device 02AB01AC012345678 deleted", True),
                            "notFound": _control("Device 02AB01AC012345678 not found"),
                        },
                    ),
                    "400": body(
                        contract.NestControlSchema,
                        "`serial` has characters outside `[A-Za-z0-9_-]`.",
                        {"badSerial": _control(Msg.BAD_SERIAL)},
                    ),
                    **_control_errors(401, 429, 500, 503),
                },
            }
        },
    )


# --- Nest device transport ---------------------------------------------------------------

_DEVICE_SECURITY: list[dict[str, list[str]]] = [{}, {"nestDevice": []}]
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
    query("serial", "The serial.", type="string", pattern=contract.SERIAL_PATTERN),
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
    return body(
        contract.NestErrorSchema,
        description,
        {message.replace(" ", "")[:20]: {"error": message} for message in messages},
    )


def _device_errors(*statuses: int) -> dict:
    table = {
        408: _device_error(
            "The body took longer than `REQUEST_BODY_TIMEOUT_SECONDS`; the connection closes.",
            message_for(408),
        ),
        413: _device_error("Body over 1 MiB.", message_for(413)),
        429: body(
            contract.NestErrorSchema,
            "A serial seen for the first time, and this client IP has made its "
            "`NEST_NEW_DEVICES_LIMIT_PER_IP` new devices.",
            {"limited": {"error": message_for(429)}},
            RETRY_AFTER,
        ),
        500: _device_error("Internal failure (e.g. the database is down).", message_for(500)),
    }
    return {str(status): table[status] for status in statuses}


_NO_SERIAL = _device_error(
    "No serial in any identity source, the body is not a JSON object, or it lists more "
    "than `NEST_MAX_OBJECTS_PER_REQUEST` (256) objects.",
    Msg.SERIAL_REQUIRED,
    Msg.INVALID_JSON,
    Msg.TOO_MANY_OBJECTS.format(cap=256),
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
        "upload_url": f"{origin}/nest/upload",
        "software_update_url": "",
        "server_version": "1.0.0",
        "tier_name": "local",
    }
    entry = {
        "tags": ["nest-device"],
        "summary": "Service discovery (also `/entry`); posted form fields are ignored",
        "responses": {
            # The body is never read: a slow or huge one changes nothing.
            "200": body(nest.NestEntrySchema, "Always.", {"entry": entry_example}),
            **_device_errors(500),
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
                    "200": body(
                        nest.NestPassphraseSchema,
                        "The live key, or a new one; `expires` is epoch ms.",
                        {"key": {"value": "A3XR7M2", "expires": 1795294895684}},
                    ),
                    "400": _device_error("No serial.", Msg.SERIAL_REQUIRED),
                    "503": _device_error("No free code in 20 tries.", Msg.KEYS_UNAVAILABLE),
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
                    "200": body(
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
                                "message": Msg.NO_KEY,
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
                    "400": _device_error("No serial.", Msg.SERIAL_REQUIRED),
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
                "responses": {"200": body(nest.NestPingSchema, "Always.")},
            }
        },
    )
    pro = {
        "tags": ["nest-device"],
        "summary": "The installer directory (`pro_info_url`): homepair is the only installer",
        "responses": {
            "200": body(
                nest.NestProInfoSchema,
                "Always; `pro_id` is the code asked for (empty without one).",
                {
                    "record": {
                        "id": 1,
                        "pro_id": "A1B2C3",
                        "dba": "homepair",
                        "locality": "Self-hosted",
                        "website": "",
                        "rating": 5.0,
                    }
                },
            )
        },
    }
    spec.path(path="/nest/pro_info", operations={"get": {**pro, "operationId": "nestProInfo"}})
    spec.path(
        path="/nest/pro_info/{code}",
        operations={
            "get": {
                **pro,
                "operationId": "nestProInfoCode",
                "parameters": [path_param("code", "An installer code.", type="string")],
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
                    "200": body(nest.NestUploadSchema, "Always (up to 1 MiB)."),
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
        "requestBody": request_body(nest.NestSubscribeRequestSchema),
        "responses": {
            "200": body(
                contract.NestObjectsSchema,
                "Buckets the device lacks, in request order, then its owner buckets.",
                {"pairingPush": _PAIRING_PUSH, "nothingNew": {"objects": []}},
                _STANDARD_HEADERS,
            ),
            "400": _NO_SERIAL,
            **_device_errors(408, 413, 429, 500),
        },
    }
    version = path_param("version", "Firmware protocol version, e.g. `v5`.", type="string")
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
        "requestBody": request_body(nest.NestPutRequestSchema),
        "responses": {
            "200": body(
                contract.NestObjectsSchema,
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


register(
    Part(
        "nest-control",
        10,
        ({"name": "nest-control", "description": "Claim entry keys, list devices."},),
        _nest_control,
        {
            "nestControlToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "Required only when `NEST_CONTROL_TOKEN` is set.",
            }
        },
    )
)
register(
    Part(
        "nest-device",
        20,
        ({"name": "nest-device", "description": "What the thermostat firmware calls."},),
        _nest_device,
        {
            "nestDevice": {
                "type": "http",
                "scheme": "basic",
                "description": (
                    "The username (`SERIAL`, `nest.SERIAL` or `d.SERIAL.x`) names the device; the "
                    "password is never checked. Other identity sources are the `X-nl-…` headers "
                    "and `?serial=`, in that order."
                ),
            }
        },
    )
)
