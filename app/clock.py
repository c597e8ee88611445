"""Wall-clock UTC time in the units each protocol puts on the wire."""

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Epoch milliseconds (Nest)."""
    return time.time_ns() // 1_000_000


def now_s() -> int:
    """Epoch seconds (Ruuvi, Hue storage)."""
    return time.time_ns() // 1_000_000_000


def hue_time(epoch_s: int) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SS`` with no zone, as Hue bridges print dates."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S")
