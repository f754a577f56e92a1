"""The batch optimizer: an optimal plan for a whole problem, within a time limit.

Data → candidates (pruned) → rule-based plan (warm start and fallback) → MIP in matrix
form → back end → extract → price. Whatever happens in the back end, the answer is a
valid plan: the better of the solver's and the baseline's, with the best proven bound.
"""

from __future__ import annotations

import time

import numpy as np

from models import Problem, SolverInfo
from router.assignment import Assignment
from router.backends import SolveOutcome, solve
from router.candidates import Candidates, build_candidates
from router.check import assignment_violations
from router.cost import price, total_cost
from router.data import FloatArray, ProblemData
from router.formulation import MipModel, build_mip, vector_from_assignment
from router.greedy import route_greedy
from router.result import RoutingResult, SolveParams, Timings


def assignment_from_vector(
    data: ProblemData, cand: Candidates, model: MipModel, values: FloatArray
) -> Assignment:
    """Read units off the x variables (rounded; solvers return integral values ± tolerance)."""
    x = np.rint(model.x(values)).astype(np.int64)
    used = x > 0
    return Assignment.from_rows(
        cand.pair_order[cand.arc_pair[used]],
        cand.pair_node[cand.arc_pair[used]],
        data.line_sku[cand.arc_line[used]],
        x[used],
    )


def optimize(problem: Problem | ProblemData, params: SolveParams | None = None) -> RoutingResult:
    """Least-cost plan for ``problem``; see the module docstring for the pipeline."""
    params = params or SolveParams()
    t0 = time.perf_counter()
    data = problem if isinstance(problem, ProblemData) else ProblemData.from_problem(problem)
    cand = build_candidates(data)
    t1 = time.perf_counter()
    base = route_greedy(data, cand)
    base_cost = total_cost(data, base)
    t2 = time.perf_counter()

    if cand.num_pairs == 0:  # nothing can be shipped: all unfilled is the only plan
        return _result(data, base, base_cost, base_cost, "optimal", "none",
                       Timings(t1 - t0, t2 - t1, total=time.perf_counter() - t0), params)

    model = build_mip(data, cand)
    hint = None
    if params.warm_start:
        hint = vector_from_assignment(model, cand, data, base.order, base.node, base.sku, base.qty)
    t3 = time.perf_counter()
    remaining = max(params.time_limit - (t3 - t0), 0.05)
    outcome: SolveOutcome = solve(
        model, params.backend, time_limit=remaining, hint=hint, threads=params.threads,
        gap=params.rel_gap,
    )
    t4 = time.perf_counter()

    best, best_cost = base, base_cost
    if outcome.values is not None:
        sol = assignment_from_vector(data, cand, model, outcome.values)
        if not assignment_violations(data, sol):
            sol_cost = total_cost(data, sol)
            if sol_cost <= best_cost:
                best, best_cost = sol, sol_cost
    bound = outcome.bound
    if bound is not None:
        bound = min(bound, best_cost)
    proven = bound is not None and best_cost - bound <= params.rel_gap * max(abs(best_cost), 1.0) + 1e-6
    t5 = time.perf_counter()
    timings = Timings(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)
    stats = {
        "pairs": float(cand.num_pairs), "arcs": float(cand.num_arcs),
        "rows": float(model.A.shape[0]), "baseline_cost": base_cost,
    }
    return _result(data, best, best_cost, bound, "optimal" if proven else "feasible",
                   params.backend, timings, params, stats)


def _result(
    data: ProblemData, a: Assignment, cost: float, bound: float | None, status: str,
    backend: str, timings: Timings, params: SolveParams, stats: dict[str, float] | None = None,
) -> RoutingResult:
    gap = None if bound is None else max(0.0, cost - bound) / max(abs(cost), 1e-9)
    info = SolverInfo(
        name=f"router.batch ({backend})", status=status,  # type: ignore[arg-type]
        bound=bound, seconds=timings.total, gap=gap,
    )
    plan = price(data, a, info)
    return RoutingResult(plan, a, status, cost, bound, info.name, timings,  # type: ignore[arg-type]
                         stats or {})
