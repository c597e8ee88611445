"""Rate limits shared by every protocol: who a client is, and the budgets that guard guesses.

Two kinds of limit, both counted *before* the request is evaluated, with the storage's atomic
hit (a Lua script on Redis, a locked list in memory), so of N simultaneous requests at most the
limit's amount go through:

- **Guess budgets** (:class:`Guard`): failed Nest claims, Ruuvi ``/verify``, wrong control-API
  tokens. Views spend them explicitly, in the order the protocol's table gives. They **fail
  closed**: with their storage unreachable the request is refused (:class:`LimitsUnavailable`),
  never evaluated against an empty in-memory fallback.
- **Cost limits** (flask-limiter decorators on ``/register`` and the sign-in form): they only
  guard spam and mail cost, so they fail open to per-process memory.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

# flask-limiter skips a limit whose key is "" (with only an error log), so a missing value
# must map to a fixed sentinel rather than to nothing.
MISSING = "-"
KEY_PREFIX = "homepair"
# After a storage failure, refuse at once for this long rather than make every request of a
# burst wait for its own timeout.
DOWN_SECONDS = 1.0
# Redis client sizing for a burst of thousands of requests on one 2-core host (bench: a
# 1,000-request burst on 4 workers drains in well under a second through 16 connections per
# worker). Greenlets queue for a connection instead of opening one each; the socket timeout is
# long enough that a busy event loop is not mistaken for a dead server.
REDIS_POOL_SIZE = 16
REDIS_POOL_WAIT = 5.0
REDIS_SOCKET_TIMEOUT = 3.0
REDIS_CONNECT_TIMEOUT = 1.0


class Throttled(Exception):
    """A limit is exhausted: answer 429 with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, retry_after: int, scope: str = ""):
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after
        self.scope = scope


class LimitsUnavailable(Exception):
    """A guess budget's storage cannot be reached: refuse (503) rather than guess unlimited."""

    retry_after = 5


def client_ip() -> str:
    """The client's rate-limit identity: its IP after ProxyFix, IPv6 grouped by prefix.

    One IPv6 host usually holds a whole /64, so counting single addresses would let it take a
    fresh identity per request; ``LIMIT_IPV6_PREFIX`` (64) groups them. IPv4-mapped IPv6
    addresses count as the IPv4 address.
    """
    raw = request.remote_addr
    if not raw:
        return MISSING
    return _identity(raw, current_app.config.get("LIMIT_IPV6_PREFIX", 64))


@functools.lru_cache(maxsize=4096)
def _identity(raw: str, prefix: int) -> str:
    # Parsing an address costs more than the memory limit's whole hit; a host's clients are
    # few, and the cache is bounded.
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return str(address)


def everyone() -> str:
    """Key of a limit shared by all clients."""
    return "all"


def seconds_until(reset_at: float | None) -> int:
    """Whole seconds until ``reset_at`` (epoch seconds), at least 1; 60 when unknown."""
    if reset_at is None:
        return 60
    return max(1, math.ceil(reset_at - time.time()))


def redis_storage_options(url: str) -> dict:
    """``limits`` storage options for Redis: a bounded pool, timeouts, wrapped errors."""
    from redis import BlockingConnectionPool
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    return {"connection_pool": pool, "wrap_exceptions": True}


@dataclass
class _Budgets:
    strategy: MovingWindowRateLimiter
    down_until: float = 0.0


class Guard:
    """Guess budgets: counted first, atomically, failing closed. One per process.

    ``init_app`` binds the app's storage (``RATELIMIT_STORAGE_URI``: Redis when ``REDIS_URL``
    is set, else this process's memory); :meth:`spend` takes one unit of a budget.
    """

    EXTENSION = "homepair.guard"

    def init_app(self, app: Flask) -> None:
        """Create this app's storage and strategy."""
        uri = app.config["RATELIMIT_STORAGE_URI"]
        if uri.startswith(("redis://", "rediss://", "redis+unix://")):
            storage = storage_from_string(uri, **redis_storage_options(uri))
        else:
            storage = storage_from_string(uri)
        app.extensions[self.EXTENSION] = _Budgets(MovingWindowRateLimiter(storage))

    @staticmethod
    def _budgets() -> _Budgets:
        return current_app.extensions[Guard.EXTENSION]

    def spend(self, setting: str, scope: str, key: str, fail_open: bool = False) -> None:
        """Count one attempt against the limit named by the setting ``setting``.

        Raises :class:`Throttled` when the budget is spent (the attempt is not counted) and
        :class:`LimitsUnavailable` when the storage cannot count it, unless ``fail_open``
        (a budget that guards cost, not a secret), which then lets the attempt through.
        """
        budgets = self._budgets()
        item = _parsed(current_app.config[setting])
        if time.monotonic() < budgets.down_until:
            if fail_open:
                return
            raise LimitsUnavailable
        try:
            if budgets.strategy.hit(item, KEY_PREFIX, scope, key):
                return
            reset_at = budgets.strategy.get_window_stats(item, KEY_PREFIX, scope, key).reset_time
        except StorageError as exc:
            budgets.down_until = time.monotonic() + DOWN_SECONDS
            log.error(
                "limit storage unreachable (%s): %s fails %s",
                exc,
                scope,
                "open" if fail_open else "closed",
            )
            if fail_open:
                return
            raise LimitsUnavailable from None
        log.info("limit %s hit (%s)", scope, current_app.config[setting])
        raise Throttled(seconds_until(reset_at), scope)

    def storage_ok(self) -> bool:
        """Whether the budgets' storage answers now (a Redis PING; memory always does)."""
        budgets = self._budgets()
        if time.monotonic() < budgets.down_until:
            return False  # failed a moment ago: do not wait for another timeout
        try:
            return bool(budgets.strategy.storage.check())
        except Exception:
            return False


