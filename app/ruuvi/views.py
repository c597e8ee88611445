"""Ruuvi Cloud User API views (thin: the logic lives in app.ruuvi.service)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, cast

from flask import Flask, Response, g, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, NotFound

from app import mail
from app.bodies import json_body
from app.errors import namespace_of
from app.extensions import db
from app.limits import MISSING, client_ip
from app.routing import add_resource
from app.ruuvi import account, bp, contract, service, signin
from app.ruuvi.contract import success_response as ruuvi_success_response
from app.ruuvi.signin import Refused

_SWEEPER = "homepair.ruuvi.sweeper"

_P = ParamSpec("_P")


def _body() -> Any:
    """The request body as JSON, parsed once: the per-address limit key reads it too."""
    if "ruuvi_body" not in g:
        try:
            g.ruuvi_body = json_body()
        except HTTPException as exc:  # 413: remembered so the view answers it
            g.ruuvi_body = exc
    if isinstance(g.ruuvi_body, HTTPException):
        raise g.ruuvi_body
    return g.ruuvi_body


def _email_key() -> str:
    # flask-limiter treats an exception here as a storage failure, so never raise.
    try:
        return service.email_limit_key(_body())
    except Exception:
        return MISSING


register_limits = signin.register_limits_for(_email_key)


def _unauthorized() -> Response:
    return contract.UNAUTHORIZED.response(headers={"WWW-Authenticate": "Bearer"})


def authenticated(
    view: Callable[Concatenate[service.Caller, _P], Response],
) -> Callable[_P, Response]:
    """Pass the :class:`service.Caller` to ``view``, or answer 401; commits the touch."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Response:
        caller = service.authenticate(request.headers.get("Authorization"))
        if caller is None:
            db.session.rollback()
            return _unauthorized()
        response = view(caller, *args, **kwargs)
        db.session.commit()
        return response

    return wrapper


@register_limits
def register() -> Response:
    """``POST /register``: e-mail a code to a new or existing account's address."""
    try:
        email = signin.send_code(_body())
    except Refused as exc:
        return exc.response()
    return ruuvi_success_response({"email": email})


def verify() -> Response:
    """``GET /verify?token=<code>``: trade a code for an access token."""
    signin.spend_verify_budget(client_ip())
    try:
        verified = signin.verify_code(request.args.get("token", ""))
    except Refused as exc:
        return exc.response()
    return ruuvi_success_response(
        {
            "email": verified.email,
            "accessToken": verified.access_token,
            "newUser": verified.new_user,
        }
    )


@authenticated
def user(caller: service.Caller) -> Response:
    """``GET /user``: the account's e-mail; homepair keeps no sensors."""
    return ruuvi_success_response({"email": service.display_email(caller.user_id), "sensors": []})


@authenticated
def sessions(caller: service.Caller) -> Response:
    """``GET /sessions``: the caller's sessions, most recently used first."""
    return ruuvi_success_response({"sessions": service.sessions_of(caller)})


@authenticated
def revoke_all(caller: service.Caller) -> Response:
    """``DELETE /sessions``: sign out everywhere, here included."""
    service.revoke_all(caller)
    return ruuvi_success_response({})


@authenticated
def revoke_one(caller: service.Caller, session_id: str) -> Response:
    """``DELETE /sessions/<id>``: revoke one of the caller's sessions."""
    if not service.revoke_session(caller, session_id):
        return contract.NOT_FOUND.response()
    return ruuvi_success_response({})


def _answer(produce: Callable[[], dict]) -> Response:
    """The success envelope of ``produce()``, or the Ruuvi error it refused with."""
    try:
        data = produce()
    except Refused as exc:
        return exc.response()
    return ruuvi_success_response(data)


@authenticated
def settings(caller: service.Caller) -> Response:
    """``GET /settings``: the account's settings by name."""
    return _answer(lambda: account.settings_of(caller.user_id))


@authenticated
def set_setting(caller: service.Caller) -> Response:
    """``POST /settings`` ``{"name","value"}``: add or replace one account setting."""
    return _answer(lambda: account.set_setting(caller.user_id, _body()))


@authenticated
def subscription(caller: service.Caller) -> Response:
    """``GET /subscription``: the subscription history (none)."""
    return _answer(account.subscriptions)


