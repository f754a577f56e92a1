"""pytest-benchmark of the single-order router (:mod:`router.single`) on the US demo network.

200 orders of 1–5 lines with the availability of the generated inventory (built as in
``benchmarks/single_latency.py``, which also prints per-call percentiles over 2,000 orders
and the peer ratio). One benchmark round routes all 200 orders, so the timings are per
200 calls; ``extra_info`` holds per-call p50/p99/mean (ms), measured call by call. The
peer, :func:`router.optimize` on the one-order problem, runs on the first 20 orders, and
its costs must equal the router's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from benchmarks.single_latency import Demo, sample_orders, time_single, us_demo
from models import Order
from router import ProblemData, SolveParams, optimize
from router.data import IntArray

ORDERS = 200
PEER_ORDERS = 20

Cases = list[tuple[Order, IntArray]]


@pytest.fixture(scope="module")
def demo() -> Demo:
    return us_demo(1)


@pytest.fixture(scope="module")
def cases(demo: Demo) -> Cases:
    return sample_orders(demo, ORDERS, seed=1)


def _per_call(seconds: np.ndarray) -> dict[str, float]:
    ms = seconds * 1e3
    p50, p99 = np.percentile(ms, [50, 99])
    return {
        "per_call_p50_ms": float(p50),
        "per_call_p99_ms": float(p99),
        "per_call_mean_ms": float(ms.mean()),
        "per_call_max_ms": float(ms.max()),
    }


@pytest.mark.benchmark(group="single order (200 orders per round)")
@pytest.mark.parametrize("explain", [False, True], ids=["route", "route+explain"])
def test_single_order_route(benchmark: Any, demo: Demo, cases: Cases, explain: bool) -> None:
    route = demo.router.route

    def all_orders() -> list[Any]:
        return [route(order, atp, explain=explain) for order, atp in cases]

    results = benchmark(all_orders)
    assert all(r.status == "optimal" and r.bound == r.cost for r in results)
    assert all((r.explanation is not None) == explain for r in results)
    benchmark.extra_info.update(
        network="us",
        nodes=demo.full.num_nodes,
        orders=len(cases),
        lines=int(sum(len(o.lines) for o, _ in cases)),
        explain=explain,
        **_per_call(time_single(demo, cases, explain=explain)),
    )


@pytest.mark.benchmark(group="single order (peer, 20 orders per round)")
def test_peer_optimize_on_one_order_problems(benchmark: Any, demo: Demo, cases: Cases) -> None:
    """The same orders through the batch optimizer, each as a one-order problem (built
    beforehand, outside the timing): the peer, and the check that the costs agree."""
    subset = cases[:PEER_ORDERS]
    problems = [
        ProblemData.from_problem(demo.router.one_order_problem(order, atp)) for order, atp in subset
    ]
    params = SolveParams(threads=1)

    def all_orders() -> list[Any]:
        return [optimize(data, params) for data in problems]

    peer = benchmark.pedantic(all_orders, rounds=1, iterations=1, warmup_rounds=0)
    single = [demo.router.route(order, atp) for order, atp in subset]
    for ref, res in zip(peer, single, strict=True):
        assert ref.status == "optimal"
        assert math.isclose(ref.cost, res.cost, rel_tol=1e-6, abs_tol=1e-6)
    if benchmark.stats is None:  # --benchmark-disable: the checks above are what ran
        return
    peer_mean = benchmark.stats.stats.mean / len(subset)
    single_mean = float(time_single(demo, subset).mean())
    benchmark.extra_info.update(
        network="us",
        orders=len(subset),
        peer_per_call_mean_ms=peer_mean * 1e3,
        single_per_call_mean_ms=single_mean * 1e3,
        peer_over_single=peer_mean / single_mean,
    )
