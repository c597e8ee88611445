"""Ruuvi Cloud User API views (thin: the logic lives in app.ruuvi.service)."""

from __future__ import annotations

import functools

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from app import events, mail
from app.bodies import json_body
from app.envelopes import ruuvi_error_response, ruuvi_success_response
from app.errors import namespace_of
from app.extensions import db, guard, limiter
from app.limits import MISSING, client_ip, everyone
from app.routing import add_routes
from app.ruuvi import bp, service

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
_SWEEPER = "homepair.ruuvi.sweeper"


def _body():
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


def _setting(name: str) -> str:
    # Read per request, so each app (and each test's config) uses its own limit strings.
    return current_app.config[name]


def register_limits_for(email_key):
    """The ``/register`` limits, with ``email_key`` reading the address of the request.

    flask-limiter hits each limit as it checks it (atomically, before the view runs), so every
    attempt counts, an invalid body included; a body without a usable address spends only the
    per-IP and total budgets (one shared per-address bucket for all of them would let anyone
    throttle everyone's typos). These limits guard mail cost and spam, not a guess, so they
    fail open (to per-process memory) when Redis is unreachable. The scopes are shared, so
    every view decorated with them (the web sign-in form too) draws on the same budgets.
    """
    decorators = [
        limiter.shared_limit(
            functools.partial(_setting, "RUUVI_REGISTER_LIMIT_PER_EMAIL"),
            scope="ruuvi-register-email",
            key_func=email_key,
            exempt_when=lambda: email_key() == MISSING,
        ),
        limiter.shared_limit(
            functools.partial(_setting, "RUUVI_REGISTER_LIMIT_PER_IP"),
            scope="ruuvi-register-ip",
            key_func=client_ip,
        ),
        limiter.shared_limit(
            functools.partial(_setting, "RUUVI_REGISTER_LIMIT_TOTAL"),
            scope="ruuvi-register-total",
            key_func=everyone,
        ),
    ]

    def apply(view):
        # flask-limiter checks (and hits) limits of one window length in the order they were
        # applied and stops at the first breach: most specific first, so a flood of one
        # address is refused before it spends the IP's or everyone's budget.
        for decorate in decorators:
            view = decorate(view)
        return view

    return apply


register_limits = register_limits_for(_email_key)


def spend_verify_budget() -> None:
    """Count one ``/verify`` attempt per client IP, then in total, before it is evaluated.

    A code is a guess: these budgets fail closed. The web sign-in form spends them too.
    """
    guard.spend("RUUVI_VERIFY_LIMIT_PER_IP", "ruuvi-verify-ip", client_ip())
    guard.spend("RUUVI_VERIFY_LIMIT_TOTAL", "ruuvi-verify-total", everyone())


def _unauthorized() -> Response:
    return ruuvi_error_response(
        401,
        "Unauthorized request.",
        "ER_UNAUTHORIZED",
        headers={"WWW-Authenticate": "Bearer"},
    )


