"""Throughput and latency of each endpoint at 16 and 64 connections, and of the hello ceiling.

Both servers run side by side for the whole section (an idle gunicorn uses no CPU), and the
rows are interleaved run by run, so slow drift of the machine (page cache, a neighbour's
load) spreads over all rows instead of landing on one.
"""

from __future__ import annotations

import json
import statistics

from bench.http import Connection, request_bytes
from bench.load import closed_loop
from bench.server import Server
from bench.workloads import LIMIT_ENV, WORKLOADS


def _set_link_button(app: Server, pressed: bool, username: str | None) -> None:
    if pressed:
        # The operator's way, as the README documents it.
        app.flask("hue", "press-link-button")
        return
    if username is None:
        return  # never pressed yet
    conn = Connection(app.address)
    body = b'{"linkbutton":false}'
    status, answer = conn.request(request_bytes("PUT", f"/api/{username}/config", app.host, body))
    conn.close()
    if b'"success"' not in answer:
        raise RuntimeError(f"could not release the link button: {answer[:200]!r}")


def _preflight(server: Server, make, expect, name: str) -> bytes:
    conn = Connection(server.address)
    status, body = conn.request(make())
    conn.close()
    if not expect(status, body):
        raise RuntimeError(f"{name}: unexpected answer HTTP {status} {body[:300]!r}")
    return body


def run(
    workers: int,
    database: str,
    redis: bool,
    runs: int,
    connections: tuple[int, ...],
    warmup: float,
    duration: float,
    only: set[str] | None = None,
    log=print,
) -> dict:
    """All throughput rows, ``runs`` times each; returns per-row runs and medians."""
    # Several workers need REDIS_URL (gunicorn.conf.py refuses them otherwise); the hello app
    # ignores it, so the ceiling runs on exactly the same gunicorn settings.
    hello_env = {"REDIS_URL": "redis://127.0.0.1:6379/15"} if workers > 1 else {}
    hello = Server(app="bench.hello:app", workers=workers, env=hello_env)
    app = Server(workers=workers, database=database, redis=redis, env=LIMIT_ENV)
    rows: dict[str, dict] = {}
    isolated: list[Server] = []
    try:
        hello.start()
        app.start()
        username = None
        for number in range(runs):
            for workload in WORKLOADS:
                if only and workload.name not in only and workload.name != "hello":
                    continue
                server = hello if workload.target == "hello" else app
                if workload.isolated:
                    server = Server(workers=workers, database=database, redis=redis, env=LIMIT_ENV)
                    isolated.append(server)
                    server.start()
                if workload.link_button is not None:
                    _set_link_button(app, workload.link_button, username)
                make, expect = workload.build(server.host)
                first = _preflight(server, make, expect, workload.name)
                if workload.link_button:
                    username = json.loads(first)[0]["success"]["username"]
                for conns in connections:
                    phase = closed_loop(
                        server.address,
                        make,
                        expect,
                        conns,
                        warmup,
                        duration,
                        server.worker_pids(),
                    )
                    row = rows.setdefault(
                        f"{workload.name}@{conns}",
                        {"name": workload.name, "label": workload.label, "connections": conns},
                    )
                    row.setdefault("runs", []).append(
                        {
                            "rps": phase.rps,
                            "p50_ms": phase.percentile(50),
                            "p99_ms": phase.percentile(99),
                            "completed": phase.completed,
                            "errors": dict(phase.errors),
                            "client_cpu": phase.client_cpu,
                            "server_cpu": phase.server_cpu,
                            "other_cpu": phase.other_cpu,
                            "connections_per_worker": sorted(
                                phase.per_worker_connections.values(), reverse=True
                            ),
                        }
                    )
                    log(
                        f"  run {number + 1} {workload.name:22s} c={conns:<3d} "
                        f"{phase.rps:8.0f}/s p50 {phase.percentile(50):6.2f} "
                        f"p99 {phase.percentile(99):6.2f} ms  client cpu {phase.client_cpu:.2f}"
                        f" server {phase.server_cpu:.2f} other {phase.other_cpu:.2f} errors {dict(phase.errors) or 0}"
                    )
                if workload.isolated:
                    isolated.pop().stop()
            if username is not None:
                _set_link_button(app, False, username)
    finally:
        for server in isolated:
            server.stop()
        app.stop()
        hello.stop()
    for row in rows.values():
        runs_ = row["runs"]
        for key in ("rps", "p50_ms", "p99_ms", "client_cpu", "server_cpu", "other_cpu"):
            row[key] = statistics.median(r[key] for r in runs_)
        row["errors"] = sum(sum(r["errors"].values()) for r in runs_)
    for row in rows.values():
        ceiling = rows.get(f"hello@{row['connections']}")
        row["of_hello"] = row["rps"] / ceiling["rps"] if ceiling and ceiling["rps"] else None
    return {"workers": workers, "database": database, "redis": redis, "rows": list(rows.values())}
