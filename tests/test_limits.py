"""Shared rate-limit pieces."""

from __future__ import annotations

import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.limits import PrunedMemoryStorage


def test_in_memory_limits_forget_keys_whose_window_has_passed():
    storage = storage_from_string("homepair-memory://")
    assert isinstance(storage, PrunedMemoryStorage)
    limiter = MovingWindowRateLimiter(storage)
    item = parse("2 per 1 second")
    for n in range(500):
        assert limiter.hit(item, f"address-{n}")
    assert len(storage.events) == 500
    deadline = time.monotonic() + 5
    while storage.events and time.monotonic() < deadline:
        time.sleep(0.05)
        limiter.hit(item, "keeps-the-expiry-timer-running")
    assert set(storage.events) <= {item.key_for("keeps-the-expiry-timer-running")}
    # Limits still hold for live keys.
    assert limiter.hit(item, "live") and limiter.hit(item, "live")
    assert not limiter.hit(item, "live")
