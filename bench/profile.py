"""Profile one workload on a live gunicorn worker with py-spy: ``python -m bench.profile NAME``.

NAME is a throughput row (``nest_register_failed``, ``nest_passphrase``, ``hue_api_101``,
``hue_api_success``, ``ruuvi_register``, ``ruuvi_verify_failed``), ``hold`` (opening held
subscribes) or ``claim`` (successful claims pushed into held subscribes).

py-spy samples the worker from outside (no code change, no instrumentation overhead in the
request path) while the benchmark's own client drives it, then this prints the functions with
the most samples: *self* (the frame on top of the stack) and *inclusive* (anywhere on it).
With ``--idle`` the samples include time the worker spent waiting, which is where a blocking
call (SQLite's busy handler sleeping inside the C library) shows up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import procfs
from bench.load import closed_loop
from bench.server import BIN, Server
from bench.throughput import hello_env
from bench.workloads import LIMIT_ENV, WORKLOADS


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; drop the line number.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{name}"


def summarize(raw: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function from a py-spy raw (collapsed) file."""
    selfs: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";")]
        selfs[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    for title, counter in (("self", selfs), ("inclusive", inclusive)):
        out.append(f"\n-- top {top} by {title} time --")
        for name, n in counter.most_common(top):
            out.append(f"{100 * n / total:6.1f}%  {name}")
    return "\n".join(out)


def _snapshot(pid: int, folder: Path, number: int):
    import os
    import signal
    import time
    import tracemalloc

    os.kill(pid, signal.SIGUSR2)
    path = folder / f"{pid}-{number}.snap"
    deadline = time.monotonic() + 120
    while not path.exists():  # polling for the worker's file, not pacing load
        if time.monotonic() > deadline:
            raise RuntimeError("no tracemalloc snapshot")
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(path))


def memory(count: int, out: Path, top: int = 30, app: str = "wsgi:app") -> None:
    """What the memory of ``count`` held subscribes is made of (tracemalloc, one worker);
    ``app="bench.hello:app"`` for the floor."""
    from bench import held
    from bench.holder import open_hold
    from bench.http import Connection

    homepair = app == "wsgi:app"
    env = {"BENCH_TRACEMALLOC_DIR": str(out), "GUNICORN_WORKER_CONNECTIONS": str(count + 500)}
    with Server(app=app, env=env, config="bench/tracemalloc_conf.py") as server:
        (pid,) = server.worker_pids()
        warm = []
        for i in range(32):
            conn = Connection(server.address)
            open_hold(conn, server.host, f"WARM{i:010d}", placeholder=homepair)
            warm.append(conn)
        rss0 = procfs.rss_kib(pid)
        before = _snapshot(pid, out, 1)
        holder = held.Holder(server.port, "MEM", 0, count, sys.executable, placeholder=homepair)
        ready = holder.read()
        rss1 = procfs.rss_kib(pid)
        after = _snapshot(pid, out, 2)
        holder.close()
        for conn in warm:
            conn.close()
    n = ready["held"]
    traced = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(
        f"{n} held: RSS +{(rss1 - rss0) / n:.1f} KiB/held (tracemalloc on, so RSS is inflated); "
        f"traced Python allocations +{traced / n / 1024:.1f} KiB/held"
    )
    print("\n-- by file (bytes per held) --")
    for stat in after.compare_to(before, "filename")[:15]:
        name = _frame_name(f"? ({stat.traceback[0].filename}:0)").rsplit(":", 1)[0]
        print(f"{stat.size_diff / n:8.0f} B  {stat.count_diff / n:5.1f} blocks  {name}")
    print(f"\n-- top {top} allocation sites (bytes per held) --")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        name = _frame_name(f"? ({frame.filename}:0)").rsplit(":", 1)[0]
        print(
            f"{stat.size_diff / n:8.0f} B  {stat.count_diff / n:5.1f} blocks  {name}:{frame.lineno}"
        )
    print("\n-- top 6 allocation tracebacks, innermost 12 frames, oldest first --")
    for stat in after.compare_to(before, "traceback")[:6]:
        print(f"{stat.size_diff / n:8.0f} B  {stat.count_diff / n:5.1f} blocks")
        for frame in list(stat.traceback)[-12:]:
            name = _frame_name(f"? ({frame.filename}:0)").rsplit(":", 1)[0]
            print(f"            {name}:{frame.lineno}")


def main(argv: list[str] | None = None) -> int:
    """Start a server, drive the workload, record with py-spy, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("name")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=3000, help="holds for hold/claim")
    parser.add_argument("--idle", action="store_true", help="include waiting samples")
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--native", action="store_true", help="include C frames (sqlite…)")
    parser.add_argument("--out", default=None, help="folder for the raw profile")
    args = parser.parse_args(argv)
    procfs.raise_nofile()
    out = Path(args.out or tempfile.mkdtemp(prefix="homepair-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    raws: list[Path] = []

    def spy(pids: list[int], seconds: float) -> list[subprocess.Popen]:
        procs = []
        for pid in pids:
            raw = out / f"{args.name}-{pid}.txt"
            raws.append(raw)
            cmd = [str(BIN / "py-spy"), "record", "-p", str(pid), "-d", str(int(seconds + 0.999))]
            cmd += ["-r", str(args.rate), "-f", "raw", "-o", str(raw)]
            cmd += ["--idle"] if args.idle else []
            cmd += ["--native"] if args.native else []
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        return procs

    if args.name in ("memory", "memory-floor"):
        memory(
            args.count, out, app="bench.hello:app" if args.name == "memory-floor" else "wsgi:app"
        )
    elif args.name in ("hold", "claim"):
        from bench import held

        def hook(pids: list[int]):
            procs = spy(pids, 600)

            def stop() -> None:
                for proc in procs:
                    proc.send_signal(2)  # SIGINT: py-spy writes what it has and exits
                    proc.wait(30)

            return stop

        (result,) = held.run(
            args.workers,
            [args.count],
            min(args.count, 200),
            args.workers > 1,
            python=sys.executable,
            profile_phase=args.name,
            profile_hook=hook,
            log=lambda text: print(text, file=sys.stderr),
        )
        print(json.dumps({k: result[k] for k in ("held", "kib_per_held", "push_same")}))
    else:
        workload = next(w for w in WORKLOADS if w.name == args.name)
        if workload.target == "hello":
            server = Server(
                app="bench.hello:app", workers=args.workers, env=hello_env(args.workers)
            )
        else:
            # Several workers need REDIS_URL (gunicorn.conf.py): a private redis-server.
            server = Server(workers=args.workers, redis=args.workers > 1, env=LIMIT_ENV)
        with server:
            if workload.link_button:
                server.flask("hue", "press-link-button")
            make, expect = workload.build(server.host)
            procs = spy(server.worker_pids(), args.seconds)
            phase = closed_loop(
                server.address,
                make,
                expect,
                args.connections,
                0.0,
                args.seconds,
                server.worker_pids(),
            )
            for proc in procs:
                _, err = proc.communicate(timeout=60)
                if proc.returncode:
                    print(f"py-spy failed: {err.decode(errors='replace')[-2000:]}", file=sys.stderr)
            print(
                f"{phase.rps:.0f}/s, p50 {phase.percentile(50):.2f} ms, errors {dict(phase.errors)}"
            )
    for raw in raws:
        if raw.exists():
            print(f"\n== {raw}")
            print(summarize(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
