"""The compact MIP solved by HiGHS on a second core while the decomposition works: a bound.

Why: the decomposition's bound (:mod:`router.patterns`) convexifies each order's plans, but
not the integer units that orders compete for at the same scarce (node, sku); a MIP
solver's root cuts on the compact model (:mod:`router.formulation`) close most of that
(``us-1000x100``: Dantzig–Wolfe 22,832.6, HiGHS after its first cut rounds 22,877.6, the
optimum 22,898.4). Those rounds take seconds of one core, so they run beside the main
pipeline instead of after it.

HiGHS releases the GIL while it solves, so a thread is enough. It starts at once with the
whole time limit; the pipeline may hand it incumbents (HiGHS's *user solution* callback:
they prune its search and fix variables by reduced cost) and stops it when it is done
(its *interrupt* callback). Its bound is proven for the whole problem; its plan, if
better, is offered like any other.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import highspy
import numpy as np

from router.backends import SolveOutcome, quiet_highs
from router.data import FloatArray
from router.formulation import MipModel

_CB = highspy.cb.HighsCallbackType


class MipRace:
    """HiGHS on ``model`` in a background thread; :meth:`finish` stops it and reports."""

    def __init__(self, model: MipModel, seconds: float, *, gap: float = 1e-6) -> None:
        self.model = model
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: FloatArray | None = None
        self._start = time.perf_counter()
        h = quiet_highs(threads=1)
        h.setOptionValue("time_limit", max(seconds, 0.01))
        h.setOptionValue("mip_rel_gap", gap)
        import os

        if os.environ.get("RACE_LOG"):
            h.setOptionValue("output_flag", True)
        # the pipeline finds plans; HiGHS is here for its root cuts
        h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
        lp = highspy.HighsLp()
        a = model.A.tocsc()
        lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
        lp.col_cost_ = model.c
        lp.col_lower_ = model.var_lb
        lp.col_upper_ = model.var_ub
        lp.row_lower_ = model.row_lb
        lp.row_upper_ = model.row_ub
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in model.integral.tolist()
        ]
        h.passModel(lp)
        h.setCallback(self._callback, None)
        h.startCallback(_CB.kCallbackMipInterrupt)
        h.startCallback(_CB.kCallbackMipUserSolution)
        self.h = h
        self._thread = threading.Thread(target=h.run, name="mip-race", daemon=True)
        self._thread.start()

    def _callback(
        self, kind: Any, message: str, data_out: Any, data_in: Any, user_data: Any
    ) -> None:
        if kind == _CB.kCallbackMipInterrupt:
            if self._stop.is_set():
                data_in.user_interrupt = True
        elif kind == _CB.kCallbackMipUserSolution:
            with self._lock:
                values, self._pending = self._pending, None
            if values is not None:
                data_in.setSolution(values)

    def offer(self, values: FloatArray) -> None:
        """A feasible vector of the model (an incumbent), taken at HiGHS's next chance."""
        with self._lock:
            self._pending = np.asarray(values, dtype=np.float64)

    @property
    def done(self) -> bool:
        """True once HiGHS has stopped on its own (proven, or out of time)."""
        return not self._thread.is_alive()

    def finish(self, *, stop: bool) -> SolveOutcome:
        """HiGHS's bound and best vector: at once (``stop``: interrupted at its next check)
        or when its own time limit ends it."""
        if stop:
            self._stop.set()
        self._thread.join()
        h = self.h
        seconds = time.perf_counter() - self._start
        info = h.getInfo()
        bound = float(info.mip_dual_bound)
        bound_ok = np.isfinite(bound) and abs(bound) < highspy.kHighsInf
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return SolveOutcome("infeasible", None, None, None, seconds)
        has = info.primal_solution_status == 2  # kSolutionStatusFeasible
        values = np.asarray(h.getSolution().col_value) if has else None
        objective = float(info.objective_function_value) if has else None
        optimal = status == highspy.HighsModelStatus.kOptimal
        if values is None:
            return SolveOutcome("no_solution", None, None, bound if bound_ok else None, seconds)
        if optimal and objective is not None:
            bound = min(bound, objective) if bound_ok else objective
            bound_ok = True
        return SolveOutcome(
            "optimal" if optimal else "feasible",
            values,
            objective,
            bound if bound_ok else None,
            seconds,
        )