def authenticated(view):
    """Pass the :class:`service.Caller` to ``view``, or answer 401; commits the touch."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        caller = service.authenticate(request.headers.get("Authorization"))
        if caller is None:
            db.session.rollback()
            return _unauthorized()
        response = view(caller, *args, **kwargs)
        db.session.commit()
        return response

    return wrapper


class Refused(Exception):
    """A request the protocol refuses: the status and error fields of its answer."""

    def __init__(self, status: int, error: str, code: str, sub_code: str | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.code = code
        self.sub_code = sub_code

    def response(self) -> Response:
        """The refusal as the Ruuvi JSON error answer."""
        return ruuvi_error_response(self.status, self.error, self.code, self.sub_code)


def send_code(body) -> str:
    """Rows 2-4 of ``/register``: check the address, issue a code and queue its e-mail.

    Commits and wakes the mail sender; returns the address as given, or raises
    :class:`Refused`. A sent code counts against the register limits. The API and the web
    sign-in form both call this, so they answer alike.
    """
    try:
        email = service.parse_register(body)
    except service.NotAnObject:
        raise Refused(400, "Invalid JSON", "ER_INVALID", "ER_INVALID_FORMAT") from None
    except service.InvalidEmail as exc:
        raise Refused(
            400, f"Invalid e-mail address: {exc.shown}", "ER_INVALID", "ER_INVALID_EMAIL_ADDRESS"
        ) from None
    service.issue_code(email)
    db.session.commit()  # the sender is woken as it commits
    return email


def verify_code(token: str) -> service.Verified:
    """Rows 2-4 of ``/verify``: redeem a code (committed) or raise :class:`Refused`.

    The caller has spent the verify budget (:func:`spend_verify_budget`).
    """
    if not token:
        raise Refused(400, "Missing token", "ER_INVALID", "ER_INVALID_ARGUMENT")
    verified = service.redeem(token)
    if verified is None:
        db.session.rollback()
        events.record("ruuvi.code.refused")
        raise Refused(403, "Code used or expired", "ER_FORBIDDEN", "ER_TOKEN_EXPIRED")
    db.session.commit()
    return verified


@register_limits
def register():
    """``POST /register``: e-mail a code to a new or existing account's address."""
    try:
        email = send_code(_body())
    except Refused as exc:
        return exc.response()
    return ruuvi_success_response({"email": email})


def verify():
    """``GET /verify?token=<code>``: trade a code for an access token."""
    spend_verify_budget()
    try:
        verified = verify_code(request.args.get("token", ""))
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
def user(caller: service.Caller):
    """``GET /user``: the account's e-mail; homepair keeps no sensors."""
    return ruuvi_success_response({"email": service.display_email(caller.user_id), "sensors": []})


@authenticated
def sessions(caller: service.Caller):
    """``GET /sessions``: the caller's sessions, most recently used first."""
    return ruuvi_success_response({"sessions": service.sessions_of(caller)})


@authenticated
def revoke_all(caller: service.Caller):
    """``DELETE /sessions``: sign out everywhere, here included."""
    service.revoke_all(caller)
    return ruuvi_success_response({})


@authenticated
def revoke_one(caller: service.Caller, session_id: str):
    """``DELETE /sessions/<id>``: revoke one of the caller's sessions."""
    if not service.revoke_session(caller, session_id):
        return ruuvi_error_response(404, "NOT FOUND", "ER_NOT_FOUND")
    return ruuvi_success_response({})


def preflight(**_):
    """``OPTIONS``: 200 with an empty body (the CORS headers come from :func:`_cors`)."""
    response = Response(status=200)
    del response.headers["Content-Type"]
    return response


@bp.after_app_request
def _cors(response: Response) -> Response:
    # App-level, so 404/405/413/500 answers rendered by app.errors get the headers too.
    if namespace_of(request.path) == "ruuvi":
        response.headers.update(CORS_HEADERS)
    return response


@bp.record_once
def _bind_sweeper(state) -> None:
    app = state.app
    app.extensions[_SWEEPER] = mail.BackgroundLoop(
        "ruuvi-sweep",
        functools.partial(service.sweep_step, app),
        service.SWEEP_INTERVAL_SECONDS,
    )


@bp.before_app_request
def _start_sweeper() -> None:
    # Stale tokens are rejected at once; this loop deletes them (hourly, per worker).
    if not current_app.testing:
        current_app.extensions[_SWEEPER].ensure_started()


_ROUTES = (
    ("/register", register, ("POST",)),
    ("/verify", verify, ("GET",)),
    ("/user", user, ("GET",)),
    ("/sessions", sessions, ("GET",)),
    ("/sessions", revoke_all, ("DELETE",)),
    ("/sessions/<session_id>", revoke_one, ("DELETE",)),
)
for _path, _view, _methods in _ROUTES:
    add_routes(bp, (_path,), _view, _methods)
add_routes(bp, sorted({path for path, _, _ in _ROUTES}), preflight, ("OPTIONS",))
