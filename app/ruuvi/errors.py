"""The Ruuvi namespace: errors as ``{"result":"error",…}`` with the Ruuvi codes.

Ruuvi's clients (the Station apps) talk to the server root, so besides the user API's own
paths (:data:`~app.ruuvi.contract.PATHS`) this namespace takes every root path nobody else
serves: asked last, after Nest's and Hue's, it leaves out only the paths of the shared
modules and the web pages (:data:`NOT_RUUVI`), unknown ones below them included. An unknown
path then answers in the envelope and with CORS, which a browser can read.
"""

from __future__ import annotations

from flask import Response

from app.errors import Namespace, register_namespace
from app.ruuvi.contract import PATHS, for_status

# First path segments served by the web pages (app.web: "" is the home page), /healthz,
# /metrics, /openapi.json, Hue's /description.xml and the static files. tests/ruuvi checks
# this against the app's routes, so a new page cannot fall into the Ruuvi envelope unseen.
NOT_RUUVI = frozenset(
    {
        "",
        "pair",
        "signin",
        "signout",
        "account",
        "hue",
        "events",
        "assets",
        "static",
        "healthz",
        "metrics",
        "openapi.json",
        "description.xml",
    }
)


def owns(bare: str) -> bool:
    """Whether ``bare`` (no trailing slash) gets the Ruuvi envelope, once Nest and Hue passed."""
    if bare in PATHS or bare.startswith("/sessions/"):
        return True
    return bare.lstrip("/").split("/", 1)[0] not in NOT_RUUVI


def _render(status: int, message: str, headers: dict | None) -> Response:
    return for_status(status, message).response(headers)


# Order 90: after every protocol that owns root paths of its own (Nest 10/30, Hue 20).
register_namespace(Namespace("ruuvi", 90, owns, _render, allow_header=True))
