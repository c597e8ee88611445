"""One place that turns every failure into the answer of the protocol it happened in.

The request path decides the namespace: each protocol registers the paths it owns and how it
renders an error (its ``errors`` module), so this module knows no protocol; paths nobody owns
get the generic ``{"error":…}``. No path ever gets Werkzeug's HTML error page or an unplanned
500.
"""

from __future__ import annotations

import contextlib
import functools
import http
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from flask_limiter import RateLimitExceeded
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app import envelopes, events
from app.limits import LimitsUnavailable, Throttled, seconds_until

log = logging.getLogger(__name__)

_MESSAGES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request body too slow",
    413: "Request body too large",
    414: "Request line too large",
    417: "Expectation failed",
    431: "Request headers too large",
    500: "Internal error",
    501: "Not implemented",
    503: "Service unavailable",
}


class ApiError(Exception):
    """Raised anywhere in a request to answer with a ready-made protocol response."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Namespace:
    """A protocol's share of the paths and how it answers an error there.

    ``owns`` gets the path without trailing slashes; ``render`` gets the status, the generic
    message for it and any extra headers, and returns the protocol's answer. Protocols
    register theirs (:func:`register_namespace`) from their own ``errors`` module.
    ``allow_header``: a 405 there lists the path's methods in ``Allow`` (as outside every
    namespace).
    """

    name: str
    order: int  # asked in this order: a narrower namespace before a wider one under /api
    owns: Callable[[str], bool]
    render: Callable[[int, str, dict | None], Response]
    allow_header: bool = False


_NAMESPACES: list[Namespace] = []


def register_namespace(namespace: Namespace) -> None:
    """Add a protocol's namespace (once per name)."""
    if all(existing.name != namespace.name for existing in _NAMESPACES):
        _NAMESPACES.append(namespace)
        _NAMESPACES.sort(key=lambda each: each.order)
        _owner.cache_clear()


@functools.lru_cache(maxsize=4096)
def _owner(path: str) -> Namespace | None:
    # Asked two or three times per request (body preload, CORS, errors); bounded, and
    # cleared when a namespace is registered.
    bare = path.rstrip("/") or "/"
    return next((space for space in _NAMESPACES if space.owns(bare)), None)


def namespace_of(path: str) -> str:
    """Which protocol's envelope answers for ``path`` (``other`` when none claims it)."""
    owner = _owner(path)
    return owner.name if owner is not None else "other"


def message_for(status: int) -> str:
    """The generic text of an error status."""
    if status == 429:
        return "Too many requests"
    return _MESSAGES.get(status, _MESSAGES[500] if status >= 500 else _MESSAGES[400])


def error_response(status: int, headers: dict | None = None) -> Response:
    """The answer for ``status`` in the envelope of the current request's namespace."""
    owner = _owner(request.path)
    if owner is not None:
        return owner.render(status, message_for(status), headers)
    return envelopes.json_response({"error": message_for(status)}, status, headers)


def flask_limiter_retry_after() -> int:
    """``Retry-After`` for a flask-limiter breach: whole seconds until its window frees a slot."""
    from app.extensions import limiter

    current = limiter.current_limit
    try:
        # window[0] is the exact reset time; RequestLimit.reset_at rounds it up by a second.
        reset_at = current.window[0] if current else None
    except Exception:  # storage gone between the breach and this call: be conservative
        reset_at = None
    return seconds_until(reset_at)


# gunicorn's own refusals, raised before the app sees the request.
_GUNICORN_STATUS = {
    "LimitRequestLine": 414,
    "LimitRequestHeaders": 431,
    "UnsupportedTransferCoding": 501,
    "ExpectationFailed": 417,
    "ForbiddenProxyRequest": 403,
    "ConfigurationProblem": 500,
}
_REQUEST_LINE = re.compile(rb"([A-Za-z]{1,20}) +(/[^ \r\n?#]{0,2048})")


