"""The Dantzig–Wolfe decomposition: its bound is proven, its pricing exact, its plans valid."""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

import router.batch
import router.order_search
from models import parse_problem
from router import ProblemData, SolveParams, assignment_violations, optimize, total_cost
from router.assignment import Assignment
from router.candidates import build_candidates
from router.cost import lines_cost
from router.greedy import route_greedy
from router.patterns import (
    _moves,
    _neighbours,
    _OrderArrays,
    _Pricer,
    _reduced_costs,
    _Rows,
    column_generation,
    master_plan,
)
from router.relaxation import column_generation as compact_lp
from router.relaxation import initial_columns
from router.single import SingleOrderRouter
from tests.router.test_optimality import (
    assert_proven_optimal,
    assert_valid_result,
    compile_problem,
    cost_tol,
    enumerable_oracle,
)
from tests.strategies import problems

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
CONTESTED = problems(min_nodes=2, max_nodes=4, max_orders=4, max_lines=2, dense_stock=True)
"""Several orders over few nodes with stock everywhere: the coupling rows bind often."""


@cache
def mid_instance() -> ProblemData:
    """300 Vietnam orders: about 8,000 candidate shipments, scarce stock at stores."""
    from router.generate import generate

    return ProblemData.from_problem(parse_problem(generate("vn", 300, 5)))


@cache
def tight_instance() -> ProblemData:
    """:func:`mid_instance` with every node's unit capacity drawn from 1–4, so that the
    per-node unit limit of a pattern binds (the mid instance has none)."""
    import dataclasses

    data = mid_instance()
    caps = np.random.default_rng(7).integers(1, 5, data.num_nodes)
    return dataclasses.replace(data, node_unit_cap=caps.astype(np.int64))


INSTANCES = {"mid": mid_instance, "tight unit caps": tight_instance}


def _decompose(data: ProblemData) -> tuple[Any, Any]:
    cand = build_candidates(data)
    dec = column_generation(data, cand, route_greedy(data, cand), seconds=30.0)
    assert dec is not None
    return cand, dec


