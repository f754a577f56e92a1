"""``router.single.SingleOrderRouter`` against the batch optimizer, and its explanations.

Every routed order is checked three ways: its cost equals :func:`router.optimize` on the
one-order problem with the same availability and capacities (written out here as a
contract dict, independently of ``router.single``), its plan passes
:func:`router.check_plan` on that problem (rules, and every reported number equal to the
repriced one), and its explanation agrees with what ``check_plan`` says about shipping the
whole order from each listed node.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import router.order_search
import router.single
from models import REASONS, Line, LineQty, Order, OrderPlan, Plan, Shipment, parse_problem
from router import ProblemData, check_plan, optimize
from router.data import UNLIMITED
from router.generate import generate
from router.single import MAX_ALTERNATIVES, SingleOrderRouter, SingleResult
from tests.strategies import problems

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
REL = 1e-6

Raw = dict[str, Any]
Caps = list[int | None] | None

REASON_OF_CAUSE = {
    "stock": "no_stock",
    "order_capacity": "capacity",
    "unit_capacity": "capacity",
    "late": "promise",
    "node_excluded": "excluded",
    "node_disabled": "disabled",
    "cannot_ship": "cannot_ship",
    "store_ineligible": "store_ineligible",
    "out_of_range": "out_of_range",
    "transfer_not_allowed": "transfer_not_allowed",
    "pickup_unservable": "pickup_unservable",
}
"""check_plan's cause for shipping the whole order from a node → the explanation's reason."""


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


# ---------------------------------------------------------------------------------------
# The one-order problem, written out from the contract dict
# ---------------------------------------------------------------------------------------


def network_data(raw: Raw) -> ProblemData:
    """Nodes, skus and rates of a problem: what the router is built from."""
    return ProblemData.from_problem(parse_problem({**raw, "inventory": [], "orders": []}))


def one_order_raw(
    raw: Raw,
    order_raw: Raw,
    atp: np.ndarray,
    ships: Caps = None,
    units: Caps = None,
    exclude: list[str] | tuple[str, ...] = (),
) -> Raw:
    """The problem ``route`` is asked about: this order alone, ``atp`` as on-hand stock,
    the capacities left as capacities (None: the nodes' own) and ``exclude`` added to the
    order's excluded_nodes."""
    nodes = []
    for i, node in enumerate(raw["nodes"]):
        node = dict(node)
        if ships is not None:
            node["order_capacity"] = ships[i]
        if units is not None:
            node["unit_capacity"] = units[i]
        nodes.append(node)
    inventory = [
        {"node": node["id"], "sku": line["sku"], "on_hand": int(atp[i, j])}
        for i, node in enumerate(raw["nodes"])
        for j, line in enumerate(order_raw["lines"])
        if atp[i, j] > 0
    ]
    order = dict(order_raw)
    order["excluded_nodes"] = sorted(set(order_raw.get("excluded_nodes") or []) | set(exclude))
    return {
        "nodes": nodes,
        "skus": raw["skus"],
        "rates": raw["rates"],
        "inventory": inventory,
        "orders": [order],
    }


def caps_array(caps: Caps) -> np.ndarray | None:
    if caps is None:
        return None
    return np.array([UNLIMITED if c is None else c for c in caps], dtype=np.int64)


def route_alone(
    raw: Raw,
    k: int,
    atp: np.ndarray,
    ships: Caps = None,
    units: Caps = None,
    exclude: list[str] | tuple[str, ...] = (),
) -> SingleResult:
    order = parse_problem(raw).orders[k]
    single = SingleOrderRouter(network_data(raw))
    return single.route(order, atp, caps_array(ships), caps_array(units), exclude, explain=True)


def assert_valid(one: ProblemData, res: SingleResult) -> None:
    """The plan passes check_plan, reported numbers equal to the repriced ones."""
    report = check_plan(one, Plan.model_construct(orders=[res.plan], cost=res.plan.cost))
    assert report.valid, [str(v) for v in report.violations]
    assert report.repriced.cost is not None and close(res.cost, report.repriced.cost.total)


def route_and_verify(
    raw: Raw,
    k: int,
    atp: np.ndarray,
    ships: Caps = None,
    units: Caps = None,
    exclude: list[str] | tuple[str, ...] = (),
) -> tuple[SingleResult, ProblemData]:
    """Route order ``k`` of ``raw`` alone and check it against optimize and check_plan."""
    res = route_alone(raw, k, atp, ships, units, exclude)
    one = ProblemData.from_problem(
        parse_problem(one_order_raw(raw, raw["orders"][k], atp, ships, units, exclude))
    )
    ref = optimize(one)
    assert ref.status == "optimal"
    assert close(res.cost, ref.cost), (res.cost, ref.cost, res.plan, ref.plan.orders[0])
    assert res.status == "optimal" and res.bound == res.cost
    assert_valid(one, res)
    assert res.plan.order_id == raw["orders"][k]["id"]
    verify_explanation(one, res)
    return res, one


def verify_explanation(one: ProblemData, res: SingleResult) -> None:
    """Each alternative's cost, feasibility and reasons, against check_plan's verdict on
    shipping the whole order from that node in one shipment."""
    exp = res.explanation
    assert exp is not None
    assert exp.chosen == [sh.node for sh in res.plan.shipments]
    alts = exp.alternatives
    assert len(alts) <= MAX_ALTERNATIVES
    assert len({a.node for a in alts}) == len(alts)
    assert not {a.node for a in alts} & set(exp.chosen)
    priced = [a.cost for a in alts if a.cost is not None]
    assert priced == sorted(priced)
    assert all(a.cost is not None for a in alts[: len(priced)])  # unpriced ones come last
    order = one.problem.orders[0]
    lines = [LineQty(sku=ln.sku, qty=ln.qty) for ln in order.lines]
    for alt in alts:
        assert set(alt.reasons) <= set(REASONS)
        whole = OrderPlan(order_id=order.id, shipments=[Shipment(node=alt.node, lines=lines)])
        report = check_plan(one, Plan(orders=[whole]))
        found = {REASON_OF_CAUSE[v.cause] for v in report.violations}
        assert found == set(alt.reasons) - {"no_split"}, (alt, report.violations)
        assert alt.feasible == (not alt.reasons)
        if "no_split" in alt.reasons:
            assert not order.allow_split and "no_stock" in alt.reasons
        if alt.cost is None:
            assert "out_of_range" in alt.reasons and alt.cost_difference is None
            continue
        assert report.repriced.cost is not None
        assert close(alt.cost, report.repriced.cost.total)
        assert alt.cost_difference is not None
        assert close(alt.cost_difference, alt.cost - res.cost)
        if alt.feasible:  # a valid plan: never cheaper than the optimum
            assert alt.cost >= res.cost - 1e-6 * max(1.0, res.cost)


# ---------------------------------------------------------------------------------------
# Random problems
# ---------------------------------------------------------------------------------------


@st.composite
def cases(
    draw: st.DrawFn, *, max_nodes: int = 5, dense: bool = False
) -> tuple[Raw, int, np.ndarray, Caps, Caps, list[str]]:
    """A problem, one of its orders, and random atp, capacities left and extra exclusions."""
    raw = draw(
        problems(max_nodes=max_nodes, max_skus=4, max_orders=2, max_lines=4, dense_stock=dense)
    )
    if draw(st.booleans()):  # dear penalties: splitting pays, the search has work
        for sku in raw["skus"]:
            sku["unfilled_penalty"] = draw(st.sampled_from([80.0, 200.0, 1000.0]))
    n = len(raw["nodes"])
    k = draw(st.integers(0, len(raw["orders"]) - 1))
    width = len(raw["orders"][k]["lines"])
    cell = st.sampled_from([0, 0, 1, 2, 3, 5]) if not dense else st.integers(0, 4)
    atp = np.array(
        draw(st.lists(st.lists(cell, min_size=width, max_size=width), min_size=n, max_size=n)),
        dtype=np.int64,
    ).reshape(n, width)
    ships = draw(st.lists(st.sampled_from([None, None, 0, 1, 2]), min_size=n, max_size=n))
    units = draw(st.lists(st.sampled_from([None, None, None, 0, 1, 2, 4]), min_size=n, max_size=n))
    node_ids = [node["id"] for node in raw["nodes"]]
    exclude = draw(st.lists(st.sampled_from(node_ids), max_size=2, unique=True))
    return raw, k, atp, ships, units, exclude


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_random_orders_route_optimally(
    case: tuple[Raw, int, np.ndarray, Caps, Caps, list[str]],
) -> None:
    res, one = route_and_verify(*case)
    by_programme = route_by_programme(*case)
    assert close(by_programme.cost, res.cost)
    assert_valid(one, by_programme)


def route_by_programme(*case: Any) -> SingleResult:
    """The same order with set enumeration turned off: the dynamic programme decides."""
    with mock.patch.object(router.order_search, "SUBSET_LIMIT", 0):
        return route_alone(*case)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_nodes=10, dense=True))
