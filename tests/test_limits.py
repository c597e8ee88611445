"""Shared rate-limit pieces."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.limits import WindowStorage


def test_in_memory_limits_forget_keys_whose_window_has_passed():
    storage = storage_from_string("homepair-memory://")
    assert isinstance(storage, WindowStorage)
    limiter = MovingWindowRateLimiter(storage)
    item = parse("2 per 1 second")
    for n in range(500):
        assert limiter.hit(item, f"address-{n}")
    assert storage.remembered() == 500
    deadline = time.monotonic() + 5
    while storage.remembered() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        limiter.hit(item, "keeps-the-limiter-busy")
    assert storage.remembered() <= 1  # at most the key that keeps being hit
    # Limits still hold for live keys.
    assert limiter.hit(item, "live") and limiter.hit(item, "live")
    assert not limiter.hit(item, "live")


def test_in_memory_moving_window_counts_a_simultaneous_burst_once_each():
    storage = storage_from_string("homepair-memory://")
    limiter = MovingWindowRateLimiter(storage)
    item = parse("10 per 1 minute")
    start = threading.Barrier(50)

    def attempt() -> bool:
        start.wait()
        return limiter.hit(item, "burst")

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: attempt(), range(50)))
    assert results.count(True) == 10
    window_start, count = storage.get_moving_window(item.key_for("burst"), 10, 60)
    assert count == 10 and time.time() - 60 < window_start <= time.time()
    stats = limiter.get_window_stats(item, "burst")
    assert stats.remaining == 0 and 59 < stats.reset_time - time.time() <= 60
