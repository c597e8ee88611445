"""Cross-worker, cross-host wake-ups over Redis pub/sub.

One broadcast channel: every worker's listener greenlet hears every publish and wakes its own
waiters. Messages are hints (redis-py drops what is published while a listener reconnects), so
after any reconnect every local waiter is woken to re-read the database. Held-subscribe counts
are kept per worker in a Redis hash that the worker rewrites from its own truth every few
seconds and that expires if the worker dies.

With Redis unreachable nothing errors: publishes fall back to this worker's waiters (the hub
catches the exception), counts fall back to this worker's, and devices elsewhere get their
buckets on their next subscribe. A failure marks Redis down for a short while so no request
pays a socket timeout twice in a row.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any, cast

import gevent
import gevent.event
from redis import Redis
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.exceptions import RedisError
from redis.retry import Retry

from app import process

if TYPE_CHECKING:
    from app.pushhub import PushHub

log = logging.getLogger(__name__)

SOCKET_TIMEOUT = 0.5
DOWN_SECONDS = 2.0
HEARTBEAT_SECONDS = 5.0
# Held-count changes within this time go to Redis in one write.
COUNT_COALESCE_SECONDS = 0.2
WORKER_TTL_SECONDS = 15


def redis_options() -> dict:
    """Client options shared by the push transport and the rate limiter's storage."""
    return {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 10,
    }


class RedisTransport:
    """Plugs into :class:`app.pushhub.PushHub` via ``hub.attach``."""

    def __init__(self, hub: PushHub, url: str, prefix: str = "homepair"):
        self.hub = hub
        self.client = Redis.from_url(url, **redis_options())
        self.channel = f"{prefix}:push"
        self.workers_key = f"{prefix}:workers"
        self.held_prefix = f"{prefix}:held:"
        self._pid: int | None = None
        self.worker = ""
        self._down_until = 0.0

    # --- availability ----------------------------------------------------------------------

    def _up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _mark_down(self, exc: Exception) -> None:
        if self._up():
            log.warning("redis unavailable (%s); pushes fall back to the next subscribe", exc)
        self._down_until = time.monotonic() + DOWN_SECONDS

    # --- lifecycle -------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start this process's listener and heartbeat (once per process, after fork)."""
        if self._pid == process.pid():
            return
        self._pid = process.pid()
        self.worker = f"{socket.gethostname()}:{self._pid}:{secrets.token_hex(3)}"
        self._dirty = gevent.event.Event()
        self._deltas: dict[str, int] = {}
        pubsub = self._subscribe()
        gevent.spawn(self._listen, pubsub)
        gevent.spawn(self._heartbeat)

    def _subscribe(self):
        # Subscribed before the first request goes on, so no early wake-up is missed.
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            return pubsub
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            pubsub.close()
            return None

    def _listen(self, pubsub: PubSub | None) -> None:
        backoff = 0.25
        while True:
            if pubsub is None:
                gevent.sleep(backoff)
                backoff = min(backoff * 2, DOWN_SECONDS)
                pubsub = self._subscribe()
                if pubsub is None:
                    continue
                log.info("redis reachable again; waking every held subscribe to re-check")
                self._down_until = 0.0
                self._sync_counts()
                self.hub.wake_all()
            backoff = 0.25
            try:
                while True:
                    message = pubsub.get_message(timeout=HEARTBEAT_SECONDS)
                    if message and message.get("type") == "message":
                        self.hub.deliver(json.loads(message["data"]))
            except (RedisError, OSError, ValueError) as exc:
                self._mark_down(exc)
                with contextlib.suppress(Exception):  # already broken; nothing to release
                    pubsub.close()
                pubsub = None

    def _heartbeat(self) -> None:
        # The only writer of this worker's counts besides a reconnect's rewrite. Every
        # HEARTBEAT_SECONDS it rewrites the whole local truth (so a lost increment heals);
        # in between, a changed hold sends only what changed (a claim used to rewrite all
        # 5,000 fields of a busy worker: most of a claim's CPU on two workers).
        full_at = 0.0
        while True:
            self._dirty.clear()
            if time.monotonic() >= full_at:
                self._sync_counts()
                full_at = time.monotonic() + HEARTBEAT_SECONDS
            else:
                self._send_deltas()
            if self._dirty.wait(max(0.0, full_at - time.monotonic())):
                gevent.sleep(COUNT_COALESCE_SECONDS)

    def _sync_counts(self) -> None:
        """Rewrite this worker's held counts in Redis from local truth."""
        if not self._up():
            return
        # Snapshot and forget the pending changes together (no switch in between): a change
        # made while the rewrite is on its way is sent after it, on top of it.
        counts = self.hub.local_counts()
        self._deltas = {}
        key = self.held_prefix + self.worker
        try:
            pipe = self.client.pipeline()
            pipe.delete(key)
            if counts:
                fields: dict[Any, Any] = counts  # redis-py's key type is a union: invariant
                pipe.hset(key, mapping=fields)
            pipe.expire(key, WORKER_TTL_SECONDS)
            pipe.zadd(self.workers_key, {self.worker: time.time()})
            pipe.zremrangebyscore(self.workers_key, 0, time.time() - WORKER_TTL_SECONDS)
            pipe.execute()
        except (RedisError, OSError) as exc:
            self._mark_down(exc)

    def _send_deltas(self) -> None:
        """Apply the held-count changes since the last write (HINCRBY per changed device)."""
        deltas, self._deltas = self._deltas, {}
        changed = {serial: delta for serial, delta in deltas.items() if delta}
        if not changed or not self._up():
            return  # while Redis is down the next full rewrite carries them
        key = self.held_prefix + self.worker
        try:
            pipe = self.client.pipeline(transaction=False)
            for serial, delta in changed.items():
                pipe.hincrby(key, serial, delta)
            pipe.expire(key, WORKER_TTL_SECONDS)
            pipe.execute()
        except (RedisError, OSError) as exc:
            self._mark_down(exc)

    # --- the hub's transport interface -----------------------------------------------------

    def publish(self, serials: list[str]) -> None:
        """Broadcast a wake-up hint; raises when Redis is down (the hub then wakes locally)."""
        if not self._up():
            raise ConnectionError("redis marked down")
        try:
            self.client.publish(self.channel, json.dumps(serials))
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            raise

    def held_changed(self, serial: str, delta: int) -> None:
        """A held count changed here: send the change within a moment."""
        self.ensure_started()
        self._deltas[serial] = self._deltas.get(serial, 0) + delta
        self._dirty.set()

    def count(self, serial: str) -> int:
        """Held subscribes of ``serial`` on every live worker."""
        local = self.hub.local_count(serial)
        if not self._up():
            return local
        try:
            live = self.client.zrangebyscore(
                self.workers_key, time.time() - WORKER_TTL_SECONDS, "+inf"
            )
            others = [w.decode() for w in cast(list[bytes], live)]
            others = [w for w in others if w != self.worker]
            if not others:
                return local
            pipe = self.client.pipeline()
            for worker in others:
                pipe.hget(self.held_prefix + worker, serial)
            return local + sum(int(v) for v in pipe.execute() if v)
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return local