def test_random_orders_on_wider_networks_route_optimally(
    case: tuple[Raw, int, np.ndarray, Caps, Caps, list[str]],
) -> None:
    """Many nodes holding most skus: the pruning, dominance and search all have work."""
    res, one = route_and_verify(*case)
    by_programme = route_by_programme(*case)
    assert close(by_programme.cost, res.cost)
    assert_valid(one, by_programme)


# ---------------------------------------------------------------------------------------
# The contract example
# ---------------------------------------------------------------------------------------


def test_example_orders_alone_against_full_stock() -> None:
    raw = json.loads((EXAMPLES / "small-problem.json").read_text())
    data = ProblemData.from_problem(parse_problem(raw))
    for k, order in enumerate(data.problem.orders):
        skus = [data.sku_index[ln.sku] for ln in order.lines]
        res, _ = route_and_verify(raw, k, data.atp[:, skus])
        assert res.solver == "single"


def test_us_demo_orders_match_the_optimizer() -> None:
    """Real-sized candidate sets (500 nodes): the champion screening and the set search."""
    raw = generate("us", 300, 5)
    problem = parse_problem(raw)
    data = ProblemData.from_problem(problem)
    single = SingleOrderRouter(network_data(raw))
    multi = [k for k, o in enumerate(problem.orders) if len(o.lines) >= 3][:25]
    for k in multi:
        order = problem.orders[k]
        atp = data.atp[:, [data.sku_index[ln.sku] for ln in order.lines]]
        res = single.route(order, atp, explain=True)
        one_raw = one_order_raw(raw, raw["orders"][k], atp)
        one = ProblemData.from_problem(parse_problem(one_raw))
        ref = optimize(one)
        assert ref.status == "optimal" and close(res.cost, ref.cost), order.id
        assert_valid(one, res)
        verify_explanation(one, res)


