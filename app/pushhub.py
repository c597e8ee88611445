"""Wake-ups for held Nest subscribes.

A held subscribe registers a :class:`Waiter` for its device, then re-reads the database, then
waits. A writer commits, then calls :meth:`PushHub.publish`. Wake-ups are only hints: the
woken request reads what is new from the database, so a lost wake-up delays a push to the
device's next subscribe but never loses it.

This module holds the in-process hub (one worker). A cross-worker transport plugs in
through :meth:`PushHub.attach`: it receives local publishes to fan out and calls
:meth:`PushHub.deliver` for wake-ups that arrive from other workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from gevent.event import Event

log = logging.getLogger(__name__)


class Waiter:
    """One held request's wake-up flag."""

    __slots__ = ("serial", "event", "_hub", "_closed")

    def __init__(self, hub: PushHub, serial: str):
        self.serial = serial
        self.event = Event()
        self._hub = hub
        self._closed = False

    def wait(self, timeout: float) -> bool:
        """Block this greenlet until woken (True) or ``timeout`` seconds pass (False)."""
        return self.event.wait(max(0.0, timeout))

    def clear(self) -> None:
        """Re-arm before reading, so a wake-up during the read is not lost."""
        self.event.clear()

    def close(self) -> None:
        """Deregister; safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._hub._remove(self)


class PushHub:
    """Registry of held subscribes in this process, keyed by device serial."""

    def __init__(self):
        self._waiters: dict[str, set[Waiter]] = {}
        self._lock = threading.Lock()
        self._transport = None

    def attach(self, transport) -> None:
        """Route publishes through a cross-worker transport (e.g. Redis pub/sub); None detaches."""
        self._transport = transport

    @property
    def transport(self):
        """The attached cross-worker transport, if any."""
        return self._transport

    def waiter(self, serial: str) -> Waiter:
        """Register and return a waiter for ``serial``; the caller must ``close()`` it."""
        waiter = Waiter(self, serial)
        with self._lock:
            self._waiters.setdefault(serial, set()).add(waiter)
        if self._transport is not None:
            self._transport.held_changed(serial, +1)
        return waiter

    def _remove(self, waiter: Waiter) -> None:
        with self._lock:
            group = self._waiters.get(waiter.serial)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[waiter.serial]
        if self._transport is not None:
            self._transport.held_changed(waiter.serial, -1)

    def publish(self, serials: Iterable[str]) -> None:
        """Wake every held subscribe of ``serials``, here and (with a transport) everywhere.

        Call only after the data they should read is committed.
        """
        serials = sorted(set(serials))
        if not serials:
            return
        if self._transport is not None:
            try:
                self._transport.publish(serials)
                return
            except Exception:  # the transport is a hint; the next subscribe still delivers
                log.warning("push transport failed; waking local waiters only", exc_info=True)
        self.deliver(serials)

    def deliver(self, serials: Iterable[str]) -> None:
        """Wake local waiters of ``serials``."""
        with self._lock:
            targets = [w for s in serials for w in self._waiters.get(s, ())]
        for waiter in targets:
            waiter.event.set()

    def wake_all(self) -> None:
        """Wake every local waiter (after a transport reconnect, when hints may be lost)."""
        with self._lock:
            targets = [w for group in self._waiters.values() for w in group]
        for waiter in targets:
            waiter.event.set()

    def local_count(self, serial: str) -> int:
        """Held subscribes of ``serial`` in this process."""
        with self._lock:
            return len(self._waiters.get(serial, ()))

    def local_counts(self) -> dict[str, int]:
        """Held subscribes per serial in this process."""
        with self._lock:
            return {serial: len(group) for serial, group in self._waiters.items()}

    def count(self, serial: str) -> int:
        """Held subscribes of ``serial`` across all workers the transport knows of."""
        if self._transport is not None:
            try:
                return self._transport.count(serial)
            except Exception:
                log.warning("push transport count failed; using local count", exc_info=True)
        return self.local_count(serial)


hub = PushHub()