@authenticated
def claim_subscription(caller: service.Caller) -> Response:
    """``POST /subscription``: claim a subscription code (none is valid here)."""
    return _answer(lambda: account.claim_subscription(_body()))


@authenticated
def sensors_dense(caller: service.Caller) -> Response:
    """``GET /sensors-dense``: the caller's sensors (none)."""
    return _answer(lambda: account.sensors_dense(request.args))


@authenticated
def sensor_settings(caller: service.Caller) -> Response:
    """``GET /sensor-settings``: the settings of the caller's sensors (none)."""
    return _answer(lambda: account.sensor_settings(request.args))


@authenticated
def set_sensor_setting(caller: service.Caller) -> Response:
    """``POST /sensor-settings``: a sensor setting (no such sensor here)."""
    return _answer(lambda: account.set_sensor_setting(_body()))


@authenticated
def alerts(caller: service.Caller) -> Response:
    """``GET /alerts``: the alerts of the caller's sensors (none)."""
    return _answer(lambda: account.alerts(request.args))


@authenticated
def set_alert(caller: service.Caller) -> Response:
    """``POST /alerts``: set an alert (the sensor is not the caller's)."""
    return _answer(lambda: account.set_alert(_body()))


@authenticated
def share(caller: service.Caller) -> Response:
    """``POST /share``: share a sensor (the caller owns none)."""
    return _answer(lambda: account.share(_body()))


@authenticated
def unshare(caller: service.Caller) -> Response:
    """``POST /unshare``: end a share (there is none)."""
    return _answer(lambda: account.unshare(_body()))


@authenticated
def push_register(caller: service.Caller) -> Response:
    """``POST /push-register``: accept a device's push token (not stored)."""
    return _answer(lambda: account.push_register(caller.user_id, _body()))


def air_firmware() -> Response:
    """``GET /air_firmwareupdate`` (no sign-in): no firmware is offered."""
    return _answer(account.air_firmware)


def preflight(**_: Any) -> Response:
    """``OPTIONS``: 200 with an empty body (the CORS headers come from :func:`_cors`)."""
    response = Response(status=200)
    del response.headers["Content-Type"]
    return response


@bp.after_app_request
def _cors(response: Response) -> Response:
    # App-level, so 404/405/413/500 answers rendered by app.errors get the headers too.
    if namespace_of(request.path) == "ruuvi":
        response.headers.update(contract.CORS_HEADERS)
    return response


@bp.before_app_request
def _preflight_unknown_path() -> Response | None:
    # A browser sends the real request only after a successful preflight: a path nobody
    # serves answers it too, so the web app then reads the 404 envelope instead of a
    # network error.
    if (
        request.method == "OPTIONS"
        and isinstance(request.routing_exception, NotFound)
        and namespace_of(request.path) == "ruuvi"
    ):
        return preflight()
    return None


@bp.record_once
def _bind_sweeper(state: BlueprintSetupState) -> None:
    # Registered on Flask apps only; the setup state types it as the sansio base class.
    app = cast(Flask, state.app)
    # Stale tokens are rejected at once; this loop deletes them (hourly, per worker).
    sweeper = app.extensions[_SWEEPER] = mail.BackgroundLoop(
        "ruuvi-sweep",
        functools.partial(service.sweep_step, app),
        service.SWEEP_INTERVAL_SECONDS,
    )
    mail.start_in_workers(app, sweeper.ensure_started)


# One rule per path; every path answers the CORS preflight.
_RESOURCES: dict[str, dict[str, Callable[..., ResponseReturnValue]]] = {
    "/register": {"POST": register},
    "/verify": {"GET": verify},
    "/user": {"GET": user},
    "/sessions": {"GET": sessions, "DELETE": revoke_all},
    "/sessions/<session_id>": {"DELETE": revoke_one},
    "/settings": {"GET": settings, "POST": set_setting},
    "/subscription": {"GET": subscription, "POST": claim_subscription},
    "/sensors-dense": {"GET": sensors_dense},
    "/sensor-settings": {"GET": sensor_settings, "POST": set_sensor_setting},
    "/alerts": {"GET": alerts, "POST": set_alert},
    "/share": {"POST": share},
    "/unshare": {"POST": unshare},
    "/push-register": {"POST": push_register},
    "/air_firmwareupdate": {"GET": air_firmware},
}
for _path, _views in _RESOURCES.items():
    add_resource(bp, (_path,), {**_views, "OPTIONS": preflight})
