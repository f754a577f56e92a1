"""One run of every instance through every back end and peer, as a markdown table.

    python -m benchmarks.report [--instances vn-50x20 us-1000x100 ...]
                                [--solvers highs scip:2 cpsat scipy] [--time-limit SECONDS]
                                [--json raw.json] > table.md

Each (instance, solver) runs once, in a fresh subprocess that loads the pickled instance
and calls ``router.optimize`` (or ``router.route_greedy``, the rule-based peer) with one
thread, or with ``N`` for a solver written ``backend:N`` (``scip:2``: two threads, so the
compact MIP races beside the pipeline for the bound, see ``router.mip_race``). So the
peak memory of a row is ``ru_maxrss`` of that run alone (interpreter, imports and
instance data included; with a race, plus the peak of its HiGHS child process; the "base
MiB" column is the same process just before the run
starts). Seconds are the wall time of the call itself, measured inside the subprocess. A
subprocess that outlives its hard timeout is killed and reported as
``timeout``. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.instances import INSTANCES, SPECS, load, saving_pct, sizes, solve_params

SOLVERS = ("highs", "scip", "cpsat", "scipy", "milp-peer")
RULE_BASED = "rule-based"
MILP_PEER = "milp-peer"  # the monolithic formulation in scipy's milp, no engine pipeline
DEFAULT_LIMITS = {"vn-50x20": 10.0, "us-1000x100": 60.0, "vn-day": 60.0, "us-day": 60.0}
MARK = "@@RESULT "
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- worker


def _worker(path: str, solver: str, limit: float) -> None:
    """Load one pickled instance, route it once, print the figures as one JSON line."""
    import resource

    import router

    def peak_mib() -> float:
        # with a race, HiGHS runs in a child process beside this one: both count
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return (own + child) / 1024.0  # KiB on Linux

    with open(path, "rb") as f:
        data = pickle.load(f)
    base = peak_mib()
    t = time.perf_counter()
    if solver == RULE_BASED:
        assignment = router.route_greedy(data)
        seconds = time.perf_counter() - t
        cost, bound, status, stats = router.total_cost(data, assignment), None, "feasible", {}
    else:
        if solver == MILP_PEER:
            from router.peers import route_milp

            res = route_milp(data, time_limit=limit)
        else:
            res = router.optimize(data, solve_params(solver, limit))
        seconds = time.perf_counter() - t
        assignment, cost, bound, status = res.assignment, res.cost, res.bound, res.status
        stats = dict(res.stats)
    peak = peak_mib()
    violations = len(router.assignment_violations(data, assignment))
    print(
        MARK
        + json.dumps(
            {
                "status": status,
                "cost": cost,
                "bound": bound,
                "seconds": seconds,
                "peak_mib": peak,
                "base_mib": base,
                "violations": violations,
                "stats": stats,
            }
        ),
        flush=True,
    )


def _run_one(path: Path, solver: str, limit: float, hard_timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.report", "--worker", str(path), solver, str(limit)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=hard_timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"killed after {hard_timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"status": "error", "error": f"exit {proc.returncode}: {tail[0]}"}


# ----------------------------------------------------------------------------- report


def machine_info() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024**2:.1f} GiB RAM"
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for mod in ("ortools", "numpy", "scipy"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # pragma: no cover - missing optional module
            versions.append(f"{mod} ?")
    git = "unknown"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "router", "models"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        git = head + (" + uncommitted changes in router/ or models/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return [
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: nproc {nproc}, CPU {cpu}{mem}, {platform.system()} {platform.release()}",
        f"- python {platform.python_version()}, {', '.join(versions)}",
        f"- code: git {git}",
    ]


def _num(x: float | None, fmt: str = ",.2f") -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def render(rows: list[dict[str, Any]], limits: dict[str, float], argv: list[str]) -> str:
    out = [
        "# Routing benchmark results",
        "",
        *machine_info(),
        f"- command: `{' '.join(['python -m benchmarks.report', *argv])}`",
        "- every solver runs with threads=1 unless written `backend:threads`; "
        "time limit per instance: " + ", ".join(f"{k} {v:g} s" for k, v in limits.items()),
        "- seconds: wall time of one `router.optimize` (or `route_greedy`) call; peak MiB: "
        "`ru_maxrss` of a fresh process that loaded the instance and made that one call "
        "(plus its race's child process, with `backend:2`); "
        "base MiB: the same process before the call (interpreter, imports, instance)",
        "- saving: against the rule-based plan (`route_greedy`); time × best: seconds over "
        "the fastest optimizing run (not the rule-based one) on the instance; "
        "**bold**: least cost on the instance",
        "",
        "## Instances",
        "",
        "| instance | network | orders | lines | nodes | skus | candidate pairs | arcs | note |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for name in limits:
        s, spec = sizes(name), SPECS[name]
        out.append(
            f"| {name} | {spec.network} (seed {spec.seed}) | {s['orders']:,} | "
            f"{s['lines']:,} | {s['nodes']} | {s['skus']} | {s['pairs']:,} | "
            f"{s['arcs']:,} | {spec.note} |"
        )
    out += [
        "",
        "## Results",
        "",
        "| instance | solver | status | cost | bound | gap % | seconds | peak MiB | "
        "base MiB | saving vs rule-based % | time × best |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name in limits:
        mine = [r for r in rows if r["instance"] == name]
        base = next((r.get("cost") for r in mine if r["solver"] == RULE_BASED), None)
        timed = [r["seconds"] for r in mine if r["solver"] != RULE_BASED and "seconds" in r]
        fastest = min(timed) if timed else None
        costs = [r["cost"] for r in mine if r.get("cost") is not None]
        least = min(costs) if costs else None
        for r in mine:
            cost, bound = r.get("cost"), r.get("bound")
            gap = None
            if cost is not None and bound is not None:
                gap = 100.0 * max(0.0, cost - bound) / max(abs(cost), 1e-9)
            status = r["status"] + (f" ({r['error']})" if "error" in r else "")
            if r.get("violations"):
                status += f" INVALID ({r['violations']} violations)"
            cost_s = _num(cost)
            if cost is not None and least is not None and cost <= least + 1e-6 * max(least, 1):
                cost_s = f"**{cost_s}**"
            secs = r.get("seconds")
            cells = [
                name,
                r["solver"],
                status,
                cost_s,
                _num(bound),
                _num(gap, ".3f"),
                _num(secs, ".3f"),
                _num(r.get("peak_mib"), ",.0f"),
                _num(r.get("base_mib"), ",.0f"),
                "" if cost is None or base is None else _num(saving_pct(cost, base), ".2f"),
                "" if secs is None or not fastest else f"{secs / fastest:.3g}×",
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _solver(text: str) -> str:
    """A solver name, or ``backend:threads`` for an engine back end."""
    name, sep, threads = text.partition(":")
    if name not in SOLVERS or (sep and (name == MILP_PEER or not threads.isdigit())):
        raise argparse.ArgumentTypeError(
            f"{text!r}: one of {', '.join(SOLVERS)}, or backend:threads (e.g. scip:2)"
        )
    if sep and int(threads) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: threads must be at least 1")
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1], argv[2], float(argv[3]))
        return 0
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--instances", nargs="+", choices=list(INSTANCES), default=list(INSTANCES))
    ap.add_argument(
        "--solvers",
        nargs="+",
        type=_solver,
        default=list(SOLVERS),
        help="optimize back ends, optionally with a thread count (scip:2); "
        "the rule-based peer always runs",
    )
    ap.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per run, all instances (default: "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LIMITS.items())
        + ")",
    )
    ap.add_argument(
        "--hard-timeout",
        type=float,
        default=None,
        help="kill a run after this many seconds (default: 10 × limit + 120)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = ap.parse_args(argv)

    limits = {n: args.time_limit or DEFAULT_LIMITS[n] for n in args.instances}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="router-bench-") as tmp:
        for name in args.instances:
            limit = limits[name]
            hard = args.hard_timeout or 10 * limit + 120
            path = Path(tmp) / f"{name}.pkl"
            print(f"[{name}] generating", file=sys.stderr, flush=True)
            with open(path, "wb") as f:
                pickle.dump(load(name), f, protocol=pickle.HIGHEST_PROTOCOL)
            sizes(name)
            INSTANCES[name].cache_clear()  # type: ignore[attr-defined]
            for solver in (RULE_BASED, *args.solvers):
                t = time.perf_counter()
                r = _run_one(path, solver, limit, hard)
                r.update(instance=name, solver=solver, time_limit=limit)
                rows.append(r)
                print(
                    f"[{name}] {solver:10s} {r['status']:9s} cost {_num(r.get('cost'))} "
                    f"in {_num(r.get('seconds'), '.3f')} s "
                    f"(process {time.perf_counter() - t:.1f} s, "
                    f"peak {_num(r.get('peak_mib'), '.0f')} MiB)",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    sys.stdout.write(render(rows, limits, argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
