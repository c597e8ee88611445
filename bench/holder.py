"""A process that holds Nest subscribes: ``python -m bench.holder`` (started by bench.held).

A process may have at most ``ulimit -n`` (20,000 here, hard) sockets, so 10,000 held
subscribes per worker on two workers take two holders. Commands arrive as JSON lines on
stdin, answers leave as JSON lines on stdout:

- on start: open ``--count`` subscribes (at most ``--inflight`` connecting at once, so the
  listen backlog never overflows into SYN retries; with ``--placeholder``, homepair's, each
  after the first subscribe's immediate answer, see :func:`open_hold`), then
  ``{"held":…,"ports":{serial:port}}``;
- ``{"cmd":"arm","serial":S}``: start reading S's connection, answer ``{"armed":S}``; when the
  pushed chunk's last byte arrives, ``{"chunk":S,"t":<time.monotonic()>,"ok":bool}``.
  CLOCK_MONOTONIC is one clock for every process on the host, so the caller subtracts its own
  send time from ``t``;
- ``{"cmd":"check"}``: ``{"open":n,"readable":m}`` over the connections never armed: a
  readable one was closed or sent something it should not have;
- ``{"cmd":"quit"}``: close everything and exit.
"""

from __future__ import annotations

import argparse
import base64
import json
import select
import sys
import time
from collections import Counter

import gevent
from gevent.fileobject import FileObjectPosix
from gevent.pool import Pool

from bench.http import Connection, request_bytes


def serial_of(prefix: str, index: int) -> str:
    """The serial of held device ``index`` (uppercase, ≥ 10 characters, as the spec wants)."""
    return f"{prefix}{index:08d}"


def subscribe_request(host: str, serial: str) -> bytes:
    """A firmware-like chunked subscribe listing the device's own bucket."""
    token = base64.b64encode(f"d.{serial}.x:pw".encode()).decode()
    body = json.dumps(
        {
            "chunked": True,
            "session": "bench",
            "objects": [
                {"object_key": f"device.{serial}", "object_revision": 0, "object_timestamp": 0}
            ],
        }
    ).encode()
    return request_bytes(
        "POST",
        "/nest/transport/v5/subscribe",
        host,
        body,
        (f"Authorization: Basic {token}", "Content-Type: application/json"),
    )


def open_hold(conn: Connection, host: str, serial: str, placeholder: bool) -> tuple[int, bytes]:
    """Open a held subscribe for ``serial`` on ``conn``; the status and header block of the
    held answer.

    homepair (``placeholder``) answers a never-seen device's first subscribe at once, with its
    bucket as an empty placeholder at timestamp 0 (issue 14: "answered once"), as the firmware
    sees after a reset; the firmware then subscribes again on the same connection, and that
    one is held. The bench does the same: it reads the placeholder answer whole, then sends
    the subscribe that is held. bench.hello's bare hold has no such first answer.
    """
    if placeholder:
        conn.sock.sendall(subscribe_request(host, serial))
        status, head = conn.read_head()
        if status != 200:
            return status, head
        body = conn.read_body(head)
        if f'"object_key":"device.{serial}"'.encode() not in body:
            raise RuntimeError(f"expected the placeholder answer, got {body[:200]!r}")
    conn.sock.sendall(subscribe_request(host, serial))
    return conn.read_head()


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Open the holds, then serve commands until ``quit`` or end of input."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument(
        "--placeholder", action="store_true", help="homepair: the first subscribe is answered"
    )
    args = parser.parse_args()
    from bench.procfs import raise_nofile

    raise_nofile()
    address = ("127.0.0.1", args.port)
    host = f"127.0.0.1:{args.port}"
    conns: dict[str, Connection] = {}
    errors: Counter = Counter()

    def open_one(index: int) -> None:
        serial = serial_of(args.prefix, index)
        try:
            conn = Connection(address, timeout=60)
            status, head = open_hold(conn, host, serial, args.placeholder)
        except OSError as exc:
            errors[type(exc).__name__] += 1
            return
        if status != 200 or b"transfer-encoding: chunked" not in head:
            errors[f"HTTP {status}"] += 1
            conn.close()
            return
        conns[serial] = conn

    started = time.monotonic()
    pool = Pool(args.inflight)
    for index in range(args.start, args.start + args.count):
        pool.spawn(open_one, index)
    pool.join()
    _say(
        {
            "held": len(conns),
            "failed": sum(errors.values()),
            "errors": dict(errors),
            "seconds": time.monotonic() - started,
            "ports": {serial: conn.port for serial, conn in conns.items()},
        }
    )

    armed: set[str] = set()

    def await_push(serial: str) -> None:
        conn = conns[serial]
        try:
            payload = conn.read_chunk()
            at = time.monotonic()
            ok = payload is not None and b'"object_key":"user.' in payload
        except OSError:
            at, ok = time.monotonic(), False
        _say({"chunk": serial, "t": at, "ok": ok})

    stdin = FileObjectPosix(sys.stdin.fileno(), "rb")
    for line in stdin:
        command = json.loads(line)
        if command["cmd"] == "arm":
            serial = command["serial"]
            armed.add(serial)
            gevent.spawn(await_push, serial)
            gevent.sleep(0)  # let the reader block in recv before the caller claims
            _say({"armed": serial})
        elif command["cmd"] == "check":
            poller = select.poll()
            quiet = [c for s, c in conns.items() if s not in armed]
            for conn in quiet:
                poller.register(conn.sock.fileno(), select.POLLIN | select.POLLHUP)
            readable = len(poller.poll(0))
            _say({"open": len(quiet) - readable, "readable": readable})
        elif command["cmd"] == "quit":
            break
    for conn in conns.values():
        conn.close()


if __name__ == "__main__":
    main()
