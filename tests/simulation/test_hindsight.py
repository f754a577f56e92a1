"""The hindsight bound: a lower bound on every policy's cost on the same draws."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models import RateBand
from router.batch import optimize
from router.data import ProblemData
from router.result import SolveParams
from router.simulation.engine import run_seed
from router.simulation.hindsight import (
    build_hindsight,
    decoupled_bound,
    hindsight_bound,
    patterns_bound,
    rate_envelope,
    timed_bound,
)
from router.simulation.network import build_network
from router.simulation.scenario import Scenario
from tests.simulation.conftest import small

CARD_A = [
    {"max_km": 30, "base": 3.5, "per_kg": 0.3, "transit_days": 0},
    {"max_km": 300, "base": 5.5, "per_kg": 0.5, "transit_days": 1},
    {"max_km": None, "base": 9.0, "per_kg": 1.0, "transit_days": 3},
]
CARD_B = [
    {"max_km": 100, "base": 4.5, "per_kg": 0.2, "transit_days": 1},
    {"max_km": 1000, "base": 6.0, "per_kg": 0.4, "transit_days": 2},
]


def _band(card: list[RateBand], d: float) -> RateBand | None:
    return next((b for b in card if b.max_km is None or d <= b.max_km), None)


@settings(max_examples=60, deadline=None)
@given(d=st.floats(0, 3000), w=st.floats(0, 20))
def test_rate_envelope_is_never_dearer(d: float, w: float) -> None:
    cards = [[RateBand(**b) for b in c] for c in (CARD_A, CARD_B)]
    env = rate_envelope(cards)
    e = _band(env, d)
    for card in cards:
        b = _band(card, d)
        if b is not None:
            assert e is not None
            assert e.base + e.per_kg * w <= b.base + b.per_kg * w + 1e-12
            assert e.transit_days <= b.transit_days


CHANGES = [
    {"day": 1, "node": "W-HAN", "enabled": False},
    {"day": 1, "rates": CARD_B},
    {"day": 2, "ship_from_store": False},
    {"day": 0, "safety_stock": 1, "scope": "stores"},
    {"day": 2, "safety_stock": 0, "scope": "stores"},
    {"day": 1, "nodes": ["S0001", "S0002"], "order_capacity": 1},
]


def test_bound_below_every_policy_with_changes() -> None:
    for kind in ("rule_based", "myopic", "batch"):
        sc = small(
            policy={"kind": kind, "time_limit_s": 0.5},
            changes=CHANGES,
            rejections={"store_accuracy": 0.7},
        )
        for seed in (0, 1):
            r = run_seed(sc, seed)
            assert r.kpis["hindsight_cost"] <= r.kpis["total_cost"] + 1e-6, (kind, seed)
            assert 0.0 <= r.kpis["hindsight_gap"] < 1.0


def test_decoupled_bound_is_weaker_but_valid() -> None:
    sc = small(changes=CHANGES)
    net = build_network(sc)
    joint = hindsight_bound(sc, net, 3)
    loose, per_day = decoupled_bound(build_hindsight(sc, net, 3))
    assert joint.method in ("lp", "timed")
    assert loose <= joint.bound + 1e-6
    assert np.isclose(sum(per_day), loose)
    forced = hindsight_bound(sc.replace(hindsight={"max_orders": 0}), net, 3)
    assert forced.method == "decoupled" and np.isclose(forced.bound, loose)
    cost = run_seed(sc, 3, hindsight=False).kpis["total_cost"]
    assert joint.bound <= cost + 1e-6


def test_timed_bound_is_tighter_when_stock_arrives_late() -> None:
    # Scarce initial stock, one big warehouse receipt on the last day: the pooled bound
    # lets the first days' orders use it, the time-indexed LP does not.
    sc = small(
        days=4,
        initial_stock={"scale": 0.2},
        replenishment={"warehouse": {"every_days": 10, "start_day": 3, "factor": 6.0}},
    )
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    assert hp.supply is not None and (hp.supply[-1] == hp.atp).all()
    assert (np.diff(hp.supply, axis=0) >= 0).all()
    data = ProblemData.from_problem(hp.problem)
    pooled = optimize(data, SolveParams(time_limit=5.0, threads=1))
    timed = timed_bound(hp, data, 30.0)
    assert timed is not None and pooled.bound is not None
    assert timed[0] > pooled.bound + 1.0
    assert np.isclose(sum(timed[1]), timed[0])
    hb = hindsight_bound(sc, net, 0)
    assert hb.method == "timed" and np.isclose(hb.bound, timed[0])
    for kind in ("rule_based", "myopic", "batch"):
        cost = run_seed(sc.replace(policy={"kind": kind, "time_limit_s": 0.5}), 0, hindsight=False)
        assert hb.bound <= cost.kpis["total_cost"] + 1e-6, kind


def _busy() -> Scenario:
    """Nine days with store top-ups, walk-ins, pickups, returns and rejections: every
    row family of the time-indexed bound is there."""
    return small(
        days=9,
        initial_stock={"scale": 0.6},
        demand={
            "orders_per_day": 60,
            "walkins_per_store": 4,
            "pickup_share": 0.4,
            "returns": {"rate": 0.2, "delay_days": 1},
        },
        replenishment={
            "warehouse": {"every_days": 2, "factor": 1.0},
            "store": {"every_days": 2, "target": 1.0, "lead_days": 1},
        },
        rejections={"store_accuracy": 0.9},
    )


def test_replenishment_periods_tighten_the_bound_and_keep_it_valid() -> None:
    """Stores replenished to their target can give out at most max(target, initial) +
    returns per period: with weekly top-ups the bound rises, and stays below every
    policy (walk-ins, returns and rejections included)."""
    import dataclasses

    sc = _busy()
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    assert hp.period_of_day is not None and hp.period_cap is not None
    assert hp.period_of_day[0] == -1 and hp.period_of_day[-1] == hp.period_cap.shape[0] - 1
    data = ProblemData.from_problem(hp.problem)
    with_periods = timed_bound(hp, data, 30.0)
    without = timed_bound(dataclasses.replace(hp, period_of_day=None, period_cap=None), data, 30.0)
    assert with_periods is not None and without is not None
    assert with_periods[0] > without[0] + 1.0
    for kind in ("rule_based", "myopic", "inventory_aware"):
        policy: dict[str, object] = {"kind": kind}
        if kind == "inventory_aware":
            policy["params"] = {"horizon_days": 2}
        for seed in (0, 1):
            hb = hindsight_bound(sc, net, seed)
            cost = run_seed(sc.replace(policy=policy), seed, hindsight=False)
            assert hb.bound <= cost.kpis["total_cost"] + 1e-6, (kind, seed)


def test_pattern_bound_keeps_shipments_whole_and_stays_valid() -> None:
    """The pattern bound has the time-indexed LP's rows and whole shipments: at least the
    LP (weak and strong) once converged, and still below every policy's cost."""
    sc = _busy().replace(hindsight={"patterns_time_limit_s": 60.0})
    net = build_network(sc)
    policies: list[dict[str, object]] = [
        {"kind": "rule_based"},
        {"kind": "myopic"},
        {"kind": "inventory_aware", "params": {"horizon_days": 2}},
    ]
    for seed in (0, 1):
        hp = build_hindsight(sc, net, seed)
        data = ProblemData.from_problem(hp.problem)
        weak = timed_bound(hp, data, 30.0)
        strong = timed_bound(hp, data, 60.0, strong=True)
        pat = patterns_bound(hp, data, 60.0)
        assert weak is not None and strong is not None and pat is not None
        res, per_day = pat
        assert res.converged
        assert res.bound >= max(weak[0], strong[0]) - 1e-6 * res.bound
        assert res.bound > weak[0] + 100.0  # split orders' shipments paid whole
        assert np.isclose(sum(per_day), res.bound)
        hb = hindsight_bound(sc, net, seed)
        assert hb.method == "patterns" and np.isclose(hb.bound, res.bound)
        for policy in policies:
            cost = run_seed(sc.replace(policy=policy), seed, hindsight=False)
            assert hb.bound <= cost.kpis["total_cost"] + 1e-6, (policy, seed)


