"""Held subscribes and pairing push latency.

One run: a fresh server; entry keys for the devices that will be claimed; a few warm-up holds
and one claim; worker RSS; then for each checkpoint (e.g. 1,000 then 10,000 per worker): holds
opened by holder processes up to it, worker RSS again, and one claim at a time,
``POST /api/register`` for a held device, timed from just before the request is sent to the
last byte of the chunk pushed into that device's held subscribe.

Same- or cross-worker is not guessed: the worker holding each connection is read from
/proc (see :func:`bench.procfs.socket_owners`), for the held subscribes and for the keep-alive
connections the claims are sent on, and each claim is sent on a connection owned by the
holding worker (same) or by another worker (cross).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter

import gevent
from gevent import subprocess as gsubprocess

from bench import procfs
from bench.holder import open_hold, serial_of, subscribe_request
from bench.http import Connection, request_bytes
from bench.load import percentile
from bench.server import ROOT, Server

PER_HOLDER = 10_000
WARM_HOLDS_PER_WORKER = 32


class Holder:
    """A ``bench.holder`` child process and its command pipe."""

    def __init__(
        self,
        port: int,
        prefix: str,
        start: int,
        count: int,
        python: str,
        inflight: int = 200,
        placeholder: bool = True,
    ):
        self.process = gsubprocess.Popen(
            [python, "-m", "bench.holder", "--port", str(port), "--prefix", prefix]
            + ["--start", str(start), "--count", str(count), "--inflight", str(inflight)]
            + (["--placeholder"] if placeholder else []),
            cwd=ROOT,
            stdin=gsubprocess.PIPE,
            stdout=gsubprocess.PIPE,
        )
        self.ready: dict = {}

    def read(self) -> dict:
        """The next message."""
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("bench.holder exited early")
        return json.loads(line)

    def send(self, **command) -> None:
        """Send a command."""
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()

    def close(self) -> None:
        """Ask it to quit; kill it if it does not."""
        try:
            self.send(cmd="quit")
            self.process.wait(10)
        except Exception:
            self.process.kill()
            self.process.wait(5)


def _summary(samples: list[float], failures: int) -> dict:
    return {
        "n": len(samples),
        "failures": failures,
        "p50_ms": percentile(samples, 50) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "max_ms": max(samples) * 1000 if samples else float("nan"),
    }


def run(
    workers: int,
    checkpoints: list[int],
    claims: int,
    redis: bool,
    database: str = "sqlite",
    python: str = "python",
    log=print,
    profile_phase: str | None = None,
    profile_hook=None,
) -> list[dict]:
    """Held-subscribe + push figures at each checkpoint (held per worker, ascending).

    One server serves every checkpoint of a run: holds are added up to the next checkpoint,
    then RSS is read and the claims are made. Claimed devices' holds end after their push, so
    each checkpoint opens as many extra devices as were claimed before it and the held count
    is exact. Memory freed by those ended holds is reused by later ones, so a later
    checkpoint's RSS per held is at most (claimed / held) low: 4% at 10,000.

    ``profile_hook(pids)`` (bench.profile) is called when ``profile_phase`` ("hold" or
    "claim") begins and returns a function called when it ends.
    """
    checkpoints = sorted(checkpoints)
    kinds = ["same"] * claims + (["cross"] * claims if workers > 1 else [])
    # Room for every hold, the warm-up holds and the claim connections, however unevenly the
    # kernel spreads accepts: at the default 10,000 a worker full of holds stops accepting
    # (README, "Findings").
    most = workers * checkpoints[-1] + len(kinds) * len(checkpoints)
    env = {
        "GUNICORN_WORKER_CONNECTIONS": str(most + 1000),
        # Every claim counts against the claim limits (successes too): the measured claims
        # must not run into them.
        "NEST_REGISTER_LIMIT_PER_IP": "1000000 per 1 second",
        "NEST_REGISTER_LIMIT_TOTAL": "1000000 per 1 second",
    }
    server = Server(workers=workers, database=database, redis=redis, env=env)
    holders: list[Holder] = []
    keep: list[Connection] = []
    try:
        server.start()
        pids = server.worker_pids()
        prefix = "H" + secrets.token_hex(3).upper()

        # Plan: which devices each checkpoint opens and which of the held ones it claims.
        plan = []
        taken: set[int] = set()
        opened = 0
        for per_worker in checkpoints:
            wanted = workers * per_worker
            open_to = wanted + len(taken)
            pool = [i for i in range(open_to) if i not in taken]
            targets = random.sample(pool, min(len(kinds), len(pool)))
            taken.update(targets)
            plan.append((per_worker, wanted, opened, open_to, targets))
            opened = open_to

        # Entry keys for every device to be claimed, before it holds (a passphrase call
        # clears the device's last-sent records, so it must not come during the hold).
        codes: dict[str, str] = {}

        def fetch(indices: list[int]) -> None:
            conn = Connection(server.address)
            for index in indices:
                serial = serial_of(prefix, index)
                raw = request_bytes("GET", f"/nest/passphrase?serial={serial}", server.host)
                status, body = conn.request(raw)
                if status != 200:
                    raise RuntimeError(f"passphrase: HTTP {status} {body[:200]!r}")
                codes[serial] = json.loads(body)["value"]
            conn.close()

        every_target = sorted(taken)
        gevent.joinall(
            [gevent.spawn(fetch, every_target[i::8]) for i in range(8)], raise_error=True
        )

        # Warm-up holds on other serials, kept open to the end: the first held request of a
        # worker pays one-time costs that are not per connection.
        def warm(index: int) -> None:
            conn = Connection(server.address)
            open_hold(conn, server.host, f"W{prefix}{index:08d}", placeholder=True)
            keep.append(conn)

        warm_serial = f"W{prefix}{0:08d}"
        conn = Connection(server.address)
        status, body = conn.request(
            request_bytes("GET", f"/nest/passphrase?serial={warm_serial}", server.host)
        )
        warm_code = json.loads(body)["value"]
        gevent.joinall(
            [gevent.spawn(warm, i) for i in range(WARM_HOLDS_PER_WORKER * workers)],
            raise_error=True,
        )
        # One claim before the baseline too: the claim path's first run fills caches
        # (compiled statements) that would otherwise be counted as memory of the holds.
        body = json.dumps({"code": warm_code, "userId": "warmup"}).encode()
        status, body = conn.request(request_bytes("POST", "/api/register", server.host, body))
        if b'"success":true' not in body:
            raise RuntimeError(f"warm-up claim failed: {body[:200]!r}")
        conn.close()
        rss_base = {pid: procfs.rss_kib(pid) for pid in pids}
        tcp_base = procfs.tcp_mem_kib()
        claim_conns: dict[int, Connection] = {}
        port_of: dict[str, int] = {}
        holder_of: dict[str, Holder] = {}
        claimed: set[str] = set()
        results = []
        for per_worker, wanted, first, open_to, targets in plan:
            stop_profile = profile_hook(pids) if profile_phase == "hold" else None
            started = time.monotonic()
            batch = []
            for start in range(first, open_to, PER_HOLDER):
                count = min(PER_HOLDER, open_to - start)
                batch.append(Holder(server.port, prefix, start, count, python))
            holders.extend(batch)
            open_errors: Counter = Counter()
            for holder in batch:
                holder.ready = holder.read()
                open_errors.update(holder.ready["errors"])
                for serial, port in holder.ready["ports"].items():
                    port_of[serial] = port
                    holder_of[serial] = holder
            open_seconds = time.monotonic() - started
            if stop_profile:
                stop_profile()
            rss = {pid: procfs.rss_kib(pid) for pid in pids}
            tcp = procfs.tcp_mem_kib()
            owners = procfs.socket_owners(server.port, pids)
            live = [s for s in port_of if s not in claimed]
            # Memory is divided by every holder connection the workers still serve: devices
            # claimed at an earlier checkpoint linger for their 3 s batch window and
            # keep-alive, and cost what a hold costs meanwhile.
            per_worker_held = Counter(owners[port] for port in port_of.values() if port in owners)
            kib_per_held = {
                pid: (rss[pid] - rss_base[pid]) / per_worker_held[pid]
                for pid in pids
                if per_worker_held[pid]
            }
            log(
                f"  held {len(live)}/{wanted} (+{open_to - first} in {open_seconds:.1f}s), per "
                f"worker {[per_worker_held[p] for p in pids]}, KiB/held "
                f"{[round(kib_per_held.get(p, 0), 1) for p in pids]}"
            )
            push = _claims(
                server,
                pids,
                owners,
                targets,
                kinds,
                prefix,
                codes,
                port_of,
                holder_of,
                claim_conns,
                profile_hook if profile_phase == "claim" else None,
            )
            claimed.update(serial_of(prefix, i) for i in targets)
            readable = 0
            for holder in holders:
                holder.send(cmd="check")
                readable += holder.read()["readable"]
            result = {
                "workers": workers,
                "database": database,
                "redis": redis,
                "per_worker_target": per_worker,
                "requested": wanted,
                "held": len(live),
                "open_seconds": open_seconds,
                "opened": open_to - first,
                "open_errors": dict(open_errors),
                "held_per_worker": [per_worker_held[p] for p in pids],
                "rss_base_kib": [rss_base[p] for p in pids],
                "rss_kib": [rss[p] for p in pids],
                "kib_per_held": [kib_per_held.get(p) for p in pids],
                "kib_per_held_max": max(kib_per_held.values()) if kib_per_held else None,
                "kernel_tcp_kib_per_held": (tcp - tcp_base) / len(live) if live else None,
                "closed_or_spoke_early": readable,
                "all_held": len(live) == wanted and readable == 0 and not open_errors,
                **push,
            }
            for kind in ("same", "cross"):
                if result.get(f"push_{kind}"):
                    s = result[f"push_{kind}"]
                    log(
                        f"  push {kind}: n={s['n']} p50 {s['p50_ms']:.2f} p99 {s['p99_ms']:.2f}"
                        f" max {s['max_ms']:.2f} ms, failures {s['failures']}"
                    )
            results.append(result)
        return results
    finally:
        for holder in holders:
            holder.close()
        for conn in keep:
            conn.close()
        server.stop()


def _claims(
    server, pids, owners, targets, kinds, prefix, codes, port_of, holder_of, claim_conns, hook
) -> dict:
    """Claim ``targets`` one at a time; time each from send to the pushed chunk's last byte."""

    def claim_conn(pid: int) -> Connection:
        # A keep-alive connection known (from /proc) to be served by worker ``pid``.
        conn = claim_conns.get(pid)
        if conn is not None:
            return conn
        spare = []
        for _ in range(64):
            candidate = Connection(server.address)
            # One request first, so the connection has been accepted by some worker.
            candidate.request(request_bytes("GET", "/nest/ping", server.host))
            owner = procfs.socket_owners(server.port, pids).get(candidate.port)
            if owner is not None and owner not in claim_conns:
                claim_conns[owner] = candidate
                if owner == pid:
                    break
            else:
                spare.append(candidate)
        for candidate in spare:
            candidate.close()
        if pid not in claim_conns:
            raise RuntimeError(f"no connection landed on worker {pid} in 64 tries")
        return claim_conns[pid]

    samples: dict[str, list[float]] = {"same": [], "cross": []}
    register_ms: list[float] = []
    failures: Counter = Counter()
    stop_profile = hook(pids) if hook else None
    own = [os.getpid()] + sorted({h.process.pid for h in holder_of.values()})
    # The private redis-server serves the deployment under test: not "other" load.
    if server.redis is not None and server.redis.process is not None:
        own.append(server.redis.process.pid)
    cpu_before = sum(procfs.cpu_seconds(p) for p in pids)
    own_before = sum(procfs.cpu_seconds(p) for p in own)
    busy_before = procfs.busy_cpu_seconds()
    started = time.monotonic()
    for index, kind in zip(targets, kinds, strict=False):
        serial = serial_of(prefix, index)
        holder = holder_of.get(serial)
        owner = owners.get(port_of.get(serial, -1))
        if holder is None or owner is None:
            failures[kind] += 1
            continue
        via = owner if kind == "same" else next(p for p in pids if p != owner)
        user = f"bench{index}"
        body = json.dumps({"code": codes[serial], "userId": user}).encode()
        raw = request_bytes("POST", "/api/register", server.host, body)
        holder.send(cmd="arm", serial=serial)
        if holder.read().get("armed") != serial:
            raise RuntimeError("holder out of step")
        for attempt in range(2):
            conn = claim_conn(via)
            sent_at = time.monotonic()
            try:
                status, answer = conn.request(raw)
                break
            except OSError:
                # Keep-alive expired (gunicorn keepalive = 5 s): reconnect once.
                claim_conns.pop(via).close()
                if attempt:
                    raise
        answered_at = time.monotonic()
        pushed = holder.read()
        if status != 200 or b'"success":true' not in answer or not pushed.get("ok"):
            failures[kind] += 1
            continue
        samples[kind].append(pushed["t"] - sent_at)
        register_ms.append((answered_at - sent_at) * 1000)
    seconds = time.monotonic() - started
    server_cpu = sum(procfs.cpu_seconds(p) for p in pids) - cpu_before
    own_cpu = sum(procfs.cpu_seconds(p) for p in own) - own_before
    other = procfs.busy_cpu_seconds() - busy_before - server_cpu - own_cpu
    if stop_profile:
        stop_profile()
    return {
        "push_same": _summary(samples["same"], failures["same"]),
        "push_cross": _summary(samples["cross"], failures["cross"]) if len(pids) > 1 else None,
        "register_p50_ms": percentile(register_ms, 50) if register_ms else None,
        # Worker CPU per claim: the register request and the woken subscribe's re-read and
        # write (its end, 3 s later, mostly falls after this window).
        "server_cpu_ms_per_claim": server_cpu / max(1, len(targets)) * 1000,
        "claims_seconds": seconds,
        # Cores used by processes other than the servers, Redis and the benchmark.
        "other_cpu_during_claims": max(0.0, other / seconds) if seconds else None,
    }


