"""The compact MIP raced in a child process: its bound is proven, its plans valid, it ends
at once when told (killed), and optimize with two threads uses it without losing anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

import router.batch
from router import SolveParams, assignment_violations, optimize, total_cost
from router.candidates import build_candidates
from router.formulation import build_mip, vector_from_assignment
from router.greedy import route_greedy
from router.mip_race import MipRace, RaceWorker
from router.relaxation import to_assignment
from router.result import RoutingResult
from tests.router.test_optimality import assert_valid_result, compile_problem, cost_tol
from tests.router.test_optimality import enumerable_oracle as oracle_of
from tests.router.test_patterns import CONTESTED, mid_instance


@cache
def mid_optimal_result() -> RoutingResult:
    """:func:`mid_instance` solved to proven optimality (one thread, no race)."""
    result = optimize(mid_instance(), SolveParams(backend="highs", time_limit=120.0))
    assert result.status == "optimal"
    return result


def mid_optimum() -> float:
    return mid_optimal_result().cost


def long_race() -> MipRace:
    """A race on :func:`mid_instance` with far more time than any test waits."""
    data = mid_instance()
    return MipRace(build_mip(data, build_candidates(data)), 600.0)


ROOT = Path(__file__).resolve().parents[2]
RACE_PROGRAM = "import time\nfrom tests.router.test_mip_race import long_race\nr = long_race()\n"
"""The start of a program run in its own interpreter (from :data:`ROOT`) with a race."""


@settings(max_examples=60, deadline=None)
@given(problem=CONTESTED)
def test_race_bound_is_below_the_brute_force_optimum(problem: dict[str, Any]) -> None:
    oracle = oracle_of(problem)
    best, _ = oracle.optimum()
    data = compile_problem(problem)
    cand = build_candidates(data)
    if cand.num_pairs == 0:
        return
    race = MipRace(build_mip(data, cand), 20.0)
    out = race.finish(stop=False)
    assert out.bound is not None and out.bound <= best + cost_tol("highs", best)
    assert out.values is not None
    a = to_assignment(data, cand, race.model.x(out.values))
    assert assignment_violations(data, a) == []
    # solved to the end, the race finds the optimum itself
    assert total_cost(data, a) == pytest.approx(best, rel=1e-6, abs=1e-6)


def test_race_on_a_mid_instance_bounds_the_optimum_and_reports_valid_plans() -> None:
    data = mid_instance()
    cand = build_candidates(data)
    greedy = route_greedy(data, cand)
    race = MipRace(build_mip(data, cand), 3.0)
    vec = vector_from_assignment(
        race.model, cand, data, greedy.order, greedy.node, greedy.sku, greedy.qty
    )
    assert vec is not None
    race.offer(vec)  # (HiGHS's presolve may cut a poor plan off: then it is not taken)
    out = race.finish(stop=False)
    optimum = mid_optimum()
    assert out.bound is not None and out.bound <= optimum + cost_tol("highs", optimum)
    assert out.values is not None and out.objective is not None
    assert out.objective <= total_cost(data, greedy) + 1e-6
    a = to_assignment(data, cand, race.model.x(out.values))
    assert assignment_violations(data, a) == []
    assert total_cost(data, a) == pytest.approx(out.objective, rel=1e-9, abs=1e-6)


def test_an_offered_plan_becomes_the_races_incumbent() -> None:
    """Offered the optimum, HiGHS takes it as its incumbent (it reports as solutions only
    the plans it finds itself, so the race's plan may stay empty: the caller has it)."""
    data = mid_instance()
    cand = build_candidates(data)
    best = mid_optimal_result().assignment
    race = MipRace(build_mip(data, cand), 600.0)
    vec = vector_from_assignment(race.model, cand, data, best.order, best.node, best.sku, best.qty)
    assert vec is not None
    race.offer(vec)
    deadline = time.perf_counter() + 30.0
    while race.incumbent == np.inf and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert race.incumbent == pytest.approx(mid_optimum(), rel=1e-9, abs=1e-6)
    out = race.finish(stop=True)
    assert race.incumbent == pytest.approx(mid_optimum(), rel=1e-9, abs=1e-6)
    assert out.objective is None or out.objective >= mid_optimum() - 1e-6


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("after", [0.3, 3.0])
def test_stopping_the_race_ends_it_at_once(after: float) -> None:
    """Told to stop, in presolve or in its root cuts, the race is killed, not waited for;
    what it had reported still counts, and nothing of it is left behind."""
    race = long_race()
    pid = race._proc.pid
    time.sleep(after)
    start = time.perf_counter()
    out = race.finish(stop=True)
    assert time.perf_counter() - start < 1.0
    assert race.done and not _alive(pid)
    optimum = mid_optimum()
    assert out.bound is None or out.bound <= optimum + cost_tol("highs", optimum)
    if after > 1.0:  # past presolve and the root LP: HiGHS has shown a bound
        assert out.bound is not None
    assert race.finish(stop=True) is out  # finishing twice reports the same


@pytest.mark.parametrize("limit", [2.0, 8.0])
def test_optimize_with_two_threads_races_and_keeps_every_guarantee(limit: float) -> None:
    data = mid_instance()
    result = optimize(data, SolveParams(backend="scip", time_limit=limit, threads=2))
    assert result.stats.get("race") == 1.0
    assert assignment_violations(data, result.assignment) == []
    assert total_cost(data, result.assignment) == pytest.approx(result.cost, rel=1e-12)
    optimum = mid_optimum()
    assert result.cost >= optimum - cost_tol("highs", optimum)
    assert result.bound is not None and result.bound <= optimum + cost_tol("highs", optimum)
    assert result.bound >= result.stats["dw_bound"] - 1e-6  # the race never lowers it


def test_one_thread_never_races(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr(router.batch, "MipRace", lambda *a, **k: started.append(True))
    result = optimize(mid_instance(), SolveParams(backend="scip", time_limit=2.0, threads=1))
    assert started == [] and "race" not in result.stats


def test_race_is_used_on_problems_small_enough_for_brute_force_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the size gate lowered, optimize with a race still proves the example's optimum."""
    from tests.router.test_optimality import Oracle

    monkeypatch.setattr(router.batch, "SUPPORT_MIN_PAIRS", -1)
    problem = _example()
    data = compile_problem(problem)
    result = optimize(data, SolveParams(backend="scip", time_limit=20.0, threads=2))
    assert result.stats.get("race") == 1.0
    oracle = Oracle(problem)
    assert_valid_result(oracle, data, result)
    assert result.status == "optimal"


def _example() -> dict[str, Any]:
    from tests.router.test_patterns import EXAMPLES

    return json.loads((EXAMPLES / "small-problem.json").read_text())


def test_the_race_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """`router route` writes plans on stdout: nothing of HiGHS may get in."""
    optimize(mid_instance(), SolveParams(backend="scip", time_limit=2.0, threads=2))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_route_takes_threads_and_refuses_fewer_than_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from router.cli import main
    from tests.router.test_patterns import EXAMPLES

    problem = str(EXAMPLES / "small-problem.json")
    out = tmp_path / "plan.json"
    assert main(["route", problem, "--threads", "2", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["cost"]["total"] > 0
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as exit_:
            main(["route", problem, "--threads", bad])
        assert exit_.value.code == 2
        assert "threads" in capsys.readouterr().err


def test_a_race_past_its_wait_reports_what_it_has_and_is_killed() -> None:
    """HiGHS may overrun its limit (long presolve): the caller does not wait for it."""
    race = long_race()
    start = time.perf_counter()
    out = race.finish(stop=False, wait=0.2)
    assert time.perf_counter() - start < 2.0
    assert race.done and not _alive(race._proc.pid)
    optimum = mid_optimum()
    assert out.bound is None or out.bound <= optimum + cost_tol("highs", optimum)


def test_a_program_that_never_finishes_its_race_exits_at_once() -> None:
    """A race never finished is killed at exit: the program neither waits for HiGHS nor
    leaves it running."""
    code = RACE_PROGRAM + "time.sleep(1.0)\nprint(r._proc.pid)\n"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 60.0
    assert not _alive(int(proc.stdout))
    assert proc.stderr == ""


def test_a_solution_torn_by_a_kill_leaves_the_previous_one() -> None:
    """Solutions alternate between two buffers: a write cut short (its sequence number
    left odd) hides only itself."""
    from router import race_worker as rw

    n = 5
    shared = np.zeros(rw.layout_size(n))
    assert rw.read_solution(shared, n) is None
    first, second = np.arange(n, dtype=float), np.arange(n, dtype=float) + 10
    rw.write_vector(shared, rw.SOL_SEQ, rw.solution_at(n, 0), first, 7.0, 2.0)
    rw.write_vector(shared, rw.SOL_SEQ + 2, rw.solution_at(n, 1), second, 5.0, 4.0)
    found = rw.read_solution(shared, n)
    assert found is not None and found[2] == 5.0 and list(found[1]) == list(second)
    # a third solution killed mid-write into buffer 0: the second one stays readable
    shared[rw.SOL_SEQ] += 1.0
    shared[rw.solution_at(n, 0)] = -1.0
    found = rw.read_solution(shared, n)
    assert found is not None and found[2] == 5.0 and list(found[1]) == list(second)


def test_a_dropped_race_is_killed() -> None:
    """A race no one finishes (an exception in the pipeline) dies with its object."""
    import gc

    race = long_race()
    pid = race._proc.pid
    del race
    gc.collect()
    assert not _alive(pid)


def test_the_race_dies_with_its_parent_even_killed() -> None:
    """SIGKILL skips every exit handler: the worker goes anyway (Linux parent-death
    signal)."""
    code = RACE_PROGRAM + "print(r._proc.pid, flush=True)\ntime.sleep(600)\n"
    with subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.kill()
    deadline = time.perf_counter() + 10.0
    while _alive(worker) and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def test_finishing_from_two_threads_gives_one_outcome() -> None:
    from concurrent.futures import ThreadPoolExecutor

    race = long_race()
    time.sleep(0.5)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: race.finish(stop=True), range(4)))
    assert all(out is outs[0] for out in outs)


def test_without_a_process_optimize_runs_without_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    import router.mip_race

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(router.mip_race.subprocess, "Popen", refuse)
    data = mid_instance()
    result = optimize(data, SolveParams(backend="scip", time_limit=2.0, threads=2))
    assert "race" not in result.stats
    assert assignment_violations(data, result.assignment) == []


def _children() -> set[int]:
    """This process's live (not zombie) children, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def test_a_worker_that_gets_no_model_ends() -> None:
    """Started early, a worker waits for its model; cancelled or told nothing, it ends
    cleanly, and dropped, it is killed."""
    import gc

    cancelled = RaceWorker()
    cancelled.cancel()
    assert cancelled.proc.poll() is not None

    unspoken = RaceWorker()
    assert unspoken.proc.stdin is not None
    unspoken.proc.stdin.close()
    assert unspoken.proc.wait(timeout=30) == 0
    unspoken.errors.seek(0)
    assert unspoken.errors.read() == b""
    unspoken.cancel()

    dropped = RaceWorker()
    pid = dropped.proc.pid
    del dropped
    gc.collect()
    assert not _alive(pid)


def test_a_race_given_up_after_its_worker_started_leaves_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker starts before the model is built; a race that then cannot be set up
    (here: its model file cannot be written) kills it, and the pipeline goes on alone."""
    import router.mip_race

    spawned: list[RaceWorker] = []
    real_worker = router.mip_race.RaceWorker

    def worker() -> RaceWorker:
        spawned.append(real_worker())
        return spawned[-1]

    def no_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(router.batch, "RaceWorker", worker)
    monkeypatch.setattr(router.mip_race.np, "savez", no_disk)
    before = _children()
    data = mid_instance()
    result = optimize(data, SolveParams(backend="scip", time_limit=2.0, threads=2))
    assert spawned  # a worker was started ...
    assert "race" not in result.stats  # ... and no race run
    assert spawned[0].proc.poll() is not None and spawned[0].errors.closed
    assert _children() <= before
    assert assignment_violations(data, result.assignment) == []


def test_a_worker_that_fails_before_its_model_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A worker that dies at start (say, HiGHS cannot be loaded): no race, and a warning
    with its error output rather than silence."""
    import router.mip_race

    broken = tmp_path / "broken_worker.py"
    broken.write_text("import sys\nsys.stderr.write('boom: no highspy here')\nsys.exit(1)\n")
    monkeypatch.setattr(router.mip_race, "_WORKER", broken)
    worker = RaceWorker()
    worker.proc.wait(timeout=30)
    data = mid_instance()
    with pytest.warns(RuntimeWarning, match="boom: no highspy here"), pytest.raises(OSError):
        MipRace(build_mip(data, build_candidates(data)), 5.0, worker=worker)
    assert worker.errors.closed and worker.model_file.closed