# ---------------------------------------------------------------------------------------
# A hand-made network: the rules one at a time
# ---------------------------------------------------------------------------------------
#
# The customer is at (50.0, 10.0). Bands: ≤ 100 km (base 5, per kg 0.5, 1 day), ≤ 400 km
# (base 9, per kg 1.0, 3 days), nothing beyond. W-NEAR is ~36 km away, W-FAR ~222 km,
# W-OUT ~611 km (out of range), S-NEAR ~14 km (cheap handling), S-PICK ~11 km.


def hand_network(stock: dict[str, dict[str, int]], **node_changes: dict[str, Any]) -> Raw:
    nodes: list[Raw] = [
        {"id": "W-NEAR", "type": "warehouse", "lat": 50.0, "lon": 10.5},
        {"id": "W-FAR", "type": "warehouse", "lat": 52.0, "lon": 10.0},
        {"id": "W-OUT", "type": "warehouse", "lat": 55.5, "lon": 10.0},
        {"id": "S-NEAR", "type": "store", "lat": 50.0, "lon": 10.2},
        {"id": "S-PICK", "type": "store", "lat": 50.1, "lon": 10.0},
    ]
    for node in nodes:
        node.update(handling_cost_per_shipment=2.0, handling_cost_per_unit=0.5)
        node.update(node_changes.get(node["id"].replace("-", "_"), {}))
    nodes[3].update(handling_cost_per_shipment=0.5, handling_cost_per_unit=0.1)
    nodes[3].update(node_changes.get("S_NEAR", {}))
    return {
        "nodes": nodes,
        "skus": [
            {"id": "A", "weight_kg": 1.0, "unfilled_penalty": 50.0},
            {"id": "B", "weight_kg": 1.0, "unfilled_penalty": 50.0},
            {"id": "X", "weight_kg": 2.0, "store_eligible": False, "unfilled_penalty": 50.0},
        ],
        "rates": [
            {"max_km": 100, "base": 5.0, "per_kg": 0.5, "transit_days": 1},
            {"max_km": 400, "base": 9.0, "per_kg": 1.0, "transit_days": 3},
        ],
        "inventory": [
            {"node": node, "sku": sku, "on_hand": qty}
            for node, skus in stock.items()
            for sku, qty in skus.items()
        ],
        "orders": [],
    }


def with_order(raw: Raw, **order: Any) -> Raw:
    raw = copy.deepcopy(raw)
    order.setdefault("id", "O1")
    if order.get("method") != "pickup":
        order.setdefault("lat", 50.0)
        order.setdefault("lon", 10.0)
    raw["orders"] = [order]
    return raw


