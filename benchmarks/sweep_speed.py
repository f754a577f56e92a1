"""Sweep speed-up: the same grid serially and on a local Dask cluster of 2 workers.

Run ``python -m benchmarks.sweep_speed [--days 8] [--orders 2000] [--seeds 2] [--workers 2]``.

The grid: the Vietnam demo network (3 warehouses, 40 stores), ``myopic`` policy, hindsight
off, ``initial_stock.scale`` ∈ {1, 2} × ``rejections.store_accuracy`` ∈ {0.85, 1.0} × 2
seeds = 8 tasks of a few seconds each (``--days`` × ``--orders`` simulated orders each).
Timed, wall clock:

1. *serial*: ``sweep(client=None)``, one task after another in this process;
2. *Dask, end to end*: ``sweep(client="local", workers=2)``, which starts a
   ``LocalCluster`` of 2 single-threaded worker processes, runs the tasks and closes it:
   what ``router sweep`` costs;
3. *Dask, warm cluster*: the same tasks on a cluster started beforehand (as with
   ``--scheduler``): the speed-up without the cluster's start-up.

Each worker builds the network once (the serial run has it from validating the grid) and
imports the engine on its first task; both are in the Dask timings. The three runs' KPIs
are checked to be identical.

For context it first measures the machine's parallel capacity right now: the throughput
of a pure-Python loop in 2 processes at once relative to 1 (2.0× on two idle, dedicated
cores; less on shared or busy vCPUs). No sweep can beat that ratio.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import concurrent.futures
import logging
import math
import platform
import time
from typing import Any

from router.simulation.scenario import Scenario, validate_scenario
from router.simulation.sweep import SweepResult, machine_cores, sweep

VARY: dict[str, list[Any]] = {
    "initial_stock.scale": [1, 2],
    "rejections.store_accuracy": [0.85, 1.0],
}


def base(days: int, orders: int) -> Scenario:
    return validate_scenario(
        {
            "name": "vn-sweep-bench",
            "days": days,
            "network": {"demo": "vn", "seed": 1},
            "demand": {"orders_per_day": orders, "walkins_per_store": 15},
            "replenishment": {"warehouse": {"every_days": 1}, "store": {"every_days": 2}},
            "policy": {"kind": "myopic"},
            "hindsight": {"enabled": False},
        }
    )


def _kpis(res: SweepResult) -> list[list[dict[str, Any]]]:
    def same(v: float) -> Any:
        return "nan" if math.isnan(v) else v

    return [[{k: same(v) for k, v in r.kpis.items()} for r in s.runs] for s in res.results]


def _burn(n: int = 20_000_000) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - start


def parallel_capacity(workers: int) -> float:
    """Throughput of ``workers`` busy processes relative to one (the best speed-up possible)."""
    one = _burn()
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        pool.submit(int).result()  # the processes are up before the clock starts
        many = max(pool.map(_burn, [20_000_000] * workers))
    return workers * one / many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--orders", type=int, default=2000, help="online orders per day")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    sc = base(args.days, args.orders)
    n_tasks = args.seeds * math.prod(len(v) for v in VARY.values())
    print(
        f"machine: {platform.processor() or platform.machine()}, {machine_cores()} cores, "
        f"Python {platform.python_version()}"
    )
    capacity = parallel_capacity(args.workers)
    print(f"parallel capacity now: {capacity:.2f}× with {args.workers} processes")
    print(
        f"grid: {n_tasks} tasks = {' × '.join(str(len(v)) for v in VARY.values())} points × "
        f"{args.seeds} seeds; each {args.days} days × {args.orders:,} orders (myopic, VN)"
    )

    start = time.perf_counter()
    serial = sweep(sc, VARY, args.seeds)
    t_serial = time.perf_counter() - start
    per_task = [r.stats["seconds"] for s in serial.results for r in s.runs]
    print(
        f"serial:                {t_serial:6.2f} s  (tasks {min(per_task):.2f}–"
        f"{max(per_task):.2f} s, {sum(per_task):.2f} s replaying)"
    )

    start = time.perf_counter()
    cold = sweep(sc, VARY, args.seeds, client="local", workers=args.workers)
    t_cold = time.perf_counter() - start
    print(
        f"Dask {args.workers} workers, cold:  {t_cold:6.2f} s  "
        f"speed-up {t_serial / t_cold:.2f}× (includes starting and closing the cluster)"
    )

    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(args.workers)
        start = time.perf_counter()
        warm = sweep(sc, VARY, args.seeds, client=client)
        t_warm = time.perf_counter() - start
    print(
        f"Dask {args.workers} workers, warm:  {t_warm:6.2f} s  "
        f"speed-up {t_serial / t_warm:.2f}× (cluster already running)"
    )
    assert _kpis(serial) == _kpis(cold) == _kpis(warm), "results differ"
    print("KPIs identical in all three runs.")


if __name__ == "__main__":
    main()
