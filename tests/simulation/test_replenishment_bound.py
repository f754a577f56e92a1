"""The replenishment rows: every real run's reservations satisfy them, and they lift the bound."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.data import ProblemData
from router.simulation.engine import Replay
from router.simulation.hindsight import (
    HindsightProblem,
    build_hindsight,
    hindsight_bound,
    timed_bound,
)
from router.simulation.network import build_network
from router.simulation.replenishment_bound import TopUps, replenishment_rows
from router.simulation.scenario import Scenario
from tests.simulation.conftest import small


def _usage(sc: Scenario, seed: int) -> tuple[np.ndarray, float]:
    """Units each (day, node, sku) reserved for the orders of that day in a real run
    (final shipments), and the run's cost."""
    net = build_network(sc)
    use = np.zeros((sc.days, len(net.nodes), len(net.sku_ids)))
    run = Replay(sc, net, seed)
    commit = run._commit

    def logged(k: int, order: Any, ships: list[Any]) -> None:
        for n, lines, _ in ships:
            for s, q in lines:
                use[run.day, n, s] += q
        commit(k, order, ships)

    run._commit = logged  # type: ignore[method-assign]
    return use, float(run.run().kpis["total_cost"])


def _check_rows(sc: Scenario, seed: int) -> int:
    """Every row holds on the run's reservations; returns how many rows bind tighter than
    the warehouses' own stock would (the rows say something)."""
    net = build_network(sc)
    hp = build_hindsight(sc, net, seed)
    rows = hp.replenishment
    assert rows is not None and hp.supply is not None
    use, _ = _usage(sc, seed)
    said = 0
    for e in range(len(rows)):
        d, end = int(rows.day[e]), int(rows.end[e])
        inside = use[d : end + 1][:, rows.warehouse[e]].sum(axis=(0, 1))
        before = use[:d].sum(axis=(0, 1))
        lhs = inside + rows.slope[e] * before
        assert (lhs <= rows.rhs[e] + 1e-9).all(), (e, np.max(lhs - rows.rhs[e]))
        said += int((rows.rhs[e] < hp.supply[end][rows.warehouse[e]].sum(axis=0)).sum())
    return said + _check_warehouse_rows(hp, use)


def _check_warehouse_rows(hp: HindsightProblem, use: np.ndarray) -> int:
    """The per-warehouse rows hold on the run's reservations; how many say more than
    the warehouse's own stock would."""
    rows = hp.warehouse_rows
    assert rows is not None and hp.supply is not None
    said = 0
    for e in range(len(rows)):
        d, end = int(rows.day[e]), int(rows.end[e])
        for w in np.flatnonzero(rows.open_wh[e]).tolist():
            v = use[:d, w].sum(axis=0)
            for e2 in range(e + 1):
                lo = int(rows.day[e2 - 1]) if e2 > 0 else 0
                mine = rows.near[e2] == w
                v = v + (use[lo : int(rows.day[e2])][:, mine] * rows.stocked[mine]).sum(axis=(0, 1))
            lhs = use[d : end + 1, w].sum(axis=0) + rows.slope[e, w] * v
            assert (lhs <= rows.rhs[e, w] + 1e-9).all(), (e, w, np.max(lhs - rows.rhs[e, w]))
            said += int(
                (
                    rows.rhs[e, w] - rows.slope[e, w] * v
                    < hp.supply[end, w] - use[:d, w].sum(axis=0) - 1e-9
                ).sum()
            )
    return said


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 50),
    scale=st.sampled_from([0.3, 0.7, 1.2]),
    target=st.sampled_from([0.5, 1.0, 2.5]),
    every=st.integers(1, 3),
    lead=st.integers(0, 2),
    start=st.integers(0, 2),
    kind=st.sampled_from(["rule_based", "myopic"]),
    changes=st.booleans(),
    accuracy=st.sampled_from([1.0, 0.8]),
)
def test_every_run_satisfies_the_rows(
    seed: int,
    scale: float,
    target: float,
    every: int,
    lead: int,
    start: int,
    kind: str,
    changes: bool,
    accuracy: float,
) -> None:
    """The rows are derived from what the engine does; a run of any policy, with
    closures, safety-stock changes, rejections, walk-ins and returns, must satisfy them."""
    change_list: list[dict[str, Any]] = []
    if changes:
        change_list = [
            {"day": 1, "node": "W-HAN", "enabled": False},
            {"day": 3, "node": "W-HAN", "enabled": True},
            {"day": 2, "nodes": ["S0001", "S0003"], "enabled": False},
            {"day": 1, "safety_stock": 2, "scope": "warehouses"},
            {"day": 4, "safety_stock": 0, "scope": "warehouses"},
        ]
    sc = small(
        days=7,
        initial_stock={"scale": scale},
        demand={"orders_per_day": 50, "walkins_per_store": 4, "pickup_share": 0.3},
        replenishment={
            "warehouse": {"every_days": 2, "factor": 0.8},
            "store": {"every_days": every, "target": target, "lead_days": lead, "start_day": start},
        },
        rejections={"store_accuracy": accuracy, "warehouse_accuracy": accuracy},
        changes=change_list,
        policy={"kind": kind},
    )
    _check_rows(sc, seed)