def test_store_protection_counts_in_the_bound() -> None:
    """Protection levels set store safety stock on their day; the bound must use them
    (a reviewer's counterexample: ignoring them put the bound above the policies)."""
    sc = small(
        days=5,
        initial_stock={"scale": 0.1},
        demand={
            "orders_per_day": 10,
            "walkins_per_store": 0,
            "pickup_share": 0.8,
            "returns": {"rate": 0.05},
        },
        replenishment={
            "warehouse": None,
            "store": {"every_days": 1, "lead_days": 0, "target": 1.0, "start_day": 0},
        },
        rejections={"store_accuracy": 1.0, "warehouse_accuracy": 1.0},
        protection={"service_level": 0.5, "cover_days": 1.0, "day": 0},
    )
    net = build_network(sc)
    for seed in (0, 1):
        hb = hindsight_bound(sc, net, seed)
        for kind in ("rule_based", "myopic"):
            cost = run_seed(sc.replace(policy={"kind": kind}), seed, hindsight=False)
            assert hb.bound <= cost.kpis["total_cost"] + 1e-6, (kind, seed)


def test_no_returns_with_store_replenishment() -> None:
    """No returned line at all (rate 0): the period rows must still build."""
    sc = small(
        days=6,
        demand={"returns": {"rate": 0.0}},
        replenishment={"store": {"every_days": 2, "target": 1.0, "lead_days": 1}},
    )
    r = run_seed(sc, 0)
    assert r.kpis["hindsight_cost"] <= r.kpis["total_cost"] + 1e-6


def test_hindsight_refuses_rebalancing_even_when_called_directly() -> None:
    import pytest

    sc = small(days=4, rebalance={"every_days": 2}, hindsight={"enabled": False})
    with pytest.raises(ValueError, match="rebalanc"):
        hindsight_bound(sc, build_network(sc), 0)
