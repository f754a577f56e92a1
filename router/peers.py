"""The general-purpose MIP peer: the whole formulation, handed to scipy's HiGHS ``milp``.

No column generation, no rounding, no fixing, no components: what an engineer gets by
writing the model down and calling a MIP solver. Benchmarks measure the engine against it
(and against the rule-based router in ``greedy.py``) in the same run.
"""

from __future__ import annotations

import time

from models import Problem, SolverInfo, SolverStatus
from router.backends import solve
from router.candidates import build_candidates
from router.check import assignment_violations
from router.cost import price, total_cost
from router.data import ProblemData
from router.formulation import build_mip
from router.greedy import route_greedy
from router.relaxation import to_assignment
from router.result import RoutingResult, Timings


def route_milp(problem: Problem | ProblemData, time_limit: float = 60.0) -> RoutingResult:
    """Solve the monolithic MIP with scipy ``milp``; the rule-based plan if it finds none."""
    start = time.perf_counter()
    data = problem if isinstance(problem, ProblemData) else ProblemData.from_problem(problem)
    cand = build_candidates(data)
    model = build_mip(data, cand)
    built = time.perf_counter()
    out = solve(model, "scipy", time_limit=max(time_limit - (built - start), 0.05), gap=1e-6)
    solved = time.perf_counter()
    a = route_greedy(data, cand)
    if out.values is not None:
        found = to_assignment(data, cand, model.x(out.values))
        if not assignment_violations(data, found) and total_cost(data, found) <= total_cost(
            data, a
        ):
            a = found
    cost = total_cost(data, a)
    bound = None if out.bound is None else min(out.bound, cost)
    status: SolverStatus = (
        "optimal"
        if bound is not None and cost - bound <= 1e-6 * max(abs(cost), 1.0)
        else "feasible"
    )
    info = SolverInfo(
        name="milp peer (scipy HiGHS)",
        status=status,
        bound=bound,
        seconds=time.perf_counter() - start,
        gap=None if bound is None else max(0.0, cost - bound) / max(abs(cost), 1e-9),
    )
    timings = Timings(build=built - start, solve=solved - built, total=time.perf_counter() - start)
    return RoutingResult(
        price(data, a, info),
        a,
        status,
        cost,
        bound,
        info.name,
        timings,
        {"pairs": float(cand.num_pairs)},
    )
