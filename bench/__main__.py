"""``python -m bench``: homepair against the projects it replaces and against its own stack's
ceiling; prints the tables and the goals of issue 15 (met / not met), keeps each run as JSON.

See bench/README.md for what each figure means. ``--quick`` is a short smoke run (one run,
short windows, 1,000 held) of every section, both worker counts included; PostgreSQL only
with ``--postgres``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import held, procfs, report, server, throughput

RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run of every section (2-3 min)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median shown)")
    parser.add_argument(
        "--held", default="1000,10000", help="held subscribes on 1 worker, comma-separated"
    )
    parser.add_argument(
        "--held-multi",
        default="1000,5000",
        help="held subscribes per worker on 2 workers + Redis (5000 = 10,000 in total)",
    )
    parser.add_argument("--claims", type=int, default=200, help="claims per push test")
    parser.add_argument("--connections", default="16,64", help="throughput connection counts")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds per run")
    parser.add_argument(
        "--sections", default="held,throughput", help="which sections: held, throughput"
    )
    parser.add_argument("--only", default="", help="throughput rows to run (names, comma)")
    parser.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the 2-worker PostgreSQL + Redis deployment (held, push and throughput): on in "
        "the full run, off in --quick; skipped with a message if PostgreSQL is unreachable",
    )
    parser.add_argument(
        "--throughput-workers",
        default="1,2",
        help="SQLite deployments of the throughput section by worker count: 1 = `make run` "
        "(no Redis), 2 = SQLite + a private redis-server",
    )
    parser.add_argument(
        "--pin",
        choices=("none", "split"),
        default="none",
        help="none: client and server share every core; split: client on the last core, "
        "servers on the others",
    )
    parser.add_argument(
        "--json",
        default=None,
        help="also write the run's JSON here (every run writes bench/results/<UTC time>.json, "
        "latest.json and a line of history.jsonl)",
    )
    parser.add_argument(
        "--timeout", type=int, default=3600, help="stop everything after this many seconds"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
        args.held = "1000"
        args.held_multi = "500"
        args.claims = 50
        args.warmup = 0.5
        args.duration = 1.0
    if args.postgres is None:
        args.postgres = not args.quick
    return args


def _postgres_reachable() -> str | None:
    """None if the PostgreSQL admin URL answers; otherwise why not."""
    try:
        import psycopg

        with psycopg.connect(server.PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: skip the section, say why
        return f"PostgreSQL at {server.PG_ADMIN} is unreachable ({type(exc).__name__}: {exc})"
    return None


def _commit() -> tuple[str | None, bool | None]:
    """The checked-out commit, and whether the code under test (app/, gunicorn.conf.py,
    wsgi.py, migrations/) differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=server.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "app", "gunicorn.conf.py", "wsgi.py", "migrations"],
            cwd=server.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return head, bool(changed)


