"""The Nest namespaces: the control API's and the device transport's error answers."""

from __future__ import annotations

from flask import Response

from app.errors import Namespace, register_namespace
from app.nest.contract import (
    CONTROL_PATHS,
    DEVICE_PATHS,
    DEVICE_PREFIXES,
    Msg,
    control_response,
    error_response,
)


def _control(status: int, message: str, headers: dict | None) -> Response:
    if status == 429:
        message = Msg.LIMITED
    return control_response(False, message, status, headers=headers)


def _device(status: int, message: str, headers: dict | None) -> Response:
    return error_response(message, status, headers)


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
