"""Who the browser is signed in as.

A web sign-in is a Ruuvi session: the browser's Flask session cookie (signed with
``SECRET_KEY``, ``HttpOnly``) holds the access token that ``/signin`` obtained, and every page
authenticates it through the Ruuvi service. Revoking that session anywhere (``/account`` in
another browser, ``DELETE /sessions`` from Ruuvi Station) therefore signs this browser out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import abort, current_app, g, session

from app.extensions import db
from app.ruuvi import service as ruuvi
from app.web.models import WebAdmin

TOKEN_KEY = "ruuvi_token"
PENDING_EMAIL_KEY = "signin_email"

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class Account:
    """The signed-in account: its Ruuvi caller, display e-mail and whether it is an admin."""

    caller: ruuvi.Caller
    email: str
    is_admin: bool


def is_admin_email(email: str) -> bool:
    """True when ``email`` (any case) is in ``ADMIN_EMAILS`` or was added with
    ``flask admin add``."""
    key = email.lower()
    if key in current_app.config["ADMIN_EMAILS"]:
        return True
    return db.session.get(WebAdmin, key) is not None


def current_account() -> Account | None:
    """The account of this request's session cookie, or None; loaded once per request.

    A token that no longer authenticates (revoked, or idle for 180 days) is dropped from the
    cookie. The token's last-use time is touched and committed, as on the API.
    """
    if "web_account" in g:
        return g.web_account
    account = None
    token = session.get(TOKEN_KEY)
    if token:
        caller = ruuvi.authenticate(f"Bearer {token}")
        if caller is None:
            session.pop(TOKEN_KEY, None)
        else:
            email = ruuvi.display_email(caller.user_id)
            account = Account(caller, email, is_admin_email(email))
        db.session.commit()
    g.web_account = account
    return account


def sign_in(token: str) -> None:
    """Start a fresh browser session holding ``token`` (nothing from before carries over)."""
    session.clear()
    session[TOKEN_KEY] = token
    session.permanent = True
    g.pop("web_account", None)


def sign_out() -> None:
    """Forget the browser's session (the caller revokes the token when it should go too)."""
    session.clear()
    g.web_account = None


def signed_in(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Refuse (403 page) an anonymous request to ``view``."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if current_account() is None:
            abort(403, description="Sign in first.")
        return view(*args, **kwargs)

    return wrapper


def admin_only(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """Refuse (403 page) ``view`` to anyone but a signed-in admin (``ADMIN_EMAILS``)."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        account = current_account()
        if account is None:
            abort(403, description="Sign in with an administrator's address first.")
        if not account.is_admin:
            abort(403, description=f"{account.email} is not an administrator.")
        return view(*args, **kwargs)

    return wrapper
