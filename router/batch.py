"""The batch optimizer: an optimal plan for a whole problem, within a time limit.

Pipeline (each step keeps a valid plan in hand, so a time limit never loses one):

1. Data → candidates: every feasible (order, node) shipment, pruned with numpy.
2. Rule-based plan: the first incumbent and the fallback.
3. Small problems: the MIP directly (warm-started from the rule-based plan).
4. Larger ones: LP relaxation by column generation (each order starts with its few most
   promising nodes; columns priced out with the duals over all candidates, so the
   bound holds for the full problem) → rounding (fix what the LP
   routes integrally, MIP on the rest) → reduced-cost fixing against that incumbent,
   which removes most candidates without losing optimality → the exact MIP on what is
   left, warm-started. The proven bound is the better of the LP's and the reduced MIP's.
"""

from __future__ import annotations

import time

import numpy as np

from models import Problem, SolverInfo, SolverStatus
from router.assignment import Assignment
from router.backends import solve
from router.candidates import Candidates, build_candidates
from router.check import assignment_violations
from router.cost import price, total_cost
from router.data import ProblemData
from router.formulation import MipModel, build_mip, vector_from_assignment
from router.greedy import route_greedy
from router.relaxation import (
    column_generation,
    initial_columns,
    reduced_cost_filter,
    round_relaxation,
    to_assignment,
)
from router.result import RoutingResult, SolveParams, Timings

DIRECT_MIP_PAIRS = 4000
"""Up to this many candidate shipments the MIP is solved directly; above, via the LP."""
INITIAL_COLUMNS = 8
"""Shipments per order in the first restricted LP of column generation."""


class _Best:
    """The incumbent: the cheapest valid assignment seen so far."""

    def __init__(self, data: ProblemData, a: Assignment) -> None:
        self.data, self.a, self.cost = data, a, total_cost(data, a)

    def offer(self, a: Assignment | None) -> bool:
        if a is None or assignment_violations(self.data, a):
            return False
        cost = total_cost(self.data, a)
        if cost < self.cost - 1e-9:
            self.a, self.cost = a, cost
            return True
        return False


def _hint(model: MipModel, cand: Candidates, data: ProblemData, a: Assignment) -> np.ndarray | None:
    return vector_from_assignment(model, cand, data, a.order, a.node, a.sku, a.qty)


def optimize(problem: Problem | ProblemData, params: SolveParams | None = None) -> RoutingResult:
    """Least-cost plan for ``problem``; see the module docstring for the pipeline."""
    params = params or SolveParams()
    t0 = time.perf_counter()
    deadline = t0 + params.time_limit

    def left() -> float:
        return max(deadline - time.perf_counter(), 0.05)

    data = problem if isinstance(problem, ProblemData) else ProblemData.from_problem(problem)
    cand = build_candidates(data)
    t1 = time.perf_counter()
    best = _Best(data, route_greedy(data, cand))
    base_cost = best.cost
    t2 = time.perf_counter()
    stats: dict[str, float] = {
        "pairs": float(cand.num_pairs),
        "arcs": float(cand.num_arcs),
        "baseline_cost": base_cost,
    }
    if cand.num_pairs == 0:  # nothing can be shipped: all unfilled is the only plan
        timings = Timings(t1 - t0, t2 - t1, total=time.perf_counter() - t0)
        return _result(data, best.a, best.cost, best.cost, "optimal", "none", timings, stats)

    bound: float | None = None
    mip_bound_valid = True  # does the final MIP's bound hold for the full problem?
    build_s = solve_s = 0.0
    if cand.num_pairs > DIRECT_MIP_PAIRS:
        ts = time.perf_counter()
        keep0 = initial_columns(data, cand, INITIAL_COLUMNS, must=best.a)
        cg = column_generation(data, cand, keep0, left() * 0.35)
        if cg is not None:
            bound = cg.bound
            relax = cg.relax
            stats.update(
                lp_bound=cg.bound, lp_rounds=float(cg.rounds), lp_columns=float(cg.cand.num_pairs)
            )
            best.offer(
                round_relaxation(data, cg.cand, relax, params.backend, left() * 0.5, params.threads)
            )
            stats["rounded_cost"] = best.cost
            keep_pairs, keep_arcs = reduced_cost_filter(cg.cand, relax, best.cost)
            slack = best.cost - relax.bound
            mip_bound_valid = bool(np.all(cg.full_rc[~cg.keep] > slack))
            cand = cg.cand.subset(keep_pairs, keep_arcs)
            stats["pairs_after_fixing"] = float(cand.num_pairs)
        solve_s += time.perf_counter() - ts

    tb = time.perf_counter()
    model = build_mip(data, cand)
    hint = _hint(model, cand, data, best.a) if params.warm_start else None
    build_s += time.perf_counter() - tb
    ts = time.perf_counter()
    outcome = solve(
        model,
        params.backend,
        time_limit=left(),
        hint=hint,
        threads=params.threads,
        gap=params.rel_gap,
    )
    solve_s += time.perf_counter() - ts
    te = time.perf_counter()
    if outcome.values is not None:
        best.offer(to_assignment(data, cand, model.x(outcome.values)))
    # The reduced model's bound holds for the full problem only below the incumbent that
    # justified the fixing, hence the min; the LP bound holds everywhere.
    if outcome.bound is not None and mip_bound_valid:
        mip_bound = min(outcome.bound, best.cost)
        bound = mip_bound if bound is None else max(bound, mip_bound)
    if bound is not None:
        bound = min(bound, best.cost)
    proven = (
        bound is not None and best.cost - bound <= params.rel_gap * max(abs(best.cost), 1.0) + 1e-6
    )
    t5 = time.perf_counter()
    stats["rows"] = float(model.A.shape[0])
    timings = Timings(t1 - t0, t2 - t1, build_s, solve_s, t5 - te, t5 - t0)
    return _result(
        data,
        best.a,
        best.cost,
        bound,
        "optimal" if proven else "feasible",
        params.backend,
        timings,
        stats,
    )


def _result(
    data: ProblemData,
    a: Assignment,
    cost: float,
    bound: float | None,
    status: SolverStatus,
    backend: str,
    timings: Timings,
    stats: dict[str, float],
) -> RoutingResult:
    gap = None if bound is None else max(0.0, cost - bound) / max(abs(cost), 1e-9)
    info = SolverInfo(
        name=f"router.batch ({backend})",
        status=status,
        bound=bound,
        seconds=timings.total,
        gap=gap,
    )
    plan = price(data, a, info)
    return RoutingResult(
        plan,
        a,
        status,
        cost,
        bound,
        info.name,
        timings,
        stats,
    )
