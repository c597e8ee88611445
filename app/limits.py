"""Rate-limit keys and helpers shared by every protocol.

Limits test before the request and are hit afterwards only for the answers they count
(``deduct_when``); a view marks such an answer with :func:`count_against_limits`.
"""

from __future__ import annotations

import bisect
import math
import time

from flask import g, request
from limits.storage import MemoryStorage

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


class PrunedMemoryStorage(MemoryStorage):
    """``memory://`` that forgets keys whose moving window has emptied.

    limits 5.8's MemoryStorage empties an expired key's event list but keeps the key, and
    rescans every key every 10 ms: each distinct e-mail address or client IP ever limited
    makes every later request slower, for good (measured in bench/: 5,000 dead keys cost
    2.4 ms per scan). Same behaviour otherwise; selected with ``homepair-memory://``.
    """

    STORAGE_SCHEME = ["homepair-memory"]

    # The parent's timer calls self.__expire_events, i.e. this name after mangling.
    def _MemoryStorage__expire_events(self) -> None:
        now = time.time()
        for key in list(self.events):
            with self.locks[key]:
                events = self.events.get(key) or []
                if events:
                    events = events[: bisect.bisect_left(events, -now, key=lambda e: -e.expiry)]
                if events:
                    self.events[key] = events
                else:
                    self.events.pop(key, None)
                    self.locks.pop(key, None)
        for key in list(self.expirations):
            if self.expirations[key] <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)
