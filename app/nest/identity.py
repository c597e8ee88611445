"""Which device is asking: the serial from the request's ordered sources, and its sighting."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping

from sqlalchemy import bindparam, select, update
from werkzeug.datastructures import Headers

from app.clock import now_ms
from app.dbutil import insert_ignore, run, table
from app.nest.contract import SERIAL_PATTERN
from app.nest.models import NestDevice

_DEVICES = table(NestDevice)
_LAST_SEEN = select(_DEVICES.c.last_seen).where(_DEVICES.c.serial == bindparam("serial"))
_SEEN = (
    update(_DEVICES)
    .where(_DEVICES.c.serial == bindparam("p_serial"), _DEVICES.c.last_seen < bindparam("p_second"))
    .values(last_seen=bindparam("p_now"))
)
_NOT_SERIAL = re.compile(r"[^A-Za-z0-9]")
_SERIAL_RE = re.compile(SERIAL_PATTERN)


def _dot_rule(text: str) -> str:
    if "." in text:
        parts = text.split(".")
        return parts[1] or parts[0]
    return text


def sanitize_serial(text: str) -> str | None:
    """Keep ``[A-Za-z0-9]``, upper-case; None unless it then matches :data:`SERIAL_PATTERN`
    (10 to 64 characters)."""
    serial = _NOT_SERIAL.sub("", text).upper()
    return serial if _SERIAL_RE.match(serial) else None


def _basic_username(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if ":" not in decoded:
        return None
    return _dot_rule(decoded.split(":", 1)[0])


def identify_serial(
    headers: Headers | Mapping[str, str],
    args: Mapping[str, str],
    path_serial: str | None = None,
) -> str | None:
    """The device serial from the request, by the spec's ordered sources (§2)."""
    candidates: list[str | None] = []
    auth = headers.get("Authorization")
    candidates.append(_basic_username(auth) if auth else None)
    client_id = headers.get("X-nl-client-id")
    candidates.append(_dot_rule(client_id) if client_id else None)
    candidates.append(headers.get("X-nl-device-id"))
    candidates.append(headers.get("X-NL-Device-Serial"))
    candidates.append(args.get("serial"))
    candidates.append(path_serial)
    for candidate in candidates:
        if candidate:
            serial = sanitize_serial(candidate)
            if serial:
                return serial
    return None


def touch_device(serial: str, before_create: Callable[[], None] | None = None) -> bool:
    """Record that ``serial`` was seen now (first sight sets ``createdAt``); True when this
    call created the device.

    ``before_create`` runs before a new device row is written (the new-device budget; it
    raises to refuse).
    """
    now = now_ms()
    last_seen = run(_LAST_SEEN, serial=serial).scalar_one_or_none()
    if last_seen is None:
        if before_create is not None:
            before_create()
        if insert_ignore(NestDevice, serial=serial, created_at=now, last_seen=now):
            return True
    elif last_seen >= now - now % 1000:
        return False  # at most one write per second per device
    run(_SEEN, p_serial=serial, p_second=now - now % 1000, p_now=now)
    return False