_PARSED: dict[str, RateLimitItem] = {}


def _parsed(text: str) -> RateLimitItem:
    # Limit strings are checked at start-up (app.config.parse_limit); parse each once.
    item = _PARSED.get(text)
    if item is None:
        item = _PARSED[text] = parse(text)
    return item


class WindowStorage(Storage, MovingWindowSupport):
    """An in-process storage for ``limits``' moving window, through its public storage API.

    Registered as ``homepair-memory://``. limits 5.8's ``memory://`` keeps every key it ever
    saw (an expired key's event list is emptied, the key stays) and rescans all of them from a
    timer every 10 ms: each distinct e-mail address or client IP ever limited made every later
    request slower, for good (bench/: 5,000 dead keys cost 2.4 ms per scan). Here each key keeps
    its acquisition times, oldest first, in a table per window length ordered by last
    acquisition, so an idle key is found at the table's front and forgotten as the next request
    passes: memory holds only the keys acquired within their window, with no timer. One lock
    makes check-and-count atomic (of N simultaneous hits at most the limit's amount pass).
    """

    STORAGE_SCHEME = ["homepair-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._lock = threading.Lock()
        # window length (s) -> key -> acquisition times, oldest first; keys by last acquisition
        self._windows: dict[float, OrderedDict[str, deque[float]]] = {}
        # fixed-window counters (limits' other strategies): key -> [count, expires at]
        self._counters: OrderedDict[str, list[float]] = OrderedDict()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def remembered(self) -> int:
        """Keys remembered (moving windows and counters)."""
        with self._lock:
            self._forget_idle(time.time())
            return sum(len(keys) for keys in self._windows.values()) + len(self._counters)

    def _forget_idle(self, now: float) -> None:
        for expiry, keys in self._windows.items():
            while keys:
                key, times = next(iter(keys.items()))
                if times[-1] > now - expiry:
                    break  # every key behind it was acquired later
                del keys[key]
        while self._counters:
            key, (_, expires) = next(iter(self._counters.items()))
            if expires > now:
                break
            del self._counters[key]

    def _live(self, key: str, expiry: float, now: float) -> deque[float]:
        keys = self._windows.setdefault(expiry, OrderedDict())
        times = keys.get(key) or deque()
        while times and times[0] <= now - expiry:
            times.popleft()
        return times

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count ``amount`` acquisitions of ``key`` unless that would exceed ``limit`` within
        the last ``expiry`` seconds."""
        now = time.time()
        with self._lock:
            self._forget_idle(now)
            times = self._live(key, expiry, now)
            keys = self._windows[expiry]
            if len(times) + amount > limit:
                if not times:
                    keys.pop(key, None)
                return False
            times.extend([now] * amount)
            keys[key] = times
            keys.move_to_end(key)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """``(time of the oldest acquisition in the window, acquisitions in it)``."""
        now = time.time()
        with self._lock:
            times = self._live(key, expiry, now)
            return (times[0], len(times)) if times else (now, 0)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Fixed-window counter: add ``amount``; a new counter expires ``expiry`` s from now."""
        now = time.time()
        with self._lock:
            self._forget_idle(now)
            counter = self._counters.get(key)
            if counter is None or counter[1] <= now:
                # Counters are kept in creation order: with one expiry per key that is
                # expiry order, which _forget_idle relies on.
                self._counters.pop(key, None)
                counter = self._counters[key] = [0, now + expiry]
            counter[0] += amount
            return int(counter[0])

    def get(self, key: str) -> int:
        """The counter's value (0 once expired)."""
        with self._lock:
            counter = self._counters.get(key)
            return int(counter[0]) if counter and counter[1] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        """When the counter expires (now if there is none)."""
        with self._lock:
            counter = self._counters.get(key)
            return counter[1] if counter else time.time()

    def check(self) -> bool:
        """Always reachable: it is this process's memory."""
        return True

    def reset(self) -> int | None:
        """Forget every key; returns how many there were."""
        with self._lock:
            count = sum(len(keys) for keys in self._windows.values()) + len(self._counters)
            self._windows.clear()
            self._counters.clear()
            return count

    def clear(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            for keys in self._windows.values():
                keys.pop(key, None)
            self._counters.pop(key, None)
