"""What ``make bench`` prints: the tables (every figure with the ceiling at the same worker count
and the replaced project's figure beside it), the goals of issue 15 one line each with met /
not met, and the one-line summary kept per run in bench/results/history.jsonl."""

from __future__ import annotations

import math
import statistics

# --- issue 15: the replaced projects' figures and the goals ---------------------------------

NLE = "NoLongerEvil"
# req/s of the replaced project at 16 and 64 connections (same machine kind); the quoted figures
# of the issue, which the ratio goals use. Ruuvi's rows replace no project.
REPLACED: dict[str, tuple[str, dict[int, float], str]] = {
    "nest_register_failed": (NLE, {16: 944, 64: 1086}, ""),
    "nest_passphrase": (NLE, {16: 130, 64: 110}, ""),
    "hue_api_101": ("diyHue", {16: 641, 64: 615}, ""),
    "hue_api_success": ("diyHue", {16: 750, 64: 746}, "diyHue p99 45 ms"),
}
REPLACED_PUSH = f"{NLE} p50 18 / p99 25 ms at 10,000 held"
REPLACED_HELD = f"{NLE} ~24 KiB"
# Goal 1: homepair / replaced project, by worker count (1 = `make run`, 2 = SQLite + Redis).
REPLACED_RATIO = {1: 1.5, 2: 2.0}
# Goal 1: share of the ceiling at the same worker count. The failed (read-only) rows: 50 %;
# the write rows: 25 %. ruuvi_verify_failed is a failed row, so it counts with failed register.
CEILING_SHARE = {
    "nest_register_failed": 0.50,
    "hue_api_101": 0.50,
    "ruuvi_verify_failed": 0.50,
    "nest_passphrase": 0.25,
    "hue_api_success": 0.25,
    "ruuvi_register": 0.25,
}
# Goal 2: p99 at 16 connections ≤ max(3 × p50, 25 ms).
TAIL_CONNECTIONS = 16
TAIL_FACTOR = 3.0
TAIL_FLOOR_MS = 25.0
# Goal 3: push p99 at 10,000 held (on one worker, or in all on two).
PUSH_HELD = 10_000
PUSH_P99_MS = 10.0
# Goal 3: worker CPU per claim halved; the figures before (ms), by deployment.
CLAIM_CPU_BEFORE: dict[str, tuple[float, str]] = {
    "sqlite1": (5.8, "5.8"),
    "sqlite2": (8.7, "8.7"),
    "postgres2": (12.0, "11–12"),
}
# Goal 5: PostgreSQL + Redis / SQLite + Redis (2 workers each), and 2 workers / 1 (SQLite).
POSTGRES_RATIO = 0.9
SCALE_RATIO = 1.8

NOISY = 0.15  # cores used by other processes above which a figure is marked noisy


