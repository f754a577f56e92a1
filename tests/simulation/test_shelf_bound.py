"""Shelf rows: what walk-ins leave for later pickups, on hand-built draws."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.data import FloatArray, IntArray, ProblemData
from router.simulation.engine import Replay, run_seed
from router.simulation.hindsight import build_hindsight, hindsight_bound, timed_bound
from router.simulation.network import build_network
from router.simulation.scenario import Scenario
from router.simulation.shelf_bound import MINUTES_PER_DAY, ShelfWindows, shelf_windows, window_rows
from tests.simulation.conftest import small

NO_RETURNS = (np.zeros(0, np.int64),) * 4


def _walkins(*events: tuple[float, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, n, s = zip(*events, strict=True) if events else ((), (), ())
    return np.array(m, float), np.array(n, np.int64), np.array(s, np.int64)


def _windows(
    free0: int,
    walkins: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    target: int = 0,
    orders_on: list[int] | None = None,
    arrive_on: list[int] | None = None,
    returns: tuple[np.ndarray, ...] = NO_RETURNS,
    safety: int = 0,
) -> ShelfWindows:
    days = len(walkins)
    return shelf_windows(
        free0=np.array([[free0]]),
        targets=np.array([[target]]),
        orders_on=orders_on or [],
        arrive_on=arrive_on or [],
        returns=returns,  # type: ignore[arg-type]
        walkins=walkins,
        enabled=[np.ones(1, bool)] * days,
        min_safety=[np.array([[safety]])] * days,
        days=days,
    )


def test_a_walkin_that_takes_the_last_unit_closes_the_shelf() -> None:
    w = _windows(1, [_walkins((100.0, 0, 0), (200.0, 0, 0)), _walkins()])
    # the second walk-in found nothing in the envelope: no row for it
    assert len(w) == 1
    assert w.start[0] == 100.0 and w.end[0] == 2 * MINUTES_PER_DAY and w.cap[0] == 0


def test_returns_reopen_the_shelf() -> None:
    returns = (np.array([1]), np.array([0]), np.array([0]), np.array([2]))
    w = _windows(1, [_walkins((100.0, 0, 0)), _walkins((50.0, 0, 0))], returns=returns)
    # day 0: 1 → 0, and the 2 units returned on day 1 come later in the window
    # day 1: 0 + 2 → 1, nothing more comes
    assert w.cap.tolist() == [2, 1]
    assert w.start.tolist() == [100.0, MINUTES_PER_DAY + 50.0]


def test_a_return_counts_from_its_minute_not_from_the_morning() -> None:
    """A walk-in before a same-day return finds the shelf empty, in the run and in the
    envelope: had the envelope shelved the return in the morning, the walk-in would take
    it there and the row would say nothing is left for a pickup after the return, while
    the run holds the returned unit."""
    one_return = (np.array([0]), np.array([0]), np.array([0]), np.array([1]))

    def windows(*walkins: tuple[float, int, int]) -> ShelfWindows:
        return shelf_windows(
            free0=np.array([[0]]),
            targets=np.array([[0]]),
            orders_on=[],
            arrive_on=[],
            returns=one_return,
            walkins=[_walkins(*walkins)],
            enabled=[np.ones(1, bool)],
            min_safety=[np.array([[0]])],
            days=1,
            return_minute=np.array([200.0]),
        )

    assert len(windows((100.0, 0, 0))) == 0
    w = windows((100.0, 0, 0), (300.0, 0, 0))  # the second takes the returned unit
    assert w.start.tolist() == [300.0] and w.cap.tolist() == [0]
    w = windows((200.0, 0, 0))  # same minute: the engine takes the return first
    assert w.cap.tolist() == [0]


def test_returns_after_the_anchor_on_its_day_count_in_its_window() -> None:
    returns = (np.array([0]), np.array([0]), np.array([0]), np.array([2]))
    w = shelf_windows(
        free0=np.array([[1]]),
        targets=np.array([[0]]),
        orders_on=[],
        arrive_on=[],
        returns=returns,  # type: ignore[arg-type]
        walkins=[_walkins((100.0, 0, 0))],
        enabled=[np.ones(1, bool)],
        min_safety=[np.array([[0]])],
        days=1,
        return_minute=np.array([500.0]),
    )
    assert w.cap.tolist() == [2]


def test_replenishment_ends_the_window_and_refills_to_target() -> None:
    w = _windows(
        1,
        [_walkins((100.0, 0, 0)), _walkins((10.0, 0, 0)), _walkins()],
        target=3,
        orders_on=[0],
        arrive_on=[1],
    )
    assert w.end.tolist() == [MINUTES_PER_DAY, 3 * MINUTES_PER_DAY]
    assert w.cap.tolist() == [0, 2]


def test_safety_stock_comes_off_the_cap_and_never_below_zero() -> None:
    w = _windows(3, [_walkins((100.0, 0, 0))], safety=1)
    assert w.cap.tolist() == [1]
    w = _windows(1, [_walkins((100.0, 0, 0))], safety=2)
    assert w.cap.tolist() == [0]


def test_window_rows_take_the_arcs_inside_and_drop_slack_windows() -> None:
    win = ShelfWindows(
        node=np.array([0, 0]),
        sku=np.array([0, 1]),
        start=np.array([100.0, 100.0]),
        end=np.array([2880.0, 2880.0]),
        cap=np.array([0, 5]),
    )
    arc_node = np.array([0, 0, 0, 1, 0])
    arc_sku = np.array([0, 0, 0, 0, 1])
    arc_time = np.array([50.0, 150.0, 1500.0, 150.0, 150.0])
    arc_cap = np.ones(5)
    row, arc, rhs = window_rows(win, arc_node, arc_sku, arc_time, arc_cap, num_skus=2)
    # only the first window binds; it holds the two later arcs of (node 0, sku 0)
    assert rhs.tolist() == [0.0]
    assert row.tolist() == [0, 0] and sorted(arc.tolist()) == [1, 2]


SCARCE_SHELVES = {
    "days": 4,
    "initial_stock": {"scale": 0.3},
    "demand": {
        "orders_per_day": 60,
        "walkins_per_store": 8,
        "pickup_share": 0.6,
        "returns": {"rate": 0.1, "delay_days": 1},
    },
    "replenishment": {
        "warehouse": {"every_days": 2, "factor": 1.0},
        "store": {"every_days": 2, "target": 1.0, "lead_days": 1},
    },
}


def test_shelf_rows_tighten_the_bound_and_keep_it_valid() -> None:
    sc = small(**SCARCE_SHELVES)
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    assert hp.shelf is not None and len(hp.shelf) > 0
    data = ProblemData.from_problem(hp.problem)
    with_shelf = timed_bound(hp, data, 30.0)
    without = timed_bound(dataclasses.replace(hp, shelf=None), data, 30.0)
    assert with_shelf is not None and without is not None
    assert with_shelf[0] > without[0] + 1.0
    for kind in ("rule_based", "myopic", "inventory_aware"):
        policy: dict[str, object] = {"kind": kind}
        if kind == "inventory_aware":
            policy["params"] = {"horizon_days": 2}
        for seed in (0, 1, 2):
            hb = hindsight_bound(sc, net, seed)
            cost = run_seed(sc.replace(policy=policy), seed, hindsight=False)
            assert hb.bound <= cost.kpis["total_cost"] + 1e-6, (kind, seed)


def test_no_split_orders_cost_at_least_as_much_as_if_they_could_split() -> None:
    sc = small(days=3, demand={"allow_split_share": 0.0, "lines": {2: 0.5, 3: 0.5}})
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    data = ProblemData.from_problem(hp.problem)
    assert not data.order_allow_split.any()
    relaxed = hp.problem.model_copy(
        update={"orders": [o.model_copy(update={"allow_split": True}) for o in hp.problem.orders]}
    )
    kept = timed_bound(hp, data, 30.0)
    split = timed_bound(
        dataclasses.replace(hp, problem=relaxed), ProblemData.from_problem(relaxed), 30.0
    )
    assert kept is not None and split is not None
    assert kept[0] > split[0] + 1.0
    for kind in ("rule_based", "myopic"):
        cost = run_seed(sc.replace(policy={"kind": kind}), 0, hindsight=False)
        assert kept[0] <= cost.kpis["total_cost"] + 1e-6, kind


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scale=st.sampled_from([0.1, 0.3, 0.8]),
    walkins=st.integers(0, 12),
    pickup=st.sampled_from([0.2, 0.6, 0.9]),
    returns=st.sampled_from([0.0, 0.2]),
    lead=st.integers(0, 2),
    split=st.sampled_from([0.0, 0.5, 1.0]),
    protect=st.booleans(),
    seed=st.integers(0, 50),
)
def test_bound_stays_below_every_policy(
    scale: float,
    walkins: int,
    pickup: float,
    returns: float,
    lead: int,
    split: float,
    protect: bool,
    seed: int,
) -> None:
    """Walk-ins, returns, replenishment, protection and no-split orders together: the
    bound (shelf rows, shipments and the strong form included) never exceeds a policy's
    cost."""
    sc = small(
        days=4,
        initial_stock={"scale": scale},
        demand={
            "orders_per_day": 40,
            "walkins_per_store": walkins,
            "pickup_share": pickup,
            "allow_split_share": split,
            "returns": {"rate": returns, "delay_days": 1},
        },
        replenishment={
            "warehouse": {"every_days": 2, "factor": 1.0},
            "store": {"every_days": 2, "target": 1.0, "lead_days": lead},
        },
        protection={"service_level": 0.6, "cover_days": 1.0, "day": 1} if protect else None,
        hindsight={"strong_time_limit_s": 10.0},
    )
    net = build_network(sc)
    hb = hindsight_bound(sc, net, seed)
    for kind in ("rule_based", "myopic", "inventory_aware"):
        cost = run_seed(sc.replace(policy={"kind": kind}), seed, hindsight=False)
        assert hb.bound <= cost.kpis["total_cost"] + 1e-6, kind


def test_strong_form_is_tighter_and_stays_below_every_policy() -> None:
    """Multi-line orders keeping their shipments (PDLP, Lagrangian of its duals): at least
    the weak form on an instance with many multi-line orders, and still a bound."""
    sc = small(
        days=3,
        demand={"lines": {2: 0.5, 3: 0.5}, "allow_split_share": 1.0},
        hindsight={"strong_time_limit_s": 30.0},
    )
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    data = ProblemData.from_problem(hp.problem)
    weak = timed_bound(hp, data, 30.0)
    strong = timed_bound(hp, data, 30.0, strong=True)
    assert weak is not None and strong is not None
    assert strong[0] > weak[0] + 1.0
    assert np.isclose(sum(strong[1]), strong[0])
    hb = hindsight_bound(sc, net, 0)
    assert hb.method == "strong" and np.isclose(hb.bound, strong[0])
    for kind in ("rule_based", "myopic", "inventory_aware"):
        cost = run_seed(sc.replace(policy={"kind": kind}), 0, hindsight=False)
        assert hb.bound <= cost.kpis["total_cost"] + 1e-6, kind


def test_network_stock_counts_no_transfer_twice() -> None:
    """The network pool is initial free stock + receipts + returns, without the store
    replenishment that only moves units from the warehouses."""
    sc = small(**SCARCE_SHELVES)
    net = build_network(sc)
    hp = build_hindsight(sc, net, 0)
    assert hp.pool is not None and hp.supply is not None
    assert (np.diff(hp.pool, axis=0) >= 0).all()
    # the per-node supply counts each store transfer on top of the warehouse stock
    assert hp.pool[-1].sum() < hp.supply[-1].sum()


def _reservations(sc: Scenario, seed: int) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Every unit a real run reserved: (node, sku, its order's arrival time, units)."""
    net = build_network(sc)
    run = Replay(sc, net, seed)
    commit = run._commit
    log: list[tuple[int, int, float, int]] = []

    def logged(k: int, order: Any, ships: list[Any]) -> None:
        t = run.day * MINUTES_PER_DAY + float(run.today.minute[k])
        for n, lines, _ in ships:
            for s, q in lines:
                log.append((n, s, t, q))
        commit(k, order, ships)

    run._commit = logged  # type: ignore[method-assign]
    run.run()
    a = np.array(log, dtype=np.float64).reshape(-1, 4)
    return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2], a[:, 3]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 50),
    scale=st.sampled_from([0.2, 0.5, 1.0]),
    walkins=st.sampled_from([2, 8, 20]),
    every=st.integers(1, 3),
    lead=st.integers(0, 2),
    kind=st.sampled_from(["rule_based", "myopic"]),
    wave=st.sampled_from([0, 120]),
)
def test_every_run_satisfies_the_shelf_rows(
    seed: int, scale: float, walkins: int, every: int, lead: int, kind: str, wave: int
) -> None:
    """The rows hold on a real run's reservations (every policy's plan must satisfy them;
    waves route an order after it arrives, rejections write stock off)."""
    sc = small(
        days=6,
        initial_stock={"scale": scale},
        demand={
            "orders_per_day": 60,
            "walkins_per_store": walkins,
            "pickup_share": 0.5,
            "returns": {"rate": 0.2, "delay_days": 1},
        },
        replenishment={
            "warehouse": {"every_days": 2, "factor": 1.0},
            "store": {"every_days": every, "target": 1.0, "lead_days": lead},
        },
        rejections={"store_accuracy": 0.9},
        policy={"kind": kind, "wave_minutes": wave},
    )
    net = build_network(sc)
    hp = build_hindsight(sc, net, seed)
    assert hp.shelf is not None
    node, sku, t, qty = _reservations(sc, seed)
    row, arc, rhs = window_rows(hp.shelf, node, sku, t, qty, len(net.sku_ids))
    lhs = np.bincount(row, weights=qty[arc], minlength=rhs.size)
    assert (lhs <= rhs + 1e-9).all(), float(np.max(lhs - rhs))
