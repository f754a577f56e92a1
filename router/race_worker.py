"""The child process of :class:`router.mip_race.MipRace`: HiGHS on one MIP, sharing what it
finds through a memory-mapped file.

Why a process and not a thread: a HiGHS run can only be stopped where it checks its
callbacks, and some of its phases do not for a long time (the presolve of a large model
runs seconds past the limit; a presolve after a root restart was seen running for minutes
on ``us-1000x100``). A process can be killed at once, so the caller never waits for it,
and a left-over solve never keeps a core or a program's exit hostage.

Run as a script (``python -P race_worker.py MODEL_FD SHARED_FD PARENT_PID``), it imports
only numpy and highspy: it starts in about 0.1 s, not the 0.7 s the router package takes,
and the parent starts it before it builds the model; it then waits for a line ``go`` on
its standard input (and ends on anything else, or none). The two file descriptors are
unnamed temporary files the parent passes down (nothing is left on disk, whoever dies
first): the MIP and its options as ``.npz``, and the shared
floats, laid out as below and memory-mapped by both. A vector is written under a sequence
number that is odd while it is being written, so a reader never takes a half-written one;
solutions go to two buffers in turn, so a child killed mid-write still leaves the
previous one whole. On Linux the child dies with its parent (``PR_SET_PDEATHSIG``), even
one killed by a signal that skips its exit handlers.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import highspy
import numpy as np

BOUND, STATUS, INCUMBENT, OFFER_SEQ, SOL_SEQ = 0, 1, 2, 4, 6
HEADER = 10
"""Float slots before the vectors: the best dual bound HiGHS reported (−inf until one),
the final status (below), the objective of HiGHS's incumbent (+inf until one; an offered
plan it took counts, though HiGHS reports only its own finds as solutions), a spare, then
the offered vector's sequence number and the two solution buffers' (each followed by its
vector's value: slots 4–5, 6–7, 8–9). Then the offered vector (n floats), then the two
solution buffers (n each)."""
RUNNING, OPTIMAL, INFEASIBLE, STOPPED = 0.0, 1.0, 2.0, 3.0
"""Final statuses; STOPPED is any other end (time limit, interrupted)."""

_CB = highspy.cb.HighsCallbackType


def layout_size(num_vars: int) -> int:
    """Shared floats for a model of ``num_vars`` variables."""
    return HEADER + 3 * num_vars


def solution_at(num_vars: int, buffer: int) -> int:
    return HEADER + (1 + buffer) * num_vars


def read_solution(shared: Any, n: int) -> tuple[float, Any, float] | None:
    """The newer of the two complete solutions: (sequence number, vector, objective)."""
    found = [read_vector(shared, SOL_SEQ + 2 * b, solution_at(n, b), n) for b in (0, 1)]
    whole = [f for f in found if f is not None]
    return max(whole, key=lambda f: f[0]) if whole else None


def write_vector(
    shared: Any, seq: int, at: int, values: Any, value: float = 0.0, number: float = 0.0
) -> None:
    """``values`` into ``shared[at:]`` and ``value`` into the slot after ``seq``, under the
    even sequence ``number`` in slot ``seq`` (default: the slot's next one)."""
    number = number or float(shared[seq]) + 2.0
    shared[seq] = number - 1.0  # odd: being written
    shared[at : at + len(values)] = values
    shared[seq + 1] = value
    shared[seq] = number


def read_vector(shared: Any, seq: int, at: int, n: int) -> tuple[float, Any, float] | None:
    """(sequence number, a copy of the vector, its value) if one is complete, else None."""
    before = float(shared[seq])
    if before == 0.0 or before % 2.0:
        return None
    values = np.array(shared[at : at + n], dtype=np.float64)
    value = float(shared[seq + 1])
    return (before, values, value) if float(shared[seq]) == before else None


def _die_with(parent: int) -> None:
    """Get SIGKILL when the parent dies (Linux); end now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    if os.getppid() != parent:
        os._exit(0)


def run(model_fd: int, shared_fd: int) -> None:
    with os.fdopen(model_fd, "rb") as f:
        f.seek(0)  # the offset is shared with the parent, which wrote the file
        model = dict(np.load(f))
    n = int(model["c"].size)
    shared = np.memmap(os.fdopen(shared_fd, "r+b"), dtype=np.float64, mode="r+")
    written = [0]  # solutions written so far: the next goes to buffer written % 2

    def publish(values: Any, objective: float) -> None:
        b = written[0] % 2
        written[0] += 1  # numbered across both buffers: the reader takes the newest
        write_vector(
            shared, SOL_SEQ + 2 * b, solution_at(n, b), values, objective, 2.0 * written[0]
        )

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", float(model["seconds"]))
    h.setOptionValue("mip_rel_gap", float(model["gap"]))
    for name, value in json.loads(str(model["options"])).items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            print(f"HiGHS refused option {name} = {value!r}", file=sys.stderr)
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
    root_offers = bool(model["root_offers"])

    def raise_bound(bound: float) -> None:
        if abs(bound) < highspy.kHighsInf and bound > shared[BOUND]:
            shared[BOUND] = bound

    def callback(kind: Any, message: str, data_out: Any, data_in: Any, user: Any) -> None:
        if kind == _CB.kCallbackMipInterrupt:
            raise_bound(float(data_out.mip_dual_bound))
            shared[INCUMBENT] = min(float(data_out.mip_primal_bound), shared[INCUMBENT])
        elif kind == _CB.kCallbackMipImprovingSolution:
            publish(np.asarray(data_out.mip_solution), float(data_out.objective_function_value))
        elif kind == _CB.kCallbackMipUserSolution and (root_offers or data_out.mip_node_count):
            # (an incumbent during the root makes HiGHS's analytic centre, computed after
            # its fifth cut round, take seconds: a short race keeps its root undisturbed)
            offer = read_vector(shared, OFFER_SEQ, HEADER, n)
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
        publish(np.asarray(h.getSolution().col_value), objective)
        if status == highspy.HighsModelStatus.kOptimal:
            bound = min(bound, objective) if abs(bound) < highspy.kHighsInf else objective
    raise_bound(bound)
    if status == highspy.HighsModelStatus.kOptimal:
        shared[STATUS] = OPTIMAL
    elif status == highspy.HighsModelStatus.kInfeasible:
        shared[STATUS] = INFEASIBLE
    else:
        shared[STATUS] = STOPPED
    shared.flush()


if __name__ == "__main__":
    _die_with(int(sys.argv[3]))
    # started before its model is written: wait for the parent's word (end if none comes)
    if sys.stdin.buffer.readline().strip() == b"go":
        run(int(sys.argv[1]), int(sys.argv[2]))