def _tight() -> Scenario:
    """Stores topped up to well above their start, from thin warehouses: the top-ups
    take most of what the warehouses receive."""
    return small(
        days=8,
        initial_stock={"scale": 0.8},
        demand={"orders_per_day": 60, "walkins_per_store": 2, "pickup_share": 0.2},
        replenishment={
            "warehouse": {"every_days": 2, "factor": 1.0},
            "store": {"every_days": 3, "target": 1.5, "lead_days": 1, "start_day": 1},
        },
        rejections={"store_accuracy": 1.0, "warehouse_accuracy": 1.0},
    )


def test_rows_hold_and_say_something_when_top_ups_drain_the_warehouses() -> None:
    sc = _tight()
    for seed in (0, 1):
        assert _check_rows(sc, seed) > 0


def test_rows_lift_the_bound_which_stays_below_every_policy() -> None:
    sc = _tight()
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    data = ProblemData.from_problem(hp.problem)
    with_rows = timed_bound(hp, data, 30.0)
    without = timed_bound(dataclasses.replace(hp, replenishment=None), data, 30.0)
    assert with_rows is not None and without is not None
    assert with_rows[0] > without[0] + 1.0
    hb = hindsight_bound(sc, net, 0)
    for kind in ("rule_based", "myopic", "inventory_aware"):
        _, cost = _usage(sc.replace(policy={"kind": kind}), 0)
        assert hb.bound <= cost + 1e-6, kind


def test_the_chord_is_the_function_when_stock_is_plentiful() -> None:
    """One warehouse, one store, one sku by hand: 10 units at the warehouse, 4 at the
    store (its target 6), nothing ordered before the top-up: the warehouse keeps at most
    14 − 6 = 8, plus what it receives in the period."""
    is_store = np.array([False, True])
    rows = replenishment_rows(
        TopUps(
            days=4,
            order_days=[1, 3],
            free0=np.array([[10], [4]]),
            receipts={2: np.array([[5], [0]])},
            returns=(np.zeros(0, np.int64),) * 4,
            targets=np.array([[0], [6]]),
            is_store=is_store,
            lat=np.zeros(2),
            lon=np.zeros(2),
            enabled=[np.array([True, True])] * 4,
            safety=[np.zeros((2, 1), np.int64)] * 4,
            ordered=np.array([[3], [2], [0], [0]]),
        )
    )
    assert list(rows.day) == [1, 3] and list(rows.end) == [2, 3]
    # event 1: F₀ = 14, T = 6, Ū = 3 → g = 8 − U exactly (slope 1); receipts on day 2
    assert rows.slope[0, 0] == pytest.approx(1.0)
    assert rows.rhs[0, 0] == pytest.approx(8 + 5)
    # event 3: F₀ = 19, Ū = 5 → g(U) = 13 − U, slope 1, nothing received after
    assert rows.slope[1, 0] == pytest.approx(1.0) and rows.rhs[1, 0] == pytest.approx(13)


def test_the_chord_lies_above_the_kink() -> None:
    """Scarce: F₀ − T = 2 but up to 6 units could have been used before: g(U) = max(2 −
    U, 0) on [0, 6], chord from (0, 2) to (6, 0): slope 1/3."""
    rows = replenishment_rows(
        TopUps(
            days=2,
            order_days=[1],
            free0=np.array([[5], [3]]),
            receipts={},
            returns=(np.zeros(0, np.int64),) * 4,
            targets=np.array([[0], [6]]),
            is_store=np.array([False, True]),
            lat=np.zeros(2),
            lon=np.zeros(2),
            enabled=[np.array([True, True])] * 2,
            safety=[np.zeros((2, 1), np.int64)] * 2,
            ordered=np.array([[6], [0]]),
        )
    )
    assert rows.slope[0, 0] == pytest.approx(1 / 3) and rows.rhs[0, 0] == pytest.approx(2)
