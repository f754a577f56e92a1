"""The child process of :class:`router.mip_race.MipRace`: HiGHS on one MIP, sharing what it
finds through a memory-mapped file.

Why a process and not a thread: a HiGHS run can only be stopped where it checks its
callbacks, and some of its phases do not for a long time (the presolve of a large model
runs seconds past the limit; a presolve after a root restart was seen running for minutes
on ``us-1000x100``). A process can be killed at once, so the caller never waits for it,
and a left-over solve never keeps a core or a program's exit hostage.

Run as a script (``python race_worker.py MODEL_FD SHARED_FD``), it imports only numpy and
highspy: it starts in about 0.1 s, not the 0.7 s the router package takes. The two file
descriptors are unnamed temporary files the parent passes down (nothing is left on disk,
whoever dies first): the MIP and its options as ``.npz``, and the shared floats, laid out
as below and memory-mapped by both. Both sides write a vector under a sequence number
that is odd while it is being written, so a reader never takes a half-written vector (a
writer killed mid-write leaves it odd for good).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import highspy
import numpy as np

BOUND, STATUS, SOL_SEQ, SOL_OBJ, OFFER_SEQ = range(5)
HEADER = 8
"""Float slots before the vectors: the best dual bound HiGHS reported (−inf until one),
the final status (below), the solution's sequence number and objective (the slot after a
sequence number holds its vector's value), the offered vector's sequence number. Then the
best solution (n floats), then the offered one (n)."""
RUNNING, OPTIMAL, INFEASIBLE, STOPPED = 0.0, 1.0, 2.0, 3.0
"""Final statuses; STOPPED is any other end (time limit, interrupted)."""

_CB = highspy.cb.HighsCallbackType


def layout_size(num_vars: int) -> int:
    """Shared floats for a model of ``num_vars`` variables."""
    return HEADER + 2 * num_vars


def write_vector(shared: Any, seq: int, at: int, values: Any, value: float = 0.0) -> None:
    """``values`` into ``shared[at:]`` and ``value`` into the slot after ``seq``, under the
    sequence number in slot ``seq``."""
    shared[seq] += 1.0  # odd: being written
    shared[at : at + len(values)] = values
    shared[seq + 1] = value
    shared[seq] += 1.0


def read_vector(shared: Any, seq: int, at: int, n: int) -> tuple[float, Any, float] | None:
    """(sequence number, a copy of the vector, its value) if one is complete, else None."""
    before = float(shared[seq])
    if before == 0.0 or before % 2.0:
        return None
    values = np.array(shared[at : at + n], dtype=np.float64)
    value = float(shared[seq + 1])
    return (before, values, value) if float(shared[seq]) == before else None


def run(model_fd: int, shared_fd: int) -> None:
    with os.fdopen(model_fd, "rb") as f:
        f.seek(0)  # the offset is shared with the parent, which wrote the file
        model = dict(np.load(f))
    n = int(model["c"].size)
    shared = np.memmap(os.fdopen(shared_fd, "r+b"), dtype=np.float64, mode="r+")
    sol_at, offer_at = HEADER, HEADER + n

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", float(model["seconds"]))
    h.setOptionValue("mip_rel_gap", float(model["gap"]))
    # the caller finds plans; HiGHS is here for its root cuts
    h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, int(model["row_lb"].size)
    lp.col_cost_ = model["c"]
    lp.col_lower_ = model["var_lb"]
    lp.col_upper_ = model["var_ub"]
    lp.row_lower_ = model["row_lb"]
    lp.row_upper_ = model["row_ub"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = model["indptr"]
    lp.a_matrix_.index_ = model["indices"]
    lp.a_matrix_.value_ = model["data"]
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
        for i in model["integral"].tolist()
    ]
    h.passModel(lp)
    taken = [0.0]  # the offer last handed to HiGHS

    def callback(kind: Any, message: str, data_out: Any, data_in: Any, user: Any) -> None:
        if kind == _CB.kCallbackMipInterrupt:
            bound = float(data_out.mip_dual_bound)
            if abs(bound) < highspy.kHighsInf and bound > shared[BOUND]:
                shared[BOUND] = bound
        elif kind == _CB.kCallbackMipImprovingSolution:
            found = np.asarray(data_out.mip_solution)
            write_vector(shared, SOL_SEQ, sol_at, found, float(data_out.objective_function_value))
        elif kind == _CB.kCallbackMipUserSolution:
            offer = read_vector(shared, OFFER_SEQ, offer_at, n)
            if offer is not None and offer[0] != taken[0]:
                taken[0] = offer[0]
                data_in.setSolution(offer[1])

    h.setCallback(callback, None)
    h.startCallback(_CB.kCallbackMipInterrupt)
    h.startCallback(_CB.kCallbackMipUserSolution)
    h.startCallback(_CB.kCallbackMipImprovingSolution)
    h.run()

    info = h.getInfo()
    status = h.getModelStatus()
    bound = float(info.mip_dual_bound)
    if info.primal_solution_status == 2:  # kSolutionStatusFeasible
        objective = float(info.objective_function_value)
        write_vector(shared, SOL_SEQ, sol_at, np.asarray(h.getSolution().col_value), objective)
        if status == highspy.HighsModelStatus.kOptimal:
            bound = min(bound, objective) if abs(bound) < highspy.kHighsInf else objective
    if abs(bound) < highspy.kHighsInf and bound > shared[BOUND]:
        shared[BOUND] = bound
    if status == highspy.HighsModelStatus.kOptimal:
        shared[STATUS] = OPTIMAL
    elif status == highspy.HighsModelStatus.kInfeasible:
        shared[STATUS] = INFEASIBLE
    else:
        shared[STATUS] = STOPPED
    shared.flush()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]))
