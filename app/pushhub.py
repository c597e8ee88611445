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
import socket
import threading
from collections.abc import Iterable
from typing import Any

from gevent import get_hub
from gevent.event import Event

from app import metrics
from app.dbutil import after_commit, queued_after_commit

log = logging.getLogger(__name__)


class Waiter:
    """One held request's wake-up flag, optionally also raised by its client's socket."""

    __slots__ = ("serial", "event", "_hub", "_closed", "_sock", "_watch")

    def __init__(self, hub: PushHub, serial: str):
        self.serial = serial
        self.event = Event()
        self._hub = hub
        self._closed = False
        self._sock: Any = None  # the raw socket of a watched client
        self._watch: Any = None  # a gevent libev io watcher while watching

    def watch(self, sock: Any) -> None:
        """Also wake when the client's socket turns readable: EOF, a reset, or a pipelined
        request. A libev watcher, not a greenlet, so a hold costs no more to watch."""
        if sock is None or self._closed:
            return
        try:
            fd = sock.fileno()
        except OSError:
            return
        # gevent's socket waits on EAGAIN; the peek in client_gone() must not.
        self._sock = getattr(sock, "_sock", sock)
        self._watch = get_hub().loop.io(fd, 1)
        self._watch.start(self.event.set)

    def client_gone(self) -> bool:
        """After a wake-up: True if the client closed or reset its connection.

        A pipelined request is not a goodbye: it waits for this answer, and the socket is no
        longer watched (it would stay readable and wake this hold in a loop).
        """
        if self._watch is None:
            return False
        try:
            data = self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False  # nothing to read: woken by a push
        except OSError:
            return True  # reset
        if not data:
            return True
        self._stop_watch()
        return False

    def _stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch.close()
            self._watch = None

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
            self._stop_watch()
            self._sock = None
            self._hub._remove(self)


_PENDING = "homepair.pending_wakeups"


class _Wakeups:
    """The devices one transaction changed: woken together once it commits."""

    def __init__(self, hub: PushHub):
        self.hub = hub
        self.serials: set[str] = set()

    def __call__(self) -> None:
        self.hub.publish(self.serials)


class PushHub:
    """Registry of held subscribes in this process, keyed by device serial."""

    def __init__(self):
        self._waiters: dict[str, set[Waiter]] = {}
        self._lock = threading.Lock()
        self._transport = None
        self.closing = False

    def close_all(self) -> None:
        """The process is shutting down: end every hold now (each answers as if it timed out,
        so its device re-subscribes, elsewhere if need be) and hold nothing new."""
        self.closing = True
        self.wake_all()

    def attach(self, transport: Any) -> None:
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
        metrics.HELD.inc()
        if self._transport is not None:
            self._transport.held_changed(serial, +1)
        return waiter

    def _remove(self, waiter: Waiter) -> None:
        metrics.HELD.dec()
        with self._lock:
            group = self._waiters.get(waiter.serial)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[waiter.serial]
        if self._transport is not None:
            self._transport.held_changed(waiter.serial, -1)

    def publish_after_commit(self, serials: Iterable[str]) -> None:
        """Wake ``serials`` once the current transaction commits (nothing if it rolls back).

        Every wake-up of one transaction goes out in one publish.
        """
        pending = queued_after_commit(_PENDING)
        if not isinstance(pending, _Wakeups):
            pending = _Wakeups(self)
            after_commit(_PENDING, pending)
        pending.serials.update(serials)

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