def route_hand(raw: Raw, **kwargs: Any) -> SingleResult:
    """Route the only order of ``raw`` against its own stock, verified as above."""
    data = ProblemData.from_problem(parse_problem(raw))
    atp = data.atp[:, [data.sku_index[ln.sku] for ln in data.problem.orders[0].lines]]
    res, _ = route_and_verify(raw, 0, atp, **kwargs)
    return res


def nodes_of(res: SingleResult) -> list[str]:
    return [sh.node for sh in res.plan.shipments]


def test_nearest_stock_wins_and_exclusions_move_it() -> None:
    raw = hand_network({"W-NEAR": {"A": 5}, "W-FAR": {"A": 5}})
    order = {"lines": [{"sku": "A", "qty": 1}]}
    assert nodes_of(route_hand(with_order(raw, **order))) == ["W-NEAR"]
    assert nodes_of(route_hand(with_order(raw, **order), exclude=["W-NEAR"])) == ["W-FAR"]
    excluded = with_order(raw, **order, excluded_nodes=["W-NEAR"])
    assert nodes_of(route_hand(excluded)) == ["W-FAR"]
    both = route_hand(with_order(raw, **order), exclude=["W-NEAR", "W-FAR"])
    assert both.plan.status == "unfilled" and both.plan.unfilled == [LineQty(sku="A", qty=1)]


def test_no_split_takes_one_node_even_when_two_are_cheaper() -> None:
    raw = hand_network(
        {"W-NEAR": {"A": 1}, "S-NEAR": {"B": 1}, "W-FAR": {"A": 1, "B": 1}},
        W_FAR={"handling_cost_per_shipment": 5.0},
    )
    lines = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}]
    split = route_hand(with_order(raw, lines=lines))
    assert nodes_of(split) == ["W-NEAR", "S-NEAR"]
    whole = route_hand(with_order(raw, lines=lines, allow_split=False))
    assert nodes_of(whole) == ["W-FAR"] and whole.cost > split.cost
    assert whole.explanation is not None
    near = {a.node: a for a in whole.explanation.alternatives}["W-NEAR"]
    assert near.reasons == ["no_stock", "no_split"] and not near.feasible


def test_capacity_left_is_respected() -> None:
    raw = hand_network({"W-NEAR": {"A": 5}, "W-FAR": {"A": 1}})
    order = with_order(raw, lines=[{"sku": "A", "qty": 2}])
    assert nodes_of(route_hand(order)) == ["W-NEAR"]
    # No shipment left at W-NEAR: W-FAR's one unit, the other unfilled.
    res = route_hand(order, ships=[0, None, None, None, None])
    assert nodes_of(res) == ["W-FAR"] and res.plan.status == "partial"
    # One unit left at W-NEAR: the second unit comes from W-FAR (cheaper than the penalty).
    res = route_hand(order, units=[1, None, None, None, None])
    assert nodes_of(res) == ["W-NEAR", "W-FAR"] and res.plan.status == "fulfilled"
    assert [sh.lines[0].qty for sh in res.plan.shipments] == [1, 1]
    assert res.explanation is not None
    assert res.explanation.chosen == ["W-NEAR", "W-FAR"]


def test_pickup_own_stock_and_transfers() -> None:
    raw = hand_network({"S-PICK": {"A": 1, "X": 1}, "W-NEAR": {"B": 3}})
    lines = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}, {"sku": "X", "qty": 1}]
    pickup = {"method": "pickup", "pickup_node": "S-PICK", "lines": lines}
    res = route_hand(with_order(raw, **pickup))
    assert nodes_of(res) == ["W-NEAR", "S-PICK"]
    own = res.plan.shipments[1]
    # Own stock: no shipping, distance and transit 0, store-ineligible X handed over.
    assert own.distance_km == 0.0 and own.transit_days == 0
    assert own.cost is not None and own.cost.shipping == 0.0
    assert {ln.sku for ln in own.lines} == {"A", "X"}
    assert res.plan.shipments[0].distance_km == pytest.approx(36.9, abs=1.0)  # to the store

    no_transfer = route_hand(with_order(raw, **pickup, allow_transfer=False))
    assert nodes_of(no_transfer) == ["S-PICK"] and no_transfer.plan.status == "partial"
    assert no_transfer.explanation is not None
    w_near = {a.node: a for a in no_transfer.explanation.alternatives}["W-NEAR"]
    assert "transfer_not_allowed" in w_near.reasons


