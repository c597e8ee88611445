"""Nest control API: claim an entry key, list and remove devices."""

from __future__ import annotations

import functools

from flask import Response, request

from app.bodies import json_body
from app.envelopes import json_response
from app.extensions import db
from app.limits import client_ip
from app.nest import bp, claims, service
from app.nest.contract import Msg
from app.nest.contract import control_response as nest_control_response
from app.pushhub import hub
from app.routing import add_routes


def require_control_token(view):
    """With ``NEST_CONTROL_TOKEN`` set, demand ``Authorization: Bearer <token>``."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else None
        if not claims.control_token_ok(given, client_ip()):
            return nest_control_response(
                False, Msg.UNAUTHORIZED, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        return view(*args, **kwargs)

    return wrapper


@require_control_token
def register():
    """``POST /api/register``: claim the code on a thermostat's screen for a user."""
    claims.spend_claim_budget(client_ip())
    status, success, message, serial = claims.claim_and_wake(json_body())
    return nest_control_response(success, message, status, serial=serial)


DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _page_argument(name: str, default: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 9 or int(raw) > high:
        return None
    return int(raw)


@require_control_token
def devices():
    """``GET /api/devices``: a page of the known devices with owner and held subscribes.

    ``limit`` (1–1000, default 100) and ``offset`` (default 0) page through them, newest
    ``createdAt`` first, then serial; ``total`` counts every match.
    """
    user_id = request.args.get("userId")
    limit = _page_argument("limit", DEFAULT_PAGE, MAX_PAGE)
    offset = _page_argument("offset", 0, 10**9)
    if not limit or offset is None:
        return nest_control_response(False, Msg.BAD_PAGING, 400)
    page, total = service.list_devices(user_id, hub.count, limit, offset)
    return json_response({"devices": page, "total": total})


@require_control_token
def registered_devices():
    """``GET /api/registered-devices``: a user's devices, newest first."""
    user_id = request.args.get("userId", claims.DEFAULT_USER)
    return json_response(service.registered_devices(user_id))


@require_control_token
def delete_registered_device(serial: str) -> Response:
    """``DELETE /api/registered-devices/<serial>``: the user gives a device up."""
    if not service.SERIAL_PATH_RE.fullmatch(serial):
        return nest_control_response(False, Msg.BAD_SERIAL, 400)
    user_id = request.args.get("userId", claims.DEFAULT_USER)
    deleted, _ = service.unregister(serial, user_id)
    if not deleted:
        db.session.rollback()
        return nest_control_response(False, Msg.NOT_FOUND_DEVICE.format(serial=serial))
    db.session.commit()  # wakes the user's other devices
    return nest_control_response(True, Msg.DELETED.format(serial=serial))


_ROUTES = (
    ("/api/register", register, ("POST",)),
    ("/api/devices", devices, ("GET",)),
    ("/api/registered-devices", registered_devices, ("GET",)),
    ("/api/registered-devices/<path:serial>", delete_registered_device, ("DELETE",)),
)
# Other methods on these paths get Nest's 405 through Hue's /api rules (app.routing says how).
for _path, _view, _methods in _ROUTES:
    add_routes(bp, (_path,), _view, _methods)
