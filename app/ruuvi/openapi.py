"""The Ruuvi part of the OpenAPI document: the Cloud User API (sign-in, sessions, and the
account operations of an account with no sensors)."""

from __future__ import annotations

from apispec import APISpec

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
from app.ruuvi import contract
from app.ruuvi import schemas as ruuvi
from app.ruuvi.contract import BY_STATUS

# --- Ruuvi -------------------------------------------------------------------------------

_RUUVI_SECURITY: list[dict[str, list[str]]] = [{"ruuviToken": []}]


def _ruuvi_errors(*statuses: int) -> dict:
    table = {
        401: body(
            ruuvi.RuuviErrorDocSchema,
            "Missing, malformed, unknown or stale token.",
            {"unauthorized": contract.UNAUTHORIZED.body()},
            WWW_BEARER,
        ),
        408: body(
            ruuvi.RuuviErrorDocSchema,
            "The body took longer than `REQUEST_BODY_TIMEOUT_SECONDS`; the connection closes.",
            {"tooSlow": BY_STATUS[408].body()},
        ),
        413: body(
            ruuvi.RuuviErrorDocSchema,
            "Body over 1 MiB.",
            {"tooLarge": BY_STATUS[413].body()},
        ),
        429: body(
            ruuvi.RuuviErrorDocSchema,
            "A limit of this endpoint is exhausted.",
            {"throttled": BY_STATUS[429].body()},
            RETRY_AFTER,
        ),
        503: body(
            ruuvi.RuuviErrorDocSchema,
            "The rate-limit store is unreachable: `/verify` fails closed, nothing was tried.",
            {"unavailable": BY_STATUS[503].body()},
            RETRY_AFTER,
        ),
        500: body(
            ruuvi.RuuviErrorDocSchema,
            "Internal failure (e.g. the database is down).",
            {"internal": BY_STATUS[500].body()},
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
                "requestBody": request_body(ruuvi.RuuviRegisterRequestSchema),
                "responses": {
                    "200": body(
                        ruuvi.RuuviRegisterSuccessSchema,
                        "Queued (not yet delivered).",
                        {"queued": {"result": "success", "data": {"email": "user@example.com"}}},
                    ),
                    "400": body(
                        ruuvi.RuuviErrorDocSchema,
                        "Not a JSON object, or not an e-mail address.",
                        {
                            "invalidJson": contract.INVALID_JSON.body(),
                            "invalidEmail": contract.INVALID_EMAIL.about("nope").body(),
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
                        **query(
                            "token",
                            "The 4-character code (any letter case).",
                            type="string",
                            pattern=contract.CODE_PATTERN,
                        ),
                        "required": True,
                    }
                ],
                "responses": {
                    "200": body(
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
                    "400": body(
                        ruuvi.RuuviErrorDocSchema,
                        "`token` absent or empty.",
                        {"missing": contract.MISSING_TOKEN.body()},
                    ),
                    "403": body(
                        ruuvi.RuuviErrorDocSchema,
                        "No live code matches: unknown, malformed, used or expired.",
                        {"expired": contract.CODE_EXPIRED.body()},
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
                    "200": body(
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
    deleted = body(
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
                    "200": body(
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
                "parameters": [path_param("id", "A session id of the caller.", type="integer")],
                "responses": {
                    "200": deleted,
                    "404": body(
                        ruuvi.RuuviErrorDocSchema,
                        "Not an id of one of the caller's sessions.",
                        {"notFound": contract.NOT_FOUND.body()},
                    ),
                    **_ruuvi_errors(401, 500),
                },
            }
        },
    )


def _error(description: str, examples: dict[str, contract.RuuviError]) -> dict:
    return body(
        ruuvi.RuuviErrorDocSchema,
        description,
        {name: error.body() for name, error in examples.items()},
    )


_NOT_JSON = {"invalidJson": contract.INVALID_JSON}
_NOT_A_MAC = {"notAMac": contract.NOT_A_MAC}
# A POST of the account operations: the body is read after the token is checked.
_POSTED = (401, 408, 413, 500)


def _sensor_query(description: str) -> dict:
    return query("sensor", description + " " + ruuvi.MAC_DESCRIPTION, type="string")


def _flag(name: str, description: str) -> dict:
    return query(name, description, type="string", enum=["true", "false"])


def _operation(operation_id: str, summary: str, responses: dict, **more: object) -> dict:
    return {
        "tags": ["ruuvi"],
        "operationId": operation_id,
        "summary": summary,
        "security": _RUUVI_SECURITY,
        "responses": responses,
        **more,
    }


def _success(schema: object, description: str, name: str, data: dict) -> dict:
    return body(schema, description, {name: {"result": "success", "data": data}})


def _account(spec: APISpec) -> None:
    """The rest of Ruuvi's user API, as an account that has no sensors gets it."""
    no_sensors = _success(ruuvi.RuuviSensorsSuccessSchema, "No sensors.", "none", {"sensors": []})
    spec.path(
        path="/settings",
        operations={
            "get": _operation(
                "ruuviSettings",
                "The account's settings by name",
                {
                    "200": _success(
                        ruuvi.RuuviSettingsSuccessSchema,
                        "Every setting of the account.",
                        "settings",
                        {"settings": {"UNIT_TEMPERATURE": "C"}},
                    ),
                    **_ruuvi_errors(401, 500),
                },
            ),
            "post": _operation(
                "ruuviSetSetting",
                "Add or replace one account setting",
                {
                    "200": _success(
                        ruuvi.RuuviActionSuccessSchema,
                        "`added` for a new name, `updated` for a known one.",
                        "added",
                        {"action": "added"},
                    ),
                    "400": _error(
                        "Not a JSON object; `name` not 1-64 characters or `value` over 1024 "
                        "(neither may hold NUL); or a new name beyond 100 settings.",
                        {
                            **_NOT_JSON,
                            "badName": contract.INVALID_FIELD.about("name"),
                            "tooMany": contract.TOO_MANY_SETTINGS,
                        },
                    ),
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviSettingRequestSchema),
            ),
        },
    )
    spec.path(
        path="/subscription",
        operations={
            "get": _operation(
                "ruuviSubscriptions",
                "The subscription history (homepair sells none)",
                {
                    "200": _success(
                        ruuvi.RuuviSubscriptionsSuccessSchema,
                        "No subscription was ever had.",
                        "none",
                        {"subscriptions": []},
                    ),
                    **_ruuvi_errors(401, 500),
                },
            ),
            "post": _operation(
                "ruuviClaimSubscription",
                "Claim a subscription by code (no code is valid here)",
                {
                    "400": _error(
                        "Not a JSON object, `code` missing or empty, or (any other) code invalid.",
                        {
                            **_NOT_JSON,
                            "missingCode": contract.MISSING_CODE,
                            "invalidCode": contract.INVALID_CODE,
                        },
                    ),
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviClaimRequestSchema),
            ),
        },
    )
    spec.path(
        path="/sensors-dense",
        operations={
            "get": _operation(
                "ruuviSensorsDense",
                "The caller's sensors (none), whatever the options",
                {
                    "200": no_sensors,
                    "400": _error(
                        "`sensor` not a MAC address, a flag not `true`/`false`, or an unknown "
                        "`mode`.",
                        {**_NOT_A_MAC, "badOption": contract.INVALID_FIELD.about("mode")},
                    ),
                    **_ruuvi_errors(401, 500),
                },
                parameters=[
                    _sensor_query("Only this sensor (none is the caller's)."),
                    _flag("sharedToOthers", "Include whom each sensor is shared to."),
                    _flag("sharedToMe", "Include sensors shared to the caller."),
                    _flag("measurements", "Include the latest measurements."),
                    _flag("alerts", "Include the alert settings."),
                    _flag("settings", "Include the sensor settings."),
                    query("mode", "Fetch mode.", type="string", enum=list(contract.FETCH_MODES)),
                ],
            )
        },
    )
    not_found = _error(
        "The sensor does not exist here (homepair keeps no sensors).",
        {"notFound": contract.NOT_FOUND},
    )
    forbidden = _error(
        "The sensor is not the caller's (homepair keeps no sensors).",
        {"forbidden": contract.FORBIDDEN},
    )
    spec.path(
        path="/sensor-settings",
        operations={
            "get": _operation(
                "ruuviSensorSettings",
                "The settings of the caller's sensors (none)",
                {
                    "200": no_sensors,
                    "400": _error("`sensor` not a MAC address.", _NOT_A_MAC),
                    "404": not_found,
                    **_ruuvi_errors(401, 500),
                },
                parameters=[_sensor_query("Only this sensor.")],
            ),
            "post": _operation(
                "ruuviSetSensorSetting",
                "Set a sensor setting (no sensor is the caller's)",
                {
                    "400": _error(
                        "Not a JSON object, `sensor` not a MAC address, or `value`/`type` not "
                        "arrays of strings.",
                        {**_NOT_JSON, **_NOT_A_MAC},
                    ),
                    "404": not_found,
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviSensorSettingRequestSchema),
            ),
        },
    )
    spec.path(
        path="/alerts",
        operations={
            "get": _operation(
                "ruuviAlerts",
                "The alerts of the caller's sensors (none)",
                {
                    "200": no_sensors,
                    "400": _error("`sensor` not a MAC address.", _NOT_A_MAC),
                    "403": forbidden,
                    **_ruuvi_errors(401, 500),
                },
                parameters=[_sensor_query("Only this sensor.")],
            ),
            "post": _operation(
                "ruuviSetAlert",
                "Set an alert (no sensor is the caller's)",
                {
                    "400": _error(
                        "Not a JSON object, `sensor` not a MAC address, an unknown `type`, or "
                        "a field of the wrong type.",
                        {
                            **_NOT_JSON,
                            **_NOT_A_MAC,
                            "badType": contract.INVALID_FIELD.about("type"),
                        },
                    ),
                    "403": forbidden,
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviAlertRequestSchema),
            ),
        },
    )
    spec.path(
        path="/share",
        operations={
            "post": _operation(
                "ruuviShare",
                "Share a sensor (the caller owns none)",
                {
                    "400": _error(
                        "Not a JSON object, `sensor` not a MAC address or `user` not an "
                        "e-mail address.",
                        {
                            **_NOT_JSON,
                            **_NOT_A_MAC,
                            "invalidEmail": contract.INVALID_SHARE_EMAIL,
                        },
                    ),
                    "403": forbidden,
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviShareRequestSchema),
            )
        },
    )
    spec.path(
        path="/unshare",
        operations={
            "post": _operation(
                "ruuviUnshare",
                "End a share (there is none)",
                {
                    "400": _error(
                        "Not a JSON object, `sensor` not a MAC address or `user` (if given) not "
                        "an e-mail address.",
                        {**_NOT_JSON, **_NOT_A_MAC},
                    ),
                    "404": _error("No such share.", {"notFound": contract.NOT_FOUND}),
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviUnshareRequestSchema),
            )
        },
    )
    spec.path(
        path="/push-register",
        operations={
            "post": _operation(
                "ruuviPushRegister",
                "Accept a device's push token (not stored: homepair sends no notifications)",
                {
                    "200": _success(
                        ruuvi.RuuviPushSuccessSchema,
                        "`id` is the same for the same account and token.",
                        "registered",
                        {"id": 6037729964, "lastAccessed": 1763900053, "name": "Pixel 7"},
                    ),
                    "400": _error(
                        "Not a JSON object, `token`/`name` not strings, `type` not `iOS` or "
                        "`Android`, or `data`/`params` not objects.",
                        {**_NOT_JSON, "badType": contract.INVALID_FIELD.about("type")},
                    ),
                    **_ruuvi_errors(*_POSTED),
                },
                requestBody=request_body(ruuvi.RuuviPushRequestSchema),
            )
        },
    )
    spec.path(
        path="/air_firmwareupdate",
        operations={
            "get": {
                "tags": ["ruuvi"],
                "operationId": "ruuviAirFirmware",
                "summary": "Ruuvi Air firmware versions (homepair offers none; no sign-in)",
                "responses": {
                    "200": _success(ruuvi.RuuviFirmwareSuccessSchema, "No versions.", "none", {})
                },
            }
        },
    )


def _parts(spec: APISpec) -> None:
    _ruuvi(spec)
    _account(spec)


register(
    Part(
        "ruuvi",
        40,
        (
            {
                "name": "ruuvi",
                "description": "Ruuvi Cloud User API (CORS on every answer; any root path no "
                "other part serves answers 404 in the Ruuvi envelope).",
            },
        ),
        _parts,
        {
            "ruuviToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "The `accessToken` from `/verify` (the bare token also works).",
            }
        },
    )
)
