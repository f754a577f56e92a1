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

import atexit
import threading
import time
import weakref
from typing import Any

import highspy
import numpy as np

from router.backends import SolveOutcome, quiet_highs
from router.data import FloatArray
from router.formulation import MipModel

_CB = highspy.cb.HighsCallbackType
_RUNNING: weakref.WeakSet[MipRace] = weakref.WeakSet()
"""Races not yet joined: stopped and joined at exit, for a race left running (see
:meth:`MipRace.finish`) must not be cut mid-solve by the interpreter's shutdown."""


@atexit.register
def _join_running() -> None:
    for race in list(_RUNNING):
        race._stop.set()
        race._thread.join()


class MipRace:
    """HiGHS on ``model`` in a background thread; :meth:`finish` stops it and reports."""

    def __init__(self, model: MipModel, seconds: float, *, gap: float = 1e-6) -> None:
        self.model = model
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: FloatArray | None = None
        self._seen_bound = -np.inf  # the best dual bound HiGHS has reported to a callback
        self._seen: tuple[float, FloatArray] | None = None  # its best solution so far
        self._start = time.perf_counter()
        h = quiet_highs(threads=1)
        h.setOptionValue("time_limit", max(seconds, 0.01))
        h.setOptionValue("mip_rel_gap", gap)
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
        h.startCallback(_CB.kCallbackMipImprovingSolution)
        self.h = h
        self._thread = threading.Thread(target=h.run, name="mip-race", daemon=True)
        _RUNNING.add(self)
        self._thread.start()

    def _callback(
        self, kind: Any, message: str, data_out: Any, data_in: Any, user_data: Any
    ) -> None:
        if kind == _CB.kCallbackMipInterrupt:
            bound = float(data_out.mip_dual_bound)
            if np.isfinite(bound) and abs(bound) < highspy.kHighsInf:
                with self._lock:
                    self._seen_bound = max(self._seen_bound, bound)
            if self._stop.is_set():
                data_in.user_interrupt = True
        elif kind == _CB.kCallbackMipImprovingSolution:
            found = np.array(data_out.mip_solution, dtype=np.float64)
            with self._lock:
                self._seen = (float(data_out.objective_function_value), found)
        elif kind == _CB.kCallbackMipUserSolution:
            with self._lock:
                pending, self._pending = self._pending, None
            if pending is not None:
                data_in.setSolution(pending)

    def offer(self, values: FloatArray) -> None:
        """A feasible vector of the model (an incumbent), taken at HiGHS's next chance."""
        with self._lock:
            self._pending = np.asarray(values, dtype=np.float64)

    @property
    def done(self) -> bool:
        """True once HiGHS has stopped on its own (proven, or out of time)."""
        return not self._thread.is_alive()

    def finish(self, *, stop: bool, wait: float | None = None) -> SolveOutcome:
        """HiGHS's bound and best vector: at once (``stop``: interrupted at its next check)
        or when its own time limit ends it.

        HiGHS checks its limits only between phases (a separation round, or the presolve
        of a large model, can run a second or more past them), so ``wait`` caps the
        seconds spent waiting: a race still running then is told to stop and left to end
        on its own (a daemon thread, joined at exit at the latest), and reports what it
        had shown its callbacks: the last dual bound and best solution.
        """
        if stop:
            self._stop.set()
        self._thread.join(wait)
        seconds = time.perf_counter() - self._start
        if self._thread.is_alive():
            self._stop.set()
            with self._lock:
                bound, seen = self._seen_bound, self._seen
            finite = bound if np.isfinite(bound) else None
            if seen is None:
                return SolveOutcome("no_solution", None, None, finite, seconds)
            return SolveOutcome("feasible", seen[1], seen[0], finite, seconds)
        _RUNNING.discard(self)
        h = self.h
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
