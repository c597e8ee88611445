"""Nest device endpoints: entry, passphrase, subscribe (long-poll), put, ping, upload."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from typing import cast

from flask import Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from app import mail
from app.bodies import json_body, raw_body
from app.clock import now_ms
from app.envelopes import json_bytes, json_response
from app.errors import ApiError
from app.extensions import db, guard, the_app
from app.limits import client_ip
from app.nest import bp, service
from app.nest.contract import Msg, nest_objects
from app.nest.contract import error_response as nest_error_response
from app.pushhub import Waiter, hub
from app.routing import add_routes

_SWEEPER = "homepair.nest.sweeper"
TRANSPORT = ("/nest/transport", "/transport")
SUBSCRIBE = (
    "/nest/transport/<version>/subscribe",
    "/transport/<version>/subscribe",
    "/czfe/<version>/subscribe",
)
PUT = (
    "/nest/transport/put",
    "/transport/put",
    "/czfe/put",
    "/nest/transport/<version>/put",
    "/transport/<version>/put",
    "/czfe/<version>/put",
)


def _new_device_budget() -> None:
    # Any made-up serial is a new device: identities per client IP are limited, so one
    # client cannot grow the tables without bound (the sweep removes unpaired ones).
    guard.spend("NEST_NEW_DEVICES_LIMIT_PER_IP", "nest-new-device-ip", client_ip(), fail_open=True)


def _serial() -> str:
    return _serial_seen()[0]


def _serial_seen() -> tuple[str, bool]:
    """The request's serial, marked seen; and whether this request created the device."""
    serial = service.identify_serial(request.headers, request.args)
    if serial is None:
        raise ApiError(nest_error_response(Msg.SERIAL_REQUIRED, 400))
    return serial, service.touch_device(serial, before_create=_new_device_budget)


def _json_object() -> dict:
    # Counting the keys in the raw bytes costs ~1 ms for 1 MiB; parsing 20,000 objects that
    # will be refused anyway costs a worker tens of ms. (A key spelled with escapes still
    # meets the exact count after parsing.)
    try:
        service.check_object_count(raw_body().count(b'"object_key"'))
    except service.TooManyObjects as exc:
        raise _too_many(exc) from None
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(nest_error_response(Msg.INVALID_JSON, 400))
    return body


def _too_many(exc: service.TooManyObjects) -> ApiError:
    return ApiError(nest_error_response(str(exc), 400))


def standard_headers() -> dict:
    """Headers the firmware reads on subscribe and put answers."""
    return {
        "X-nl-service-timestamp": str(now_ms()),
        "X-nl-suspend-time-max": str(current_app.config["NEST_SUSPEND_TIME_MAX"]),
        "X-nl-defer-device-window": "15",
    }


def _objects(items: list[dict]) -> bytes:
    return json_bytes(nest_objects.dump({"objects": items}))


def _origin() -> str:
    configured = current_app.config["NEST_API_ORIGIN"]
    if configured:
        return configured
    host = request.host
    # The firmware needs the port spelled out (wake-on-LAN), so add the default one.
    if not host.endswith("]") and ":" in host.rsplit("]", 1)[-1]:
        return f"{request.scheme}://{host}"
    port = 443 if request.scheme == "https" else 80
    return f"{request.scheme}://{host}:{port}"


def entry():
    """Service discovery: where the firmware finds every other endpoint."""
    o = _origin()
    return json_response(
        {
            "czfe_url": f"{o}/nest/transport",
            "transport_url": f"{o}/nest/transport",
            "direct_transport_url": f"{o}/nest/transport",
            "passphrase_url": f"{o}/nest/passphrase",
            "ping_url": f"{o}/nest/transport",
            "pro_info_url": f"{o}/nest/pro_info",
            # No weather_url: homepair has no weather source, and NoLongerEvil's proxy to the
            # retired weather.nest.com answers 502 (README, "Nest").
            "upload_url": f"{o}/nest/upload",
            "software_update_url": "",
            "server_version": "1.0.0",
            "tier_name": "local",
        }
    )


def pro_info(code: str = "") -> Response:
    """The installer ("pro") directory the firmware looks a code up in: homepair has no
    installers, so every code is this server, in the record shape NoLongerEvil serves."""
    return json_response(
        {
            "id": 1,
            "pro_id": code,
            "dba": "homepair",
            "locality": "Self-hosted",
            "website": "",
            "rating": 5.0,
        }
    )


def passphrase():
    """The device's entry key, re-served while pending."""
    serial, new_device = _serial_seen()
    issued = service.entry_key(serial, new_device)
    db.session.commit()
    if issued is None:
        return nest_error_response(Msg.KEYS_UNAVAILABLE, 503)
    code, expires = issued
    return json_response({"value": code, "expires": expires})


def passphrase_status():
    """Whether the device's newest key is pending or claimed."""
    serial = _serial()
    body = service.key_status(serial)
    db.session.commit()
    return json_response(body)


def ping():
    """Liveness for the firmware."""
    return json_response({"status": "ok", "timestamp": now_ms()})