def floor(per_worker: int, python: str = "python", log=print) -> dict:
    """RSS per held request of bench.hello's bare ``hold`` route on one worker: what gunicorn,
    gevent and Flask cost for a held chunked response before homepair adds anything."""
    env = {"GUNICORN_WORKER_CONNECTIONS": str(per_worker + 1000)}
    server = Server(app="bench.hello:app", workers=1, env=env)
    keep: list[Connection] = []
    holder = None
    try:
        server.start()
        (pid,) = server.worker_pids()
        for i in range(WARM_HOLDS_PER_WORKER):
            conn = Connection(server.address)
            conn.sock.sendall(subscribe_request(server.host, f"WARM{i:010d}"))
            conn.read_head()
            keep.append(conn)
        before = procfs.rss_kib(pid)
        holder = Holder(
            server.port,
            "F" + secrets.token_hex(3).upper(),
            0,
            per_worker,
            python,
            placeholder=False,
        )
        ready = holder.read()
        after = procfs.rss_kib(pid)
        result = {
            "per_worker_target": per_worker,
            "held": ready["held"],
            "kib_per_held": (after - before) / ready["held"] if ready["held"] else None,
        }
        log(f"  floor: {ready['held']} held, {result['kib_per_held']:.1f} KiB/held")
        return result
    finally:
        if holder is not None:
            holder.close()
        for conn in keep:
            conn.close()
        server.stop()
