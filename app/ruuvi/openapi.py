"""The Ruuvi part of the OpenAPI document: the Cloud User API sign-in."""

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


register(
    Part(
        "ruuvi",
        40,
        ({"name": "ruuvi", "description": "Ruuvi Cloud User API sign-in (CORS on every answer)."},),
        _ruuvi,
        {
            "ruuviToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "The `accessToken` from `/verify` (the bare token also works).",
            }
        },
    )
)
