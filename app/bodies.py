"""Request bodies parsed as JSON whatever their Content-Type (all three protocols ask it)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any, NoReturn

import gevent
from flask import Flask, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from app.errors import namespace_of

_BODY = "homepair_body"
_TOO_LARGE = "homepair_body_too_large"
_TOO_SLOW = "homepair_body_too_slow"


class Invalid:
    """Marker for a body that is not JSON (empty, bad UTF-8, bad syntax, NaN, lone surrogates…)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = Invalid()


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are Python extensions, not JSON.
    raise ValueError(name)


# An escape that may decode to half a surrogate pair ("\\ud800"): a string no UTF-8 encoder,
# and no database, accepts. Only bodies containing one are walked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    pending = [value]  # iterative: the body may be nested as deep as the parser allows
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def parse_json(data: bytes) -> Any:
    """Parse ``data`` as strict UTF-8 JSON; :data:`INVALID` if it is not.

    A string escape that leaves an unpaired surrogate (``"\\ud800"``) makes the body invalid
    too (I-JSON, RFC 7493): such text cannot be stored or sent back as UTF-8.
    """
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return INVALID
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        return INVALID
    return value


def raw_body() -> bytes:
    """The request body; 413 when it exceeds ``MAX_CONTENT_LENGTH``, 408 when it takes longer
    than ``REQUEST_BODY_TIMEOUT_SECONDS`` to arrive.

    Werkzeug raises for a too-large Content-Length, but silently truncates a chunked body
    at the limit, so a body that fills the limit is probed for one more byte. A client that
    trickles its body would otherwise keep a connection slot (and a greenlet) for good.
    """
    body = g.get(_BODY)
    if body is not None:
        return body  # read before the view (preload_body): no second timer and lookup
    if g.get(_TOO_LARGE):
        raise RequestEntityTooLarge()
    if g.get(_TOO_SLOW):
        raise RequestTimeout()
    environ = request.environ
    if environ.get("CONTENT_LENGTH") in (None, "", "0") and "HTTP_TRANSFER_ENCODING" not in environ:
        # Neither a length nor chunked framing: HTTP/1.1 has no body to wait for (RFC 9112
        # §6.3), so no timer (a GET /verify or /nest/passphrase of every guess and device).
        g.setdefault(_BODY, b"")
        return b""
    try:
        with gevent.Timeout(current_app.config["REQUEST_BODY_TIMEOUT_SECONDS"]):
            data = request.get_data(cache=True)
            limit = current_app.config.get("MAX_CONTENT_LENGTH")
            streamed = request.content_length is None
            if limit and streamed and len(data) >= limit and request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
    except gevent.Timeout:
        g.setdefault(_TOO_SLOW, True)
        raise RequestTimeout() from None
    except RequestEntityTooLarge:
        g.setdefault(_TOO_LARGE, True)
        raise
    g.setdefault(_BODY, data)
    return data


def json_body() -> Any:
    """The current request's body as JSON, or :data:`INVALID`.

    The error handlers turn a 413 into the protocol's answer.
    """
    return parse_json(raw_body())


def preload_body() -> None:
    """Read a protocol request's whole body before its view runs.

    A view may write to the database (a device is marked seen, a Hue key's last use date)
    before it parses the body. Reading a slow client's body then yields to other greenlets
    while this one holds SQLite's write lock, and the next writer's busy wait blocks the
    whole worker: every request stalled for the 10 s busy timeout, then failed. Read first,
    and no greenlet waits on the network inside a transaction. A 413 is remembered, so each
    view still answers it where it reads the body, after its own earlier checks.
    """
    if namespace_of(request.path) == "other":
        return  # /healthz, /openapi.json and the web pages (forms are parsed by their views)
    # A 413 or 408 is remembered in g: each view answers it where it reads the body.
    with contextlib.suppress(RequestEntityTooLarge, RequestTimeout):
        raw_body()


def init_app(app: Flask) -> None:
    """Register :func:`preload_body`."""
    app.before_request(preload_body)
