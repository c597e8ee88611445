"""Throughput and latency of each endpoint at 16 and 64 connections on each deployment, and of
the ceiling (bench.hello) at each worker count.

Every server runs side by side for the whole section (an idle gunicorn uses next to no CPU),
and the rows are interleaved run by run, so slow drift of the machine (page cache, a
neighbour's load) spreads over all rows instead of landing on one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.http import Connection, request_bytes
from bench.load import closed_loop
from bench.report import median
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


@dataclass(frozen=True)
class Deployment:
    """One homepair deployment of the throughput section."""

    key: str  # "sqlite1", "sqlite2", "postgres2": the JSON's and the goals' name for it
    workers: int
    database: str  # "sqlite" or "postgres"
    redis: bool  # a private redis-server and REDIS_URL


# `make run` (1 worker, SQLite, no Redis), the 2-worker SQLite + Redis deployment, and the same
# on PostgreSQL.
SQLITE_1 = Deployment("sqlite1", 1, "sqlite", False)
SQLITE_2 = Deployment("sqlite2", 2, "sqlite", True)
POSTGRES_2 = Deployment("postgres2", 2, "postgres", True)


def hello_env(workers: int) -> dict[str, str]:
    """The ceiling's environment: gunicorn.conf.py refuses several workers without REDIS_URL;
    bench.hello never connects to it, so the ceiling runs on exactly homepair's settings."""
    return {"REDIS_URL": "redis://127.0.0.1:6379/15"} if workers > 1 else {}


def _row_result(phase) -> dict:
    return {
        "rps": phase.rps,
        "p50_ms": phase.percentile(50),
        "p99_ms": phase.percentile(99),
        "completed": phase.completed,
        "errors": dict(phase.errors),
        "client_cpu": phase.client_cpu,
        "server_cpu": phase.server_cpu,
        "other_cpu": phase.other_cpu,
        "connections_per_worker": sorted(phase.per_worker_connections.values(), reverse=True),
    }


def _medians(rows: dict[str, dict]) -> list[dict]:
    for row in rows.values():
        runs_ = row["runs"]
        for key in ("rps", "p50_ms", "p99_ms", "client_cpu", "server_cpu", "other_cpu"):
            row[key] = median([r[key] for r in runs_])
        row["errors"] = sum(sum(r["errors"].values()) for r in runs_)
    return list(rows.values())


def run(
    deployments: list[Deployment],
    runs: int,
    connections: tuple[int, ...],
    warmup: float,
    duration: float,
    only: set[str] | None = None,
    log=print,
) -> dict:
    """All throughput rows on every deployment, ``runs`` times each, and the ceiling at each
    worker count; returns per-row runs and medians.

    Every server runs for the whole section (an idle gunicorn uses next to no CPU), and the
    order is run → row → deployment, so the figures a ratio compares (1 → 2 workers,
    PostgreSQL / SQLite, a row / its ceiling) are measured seconds apart, not minutes.
    """
    worker_counts = sorted({d.workers for d in deployments})
    hellos = {w: Server(app="bench.hello:app", workers=w, env=hello_env(w)) for w in worker_counts}
    apps = {
        d.key: Server(workers=d.workers, database=d.database, redis=d.redis, env=LIMIT_ENV)
        for d in deployments
    }
    ceilings: dict[int, dict[str, dict]] = {w: {} for w in worker_counts}
    rows: dict[str, dict[str, dict]] = {d.key: {} for d in deployments}
    usernames: dict[str, str | None] = {d.key: None for d in deployments}
    isolated: list[Server] = []

    def measure(server: Server, workload, out: dict[str, dict], where: str, number: int) -> None:
        make, expect = workload.build(server.host)
        first = _preflight(server, make, expect, workload.name)
        if workload.link_button:
            usernames[where] = json.loads(first)[0]["success"]["username"]
        for conns in connections:
            phase = closed_loop(
                server.address, make, expect, conns, warmup, duration, server.worker_pids()
            )
            row = out.setdefault(
                f"{workload.name}@{conns}",
                {"name": workload.name, "label": workload.label, "connections": conns},
            )
            row.setdefault("runs", []).append(_row_result(phase))
            log(
                f"  run {number + 1} {where:9s} {workload.name:22s} c={conns:<3d} "
                f"{phase.rps:8.0f}/s p50 {phase.percentile(50):6.2f} "
                f"p99 {phase.percentile(99):6.2f} ms  client cpu {phase.client_cpu:.2f}"
                f" server {phase.server_cpu:.2f} other {phase.other_cpu:.2f} "
                f"errors {dict(phase.errors) or 0}"
            )

    try:
        for server in (*hellos.values(), *apps.values()):
            server.start()
        for number in range(runs):
            for workload in WORKLOADS:
                if only and workload.name not in only and workload.name != "hello":
                    continue
                if workload.target == "hello":
                    for w, server in hellos.items():
                        measure(server, workload, ceilings[w], f"hello{w}", number)
                    continue
                for d in deployments:
                    app = apps[d.key]
                    server = app
                    if workload.isolated:
                        server = Server(
                            workers=d.workers, database=d.database, redis=d.redis, env=LIMIT_ENV
                        )
                        isolated.append(server)
                        server.start()
                    if workload.link_button is not None:
                        _set_link_button(app, workload.link_button, usernames[d.key])
                    measure(server, workload, rows[d.key], d.key, number)
                    if workload.isolated:
                        isolated.pop().stop()
            for d in deployments:
                if usernames[d.key] is not None:
                    _set_link_button(apps[d.key], False, usernames[d.key])
    finally:
        for server in isolated:
            server.stop()
        for server in (*apps.values(), *hellos.values()):
            server.stop()
    ceiling_rows = {w: _medians(c) for w, c in ceilings.items()}
    sections = []
    for d in deployments:
        ceiling = {r["connections"]: r for r in ceiling_rows[d.workers]}
        section_rows = _medians(rows[d.key])
        for row in section_rows:
            top = ceiling.get(row["connections"])
            row["ceiling_rps"] = top["rps"] if top else None
            row["of_ceiling"] = row["rps"] / top["rps"] if top and top["rps"] else None
        sections.append(
            {
                "key": d.key,
                "workers": d.workers,
                "database": d.database,
                "redis": d.redis,
                # The ceiling at the same worker count first, then homepair's rows.
                "rows": ceiling_rows[d.workers] + section_rows,
            }
        )
    return {"sections": sections}
