"""Rate-limit keys and helpers shared by every protocol.

Limits test before the request and are hit afterwards only for the answers they count
(``deduct_when``); a view marks such an answer with :func:`count_against_limits`.
"""

from __future__ import annotations

import math
import time

from flask import g, request

# flask-limiter skips a limit whose key is "" (with only an error log), so a missing value
# must map to a fixed sentinel rather than to nothing.
MISSING = "-"


def client_ip() -> str:
    """The client IP after ProxyFix (``TRUSTED_PROXY_HOPS``); never empty."""
    return request.remote_addr or MISSING


def everyone() -> str:
    """Key of a limit shared by all clients."""
    return "all"


def count_against_limits() -> None:
    """Mark this request's answer as one the endpoint's limits count."""
    g.homepair_counted = True


def counted(_response) -> bool:
    """``deduct_when`` callback: hit the limits only for answers marked as counted."""
    return bool(g.get("homepair_counted"))


def retry_after(error) -> int:
    """Whole seconds until the breached limit frees a slot, at least 1."""
    from app.extensions import limiter

    current = limiter.current_limit
    try:
        # window[0] is the exact reset time; RequestLimit.reset_at rounds it up by a second.
        reset_at = current.window[0] if current else None
    except Exception:  # storage gone between the breach and this call: be conservative
        reset_at = None
    if reset_at is None:
        return 60
    return max(1, math.ceil(reset_at - time.time()))
