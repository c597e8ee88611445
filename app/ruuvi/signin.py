"""Ruuvi sign-in use cases: e-mail a code, trade it for a session, and their budgets.

The API views (``POST /register``, ``GET /verify``) and the web sign-in pages both call these,
so they answer alike and draw on the same limits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Response, current_app

from app import events
from app.dbutil import roll_back
from app.extensions import db, guard, limiter
from app.limits import MISSING, client_ip, everyone
from app.ruuvi import contract, service

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _setting(name: str) -> str:
    # Read per request, so each app (and each test's config) uses its own limit strings.
    return current_app.config[name]


def register_limits_for(
    email_key: Callable[[], str],
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """The ``/register`` limits, with ``email_key`` reading the address of the request.

    flask-limiter hits each limit as it checks it (atomically, before the view runs), so every
    attempt counts, an invalid body included; a body without a usable address spends only the
    per-IP and total budgets (one shared per-address bucket for all of them would let anyone
    throttle everyone's typos). These limits guard mail cost and spam, not a guess, so they
    fail open (to per-process memory) when Redis is unreachable. The scopes are shared, so
    every view decorated with them (the web sign-in form too) draws on the same budgets. Only
    POST counts: the path's other methods (a CORS preflight, the form's GET) share its rule.
    """
    decorators = [
        limiter.shared_limit(
            functools.partial(_setting, "RUUVI_REGISTER_LIMIT_PER_EMAIL"),
            scope="ruuvi-register-email",
            methods=["POST"],
            key_func=email_key,
            exempt_when=lambda: email_key() == MISSING,
        ),
        limiter.shared_limit(
            functools.partial(_setting, "RUUVI_REGISTER_LIMIT_PER_IP"),
            scope="ruuvi-register-ip",
            methods=["POST"],
            key_func=client_ip,
        ),
        limiter.shared_limit(
            functools.partial(_setting, "RUUVI_REGISTER_LIMIT_TOTAL"),
            scope="ruuvi-register-total",
            methods=["POST"],
            key_func=everyone,
        ),
    ]

    def apply(view: Callable[_P, _R]) -> Callable[_P, _R]:
        # flask-limiter checks (and hits) limits of one window length in the order they were
        # applied and stops at the first breach: most specific first, so a flood of one
        # address is refused before it spends the IP's or everyone's budget.
        for decorate in decorators:
            view = decorate(view)
        return view

    return apply


def spend_verify_budget(client: str) -> None:
    """Count one ``/verify`` attempt from ``client`` (its IP key), then in total, before it is
    evaluated.

    A code is a guess: these budgets fail closed. The web sign-in form spends them too.
    """
    guard.spend("RUUVI_VERIFY_LIMIT_PER_IP", "ruuvi-verify-ip", client)
    guard.spend("RUUVI_VERIFY_LIMIT_TOTAL", "ruuvi-verify-total", everyone())


class Refused(Exception):
    """A request the protocol refuses, with the :class:`~app.ruuvi.contract.RuuviError` that
    is its answer."""

    def __init__(self, answer: contract.RuuviError):
        super().__init__(answer.error)
        self.answer = answer
        self.status = answer.status
        self.error = answer.error

    def response(self) -> Response:
        """The refusal as the Ruuvi JSON error answer."""
        return self.answer.response()


def send_code(body: Any) -> str:
    """Rows 2-4 of ``/register``: check the address, issue a code and queue its e-mail.

    Commits and wakes the mail sender; returns the address as given, or raises
    :class:`Refused`. A sent code counts against the register limits. The API and the web
    sign-in form both call this, so they answer alike.
    """
    try:
        email = service.parse_register(body)
    except service.NotAnObject:
        raise Refused(contract.INVALID_JSON) from None
    except service.InvalidEmail as exc:
        raise Refused(contract.INVALID_EMAIL.about(exc.shown)) from None
    service.issue_code(email)
    db.session.commit()  # the sender is woken as it commits
    return email


def verify_code(token: str) -> service.Verified:
    """Rows 2-4 of ``/verify``: redeem a code (committed) or raise :class:`Refused`.

    The caller has spent the verify budget (:func:`spend_verify_budget`).
    """
    if not token:
        raise Refused(contract.MISSING_TOKEN)
    verified = service.redeem(token)
    if verified is None:
        roll_back()  # a lost race wrote nothing worth keeping; a wrong code opened nothing
        events.record("ruuvi.code.refused")
        raise Refused(contract.CODE_EXPIRED)
    db.session.commit()
    return verified