@pytest.mark.parametrize("how", ["disabled", "excluded", "exclude"])
def test_a_dead_pickup_node_serves_nothing(how: str) -> None:
    changes = {"S_PICK": {"enabled": False}} if how == "disabled" else {}
    raw = hand_network({"S-PICK": {"A": 1}, "W-NEAR": {"A": 3}}, **changes)
    order: Raw = {"method": "pickup", "pickup_node": "S-PICK", "lines": [{"sku": "A", "qty": 1}]}
    if how == "excluded":
        order["excluded_nodes"] = ["S-PICK"]
    res = route_hand(with_order(raw, **order), exclude=["S-PICK"] if how == "exclude" else ())
    assert res.plan.status == "unfilled" and not res.plan.shipments
    assert res.cost == 50.0
    assert res.explanation is not None
    for alt in res.explanation.alternatives:
        assert "pickup_unservable" in alt.reasons


def test_delivery_promise_rules_out_slow_bands() -> None:
    raw = hand_network({"W-FAR": {"A": 2}, "W-OUT": {"A": 2}})
    order = {"lines": [{"sku": "A", "qty": 1}]}
    assert nodes_of(route_hand(with_order(raw, **order))) == ["W-FAR"]
    late = route_hand(with_order(raw, **order, deliver_within_days=2))
    assert late.plan.status == "unfilled"
    assert late.explanation is not None
    alts = {a.node: a for a in late.explanation.alternatives}
    assert alts["W-FAR"].reasons == ["promise"]
    assert alts["W-OUT"].reasons == ["out_of_range"] and alts["W-OUT"].cost is None


def test_explanation_names_a_cheaper_node_without_stock() -> None:
    raw = hand_network({"W-NEAR": {"A": 3}, "W-FAR": {"A": 3}, "S-NEAR": {"A": 1}})
    res = route_hand(with_order(raw, lines=[{"sku": "A", "qty": 2}], allow_split=False))
    assert res.explanation is not None
    assert res.explanation.chosen == ["W-NEAR"]
    alts = {a.node: a for a in res.explanation.alternatives}
    s_near = alts["S-NEAR"]
    assert not s_near.feasible and s_near.reasons == ["no_stock", "no_split"]
    assert s_near.cost_difference is not None and s_near.cost_difference < 0
    assert alts["W-FAR"].feasible and alts["W-FAR"].reasons == []
    assert alts["W-FAR"].cost_difference is not None and alts["W-FAR"].cost_difference > 0
    assert res.explanation.alternatives[0].node == "S-NEAR"  # cheapest first


def test_explanation_only_when_asked() -> None:
    raw = with_order(hand_network({"W-NEAR": {"A": 3}}), lines=[{"sku": "A", "qty": 1}])
    data = ProblemData.from_problem(parse_problem(raw))
    single = SingleOrderRouter(network_data(raw))
    res = single.route(data.problem.orders[0], data.atp[:, [0]])
    assert res.explanation is None and res.seconds > 0


def test_the_programme_and_the_mip_fallback_give_the_same_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = hand_network({"W-NEAR": {"A": 1}, "S-NEAR": {"B": 2}, "W-FAR": {"A": 3, "B": 1}})
    lines = [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 2}]
    exact = route_hand(with_order(raw, lines=lines))
    assert exact.solver == "single"
    monkeypatch.setattr(router.order_search, "SUBSET_LIMIT", 0)  # sets → programme
    monkeypatch.setattr(router.order_search, "WORK_LIMIT", 0)  # programme → MIP
    fallback = route_hand(with_order(raw, lines=lines))
    assert fallback.solver == "single+mip" and fallback.status == "optimal"
    assert close(fallback.cost, exact.cost)


def test_bad_arguments_are_refused() -> None:
    raw = with_order(hand_network({"W-NEAR": {"A": 3}}), lines=[{"sku": "A", "qty": 1}])
    order = parse_problem(raw).orders[0]
    single = SingleOrderRouter(network_data(raw))
    with pytest.raises(ValueError, match="shape"):
        single.route(order, np.zeros((5, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="unknown node"):
        single.route(order, np.zeros((5, 1), dtype=np.int64), exclude=["NOPE"])
    with pytest.raises(ValueError, match="shape"):
        single.route(order, np.zeros((5, 1), dtype=np.int64), shipments_left=np.zeros(3))
    warehouse_pickup = Order(
        id="P", method="pickup", pickup_node="W-NEAR", lines=[Line(sku="A", qty=1)]
    )
    with pytest.raises(ValueError, match="takes no pickups"):
        single.route(warehouse_pickup, np.zeros((5, 1), dtype=np.int64))