def upload():
    """Log uploads are accepted and dropped."""
    raw_body()  # read (and size-check) the body so keep-alive stays clean
    return json_response({"status": "ok"})


def transport(version: str | None = None) -> Response:
    """Subscribe: immediate answer, or a chunked long-poll held until a push or timeout."""
    if request.method == "GET":
        return nest_error_response("Not found", 404)
    started = time.monotonic()
    serial = _serial()
    body = _json_object()
    try:
        listed = service.parse_listed(body)
    except service.TooManyObjects as exc:
        raise _too_many(exc) from None
    subscription = service.Subscription(serial, listed)
    items = subscription.immediate()
    chunked = body.get("chunked") is True
    headers = standard_headers()
    if service.wants_immediate_action(items) and chunked:
        headers["X-nl-disable-defer-window"] = "60"
    if not chunked:
        subscription.record(items)
        db.session.commit()
        return Response(_objects(items), headers=headers, mimetype="application/json")
    db.session.commit()
    app = the_app()
    if items:
        return _stream(_once(app, subscription, items), headers)
    if hub.closing:
        return _stream(iter([b""]), headers)  # shutting down: the timeout's empty answer, now
    if hub.count(serial) >= service.MAX_HELD_PER_DEVICE:
        return _stream(iter([_objects([])]), headers)
    waiter = hub.waiter(serial)
    try:
        # Registered first, then re-checked: a claim committed in between is not missed.
        items = subscription.updates()
        db.session.commit()
    except Exception:
        waiter.close()
        raise
    if items:
        waiter.close()
        return _stream(_once(app, subscription, items), headers)
    hold = service.hold_seconds()
    # A client that leaves ends its hold at once: its slot, greenlet and count are freed.
    waiter.watch(request.environ.get("gunicorn.socket"))
    response = _stream(_hold(app, subscription, waiter, started + hold), headers)
    response.call_on_close(waiter.close)
    return response


def _stream(body: Iterable[bytes], headers: dict[str, str]) -> Response:
    # No Content-Length: gunicorn sends the body chunked, one HTTP chunk per yield.
    return Response(body, headers=headers, mimetype="application/json")


def _once(app: Flask, subscription: service.Subscription, items: list[dict]) -> Iterator[bytes]:
    yield _objects(items)
    with app.app_context():
        subscription.record(items)
        db.session.commit()


def _hold(
    app: Flask, subscription: service.Subscription, waiter: Waiter, deadline: float
) -> Iterator[bytes]:
    """Hold the connection (no DB session), pushing owner buckets as wake-ups arrive."""
    try:
        yield b""  # flush status and headers now; the device may sleep meanwhile
        batch_until = None
        while True:
            limit = deadline if batch_until is None else min(deadline, batch_until)
            remaining = limit - time.monotonic()
            if remaining <= 0 or not waiter.wait(remaining):
                return
            if hub.closing or waiter.client_gone():
                return
            waiter.clear()
            # One app context for the read, the write to the client and the record; the
            # read's transaction ends before the write, so no connection waits on the client.
            with app.app_context():
                items = subscription.updates()
                db.session.commit()
                if not items:
                    continue
                yield _objects(items)
                subscription.record(items)
                db.session.commit()
            batch_until = time.monotonic() + service.BATCH_WINDOW_SECONDS
    finally:
        waiter.close()


def put():
    """Device writes; conflicts are reported per object, values never echoed."""
    serial = _serial()
    try:
        items = service.put(serial, _json_object())
    except service.TooManyObjects as exc:
        raise _too_many(exc) from None
    db.session.commit()
    return Response(_objects(items), headers=standard_headers(), mimetype="application/json")


def put_versioned(version: str) -> Response:
    """``/nest/transport/<version>/put``."""
    return put()


def subscribe_versioned(version: str) -> Response:
    """``/nest/transport/<version>/subscribe``."""
    return transport(version)


@bp.record_once
def _bind_sweeper(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    # Unpaired, unseen devices and long-expired keys go (per worker, NEST_UNPAIRED_…_AGE).
    sweeper = app.extensions[_SWEEPER] = mail.BackgroundLoop(
        "nest-sweep", functools.partial(service.sweep_step, app), 3600.0
    )
    mail.start_in_workers(app, sweeper.ensure_started)


add_routes(bp, ("/nest/entry", "/entry"), entry, ("GET", "POST"))
add_routes(bp, ("/nest/passphrase", "/passphrase"), passphrase, ("GET",))
add_routes(bp, ("/nest/passphrase/status", "/passphrase/status"), passphrase_status, ("GET",))
add_routes(bp, ("/nest/ping", "/ping"), ping, ("GET",))
add_routes(bp, ("/nest/pro_info", "/nest/pro_info/<code>"), pro_info, ("GET",))
add_routes(bp, ("/nest/upload", "/upload"), upload, ("POST",))
add_routes(bp, TRANSPORT, transport, ("GET", "POST"))
add_routes(bp, SUBSCRIBE, subscribe_versioned, ("POST",))
add_routes(bp, PUT[:3], put, ("POST",))
add_routes(bp, PUT[3:], put_versioned, ("POST",))
