"""MIP back ends behind one call: OR-Tools (HiGHS, SCIP, CP-SAT, GLOP) and scipy's HiGHS.

Every back end takes the same :class:`~router.formulation.MipModel` (matrix form) and
returns a :class:`SolveOutcome`; none of them touches the problem or does any I/O.
OR-Tools models are filled straight from the sparse matrix (``ModelBuilderHelper``), so
building costs no Python loop per variable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import highspy
import numpy as np
import scipy.optimize as so
from ortools.linear_solver.python import model_builder_helper as mbh

from router.data import FloatArray
from router.formulation import MipModel

Backend = Literal["highs", "scip", "cpsat", "scipy"]
BACKENDS: tuple[Backend, ...] = ("highs", "scip", "cpsat", "scipy")
OutcomeStatus = Literal["optimal", "feasible", "no_solution", "infeasible", "error"]

_ORTOOLS_NAME = {"highs": "highs", "scip": "scip", "cpsat": "sat", "glop": "glop"}
_SPECIFIC = {"highs": "output_flag=false", "scip": "", "sat": "", "glop": ""}


_HIGHS = getattr(getattr(highspy, "_core", None), "_Highs", highspy.Highs)
"""The bare solver class: ``highspy.Highs`` enables callbacks on construction, which prints
a banner on stdout before any option can silence it (and ``router route`` writes plans
there)."""


def quiet_highs(threads: int) -> Any:
    """A HiGHS instance that prints nothing, on ``threads`` threads."""
    h = _HIGHS()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    return h


class SolverFailure(RuntimeError):
    """A back end failed in a way that is not a property of the problem."""


@dataclass(frozen=True, eq=False)
class SolveOutcome:
    status: OutcomeStatus
    values: FloatArray | None
    objective: float | None
    bound: float | None
    seconds: float
    duals: FloatArray | None = None
    reduced_costs: FloatArray | None = None


def _params(solver: str, threads: int, gap: float) -> str:
    if solver == "highs":
        return f"output_flag=false,threads={threads},mip_rel_gap={gap}"
    if solver == "sat":
        return f"num_workers:{max(threads, 1)},relative_gap_limit:{gap},log_search_progress:false"
    if solver == "scip":
        return f"limits/gap={gap}\nparallel/maxnthreads={threads}"
    return ""


def solve(
    model: MipModel,
    backend: Backend | Literal["glop"] = "highs",
    *,
    time_limit: float = 10.0,
    relax: bool = False,
    hint: FloatArray | None = None,
    threads: int = 1,
    gap: float = 1e-9,
) -> SolveOutcome:
    """Solve ``model`` (or its LP relaxation) with one back end."""
    if backend == "scipy":
        return _solve_scipy(model, time_limit=time_limit, relax=relax, gap=gap)
    start = time.perf_counter()
    helper = mbh.ModelBuilderHelper()
    fill: Any = helper.fill_model_from_sparse_data  # ortools' stubs misspell numpy arrays
    fill(model.var_lb, model.var_ub, model.c, model.row_lb, model.row_ub, model.A)
    if not relax:
        for i in np.flatnonzero(model.integral).tolist():
            helper.set_var_integrality(i, True)
    # HiGHS through OR-Tools' model builder crashes on hints (OR-Tools 9.15): skip them there.
    if hint is not None and backend != "highs":
        for i, v in enumerate(hint.tolist()):
            helper.add_hint(i, v)
    name = _ORTOOLS_NAME[backend]
    solver = mbh.ModelSolverHelper(name)
    if not solver.solver_is_supported():
        raise SolverFailure(f"OR-Tools was built without {name}")
    solver.enable_output(False)
    solver.set_time_limit_in_seconds(max(time_limit, 0.01))
    params = _params(name, threads, gap) if not relax else _SPECIFIC[name]
    if params:
        solver.set_solver_specific_parameters(params)
    solver.solve(helper)
    seconds = time.perf_counter() - start
    st = solver.status()
    if st == mbh.SolveStatus.INFEASIBLE:
        return SolveOutcome("infeasible", None, None, None, seconds)
    if st not in (mbh.SolveStatus.OPTIMAL, mbh.SolveStatus.FEASIBLE):
        if (
            st in (mbh.SolveStatus.NOT_SOLVED, mbh.SolveStatus.UNKNOWN_STATUS)
            or not solver.has_solution()
        ):
            bound = solver.best_objective_bound() if solver.has_response() else None
            return SolveOutcome("no_solution", None, None, _finite(bound), seconds)
        raise SolverFailure(f"{name}: {st.name} {solver.status_string()}")
    values = np.asarray(solver.variable_values(), dtype=np.float64)
    objective = float(solver.objective_value())
    bound = _finite(solver.best_objective_bound())
    duals = rc = None
    optimal = st == mbh.SolveStatus.OPTIMAL
    if relax:
        bound = objective if optimal else None
        if optimal:
            duals = np.asarray(solver.dual_values(), dtype=np.float64)
            rc = np.asarray(solver.reduced_costs(), dtype=np.float64)
            if rc.size != values.size:
                rc = model.c - model.A.T @ duals
    elif optimal and (bound is None or bound > objective or name != "sat"):
        # HiGHS and SCIP prove optimality to the gap asked; CP-SAT rounds float costs to
        # integers, so its own (slightly lower) bound is kept: only it is proven.
        bound = objective
    status: OutcomeStatus = "optimal" if optimal else "feasible"
    return SolveOutcome(status, values, objective, bound, seconds, duals, rc)


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _solve_scipy(model: MipModel, *, time_limit: float, relax: bool, gap: float) -> SolveOutcome:
    """scipy's HiGHS ``milp`` / ``linprog``: the general-purpose peer."""
    start = time.perf_counter()
    if relax:
        eq = model.row_lb == model.row_ub
        res = so.linprog(
            model.c,
            A_ub=model.A[~eq],
            b_ub=model.row_ub[~eq],
            A_eq=model.A[eq],
            b_eq=model.row_ub[eq],
            bounds=np.stack([model.var_lb, model.var_ub], axis=1),
            method="highs",
            options={"time_limit": time_limit},
        )
        seconds = time.perf_counter() - start
        if res.status != 0:
            return SolveOutcome("no_solution", None, None, None, seconds)
        duals = np.zeros(model.A.shape[0])
        duals[~eq] = res.ineqlin.marginals
        duals[eq] = res.eqlin.marginals
        rc = model.c - model.A.T @ duals
        return SolveOutcome("optimal", res.x, float(res.fun), float(res.fun), seconds, duals, rc)
    res = so.milp(
        model.c,
        constraints=so.LinearConstraint(model.A, model.row_lb, model.row_ub),
        integrality=model.integral.astype(np.int64),
        bounds=so.Bounds(model.var_lb, model.var_ub),
        options={"time_limit": time_limit, "mip_rel_gap": gap, "disp": False},
    )
    seconds = time.perf_counter() - start
    bound = _finite(getattr(res, "mip_dual_bound", None))
    if res.x is None:
        return SolveOutcome("no_solution", None, None, bound, seconds)
    status: OutcomeStatus = "optimal" if res.status == 0 else "feasible"
    obj = float(res.fun)
    if status == "optimal":
        bound = obj if bound is None else min(bound, obj)
    return SolveOutcome(status, np.asarray(res.x), obj, bound, seconds)
