"""Folding one-unit shipments into their flow: the same optimum, solutions mapped both
ways, and only the shipments the rule allows folded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from scipy.optimize import Bounds, LinearConstraint, milp

from router.candidates import build_candidates
from router.formulation import LINK, ORDERS, MipModel, build_mip
from router.presolve import Folded, fold_unit_links, relax_unfilled
from tests.router.test_optimality import compile_problem
from tests.router.test_patterns import CONTESTED, mid_instance

Model = MipModel | Folded


def solve(m: Model, *, relax: bool = False) -> tuple[float, np.ndarray]:
    out = milp(
        m.c,
        constraints=LinearConstraint(m.A, m.row_lb, m.row_ub),
        integrality=np.zeros(m.c.size) if relax else m.integral.astype(int),
        bounds=Bounds(m.var_lb, m.var_ub),
    )
    assert out.success, out.message
    return float(out.fun), out.x


def feasible(m: Model, v: np.ndarray) -> bool:
    act = m.A @ v
    return bool(
        np.all(act >= m.row_lb - 1e-6)
        and np.all(act <= m.row_ub + 1e-6)
        and np.all(v >= m.var_lb - 1e-9)
        and np.all(v <= m.var_ub + 1e-9)
    )


@settings(max_examples=80, deadline=None)
@given(problem=CONTESTED)
def test_folding_keeps_the_optimum_and_maps_solutions_both_ways(problem: dict[str, Any]) -> None:
    data = compile_problem(problem)
    cand = build_candidates(data)
    if cand.num_pairs == 0:
        return
    model = build_mip(data, cand)
    folded = fold_unit_links(relax_unfilled(model))  # as the race gets it
    best, v = solve(model)
    best_folded, w = solve(folded)
    assert best_folded == pytest.approx(best, abs=1e-6)
    # a folded solution is one of the original at the same cost ...
    full = folded.expand(w)
    assert feasible(model, full)
    assert model.c @ full == pytest.approx(best_folded, abs=1e-6)
    # ... and an original one, with each folded shipment lowered to its flow, one of the
    # folded model at no more cost
    back = folded.reduce(v)
    assert feasible(folded, back)
    assert folded.c @ back <= best + 1e-6


def test_folding_shrinks_a_real_model_and_keeps_its_lp() -> None:
    model = build_mip(mid_instance(), build_candidates(mid_instance()))
    folded = fold_unit_links(model)
    link_rows = int((model.row_kind == LINK).sum())
    assert model.A.shape[0] - folded.A.shape[0] > link_rows // 4
    assert model.num_vars - folded.num_vars == model.A.shape[0] - folded.A.shape[0]
    assert solve(folded, relax=True)[0] == pytest.approx(solve(model, relax=True)[0], rel=1e-9)


def tiny(c_y: float, orders_lb: float, c_x: float = 1.0) -> MipModel:
    """x − y ≤ 0, x = 1 (demand), and y in an ORDERS row ``orders_lb ≤ y ≤ 1``."""
    A = sp.csr_matrix(np.array([[1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]))
    return MipModel(
        c=np.array([c_x, c_y]),
        A=A,
        row_lb=np.array([-np.inf, 1.0, orders_lb]),
        row_ub=np.array([0.0, 1.0, 1.0]),
        var_lb=np.zeros(2),
        var_ub=np.ones(2),
        integral=np.ones(2, dtype=bool),
        num_pairs=1,
        num_arcs=1,
        num_lines=0,
        row_kind=np.array([LINK, 0, ORDERS]),
        row_ref=np.zeros(3, dtype=np.int64),
    )


def test_folds_a_safe_shipment() -> None:
    folded = fold_unit_links(tiny(c_y=2.0, orders_lb=-np.inf))
    assert folded.num_vars == 1 and folded.A.shape[0] == 2
    assert folded.c.tolist() == [3.0]
    assert folded.expand(np.array([1.0])).tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "model",
    [tiny(c_y=-2.0, orders_lb=-np.inf), tiny(c_y=2.0, orders_lb=0.0)],
    ids=["negative shipment cost", "row with a lower limit"],
)
def test_leaves_a_shipment_that_may_not_be_lowered(model: MipModel) -> None:
    folded = fold_unit_links(model)
    assert folded.num_vars == 2 and folded.A.shape[0] == 3
    np.testing.assert_array_equal(folded.expand(np.array([1.0, 1.0])), [1.0, 1.0])


def test_only_unfilled_units_become_continuous() -> None:
    model = build_mip(mid_instance(), build_candidates(mid_instance()))
    relaxed = relax_unfilled(model)
    u = np.arange(model.num_vars) >= model.num_pairs + model.num_arcs
    assert not relaxed.integral[u].any()
    assert relaxed.integral[~u].all() and model.integral.all()


def small(a: list[list[float]], c: list[float], lb: list[float], ub: list[float]) -> MipModel:
    """A hand-made binary MIP whose rows all count as LINK rows (the folding rule must
    still check each one)."""
    A = sp.csr_matrix(np.array(a))
    n = A.shape[1]
    return MipModel(
        c=np.array(c),
        A=A,
        row_lb=np.array(lb),
        row_ub=np.array(ub),
        var_lb=np.zeros(n),
        var_ub=np.ones(n),
        integral=np.ones(n, dtype=bool),
        num_pairs=0,
        num_arcs=0,
        num_lines=n,
        row_kind=np.full(len(lb), LINK),
        row_ref=np.zeros(len(lb), dtype=np.int64),
    )


INF = np.inf


@pytest.mark.parametrize(
    "model",
    [
        # x1 + x2 − y ≤ 0 with x1 = 1: a row of three entries is no fold
        small([[1, 1, -1], [1, 0, 0]], [0, -3, 5], [-INF, 1], [0, 1]),
        # x − y ≤ 0, y − z ≤ 0, x = 1: y is a flow in one row and a shipment in the other
        small(
            [[0, -1, 1, 0], [0, 1, 0, -1], [0, 0, 1, 0], [1, 0, 0, 0]],
            [1, 0, 0, 7],
            [-INF, -INF, 1, 0],
            [0, 0, 1, 1],
        ),
        # x − y ≤ 0 and −y ≤ −1: y may not be lowered to x
        small([[1, -1], [0, -1]], [5, 1], [-INF, -INF], [0, -1]),
    ],
    ids=["three entries", "chain", "y held up by another row"],
)
def test_folding_never_changes_the_optimum_of_odd_models(model: MipModel) -> None:
    folded = fold_unit_links(model)
    best, _ = solve(model)
    best_folded, w = solve(folded)
    assert best_folded == pytest.approx(best, abs=1e-9)
    assert feasible(model, folded.expand(w))
