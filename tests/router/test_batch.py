"""Regressions and pipeline behaviour of router.batch.optimize."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from models import parse_problem
from router import ProblemData, SolveParams, assignment_violations, optimize
from router.backends import Backend

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("backend", ["highs", "scip", "cpsat", "scipy"])
def test_units_come_back_integral_from_every_backend(backend: Backend) -> None:
    """A MIP heuristic once returned 0.5/1.5 units (x was continuous); rounding them
    broke a line's quantity and the plan was silently dropped for a worse one."""
    data = ProblemData.from_problem(
        parse_problem(json.loads((DATA / "fractional-units.json").read_text()))
    )
    result = optimize(data, SolveParams(backend=backend))
    assert not assignment_violations(data, result.assignment)
    assert math.isclose(result.cost, 13.88245283914312, rel_tol=1e-9)
    assert result.bound is not None and result.bound <= result.cost + 1e-9


def test_time_limit_is_respected_with_a_valid_plan() -> None:
    """At a tiny time limit the answer is still a valid plan, at worst the baseline."""
    from router.generate import generate

    data = ProblemData.from_problem(parse_problem(generate("vn", 300, 3)))
    result = optimize(data, SolveParams(time_limit=0.3))
    assert not assignment_violations(data, result.assignment)
    assert result.cost <= result.stats["baseline_cost"] + 1e-9
    assert result.timings.total < 3.0
    assert result.status in ("optimal", "feasible")
    if result.bound is not None:
        assert result.bound <= result.cost + 1e-9


def test_milp_peer_solves_the_example_and_returns_a_valid_plan() -> None:
    from router.peers import route_milp

    examples = Path(__file__).resolve().parents[3] / "shared" / "examples"
    data = ProblemData.from_problem(
        parse_problem(json.loads((examples / "small-problem.json").read_text()))
    )
    result = route_milp(data, time_limit=10)
    assert not assignment_violations(data, result.assignment)
    assert result.status == "optimal"
    assert math.isclose(result.cost, 8194.659121, rel_tol=1e-9)


def test_large_network_path_gives_a_valid_plan_and_a_true_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fix-and-optimize path with its Lagrangian bound, forced on a small problem."""
    import router.batch
    from router.generate import generate

    data = ProblemData.from_problem(parse_problem(generate("vn", 120, 5, stores=12)))
    exact = optimize(data, SolveParams(time_limit=30))
    assert exact.status == "optimal"
    monkeypatch.setattr(router.batch, "LARGE_PAIRS", 0)
    large = optimize(data, SolveParams(time_limit=5))
    assert not assignment_violations(data, large.assignment)
    assert large.cost <= large.stats["baseline_cost"] + 1e-9
    assert large.cost >= exact.cost - 1e-6
    assert large.bound is not None and large.bound <= exact.cost + 1e-6


def test_no_component_mip_starts_once_the_time_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of time, the component step solves nothing: every order keeps its incumbent and
    no bound is claimed (a MIP started with no time left ran past the limit)."""
    import router.batch as batch
    from router.candidates import build_candidates
    from router.cost import total_cost
    from router.generate import generate
    from router.greedy import route_greedy

    data = ProblemData.from_problem(parse_problem(generate("vn", 60, 3)))
    cand = build_candidates(data)
    greedy = route_greedy(data, cand)
    best = batch._Best(data, greedy)
    clock = batch._Clock(1.0)
    clock.deadline = clock.start  # the time is up
    solved: list[object] = []
    monkeypatch.setattr(batch, "solve", lambda *a, **k: solved.append(a))
    stats: dict[str, float] = {}
    bound = batch._solve_by_components(data, cand, best, SolveParams(), clock, stats)
    assert bound is None and solved == []
    assert best.cost == pytest.approx(total_cost(data, greedy))


