"""HTML error pages for the pages' own endpoints.

The app-wide handlers (:mod:`app.errors`) answer every protocol path in its JSON envelope;
these blueprint handlers take precedence for requests routed to a page, so a person sees a
page that says what went wrong, never JSON and never a stack trace. A rate-limited form is
shown again with the protocol's 429 message.
"""

from __future__ import annotations

import logging

from flask import render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from app import events
from app.errors import flask_limiter_retry_after, log_and_roll_back
from app.extensions import db
from app.limits import LimitsUnavailable, Throttled
from app.web import bp, views
from app.web.account import current_account

log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Request too large",
    500: "Something went wrong",
}


def _load_account() -> None:
    # Refusals raised before the pages' own hooks (CSRF, limits) still show who is signed in;
    # a database failure here must not hide the error page itself.
    try:
        current_account()
    except Exception:
        log.exception("could not load the account for an error page")
        db.session.rollback()


def error_page(
    status: int, message: str | None, title: str | None = None, detail: str | None = None
) -> tuple[str, int]:
    """An HTML error page with ``status``; ``detail`` is a technical reason shown below."""
    title = title or _TITLES.get(status, "Error")
    page = render_template("error.html", status=status, title=title, message=message, detail=detail)
    return page, status


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> tuple[str, int]:
    _load_account()
    return error_page(
        400,
        "The form's security token was missing, wrong or expired, so nothing was done."
        " Go back, reload the page and submit the form again.",
        title="Form expired or not sent from this site",
        detail=exc.description,
    )


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    events.record("limit.hit", limit=getattr(exc.limit, "scope", None) or "flask-limiter")
    return _limited_page(flask_limiter_retry_after())


@bp.errorhandler(Throttled)
def _throttled(exc: Throttled) -> tuple[str, int, dict[str, str]]:
    events.record("limit.hit", limit=exc.scope)
    return _limited_page(exc.retry_after)


@bp.errorhandler(LimitsUnavailable)
def _limits_unavailable(exc: LimitsUnavailable) -> tuple[str, int, dict[str, str]]:
    # The guessing limits fail closed: nothing was tried.
    events.record("limit.hit", limit="store unreachable")
    page, status = error_page(
        503,
        "The server cannot count attempts right now, so it tried nothing."
        f" Try again in {exc.retry_after} seconds.",
        title="Temporarily unavailable",
    )
    return page, status, {"Retry-After": str(exc.retry_after)}


def _limited_page(seconds: int) -> tuple[str, int, dict[str, str]]:
    _load_account()
    if request.endpoint == "web.pair":
        body = views.pair_limited(seconds)
    elif request.endpoint in ("web.signin", "web.signin_code"):
        body = views.signin_limited(seconds)
    else:  # no other page is limited today; say so plainly all the same
        body = render_template(
            "error.html", status=429, title="Too many requests", message="Too many requests"
        )
    return body, 429, {"Retry-After": str(seconds)}


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    message = exc.description if status == 403 else _TITLES.get(status, "Error") + "."
    return error_page(status, message)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    log_and_roll_back()
    return error_page(500, "The server could not complete this request. Try again later.")