def _refused_request(exc: BaseException) -> tuple[str, str]:
    """``(method, path)`` of the request gunicorn refused, as far as it was read.

    A request line too long for gunicorn never becomes a request object; its first bytes are
    still in the parser's buffer (``buf`` of ``Request.parse``), reached through the
    traceback. Unknown parts default to ``GET /``.
    """
    tb = exc.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        owner = local.get("self")
        path = getattr(owner, "path", None)
        if isinstance(path, str) and path.startswith("/"):
            return getattr(owner, "method", None) or "GET", path
        buf = local.get("buf")
        if isinstance(buf, (bytes, bytearray)):
            match = _REQUEST_LINE.match(bytes(buf[:2100]))
            if match:
                return match.group(1).decode("ascii").upper(), match.group(2).decode("latin-1")
        tb = tb.tb_next
    return "GET", "/"


def gunicorn_error_answer(flask_app: Flask, req: Any, exc: BaseException) -> bytes:
    """The raw HTTP answer to a request gunicorn refused itself (bad framing, a request line
    or headers too large), in the envelope of the protocol its path belongs to.

    Called from the worker (``gunicorn.conf.py``) instead of gunicorn's HTML error page; the
    connection is closed after it.
    """
    status = _GUNICORN_STATUS.get(type(exc).__name__, 400)
    if req is not None and getattr(req, "path", None):
        method, path = req.method or "GET", req.path
    else:
        method, path = _refused_request(exc)
    with flask_app.test_request_context(path, method=method):
        response = flask_app.process_response(error_response(status))
    body = response.get_data()
    code = response.status_code
    lines = [f"HTTP/1.1 {code} {http.HTTPStatus(code).phrase}"]
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "connection", "set-cookie"):
            lines.append(f"{name}: {value}")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def close_connection_after(response: Response) -> Response:
    """Close the client's connection once ``response`` is sent.

    gunicorn ignores an application's ``Connection: close``; after a body that was cut off
    the rest of it must not be read as the next request, nor drained for the keep-alive time.
    """
    sock = request.environ.get("gunicorn.socket")
    response.headers["Connection"] = "close"
    if sock is not None:

        def shut() -> None:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)

        response.call_on_close(shut)
    return response


def log_and_roll_back() -> None:
    """For an unplanned failure: log it with its traceback and end the DB transaction."""
    from app.extensions import db

    log.exception("unhandled error on %s %s", request.method, request.path)
    try:
        db.session.rollback()
    except Exception:  # the database itself may be what failed
        log.exception("rollback failed")


def init_app(app: Flask) -> None:
    """Register the app-wide handlers."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return exc.response

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> Response:
        events.record("limit.hit", limit=getattr(exc.limit, "scope", None) or "flask-limiter")
        return error_response(429, {"Retry-After": str(flask_limiter_retry_after())})

    @app.errorhandler(ParseException)
    def _bad_framing(exc: ParseException) -> Response:
        # A body gunicorn could not de-chunk: the client's fault, and what follows it on
        # the connection cannot be trusted as the next request.
        return close_connection_after(error_response(400))

    @app.errorhandler(Throttled)
    def _throttled(exc: Throttled) -> Response:
        events.record("limit.hit", limit=exc.scope)
        return error_response(429, {"Retry-After": str(exc.retry_after)})

    @app.errorhandler(LimitsUnavailable)
    def _limits_unavailable(exc: LimitsUnavailable) -> Response:
        # Guess budgets fail closed: no count, no evaluation.
        events.record("limit.hit", limit="store unreachable")
        return error_response(503, {"Retry-After": str(exc.retry_after)})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = error_response(status)
        if status == 408:
            close_connection_after(response)
        owner = _owner(request.path)
        if (
            isinstance(exc, MethodNotAllowed)
            and (owner is None or owner.allow_header)
            and exc.valid_methods
        ):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log_and_roll_back()
        return error_response(500)