@settings(max_examples=120, deadline=None)
@given(problem=CONTESTED)
def test_bound_is_below_the_optimum_and_the_plan_is_valid(problem: dict[str, Any]) -> None:
    oracle = enumerable_oracle(problem)
    best, _ = oracle.optimum()
    data = compile_problem(problem)
    cand, dec = _decompose(data)
    assert dec.bound <= best + cost_tol("scip", best), (dec.bound, best)
    plan = master_plan(data, cand, dec, time_limit=10.0)
    assert assignment_violations(data, plan) == []
    assert total_cost(data, plan) >= best - cost_tol("scip", best)
    if dec.converged:
        assert dec.lp == pytest.approx(dec.bound, rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(problem=CONTESTED)
def test_bound_is_at_least_the_compact_lp_bound(problem: dict[str, Any]) -> None:
    """Patterns never pay a fixed cost fractionally: the master LP dominates the plain LP."""
    data = compile_problem(problem)
    cand = build_candidates(data)
    if cand.num_pairs == 0:
        return
    _, dec = _decompose(data)
    lp = compact_lp(data, cand, initial_columns(data, cand, 8), 30.0)
    assert lp is not None and lp.converged and dec.converged
    assert dec.bound >= lp.bound - 1e-6 * max(1.0, abs(lp.bound))


@settings(max_examples=60, deadline=None)
@given(problem=CONTESTED)
def test_pricing_past_the_work_limit_keeps_the_bound_valid(
    problem: dict[str, Any], monkeypatch_module: pytest.MonkeyPatch
) -> None:
    """When the one-order search gives up, pricing returns a lower bound, never more."""
    oracle = enumerable_oracle(problem)
    best, _ = oracle.optimum()
    data = compile_problem(problem)
    monkeypatch_module.setattr(router.order_search, "WORK_LIMIT", -1)
    monkeypatch_module.setattr(router.order_search, "SUBSET_LIMIT", -1)
    try:
        _, dec = _decompose(data)
    finally:
        monkeypatch_module.undo()
    assert dec.bound <= best + cost_tol("scip", best)


@settings(max_examples=60, deadline=None)
@given(problem=CONTESTED)
def test_pricing_past_the_work_limit_is_a_bound_with_one_fixed_cost(
    problem: dict[str, Any], monkeypatch_module: pytest.MonkeyPatch
) -> None:
    """The fallback value charges the least fixed cost when shipping is cheaper than
    leaving everything unfilled: never above the exact value, never below the plain
    every-unit-at-its-cheapest sum."""
    data = compile_problem(problem)
    cand = build_candidates(data)
    pricer = _Pricer(data, cand, _Rows.of(data, cand))
    exact = [pricer.price(o)[0] for o in range(data.num_orders)]
    monkeypatch_module.setattr(router.order_search, "WORK_LIMIT", -1)
    monkeypatch_module.setattr(router.order_search, "SUBSET_LIMIT", -1)
    try:
        for o in range(data.num_orders):
            value, arcs, _, is_exact = pricer.price(o)
            assert value <= exact[o] + 1e-9 * max(1.0, abs(exact[o]))
            if not is_exact:
                od = pricer.order_arrays(o)
                least = np.minimum(od.pen, np.where(od.usable > 0, od.unit, np.inf).min(axis=0))
                assert value >= float(least @ od.qty) - 1e-9
                assert arcs.size == 0
    finally:
        monkeypatch_module.undo()


def test_the_work_limit_fallback_is_hit_and_charges_a_fixed_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On 300 generated orders the search gives up on some orders when its limits are
    cut; their values stay below the exact ones and above the plain sum of cheapest
    units (a shipment's fixed cost is charged)."""
    data = mid_instance()
    cand = build_candidates(data)
    pricer = _Pricer(data, cand, _Rows.of(data, cand))
    exact = [pricer.price(o)[0] for o in range(data.num_orders)]
    monkeypatch.setattr(router.order_search, "WORK_LIMIT", -1)
    monkeypatch.setattr(router.order_search, "SUBSET_LIMIT", -1)
    inexact = tighter = 0
    for o in range(data.num_orders):
        value, _, _, is_exact = pricer.price(o)
        assert value <= exact[o] + 1e-9 * max(1.0, abs(exact[o]))
        if not is_exact:
            inexact += 1
            od = pricer.order_arrays(o)
            least = np.minimum(od.pen, np.where(od.usable > 0, od.unit, np.inf).min(axis=0))
            tighter += value > float(least @ od.qty) + 1e-9
    assert inexact > 0 and tighter > 0


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@settings(max_examples=80, deadline=None)
@given(problem=CONTESTED)
def test_optimize_through_the_decomposition_is_still_exact(
    problem: dict[str, Any], monkeypatch_module: pytest.MonkeyPatch
) -> None:
    """With the decomposition switched on for every size, optimize still proves the
    brute-force optimum (its bound and plan feed the exact steps after it)."""
    oracle = enumerable_oracle(problem)
    best, _ = oracle.optimum()
    data = compile_problem(problem)
    monkeypatch_module.setattr(router.batch, "SUPPORT_MIN_PAIRS", -1)
    try:
        result = optimize(data, SolveParams(backend="scip", time_limit=20.0))
    finally:
        monkeypatch_module.undo()
    assert_valid_result(oracle, data, result)
    assert abs(result.cost - best) <= cost_tol("scip", best), (result.cost, best)
    assert_proven_optimal(result, "scip")
    assert result.bound is not None and result.bound <= best + cost_tol("scip", best)


def test_pricing_at_zero_prices_is_the_single_order_optimum() -> None:
    """The candidates → search translation: with no dual prices, each order's pattern
    value is what the single-order router (the live hot path) proves optimal."""
    data = mid_instance()
    cand = build_candidates(data)
    pricer = _Pricer(data, cand, _Rows.of(data, cand))
    single = SingleOrderRouter(data)
    orders = data.problem.orders
    for o in range(0, data.num_orders, 7):
        order = orders[o]
        skus = [data.sku_index[ln.sku] for ln in order.lines]
        value, arcs, qty, exact = pricer.price(o)
        assert exact
        res = single.route(order, data.atp[:, skus])
        assert value == pytest.approx(res.cost, rel=1e-9, abs=1e-9), order.id
        assert int(qty.sum()) == sum(ln.qty for sh in res.plan.shipments for ln in sh.lines)
        assert arcs.size == qty.size


def test_mid_instance_bound_plan_and_pipeline() -> None:
    data = mid_instance()
    cand, dec = _decompose(data)
    assert dec.converged
    lp = compact_lp(data, cand, initial_columns(data, cand, 8), 60.0)
    assert lp is not None
    assert dec.bound >= lp.bound - 1e-6 * lp.bound
    plan = master_plan(data, cand, dec, time_limit=20.0)
    assert assignment_violations(data, plan) == []
    cost = total_cost(data, plan)
    assert dec.bound <= cost
    assert cost <= total_cost(data, route_greedy(data, cand))
    assert (cost - dec.bound) / cost < 0.02  # the master's plan is close to its bound
    result = optimize(data, SolveParams(time_limit=10.0))
    assert result.stats["dw_bound"] == pytest.approx(dec.bound, rel=1e-9)
    assert result.bound is not None and result.bound >= dec.bound - 1e-9
    assert result.cost <= cost + 1e-6


def _take(dec: Any, j: int, od: _OrderArrays) -> np.ndarray:
    cand = dec.pricer.cand
    take = np.zeros_like(od.usable)
    arcs = dec.pool.arcs[j]
    take[cand.arc_pair[arcs] - od.p0, cand.arc_line[arcs] - od.l0] = dec.pool.qty[j]
    return take


def _value(od: _OrderArrays, take: np.ndarray) -> float:
    """An order's plan priced at the pricer's prices, straight from the definition."""
    used = take.sum(axis=1) > 0
    unfilled = od.qty - take.sum(axis=0)
    return float(od.fixed[used].sum() + (od.unit * take)[take > 0].sum() + od.pen @ unfilled)


def _one_move_oracle(
    od: _OrderArrays, take: np.ndarray, slack: float, split_ok: bool
) -> set[bytes]:
    """Every plan one move from ``take`` (a unit between its shipments or the unfilled, or
    a whole shipment to a node it does not use), valid, and dearer by at most ``slack``."""
    ships = [int(p) for p in np.flatnonzero(take.sum(axis=1) > 0)]
    out: list[np.ndarray] = []
    for ln in range(take.shape[1]):
        for p in [*ships, -1]:
            for q in [*ships, -1]:
                if p == q:
                    continue
                t = take.copy()
                if p >= 0:
                    t[p, ln] -= 1
                if q >= 0:
                    t[q, ln] += 1
                out.append(t)
    for p in ships:
        for q in range(take.shape[0]):
            if q not in ships:
                t = take.copy()
                t[q], t[p] = take[p], 0
                out.append(t)
    base = _value(od, take)
    keep = set()
    for t in out:
        valid = (
            np.all(t >= 0)
            and np.all(t <= od.usable)
            and np.all(t.sum(axis=1) <= od.units_left)
            and np.all(t.sum(axis=0) <= od.qty)
            and (split_ok or np.count_nonzero(t.sum(axis=1)) <= 1)
        )
        if valid and _value(od, t) - base <= slack + 1e-9:
            keep.add(t.tobytes())
    return keep


@pytest.mark.parametrize("instance", sorted(INSTANCES))
@pytest.mark.parametrize("slack", [0.0, 0.5, 3.0, 1e9])
def test_one_move_neighbours_are_exactly_the_moves_within_the_slack(
    slack: float, instance: str
) -> None:
    """:func:`_neighbours` against enumeration, at the decomposition's final prices."""
    data = INSTANCES[instance]()
    _, dec = _decompose(data)
    dec.pricer.set_duals(dec.pi)
    checked = 0
    for j in range(0, len(dec.pool), 5):
        o = dec.pool.order[j]
        od = dec.pricer.order_arrays(o)
        if od.num_pairs == 0:
            continue
        take = _take(dec, j, od)
        split_ok = bool(data.order_allow_split[o])
        got = [t.tobytes() for t in _neighbours(od, take, slack, split_ok)]
        assert len(got) == len(set(got))
        assert set(got) == _one_move_oracle(od, take, slack, split_ok), (j, o)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_every_pattern_in_the_pool_is_a_valid_plan_at_its_cost(instance: str) -> None:
    """After the master's plan (alternatives, moves) each pattern is, alone, a valid plan
    for its order, and the pool's cost is the contract's price of it."""
    data = INSTANCES[instance]()
    cand, dec = _decompose(data)
    before = len(dec.pool)
    master_plan(data, cand, dec, time_limit=20.0)
    assert len(dec.pool) > before
    for j in range(len(dec.pool)):
        o, arcs, qty = dec.pool.order[j], dec.pool.arcs[j], dec.pool.qty[j]
        a = Assignment.from_rows(
            cand.pair_order[cand.arc_pair[arcs]],
            cand.pair_node[cand.arc_pair[arcs]],
            data.line_sku[cand.arc_line[arcs]],
            qty,
        )
        assert np.all(a.order == o)
        assert assignment_violations(data, a) == [], j
        lines = np.arange(data.order_line_start[o], data.order_line_start[o + 1])
        assert dec.pool.cost[j] == pytest.approx(lines_cost(data, a, lines), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("rounds", [200, 2])
def test_reduced_costs_are_the_priced_values_at_the_stored_duals(rounds: int) -> None:
    """``dec.pi`` and ``dec.value`` belong together, also when column generation stops
    before converging: every pool column's reduced cost is its plan priced at ``dec.pi``
    minus its order's value, and none is negative (the pricing is exact)."""
    data = mid_instance()
    cand = build_candidates(data)
    dec = column_generation(data, cand, route_greedy(data, cand), 30.0, max_rounds=rounds)
    assert dec is not None and dec.converged == (rounds > 2)
    dec.pricer.set_duals(dec.pi)
    rc = _reduced_costs(dec, np.arange(len(dec.pool)))
    assert rc.min() >= -1e-7
    for j in range(0, len(dec.pool), 3):
        o = dec.pool.order[j]
        od = dec.pricer.order_arrays(o)
        priced = _value(od, _take(dec, j, od)) if od.num_pairs else dec.pool.cost[j]
        assert rc[j] == pytest.approx(priced - dec.value[o], abs=1e-7), j


def test_moves_add_every_neighbour_within_the_threshold_of_free_orders_only() -> None:
    data = mid_instance()
    _, dec = _decompose(data)
    free = np.zeros(data.num_orders, dtype=bool)
    free[::2] = True
    before = len(dec.pool)
    cols = np.arange(before)
    rc = _reduced_costs(dec, cols)
    max_rc = 2.0
    dec.pricer.set_duals(dec.pi)
    _moves(dec, max_rc, free, deadline=time.perf_counter() + 60)
    added = {(dec.pool.order[j], dec.pool.arcs[j].tobytes()) for j in range(before, len(dec.pool))}
    assert added and all(free[o] for o, _ in added)
    expected = 0
    for j in np.flatnonzero(rc <= max_rc).tolist():
        o = dec.pool.order[j]
        od = dec.pricer.order_arrays(o)
        if not free[o] or od.num_pairs == 0:
            continue
        split_ok = bool(data.order_allow_split[o])
        for t in _neighbours(od, _take(dec, j, od), max_rc - rc[j], split_ok):
            k = np.nonzero(t)
            arcs, qty = od.arc_of[k], t[k]
            by = np.argsort(arcs, kind="stable")
            assert (o, arcs[by].tobytes() + qty[by].tobytes()) in dec.pool.seen
            expected += 1
    assert expected > 0
    rc_new = _reduced_costs(dec, np.arange(before, len(dec.pool)))
    assert rc_new.max() <= max_rc + 1e-7


def test_the_example_bound_is_below_its_optimal_plan() -> None:
    problem = json.loads((EXAMPLES / "small-problem.json").read_text())
    plan = json.loads((EXAMPLES / "small-plan.json").read_text())
    data = ProblemData.from_problem(parse_problem(problem))
    cand, dec = _decompose(data)
    assert dec.bound <= plan["cost"]["total"] + 1e-6
    assert total_cost(data, master_plan(data, cand, dec, 10.0)) >= plan["cost"]["total"] - 1e-6


def test_the_master_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """`router route` writes plans on stdout: HiGHS' banner must not get in."""
    data = mid_instance()
    _decompose(data)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_candidates_out_of_order_are_refused() -> None:
    data = mid_instance()
    cand = build_candidates(data)
    shuffled = type(cand)(
        cand.pair_order[::-1].copy(),
        cand.pair_node[::-1].copy(),
        cand.pair_fixed[::-1].copy(),
        cand.pair_per_kg[::-1].copy(),
        cand.pair_distance[::-1].copy(),
        cand.pair_transit[::-1].copy(),
        cand.pair_own[::-1].copy(),
        (cand.num_pairs - 1 - cand.arc_pair)[::-1].copy(),
        cand.arc_line[::-1].copy(),
        cand.arc_unit[::-1].copy(),
        cand.arc_cap[::-1].copy(),
    )
    with pytest.raises(ValueError, match="sorted"):
        _Pricer(data, shuffled, _Rows.of(data, shuffled))


def test_no_time_gives_no_bound_rather_than_an_overrun() -> None:
    """A first round cut short by the deadline gives up (None), instead of pricing every
    order of a large network past the time limit."""
    data = mid_instance()
    cand = build_candidates(data)
    assert data.num_orders > 256
    assert column_generation(data, cand, None, seconds=0.0) is None
    dec = column_generation(data, cand, None, seconds=30.0)
    assert dec is not None and dec.converged


def test_the_master_gets_its_time_limit_every_round() -> None:
    """HiGHS measures ``time_limit`` against an object's total run time: each solve must
    get its own budget, or column generation stops after a few rounds, silently."""
    from router.patterns import _Master, _Pool

    rng = np.random.default_rng(3)
    rows_n, orders_n = 60, 80
    rows = _Rows(
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        rng.integers(3, 9, rows_n).astype(np.float64),
    )
    pool = _Pool()
    master = _Master(orders_n, rows.rhs)
    for o in range(orders_n):  # the empty pattern: every LP is feasible
        pool.order.append(o)
        pool.cost.append(100.0)
        pool.row_idx.append(np.zeros(0, dtype=np.int64))
        pool.row_val.append(np.zeros(0))
    for _ in range(60):
        for _ in range(150):
            k = int(rng.integers(1, 5))
            pool.order.append(int(rng.integers(orders_n)))
            pool.cost.append(float(rng.uniform(1, 50)))
            pool.row_idx.append(np.sort(rng.choice(rows_n, k, replace=False)))
            pool.row_val.append(rng.integers(1, 4, k).astype(np.float64))
        master.add(pool)
        assert master.solve(0.05) is not None


def test_master_plan_first_adds_each_lp_patterns_alternatives() -> None:
    """For each shipment of each pattern the LP uses, the pool gets the order's best
    pattern without it, at the same prices (what the plan's MIPs can trade)."""
    from router.patterns import _alternatives

    data = mid_instance()
    cand, dec = _decompose(data)
    pricer, pool = dec.pricer, dec.pool
    size = len(pool)
    _alternatives(dec, deadline=float("inf"))
    assert len(pool) > size

    def reduced(k: int) -> float:
        o = pool.order[k]
        arcs, qty = pool.arcs[k], pool.qty[k]
        l0, l1 = int(data.order_line_start[o]), int(data.order_line_start[o + 1])
        shipped = np.bincount(cand.arc_line[arcs] - l0, weights=qty, minlength=l1 - l0)
        pen = data.sku_penalty[data.line_sku[l0:l1]]
        pairs = np.unique(cand.arc_pair[arcs])
        return float(
            (cand.pair_fixed[pairs] + pricer.pair_sur[pairs]).sum()
            + ((cand.arc_unit[arcs] + pricer.arc_sur[arcs]) * qty).sum()
            + pen @ (data.line_qty[l0:l1] - shipped)
        )

    used = np.flatnonzero(dec.z > 1e-6)[:40]
    for j in used.tolist():
        o = pool.order[j]
        for p in np.unique(cand.arc_pair[pool.arcs[j]]).tolist():
            kept = pricer.pair_sur[p]
            pricer.pair_sur[p] = 1e18
            value, _, _, exact = pricer.price(o)
            pricer.pair_sur[p] = kept
            if not exact:
                continue
            without = [
                k
                for k in range(len(pool))
                if pool.order[k] == o and p not in set(cand.arc_pair[pool.arcs[k]].tolist())
            ]
            assert min(reduced(k) for k in without) == pytest.approx(value, abs=1e-6)
