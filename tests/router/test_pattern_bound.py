"""The pattern bound under general coupling rows: valid, and the same master as the day's
decomposition when the rows are the day's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings

from router.candidates import Candidates, build_candidates
from router.data import FloatArray, ProblemData
from router.greedy import route_greedy
from router.pattern_bound import pattern_bound
from router.patterns import _Pricer, _Rows, column_generation
from tests.router.test_optimality import compile_problem, cost_tol, enumerable_oracle
from tests.router.test_patterns import CONTESTED, mid_instance


def _day_rows(
    data: ProblemData, cand: Candidates
) -> tuple[sp.csc_matrix, sp.csc_matrix, FloatArray, Any]:
    """The day decomposition's stock and capacity rows as matrices over arcs and pairs."""
    rows = _Rows.of(data, cand)
    pricer = _Pricer(data, cand, rows)
    arcs = np.arange(cand.num_arcs)
    r = np.concatenate([pricer.arc_stock_row, pricer.arc_unit_row])
    a = np.concatenate([arcs, arcs])
    g_arc = sp.csc_matrix(
        (np.ones(int((r >= 0).sum())), (r[r >= 0], a[r >= 0])), shape=(rows.size, arcs.size)
    )
    rp = pricer.pair_order_row
    pairs = np.flatnonzero(rp >= 0)
    g_pair = sp.csc_matrix(
        (np.ones(pairs.size), (rp[pairs], pairs)), shape=(rows.size, cand.num_pairs)
    )
    return g_arc, g_pair, rows.rhs, pricer.pair_units


def _no_carries(n_rows: int) -> tuple[sp.csc_matrix, FloatArray]:
    return sp.csc_matrix((n_rows, 0)), np.zeros(0)


@settings(max_examples=80, deadline=None)
@given(problem=CONTESTED)
def test_bound_is_below_the_optimum_and_equals_the_day_master(problem: dict[str, Any]) -> None:
    oracle = enumerable_oracle(problem)
    best, _ = oracle.optimum()
    data = compile_problem(problem)
    cand = build_candidates(data)
    g_arc, g_pair, rhs, units = _day_rows(data, cand)
    res = pattern_bound(data, cand, g_arc, g_pair, *_no_carries(rhs.size), rhs, units, 30.0)
    assert res is not None
    assert res.bound <= best + cost_tol("scip", best), (res.bound, best)
    dec = column_generation(data, cand, route_greedy(data, cand), seconds=30.0)
    assert dec is not None
    if res.converged and dec.converged:
        assert res.bound == pytest.approx(dec.lp, rel=1e-6, abs=1e-6)
    assert res.lp >= res.bound - 1e-6 * max(1.0, abs(res.bound))
    assert res.order_cost.sum() == pytest.approx(res.lp, rel=1e-6, abs=1e-6)
    assert 0.0 <= res.penalty <= res.lp + 1e-6


def test_a_carry_with_nothing_arriving_later_changes_nothing() -> None:
    """Each binding stock row split in two dated rows joined by a carry, the later one
    receiving nothing, is the same constraint: the bound must not move. This exercises
    the carries' columns and their term in the Lagrangian."""
    data = mid_instance()
    cand = build_candidates(data)
    g_arc, g_pair, rhs, units = _day_rows(data, cand)
    base = pattern_bound(data, cand, g_arc, g_pair, *_no_carries(rhs.size), rhs, units, 60.0)
    assert base is not None and base.converged
    stock = _Rows.of(data, cand)
    n_stock = int((stock.stock >= 0).sum())
    assert n_stock > 0
    # orders of the second half use the later copy of each stock row
    late_order = cand.pair_order[cand.arc_pair] >= data.num_orders // 2
    g = g_arc.tocoo()
    is_stock = g.row < n_stock
    move = is_stock & late_order[g.col]
    R = rhs.size
    row = np.where(move, R + g.row, g.row)
    g_dated = sp.csc_matrix((g.data, (row, g.col)), shape=(R + n_stock, cand.num_arcs))
    # carry k: + in the early row k (what is left for later), − in the late row k
    k = np.arange(n_stock)
    carries = sp.csc_matrix(
        (np.r_[np.ones(n_stock), -np.ones(n_stock)], (np.r_[k, R + k], np.r_[k, k])),
        shape=(R + n_stock, n_stock),
    )
    rhs_dated = np.concatenate([rhs, np.zeros(n_stock)])
    g_pair_dated = sp.vstack([g_pair, sp.csc_matrix((n_stock, cand.num_pairs))]).tocsc()
    dated = pattern_bound(
        data, cand, g_dated, g_pair_dated, carries, rhs[:n_stock].copy(), rhs_dated, units, 60.0
    )
    assert dated is not None and dated.converged
    assert dated.bound == pytest.approx(base.bound, rel=1e-7)
    # and with the carry capped at 0 the late orders get no stock: the bound rises
    capped = pattern_bound(
        data, cand, g_dated, g_pair_dated, carries, np.zeros(n_stock), rhs_dated, units, 60.0
    )
    assert capped is not None and capped.bound > base.bound + 1.0


def test_negative_coefficients_are_refused() -> None:
    data = mid_instance()
    cand = build_candidates(data)
    g_arc, g_pair, rhs, units = _day_rows(data, cand)
    with pytest.raises(ValueError, match="coefficients >= 0"):
        pattern_bound(data, cand, -g_arc, g_pair, *_no_carries(rhs.size), rhs, units, 5.0)
