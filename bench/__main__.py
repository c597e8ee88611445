"""``python -m bench``: run the benchmark of issue 7, print the table, write it as JSON.

See bench/README.md for what each figure means. ``--quick`` is a seconds-long smoke run
(N ≤ 1,000 held, one run, short windows) for development.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from bench import held, procfs, report, throughput

RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
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
        action="store_true",
        help="also run 2 workers on PostgreSQL + Redis (slower; not part of make bench)",
    )
    parser.add_argument(
        "--throughput-workers", type=int, default=2, help="gunicorn workers for throughput"
    )
    parser.add_argument(
        "--pin",
        choices=("none", "split"),
        default="none",
        help="none: client and server share every core; split: client on the last core, "
        "servers on the others",
    )
    parser.add_argument("--json", default=str(RESULTS / "latest.json"), help="JSON output path")
    parser.add_argument(
        "--timeout", type=int, default=1500, help="stop everything after this many seconds"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
        args.held = "1000"
        args.held_multi = "500"
        args.claims = 50
        args.warmup = 0.5
        args.duration = 1.0
    return args


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
    """Run the selected sections; print the table; write the JSON."""
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
    results: dict = {
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "machine": procfs.machine(),
        "method": {
            "runs": args.runs,
            "warmup": args.warmup,
            "duration": args.duration,
            "claims": args.claims,
            "client": client,
            "throughput": "closed loop",
        },
    }
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731

    if "held" in sections:
        configs = [(1, "sqlite", False, held_ns)]
        if shutil.which("redis-server"):
            configs.append((2, "sqlite", True, multi_ns))
        else:
            log("bench: redis-server not found; skipping the 2-worker (cross-worker) rows")
        if args.postgres:
            configs.append((2, "postgres", True, multi_ns))
        results["held"] = []
        for workers, database, redis, ns in configs:
            runs = []
            for number in range(args.runs):
                log(
                    f"held: {workers} worker(s), {database}, redis={redis}, {ns}/worker, "
                    f"run {number + 1}/{args.runs}"
                )
                runs.append(
                    held.run(workers, ns, args.claims, redis, database, sys.executable, log)
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
        log(f"throughput: {args.throughput_workers} workers, SQLite")
        results["throughput"] = throughput.run(
            args.throughput_workers,
            "sqlite",
            args.throughput_workers > 1,  # several workers need Redis (gunicorn.conf.py)
            args.runs,
            tuple(int(c) for c in args.connections.split(",")),
            args.warmup,
            args.duration,
            {s for s in args.only.split(",") if s} or None,
            log,
        )
        if args.postgres:
            log("throughput: 2 workers, PostgreSQL + Redis")
            results["throughput_postgres"] = throughput.run(
                2,
                "postgres",
                True,
                args.runs,
                tuple(int(c) for c in args.connections.split(",")),
                args.warmup,
                args.duration,
                {s for s in args.only.split(",") if s} or None,
                log,
            )

    results["elapsed_seconds"] = time.monotonic() - started
    text, verdicts = report.table(results)
    if "throughput_postgres" in results:
        extra, _ = report.table({"throughput": results["throughput_postgres"]})
        text += "\n" + "\n".join(extra.splitlines()[2:])
    results["verdicts"] = verdicts
    results["table"] = text
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(report.header(results))
    print()
    print(text)
    print()
    met = sum(1 for v in verdicts.values() if v)
    print(f"targets met: {met}/{len(verdicts)}; JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
