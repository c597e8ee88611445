"""Closed-loop throughput: C keep-alive connections, each sending its next request as soon as
the previous answer's last byte arrives (as wrk and the figures of the replaced projects do).

Throughput is the number of answers completed inside the measured window divided by its
length; latency is send-to-last-byte of those answers. There is no think time and no pacing:
a closed loop measures the server's capacity at C outstanding requests; its latencies are
what a client holding C connections sees, not an open-loop arrival curve.
"""

from __future__ import annotations

import resource
import select
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import procfs


@dataclass
class Phase:
    """What one measured window produced."""

    connections: int
    duration: float
    completed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    # CPU used by everything else on the machine (other test runs, the OS) in the window.
    other_cpu: float = 0.0
    per_worker_connections: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Answers per second in the window."""
        return self.completed / self.duration

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (nearest rank)."""
        return percentile(self.latencies, q) * 1000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``q`` in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_marks(worker_pids: list[int]) -> tuple[float, float, float]:
    return (
        _cpu_self(),
        sum(procfs.cpu_seconds(p) for p in worker_pids),
        procfs.busy_cpu_seconds(),
    )


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _complete(buf: bytes) -> tuple[int, bytes, int] | None:
    """``(status, body, length consumed)`` if ``buf`` holds a whole response, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].lower()
    at = head.find(b"content-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop >= 0 else len(head)])
        if len(buf) < end + 4 + length:
            return None
        return int(buf[9:12]), buf[end + 4 : end + 4 + length], end + 4 + length
    if b"transfer-encoding: chunked" in head:
        # Throughput rows are never chunked; enough to find the end of one that is.
        tail = buf.find(b"\r\n0\r\n\r\n", end)
        if tail < 0 and not buf[end + 4 :].startswith(b"0\r\n\r\n"):
            return None
        stop = (tail + 7) if tail >= 0 else end + 9
        return int(buf[9:12]), buf[end + 4 : stop], stop
    return int(buf[9:12]), b"", end + 4


def closed_loop(
    address: tuple[str, int],
    make_request: Callable[[], bytes],
    expect: Callable[[int, bytes], bool],
    connections: int,
    warmup: float,
    duration: float,
    worker_pids: list[int],
) -> Phase:
    """Run ``connections`` closed loops for ``warmup`` + ``duration`` seconds.

    ``make_request`` returns the next request's bytes (fresh serials, addresses…);
    ``expect(status, body)`` says whether an answer is the one the benchmark is about, so a
    429 or an error envelope is counted as an error instead of inflating the throughput.

    One thread, one epoll loop, non-blocking sockets: about 60% of the client CPU per
    request that gevent's socket wrappers cost (measured: 28 vs 47 µs), which on 2 cores is
    CPU the server keeps. The connections ramp up during the warm-up, one more after each
    answer, so each new client arrives while the server is busy with the earlier ones;
    gunicorn's workers share one listen socket and whichever accepts first gets the
    connection for good (keep-alive), so the split is reported.
    """
    phase = Phase(connections, duration)
    poller = select.epoll()
    state: dict[int, list] = {}  # fd -> [sock, buffer, sent_at]
    socks: list[socket.socket] = []
    perf = time.perf_counter

    unanswered: set[int] = set()

    def open_one() -> None:
        sock = _connect(address)
        socks.append(sock)
        poller.register(sock.fileno(), select.EPOLLIN)
        state[sock.fileno()] = [sock, b"", perf()]
        unanswered.add(sock.fileno())
        sock.send(make_request())

    start = perf()
    # The window opens once every connection has had an answer (so a worker has accepted
    # it) and the warm-up has passed, so it is always measured at the full connection count
    # (the ramp takes longer on slow rows).
    never = float("inf")
    window_from = window_to = never
    open_one()
    latencies = phase.latencies
    errors = phase.errors
    completed = 0
    marks: dict[str, tuple[float, float, float]] = {}
    outstanding = 1
    give_up = start + warmup + duration + 60
    while outstanding:
        now = perf()
        if "from" not in marks and now >= window_from:
            owners = procfs.socket_owners(address[1], worker_pids)
            split = Counter(owners.get(s.getsockname()[1], 0) for s in socks)
            phase.per_worker_connections = dict(split)
            marks["from"] = _cpu_marks(worker_pids)
        if "to" not in marks and now >= window_to:
            marks["to"] = _cpu_marks(worker_pids)
        if now >= give_up:
            errors["unfinished"] += outstanding
            break
        edge = window_from if "from" not in marks else window_to
        timeout = 0.05 if "to" in marks else max(0.0, min(edge - now, 0.05))
        for fd, _ in poller.poll(timeout):
            entry = state[fd]
            sock = entry[0]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                errors["closed"] += 1
                poller.unregister(fd)
                del state[fd]
                sock.close()
                outstanding -= 1
                continue
            entry[1] += data
            done = _complete(entry[1])
            if done is None:
                continue
            t1 = perf()
            status, body, used = done
            entry[1] = entry[1][used:]
            unanswered.discard(fd)
            if window_from <= t1 < window_to:
                if expect(status, body):
                    completed += 1
                    latencies.append(t1 - entry[2])
                else:
                    errors[f"HTTP {status}"] += 1
            if t1 >= window_to:
                poller.unregister(fd)
                outstanding -= 1
                continue
            raw = make_request()
            entry[2] = perf()
            sock.send(raw)  # a request of a few hundred bytes fits the empty send buffer
            if len(socks) < connections:
                # Ramp: the next client arrives while the server is busy with the others.
                open_one()
                outstanding += 1
            elif window_from == never and not unanswered:
                window_from = max(start + warmup, t1)
                window_to = window_from + duration
    poller.close()
    for sock in socks:
        sock.close()
    phase.completed = completed
    if "from" in marks and "to" in marks:
        phase.client_cpu = (marks["to"][0] - marks["from"][0]) / duration
        phase.server_cpu = (marks["to"][1] - marks["from"][1]) / duration
        busy = (marks["to"][2] - marks["from"][2]) / duration
        phase.other_cpu = max(0.0, busy - phase.client_cpu - phase.server_cpu)
    return phase
