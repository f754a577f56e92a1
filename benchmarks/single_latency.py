"""Per-call latency of the single-order router on the US demo network, against its peer.

The order management system routes each online order as it arrives, with availability
already in memory: :meth:`router.single.SingleOrderRouter.route`. Its peer is what the
engine could do without it: :func:`router.optimize` on the one-order problem (same
availability and capacities), which must give the same cost.

Run ``python -m benchmarks.single_latency [--orders 2000] [--peer-orders 200]``. It
generates the US demo network (``generate("us", 2000, seed)``: 500 nodes, 2,000 skus; its
inventory is the availability), draws orders of 1–5 lines (uniformly; lines, addresses,
pickups, promises and exclusions taken from the generated orders), times every call in
process (after a warm-up) and prints p50/p90/p99/max per call, with and without an
explanation, and in CPU time (robust to other processes on the machine), then times the
peer on the first ``--peer-orders`` orders, checks that the costs agree, and prints the
ratio.
"""

from __future__ import annotations

import argparse
import functools
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models import Line, Order, Problem, parse_problem
from router import SolveParams, optimize
from router.data import FloatArray, IntArray, ProblemData
from router.generate import generate
from router.single import SingleOrderRouter

NETWORK_ORDERS = 2000
"""Orders generated with the network; the inventory is sized for them."""
MAX_LINES = 5
WARM_UP = 50


@dataclass(frozen=True)
class Demo:
    """The US demo network: full problem arrays (for atp) and the router built once."""

    full: ProblemData
    router: SingleOrderRouter


@functools.lru_cache(maxsize=2)
def us_demo(seed: int = 1) -> Demo:
    problem = parse_problem(generate("us", NETWORK_ORDERS, seed))
    full = ProblemData.from_problem(problem)
    network = ProblemData.from_problem(
        Problem(
            nodes=problem.nodes, skus=problem.skus, rates=problem.rates, inventory=[], orders=[]
        )
    )
    return Demo(full, SingleOrderRouter(network))


def sample_orders(demo: Demo, n: int, seed: int = 1) -> list[tuple[Order, IntArray]]:
    """``n`` orders of 1–5 lines (uniform), each with the atp of its skus at every node.

    Order ``i`` keeps the method, address, pickup node, flags and exclusions of a generated
    order and takes its lines from that order and the following ones (distinct skus).
    """
    rng = np.random.default_rng(seed)
    orders = demo.full.problem.orders
    out = []
    for i in range(n):
        base = orders[int(rng.integers(len(orders)))]
        want = int(rng.integers(1, MAX_LINES + 1))
        lines: list[Line] = []
        seen: set[str] = set()
        k = orders.index(base)
        while len(lines) < want:
            for line in orders[k % len(orders)].lines:
                if line.sku not in seen and len(lines) < want:
                    lines.append(line)
                    seen.add(line.sku)
            k += 1
        order = base.model_copy(update={"id": f"B{i:05d}", "lines": lines})
        skus = [demo.full.sku_index[ln.sku] for ln in lines]
        out.append((order, np.ascontiguousarray(demo.full.atp[:, skus])))
    return out


def time_single(
    demo: Demo,
    cases: list[tuple[Order, IntArray]],
    explain: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> FloatArray:
    """Seconds of each ``route`` call: wall clock around the call alone by default, or
    ``time.thread_time`` (CPU time of this thread: what the call costs, without the time
    other processes hold the core)."""
    route = demo.router.route
    for order, atp in cases[:WARM_UP]:
        route(order, atp, explain=explain)
    out = np.empty(len(cases))
    for i, (order, atp) in enumerate(cases):
        t = clock()
        res = route(order, atp, explain=explain)
        out[i] = clock() - t
        assert res.status == "optimal", order.id
    return out


@dataclass(frozen=True)
class PeerRun:
    seconds: FloatArray  # optimize alone, the one-order ProblemData built beforehand
    build_seconds: FloatArray  # building that ProblemData
    single_seconds: FloatArray
    mismatches: int


def time_peer(demo: Demo, cases: list[tuple[Order, IntArray]]) -> PeerRun:
    """The peer on the same orders; costs must agree to 1e-6 relative."""
    params = SolveParams(threads=1)
    peer, build, single = np.empty(len(cases)), np.empty(len(cases)), np.empty(len(cases))
    mismatches = 0
    for i, (order, atp) in enumerate(cases):
        t = time.perf_counter()
        res = demo.router.route(order, atp)
        single[i] = time.perf_counter() - t
        t = time.perf_counter()
        data = ProblemData.from_problem(demo.router.one_order_problem(order, atp))
        build[i] = time.perf_counter() - t
        t = time.perf_counter()
        ref = optimize(data, params)
        peer[i] = time.perf_counter() - t
        if abs(ref.cost - res.cost) > 1e-6 * max(1.0, abs(ref.cost)) or ref.status != "optimal":
            mismatches += 1
    return PeerRun(peer, build, single, mismatches)


def summary(seconds: FloatArray) -> str:
    ms = seconds * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return (
        f"p50 {p50:.3f} ms  p90 {p90:.3f} ms  p99 {p99:.3f} ms  max {ms.max():.3f} ms  "
        f"mean {ms.mean():.3f} ms  (n={ms.size})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders timed (default 2000)")
    parser.add_argument(
        "--peer-orders", type=int, default=200, help="of those, also routed by the peer"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    t = time.perf_counter()
    demo = us_demo(args.seed)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    SingleOrderRouter(demo.router.network)
    build = time.perf_counter() - t
    cases = sample_orders(demo, args.orders, args.seed)
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(
        f"network: us, {demo.full.num_nodes} nodes, {demo.full.num_skus} skus "
        f"(generated and parsed in {setup:.1f} s; router built in {build * 1e3:.2f} ms)"
    )
    plain = time_single(demo, cases)
    print(f"route:              {summary(plain)}")
    lines = np.array([len(o.lines) for o, _ in cases])
    for k in range(1, MAX_LINES + 1):
        if np.any(lines == k):
            print(f"  {k} line(s):        {summary(plain[lines == k])}")
    print(f"route, explain:     {summary(time_single(demo, cases, explain=True))}")
    cpu = time_single(demo, cases, clock=time.thread_time)
    print(f"route, CPU time:    {summary(cpu)}")
    if args.peer_orders > 0:
        run = time_peer(demo, cases[: args.peer_orders])
        print(f"peer optimize:      {summary(run.seconds)}")
        print(f"  + building data:  {summary(run.build_seconds)}")
        print(f"same orders, route: {summary(run.single_seconds)}")
        ratio_p50 = np.median(run.seconds) / np.median(run.single_seconds)
        ratio_mean = run.seconds.mean() / run.single_seconds.mean()
        with_build = run.seconds + run.build_seconds
        print(
            f"peer / route: {ratio_p50:.0f}x at p50, {ratio_mean:.0f}x on the mean "
            f"({np.median(with_build) / np.median(run.single_seconds):.0f}x and "
            f"{with_build.mean() / run.single_seconds.mean():.0f}x counting the peer's "
            f"problem building); cost mismatches: {run.mismatches} of {run.seconds.size}"
        )


if __name__ == "__main__":
    main()