def median(values):
    """Median of the values that are numbers; None if there are none."""
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def _fmt(value, digits=1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _verdict(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "not met")


def held_summary(runs: list[dict]) -> dict:
    """Median over runs of one held configuration's figures."""
    out = {
        "workers": runs[0]["workers"],
        "database": runs[0]["database"],
        "redis": runs[0]["redis"],
        "per_worker_target": runs[0]["per_worker_target"],
        "runs": len(runs),
        "all_held": all(r["all_held"] for r in runs),
        "held": [r["held"] for r in runs],
        "requested": runs[0]["requested"],
        "kib_per_held_max": median([r["kib_per_held_max"] for r in runs]),
        "kernel_tcp_kib_per_held": median([r["kernel_tcp_kib_per_held"] for r in runs]),
        "open_seconds": median([r["open_seconds"] for r in runs]),
        "server_cpu_ms_per_claim": median([r.get("server_cpu_ms_per_claim") for r in runs]),
        "register_p50_ms": median([r.get("register_p50_ms") for r in runs]),
        "other_cpu_during_claims": median([r.get("other_cpu_during_claims") for r in runs]),
    }
    for kind in ("same", "cross"):
        parts = [r[f"push_{kind}"] for r in runs if r.get(f"push_{kind}")]
        if parts:
            out[f"push_{kind}"] = {
                key: median([p[key] for p in parts]) for key in ("p50_ms", "p99_ms", "max_ms")
            }
            out[f"push_{kind}"]["n_per_run"] = parts[0]["n"]
            out[f"push_{kind}"]["failures"] = sum(p["failures"] for p in parts)
    return out


def deployment_key(d: dict) -> str:
    """``sqlite1``, ``sqlite2``, ``postgres2``: the name a deployment has in the goals."""
    return f"{d['database']}{d['workers']}"


def deployment(d: dict) -> str:
    """``2 workers, SQLite + Redis`` and the like."""
    db = "SQLite" if d["database"] == "sqlite" else "PostgreSQL"
    extra = " + Redis" if d["redis"] else ""
    return f"{d['workers']} worker{'s' if d['workers'] > 1 else ''}, {db}{extra}"


def _noisy(value) -> bool:
    return (value or 0) > NOISY


def _sections(results: dict) -> dict[str, dict]:
    return {s["key"]: s for s in (results.get("throughput") or {}).get("sections", [])}


def _rows(section: dict | None) -> dict[tuple[str, int], dict]:
    return {(r["name"], r["connections"]): r for r in (section or {}).get("rows", [])}


# --- tables -----------------------------------------------------------------------------------


def _replaced_cell(row: dict) -> str:
    ref = REPLACED.get(row["name"])
    if ref is None or row["name"] == "hello":
        return "–"
    project, figures, note = ref
    base = figures.get(row["connections"])
    if base is None:
        return "–"
    ratio = f" → {row['rps'] / base:.2f}×" if row.get("rps") else ""
    return f"{project} {base:,.0f}/s{ratio}" + (f" ({note})" if note else "")


def _throughput_table(section: dict) -> list[str]:
    title = deployment(section)
    if section["key"] == "sqlite1":
        title += " (`make run`)"
    lines = [
        f"throughput, {title}",
        "",
        "| row | conns | homepair | ceiling, same workers (share) | replaced project | "
        "CPU client / server / other |",
        "|---|---|---|---|---|---|",
    ]
    for row in section["rows"]:
        is_ceiling = row["name"] == "hello"
        errors = f"; **{row['errors']} errors**" if row["errors"] else ""
        # Connections per worker in the median run (gunicorn's accept decides the split).
        split = sorted(row["runs"], key=lambda r: r["rps"])[len(row["runs"]) // 2]
        split = "/".join(str(n) for n in split["connections_per_worker"])
        ceiling = (
            "(the ceiling)"
            if is_ceiling
            else f"{_fmt(row.get('ceiling_rps'), 0)}/s ({_fmt((row.get('of_ceiling') or 0) * 100, 0)}%)"
        )
        lines.append(
            f"| {row['label']} | {row['connections']} | {_fmt(row['rps'], 0)}/s, "
            f"p50 {_fmt(row['p50_ms'], 2)} / p99 {_fmt(row['p99_ms'], 2)} ms{errors}; "
            f"conns/worker {split} | {ceiling} | {_replaced_cell(row)} | "
            f"{_fmt(row['client_cpu'] * 100, 0)}% / {_fmt(row['server_cpu'] * 100, 0)}% / "
            f"{_fmt(row['other_cpu'] * 100, 0)}%{' **noisy**' if _noisy(row['other_cpu']) else ''} |"
        )
    return lines


def _held_table(results: dict) -> list[str]:
    floor = results.get("held_floor")
    floor_kib = floor["kib_per_held"] if floor else None
    lines = [
        "held subscribes and pairing push",
        "",
        "| figure | homepair | floor of the stack | replaced project |",
        "|---|---|---|---|",
    ]
    for h in results.get("held", []):
        n = h["per_worker_target"]
        dep = deployment(h) + (f", {h['requested']:,} in all" if h["workers"] > 1 else "")
        held_text = f"{min(h['held']):,}/{h['requested']:,} held" + (
            "" if h["all_held"] else " (**not all held**)"
        )
        kib = h["kib_per_held_max"]
        over = f" ({kib - floor_kib:+.1f})" if kib is not None and floor_kib is not None else ""
        lines.append(
            f"| held subscribes, {n:,}/worker, {dep} | {_fmt(kib)} KiB RSS per held; "
            f"{held_text}; opened in {_fmt(h['open_seconds'])} s | {_fmt(floor_kib)} KiB{over} "
            f"| {REPLACED_HELD} |"
        )
        before = CLAIM_CPU_BEFORE.get(deployment_key(h))
        for kind in ("same", "cross"):
            push = h.get(f"push_{kind}")
            if not push:
                continue
            fails = f"; **{push['failures']} failed**" if push["failures"] else ""
            other = h["other_cpu_during_claims"]
            lines.append(
                f"| pairing push, {kind}-worker, {n:,}/worker held, {dep} | "
                f"p50 {_fmt(push['p50_ms'], 2)} / p99 {_fmt(push['p99_ms'], 2)} / max "
                f"{_fmt(push['max_ms'], 2)} ms ({push['n_per_run']} claims/run{fails}); "
                f"worker CPU {_fmt(h['server_cpu_ms_per_claim'])} ms/claim"
                f"{f' (before: {before[1]})' if before else ''}; other CPU "
                f"{_fmt((other or 0) * 100, 0)}%{'; **noisy**' if _noisy(other) else ''} | – | "
                f"{REPLACED_PUSH} |"
            )
    if floor:
        lines.append(
            f"| floor: bare Flask chunked hold on the same gunicorn/gevent (bench.hello), "
            f"{floor['per_worker_target']:,} on 1 worker | {_fmt(floor_kib)} KiB RSS per held | "
            "(what the stack costs before homepair adds anything) | – |"
        )
    return lines


def table(results: dict) -> str:
    """Every section's table (markdown), held first."""
    parts = []
    if results.get("held") or results.get("held_floor"):
        parts.append("\n".join(_held_table(results)))
    for section in _sections(results).values():
        parts.append("\n".join(_throughput_table(section)))
    return "\n\n".join(parts)


# --- goals ------------------------------------------------------------------------------------


def _goal(number: int, text: str, met: bool | None, *notes: str) -> dict:
    notes = tuple(n for n in notes if n)
    return {
        "goal": number,
        "text": text + (f" [{'; '.join(notes)}]" if notes else ""),
        "met": met,
    }


def _row_name(row: dict, section: dict) -> str:
    return f"{row['name']} @{row['connections']}, {deployment(section)}"


def _goal_throughput(results: dict) -> list[dict]:
    out = []
    for key in ("sqlite1", "sqlite2"):
        section = _sections(results).get(key)
        if section is None:
            continue
        workers = section["workers"]
        for row in section["rows"]:
            name, conns = row["name"], row["connections"]
            noisy = "noisy" if _noisy(row["other_cpu"]) else ""
            ref = REPLACED.get(name)
            if ref and conns in ref[1] and workers in REPLACED_RATIO:
                project, figures, _ = ref
                want = REPLACED_RATIO[workers]
                ratio = row["rps"] / figures[conns]
                out.append(
                    _goal(
                        1,
                        f"{_row_name(row, section)}: {_fmt(row['rps'], 0)}/s = {ratio:.2f}× "
                        f"{project} {figures[conns]:,.0f}/s (goal ≥ {want:g}×)",
                        ratio >= want,
                        noisy,
                    )
                )
            share = CEILING_SHARE.get(name)
            if share is not None and row.get("of_ceiling") is not None:
                out.append(
                    _goal(
                        1,
                        f"{_row_name(row, section)}: {row['of_ceiling']:.0%} of ceiling "
                        f"{_fmt(row['ceiling_rps'], 0)}/s (goal ≥ {share:.0%})",
                        row["of_ceiling"] >= share,
                        noisy,
                    )
                )
    return out


def _goal_tails(results: dict) -> list[dict]:
    out = []
    ceilings_seen: set[int] = set()
    for section in _sections(results).values():
        for row in section["rows"]:
            if row["connections"] != TAIL_CONNECTIONS:
                continue
            if row["name"] == "hello":
                if section["workers"] in ceilings_seen:
                    continue  # one ceiling per worker count, shared by its deployments
                ceilings_seen.add(section["workers"])
                w = section["workers"]
                where = f"ceiling @{TAIL_CONNECTIONS}, {w} worker{'s' if w > 1 else ''}"
            else:
                where = _row_name(row, section)
            p50, p99 = row["p50_ms"], row["p99_ms"]
            if p50 is None or p99 is None:
                out.append(_goal(2, f"{where}: no answers measured", False))
                continue
            limit = max(TAIL_FACTOR * p50, TAIL_FLOOR_MS)
            out.append(
                _goal(
                    2,
                    f"{where}: p99 {p99:.1f} ms {'≤' if p99 <= limit else '>'} "
                    f"max({TAIL_FACTOR:g}×p50 {p50:.1f}, {TAIL_FLOOR_MS:g}) = {limit:.1f} ms",
                    p99 <= limit,
                    "noisy" if _noisy(row["other_cpu"]) else "",
                )
            )
    return out


def _judged_held(results: dict) -> list[tuple[dict, str]]:
    """Per held deployment, the checkpoint the goals are about (10,000 held, in all) or, in a
    run without one (--quick), its largest, with a note saying so."""
    by_dep: dict[str, list[dict]] = {}
    for h in results.get("held", []):
        by_dep.setdefault(deployment_key(h) + str(h["redis"]), []).append(h)
    out = []
    for checkpoints in by_dep.values():
        exact = [h for h in checkpoints if h["requested"] == PUSH_HELD]
        if exact:
            out.append((exact[0], ""))
        else:
            h = max(checkpoints, key=lambda c: c["requested"])
            out.append((h, f"indicative: {h['requested']:,} held, the goal is at {PUSH_HELD:,}"))
    return out


def _goal_push(results: dict) -> list[dict]:
    out = []
    for h, note in _judged_held(results):
        dep = deployment(h)
        noisy = "noisy" if _noisy(h["other_cpu_during_claims"]) else ""
        for kind in ("same", "cross"):
            push = h.get(f"push_{kind}")
            if not push:
                continue
            p99 = push["p99_ms"]
            failed = f"{push['failures']} claims failed" if push["failures"] else ""
            out.append(
                _goal(
                    3,
                    f"push p99, {dep}, {kind}-worker, {h['requested']:,} held: {_fmt(p99, 1)} ms "
                    f"(p50 {_fmt(push['p50_ms'], 1)}; {REPLACED_PUSH}; goal ≤ {PUSH_P99_MS:g} ms)",
                    p99 is not None and p99 <= PUSH_P99_MS and not push["failures"],
                    failed,
                    note,
                    noisy,
                )
            )
        before = CLAIM_CPU_BEFORE.get(deployment_key(h))
        cpu = h["server_cpu_ms_per_claim"]
        if before is not None:
            want = before[0] / 2
            out.append(
                _goal(
                    3,
                    f"worker CPU per claim, {dep}, {h['requested']:,} held: {_fmt(cpu, 2)} ms "
                    f"(before {before[1]} ms; goal ≤ {want:g} ms, half)",
                    cpu is not None and cpu <= want,
                    note,
                    noisy,
                )
            )
    return out


def _goal_memory(results: dict) -> list[dict]:
    floor = (results.get("held_floor") or {}).get("kib_per_held")
    if floor is None:
        return []
    out = []
    for h, note in _judged_held(results):
        kib = h["kib_per_held_max"]
        out.append(
            _goal(
                4,
                f"held memory, {deployment(h)}, {h['requested']:,} held: {_fmt(kib)} KiB per held "
                f"vs floor {floor:.1f} KiB ({kib - floor:+.1f}; {REPLACED_HELD}; goal ≤ floor)"
                if kib is not None
                else f"held memory, {deployment(h)}: not measured",
                kib is not None and kib <= floor,
                note,
            )
        )
    return out


def _goal_scale(results: dict) -> list[dict]:
    sections = _sections(results)
    out = []
    pairs = (
        ("postgres2", "sqlite2", POSTGRES_RATIO, "PostgreSQL/SQLite per worker (2 workers each)"),
        ("sqlite2", "sqlite1", SCALE_RATIO, "1→2 workers (SQLite)"),
    )
    for top_key, base_key, want, what in pairs:
        top, base = _rows(sections.get(top_key)), _rows(sections.get(base_key))
        for (name, conns), row in top.items():
            other = base.get((name, conns))
            if name == "hello" and top_key == "postgres2":
                continue  # the same ceiling as SQLite's: it has no database
            if other is None or not other["rps"]:
                continue
            ratio = row["rps"] / other["rps"]
            noisy = "noisy" if _noisy(row["other_cpu"]) or _noisy(other["other_cpu"]) else ""
            text = (
                f"{name} @{conns}: {what} ×{ratio:.2f} ({_fmt(row['rps'], 0)} / "
                f"{_fmt(other['rps'], 0)}/s"
            )
            if name == "hello":
                # The ceiling's own scaling: what the stack allows, not a goal of homepair's.
                out.append(_goal(5, text + "; the ceiling, for comparison)", None, noisy))
            else:
                out.append(_goal(5, text + f"; goal ≥ {want:g}×)", ratio >= want, noisy))
    return out


GOAL_TITLES = {
    1: "throughput vs the replaced projects and the ceiling at the same worker count",
    2: "tails: p99 at 16 connections ≤ max(3 × p50, 25 ms)",
    3: "pairing push p99 ≤ 10 ms at 10,000 held; worker CPU per claim halved",
    4: "held memory ≤ the stack's floor",
    5: "scale-out: PostgreSQL ≥ 0.9× SQLite; 1 → 2 workers ≥ 1.8×",
}


def goals(results: dict) -> list[dict]:
    """One entry per goal instance of issue 15: ``{"goal", "text", "met"}`` (met None: shown
    for comparison, not a goal)."""
    return (
        _goal_throughput(results)
        + _goal_tails(results)
        + _goal_push(results)
        + _goal_memory(results)
        + _goal_scale(results)
    )


def goals_text(items: list[dict], results: dict) -> str:
    """The goals section: per goal its lines, ``figure …: met``; then the count."""
    lines = ["## Goals (issue 15)"]
    if results.get("mode") == "quick":
        lines.append(
            "(quick run: one short run per figure and 1,000 held; indicative, not the acceptance)"
        )
    for number, title in GOAL_TITLES.items():
        lines.append("")
        lines.append(f"Goal {number}: {title}")
        mine = [g for g in items if g["goal"] == number]
        if not mine:
            lines.append("  (not measured in this run)")
        for g in mine:
            lines.append(f"  {g['text']}: {_verdict(g['met'])}")
    for note in results.get("skipped", []):
        lines.append(f"skipped: {note}")
    judged = [g for g in items if g["met"] is not None]
    met = sum(1 for g in judged if g["met"])
    lines.append("")
    lines.append(f"goals met: {met}/{len(judged)}")
    return "\n".join(lines)


# --- header and history -----------------------------------------------------------------------


def noisy_rows(results: dict) -> tuple[int, int]:
    """How many figures were measured while other processes (other test runs on a shared
    machine, for instance) used more than NOISY cores, out of how many."""
    values = [r.get("other_cpu") for s in _sections(results).values() for r in s["rows"]]
    values += [h.get("other_cpu_during_claims") for h in results.get("held", [])]
    values = [v for v in values if v is not None]
    return sum(1 for v in values if v > NOISY), len(values)


def header(results: dict) -> str:
    """Machine and method lines printed above the tables."""
    m = results["machine"]
    v = m["versions"]
    method = results["method"]
    lines = [
        f"homepair benchmark, {results['started']} ({results['mode']} mode, "
        f"{results['elapsed_seconds']:.0f} s), commit {results.get('commit', '?')}",
        f"machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, Linux "
        f"{m['kernel']}, Python {m['python']}, ulimit -n {m['nofile']}",
        "stack: "
        + ", ".join(f"{k} {v[k]}" for k in sorted(v))
        + "; gunicorn.conf.py (gevent), loopback",
        f"method: {method['runs']} run{'s' if method['runs'] != 1 else ''} per figure, median "
        "shown; throughput closed-loop, "
        f"keep-alive, {method['warmup']:g} s warm-up + {method['duration']:g} s measured per "
        "run; push = one claim at a time, sent → last byte of the pushed chunk",
        "ceiling: bench.hello (bare Flask, POST / with Hue's body → the 101 list) on the same "
        "gunicorn.conf.py, at each worker count",
        f"client: {method['client']}",
    ]
    bad, total = noisy_rows(results)
    if bad:
        lines.append(
            f"WARNING: {bad} of {total} figures were measured while other processes used "
            f"more than {NOISY:.0%} of a core (marked 'noisy'); they understate homepair"
        )
    return "\n".join(lines)


def history_line(results: dict, items: list[dict], json_name: str) -> dict:
    """The one-line summary of a run appended to bench/results/history.jsonl."""
    rps = {
        key: {f"{r['name']}@{r['connections']}": round(r["rps"]) for r in s["rows"]}
        for key, s in _sections(results).items()
    }
    push = {}
    for h in results.get("held", []):
        for kind in ("same", "cross"):
            if h.get(f"push_{kind}"):
                name = f"{deployment_key(h)}@{h['requested']}/{kind}"
                push[name] = h[f"push_{kind}"]["p99_ms"]
    judged = [g for g in items if g["met"] is not None]
    return {
        "started": results["started"],
        "mode": results["mode"],
        "commit": results.get("commit"),
        "app_changed": results.get("app_changed"),
        "elapsed_seconds": round(results["elapsed_seconds"]),
        "json": json_name,
        "goals_met": sum(1 for g in judged if g["met"]),
        "goals": len(judged),
        "noisy": list(noisy_rows(results)),
        "rps": rps,
        "push_p99_ms": push,
        "held_kib": {
            f"{deployment_key(h)}@{h['requested']}": h["kib_per_held_max"]
            for h in results.get("held", [])
        },
        "floor_kib": (results.get("held_floor") or {}).get("kib_per_held"),
    }
