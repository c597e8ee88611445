"""The Nest namespaces: the control API's and the device transport's error answers."""

from __future__ import annotations

from flask import Response

from app import envelopes
from app.errors import Namespace, register_namespace

CONTROL_PATHS = ("/api/register", "/api/devices", "/api/registered-devices")
DEVICE_PATHS = ("/nest", "/entry", "/ping", "/passphrase", "/upload", "/transport")
DEVICE_PREFIXES = ("/nest/", "/transport/", "/czfe/", "/passphrase/")


def _control(status: int, message: str, headers: dict | None) -> Response:
    if status == 429:
        message = "Too many registration attempts"
    return envelopes.nest_control_response(False, message, status, headers=headers)


def _device(status: int, message: str, headers: dict | None) -> Response:
    return envelopes.nest_error_response(message, status, headers)


register_namespace(
    Namespace(
        "nest-control",
        10,
        lambda bare: bare in CONTROL_PATHS or bare.startswith("/api/registered-devices/"),
        _control,
    )
)
register_namespace(
    Namespace(
        "nest-device",
        30,
        lambda bare: bare in DEVICE_PATHS or bare.startswith(DEVICE_PREFIXES),
        _device,
    )
)
