"""Replay speed of the what-if simulator on the US demo network, on one core.

Run ``python -m benchmarks.simulation_speed [--days 2] [--long-days 3] [--full]``.

1. *Replay speed*: simulated online orders per second (wall clock, one process, solver
   threads 1, BLAS threads 1) with the ``myopic``, ``rule_based`` and ``batch`` policies,
   on the US network (6 warehouses, 494 stores, 2,000 skus) at 20,000 orders a day with
   walk-ins, returns, replenishment and rejections on, hindsight off. Target (issue 4):
   ≥ 2,000 orders/s with ``myopic``.
2. *The 30-day scenario*: 30 days × 20,000 orders a day with ``myopic``, including its
   hindsight bound (600,000 orders is past ``hindsight.max_orders``: the decoupled
   bound). ``--long-days K`` replays K days and the bound of K days and extrapolates
   linearly (both are linear in days: each day is the same work, the decoupled bound is a
   sum over orders); ``--full`` runs all 30 days. Target: under 10 minutes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import platform
import time
from typing import Any

from router.simulation.engine import run_seed
from router.simulation.hindsight import hindsight_bound
from router.simulation.network import build_network
from router.simulation.scenario import Scenario, validate_scenario

ORDERS_PER_DAY = 20_000


def us(days: int, policy: dict[str, Any], orders: int = ORDERS_PER_DAY) -> Scenario:
    """The benchmark scenario: the US network, its demand at ``orders`` a day."""
    return validate_scenario(
        {
            "name": f"us-{policy['kind']}",
            "days": days,
            "seeds": [1],
            "network": {"demo": "us", "seed": 1},
            "initial_stock": {"scale": 2.0},
            "demand": {"orders_per_day": orders, "walkins_per_store": 10},
            "replenishment": {"warehouse": {"every_days": 1}, "store": {"every_days": 3}},
            "policy": policy,
            "hindsight": {"enabled": False},
        }
    )


def replay_speed(sc: Scenario) -> tuple[float, float, float]:
    """(orders, seconds, orders per second) of one seed's replay, network built beforehand."""
    build_network(sc)
    r = run_seed(sc, 1, hindsight=False)
    return r.kpis["orders"], r.stats["seconds"], r.stats["orders_per_second"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=2, help="days per replay-speed run")
    ap.add_argument("--batch-orders", type=int, default=ORDERS_PER_DAY)
    ap.add_argument("--batch-time", type=float, default=2.0, help="seconds per wave")
    ap.add_argument("--long-days", type=int, default=3, help="days of the 30-day run measured")
    ap.add_argument("--full", action="store_true", help="run all 30 days")
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, one process")

    print("\n== replay speed, US network, 20,000 orders/day ==")
    for policy in (
        {"kind": "myopic"},
        {"kind": "rule_based"},
        {"kind": "batch", "wave_minutes": 60, "time_limit_s": args.batch_time},
        {"kind": "batch", "wave_minutes": 15, "time_limit_s": args.batch_time / 2},
    ):
        days = args.days if policy["kind"] != "batch" else 1
        orders = ORDERS_PER_DAY if policy["kind"] != "batch" else args.batch_orders
        n, secs, rate = replay_speed(us(days, policy, orders))
        label = policy["kind"] + (
            f" ({policy['wave_minutes']}-min waves, {policy['time_limit_s']:g} s each)"
            if policy["kind"] == "batch"
            else ""
        )
        print(f"{label:44s} {n:9.0f} orders {secs:8.1f} s {rate:9.0f} orders/s")

    days = 30 if args.full else args.long_days
    print(f"\n== 30-day scenario, 20,000 orders/day, myopic: {days} days measured ==")
    # 600,000 orders are past max_orders: the decoupled bound, forced here for K days too.
    sc = us(days, {"kind": "myopic"}).replace(hindsight={"enabled": True, "max_orders": 0})
    net = build_network(sc)
    t0 = time.perf_counter()
    r = run_seed(sc, 1, hindsight=False)
    replay = time.perf_counter() - t0
    t1 = time.perf_counter()
    hb = hindsight_bound(sc, net, 1)
    bound = time.perf_counter() - t1
    per_day = (replay + bound) / days
    print(f"replay {replay:.1f} s ({r.stats['orders_per_second']:.0f} orders/s)")
    print(f"hindsight ({hb.method}, {hb.orders} orders) {bound:.1f} s")
    print(f"per simulated day {per_day:.1f} s → 30 days {30 * per_day / 60:.1f} min (target < 10)")


if __name__ == "__main__":
    main()