def _save(results: dict, extra: str | None) -> Path:
    """bench/results/<UTC time>.json, latest.json, a line of history.jsonl (and ``extra``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["started_utc"]
    out = RESULTS / f"{stamp}.json"
    text = json.dumps(results, indent=1, default=str) + "\n"
    out.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    if extra:
        Path(extra).parent.mkdir(parents=True, exist_ok=True)
        Path(extra).write_text(text)
    line = report.history_line(results, results["goals"], out.name)
    with open(RESULTS / "history.jsonl", "a") as fh:
        fh.write(json.dumps(line, default=str) + "\n")
    return out


def _pin(mode: str) -> str:
    cores = sorted(os.sched_getaffinity(0))
    if mode == "split" and len(cores) > 1:
        # Children inherit the mask at fork: the holders (client side) stay on the client's
        # core, and bench.server widens the servers to the others (BENCH_SERVER_CPUS).
        os.environ["BENCH_SERVER_CPUS"] = ",".join(str(c) for c in cores[:-1])
        os.sched_setaffinity(0, {cores[-1]})
        return (
            f"one gevent process pinned to CPU {cores[-1]}; servers and holders on CPUs "
            f"{os.environ['BENCH_SERVER_CPUS']}"
        )
    return (
        "one gevent process, not pinned: client and server share all "
        f"{len(cores)} cores, so each row shows the CPU the client itself used"
    )


def _stop(signum, _frame) -> None:
    raise SystemExit(f"bench: stopped by signal {signum} (SIGALRM = --timeout reached)")


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections; print the tables and the goals; write the JSON."""
    args = _parse(argv)
    # SIGTERM and the overall time limit unwind like Ctrl-C, so every `finally` stops the
    # servers and holders this run started.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGALRM, _stop)
    signal.alarm(args.timeout)
    started = time.monotonic()
    nofile = procfs.raise_nofile()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    held_ns = [int(n) for n in args.held.split(",") if n.strip()]
    multi_ns = [int(n) for n in args.held_multi.split(",") if n.strip()]
    if "held" in sections and max(held_ns + multi_ns) > 10_000:
        sys.exit("bench: at most 10,000 held per worker (one holder process per 10,000)")
    if "held" in sections and nofile < 11_000 and max(held_ns + multi_ns) >= 10_000:
        sys.exit(f"bench: ulimit -n is {nofile}; 10,000 holds need at least 11,000")
    client = _pin(args.pin)
    now = datetime.datetime.now(datetime.UTC)
    commit, app_changed = _commit()
    results: dict = {
        "started": now.strftime("%Y-%m-%d %H:%M UTC"),
        "started_utc": now.strftime("%Y%m%dT%H%M%SZ"),
        "mode": "quick" if args.quick else "full",
        "commit": commit,
        # The code under test had uncommitted changes (someone's work in progress).
        "app_changed": app_changed,
        "machine": procfs.machine(),
        "method": {
            "runs": args.runs,
            "warmup": args.warmup,
            "duration": args.duration,
            "claims": args.claims,
            "client": client,
            "throughput": "closed loop",
        },
        "skipped": [],
    }
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731

    def skip(text: str) -> None:
        log(f"bench: {text}")
        results["skipped"].append(text)

    redis = bool(shutil.which("redis-server"))
    if not redis:
        skip("redis-server not found: no 2-worker deployments (they need Redis)")
    postgres = args.postgres and redis
    if postgres and (why := _postgres_reachable()):
        skip(f"{why}: no PostgreSQL section")
        postgres = False

    if "held" in sections:
        configs = [(1, "sqlite", False, held_ns)]
        if redis:
            configs.append((2, "sqlite", True, multi_ns))
        if postgres:
            configs.append((2, "postgres", True, multi_ns))
        results["held"] = []
        for workers, database, with_redis, ns in configs:
            runs = []
            for number in range(args.runs):
                log(
                    f"held: {workers} worker(s), {database}, redis={with_redis}, {ns}/worker, "
                    f"run {number + 1}/{args.runs}"
                )
                runs.append(
                    held.run(workers, ns, args.claims, with_redis, database, sys.executable, log)
                )
            for position, _ in enumerate(sorted(ns)):
                per_n = [checkpoints[position] for checkpoints in runs]
                summary = report.held_summary(per_n)
                summary["detail"] = per_n
                results["held"].append(summary)
        # The floor is flat in N (18.1 KiB at 1,000, 2,000 and 10,000 in development runs),
        # so 1,000 holds keep it cheap.
        n = min(1000, max(held_ns))
        floors = []
        for number in range(args.runs):
            log(f"held floor (bench.hello, 1 worker), {n}, run {number + 1}/{args.runs}")
            floors.append(held.floor(n, sys.executable, log))
        results["held_floor"] = {
            "per_worker_target": n,
            "kib_per_held": report.median([f["kib_per_held"] for f in floors]),
            "held": [f["held"] for f in floors],
        }

    if "throughput" in sections:
        deployments = []
        for workers in sorted({int(w) for w in args.throughput_workers.split(",") if w.strip()}):
            if workers == 1:
                deployments.append(throughput.SQLITE_1)
            elif workers == 2 and redis:
                deployments.append(throughput.SQLITE_2)
            elif workers != 2:
                sys.exit("bench: --throughput-workers takes 1 and/or 2")
        if postgres:
            deployments.append(throughput.POSTGRES_2)
        log("throughput: " + ", ".join(report.deployment(vars(d)) for d in deployments))
        results["throughput"] = throughput.run(
            deployments,
            args.runs,
            tuple(int(c) for c in args.connections.split(",")),
            args.warmup,
            args.duration,
            {s for s in args.only.split(",") if s} or None,
            log,
        )

    results["elapsed_seconds"] = time.monotonic() - started
    items = report.goals(results)
    results["goals"] = items
    results["table"] = report.table(results)
    out = _save(results, args.json)
    print(report.header(results))
    print()
    print(results["table"])
    print()
    print(report.goals_text(items, results))
    print(f"JSON: {out} (and {RESULTS / 'latest.json'}; summary in history.jsonl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