def test_component_mips_run_smallest_first_and_an_overrun_keeps_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The largest bundle is solved last, with the time the others leave: a solver that
    runs past its limit there leaves no bundle unsolved, so the bound still holds."""
    import router.batch as batch
    from router.candidates import build_candidates
    from router.generate import generate
    from router.greedy import route_greedy

    data = ProblemData.from_problem(parse_problem(generate("vn", 200, 4)))
    cand = build_candidates(data)
    best = batch._Best(data, route_greedy(data, cand))
    clock = batch._Clock(60.0)
    sizes: list[int] = []
    real_solve = batch.solve
    stats: dict[str, float] = {}

    def overrunning(model: object, *args: object, **kwargs: object) -> object:
        out = real_solve(model, *args, **kwargs)  # type: ignore[arg-type]
        sizes.append(model.num_vars)  # type: ignore[attr-defined]
        if len(sizes) == stats["bundles"]:  # the last (largest) runs past the deadline
            clock.deadline = clock.start
        return out

    monkeypatch.setattr(batch, "solve", overrunning)
    bound = batch._solve_by_components(data, cand, best, SolveParams(), clock, stats)
    assert stats["bundles"] >= 2 and len(sizes) == stats["bundles"]
    assert sizes == sorted(sizes)
    assert bound is not None and bound <= best.cost + 1e-6


def test_home_bundles_with_an_offset_move_every_boundary() -> None:
    """The shifted bundles hold the same orders in the same sequence, each once, cut at
    other places (a second pass straddles the first pass's boundaries)."""
    import numpy as np

    from router.candidates import build_candidates
    from router.generate import generate
    from router.neighbourhood import home_bundles

    data = ProblemData.from_problem(parse_problem(generate("vn", 230, 4)))
    cand = build_candidates(data)
    plain = home_bundles(data, cand, 50)
    shifted = home_bundles(data, cand, 50, offset=25)
    seq = np.concatenate(plain)
    assert np.array_equal(np.concatenate(shifted), seq)
    assert np.unique(seq).size == seq.size == np.unique(cand.pair_order).size
    n = seq.size  # orders with a candidate
    assert n > 200
    assert [b.size for b in plain] == [50] * (n // 50) + [n % 50] * (n % 50 > 0)
    rest = n - 25
    assert [b.size for b in shifted] == [25] + [50] * (rest // 50) + [rest % 50] * (rest % 50 > 0)


def test_large_path_moves_to_wider_neighbourhoods_when_a_pass_gains_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With time left, a pass that gains nothing is followed by shifted bundles, then by
    more candidates per order, and the path stops once every variant has failed."""
    import router.batch as batch
    from router.generate import generate

    data = ProblemData.from_problem(parse_problem(generate("vn", 300, 5)))
    calls: list[tuple[int, int]] = []

    def no_gain(_d: object, allowed: Any, incumbent: Any, groups: Any, *_a: object) -> Any:
        calls.append((allowed.num_pairs, int(groups[0].size)))
        return incumbent

    monkeypatch.setattr(batch, "LARGE_PAIRS", 0)
    monkeypatch.setattr(batch, "LARGE_BUNDLE_ORDERS", 100)
    monkeypatch.setattr(batch, "improve", no_gain)
    result = optimize(data, SolveParams(time_limit=20))
    assert not assignment_violations(data, result.assignment)
    assert [first for _, first in calls] == [100, 50] * len(batch.LARGE_COLUMNS)
    pairs = [n for n, _ in calls]
    assert pairs[0] == pairs[1] < pairs[2] == pairs[3] < pairs[4] == pairs[5]
    assert result.timings.total < 15


def test_large_path_keeps_time_for_the_lagrangian_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the decomposition's bound, passes that use all the time they are given must
    still leave the Lagrangian bound its share: the answer has a finite, true bound."""
    import time

    import router.batch as batch
    from router.generate import generate

    data = ProblemData.from_problem(parse_problem(generate("vn", 300, 5)))
    exact = optimize(data, SolveParams(time_limit=30))
    given: list[float] = []

    def slow_no_gain(_d: object, _a: object, incumbent: Any, _g: object, _b: object,
                     seconds: float, *_r: object) -> Any:  # fmt: skip
        given.append(seconds)
        time.sleep(min(seconds, 1.0))  # the last pass uses all it is given
        return incumbent

    monkeypatch.setattr(batch, "LARGE_PAIRS", 0)
    monkeypatch.setattr(batch, "decompose", lambda *a, **k: None)
    monkeypatch.setattr(batch, "improve", slow_no_gain)
    result = optimize(data, SolveParams(time_limit=3))
    assert len(given) >= 2
    assert result.bound is not None and math.isfinite(result.bound)
    assert result.bound <= exact.cost + 1e-6
    assert result.stats["lagrangian_bound"] == result.bound
    assert result.timings.total < 3.5
