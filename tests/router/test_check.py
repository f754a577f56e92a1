"""``router.check_plan`` against the contract's "Cost model", "Feasibility" and "Fine print".

Every test starts from the example problem and its optimal plan
(shared/examples/small-problem.json, small-plan.json) and mutates one thing.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models import Plan, parse_problem
from router import CheckReport, ProblemData, check_plan
from router.check import CAUSES

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
REL = 1e-9

Raw = dict[str, Any]


@pytest.fixture(scope="module")
def problem_raw() -> Raw:
    return json.loads((EXAMPLES / "small-problem.json").read_text())


@pytest.fixture(scope="module")
def plan_raw() -> Raw:
    return json.loads((EXAMPLES / "small-plan.json").read_text())


@pytest.fixture
def problem(problem_raw: Raw) -> Raw:
    return copy.deepcopy(problem_raw)


@pytest.fixture
def plan(plan_raw: Raw) -> Raw:
    return copy.deepcopy(plan_raw)


def check(problem: Raw, plan: Raw) -> CheckReport:
    data = ProblemData.from_problem(parse_problem(problem))
    return check_plan(data, Plan.model_validate(plan))


def bare(plan: Raw) -> Raw:
    """The plan with every priced/derived field removed: node, lines and unfilled only."""
    return {
        "orders": [
            {
                "order_id": op["order_id"],
                "shipments": [{"node": sh["node"], "lines": sh["lines"]} for sh in op["shipments"]],
                "unfilled": op["unfilled"],
            }
            for op in plan["orders"]
        ]
    }


def order(plan: Raw, order_id: str) -> Raw:
    (op,) = [op for op in plan["orders"] if op["order_id"] == order_id]
    return op


def causes(report: CheckReport) -> set[str]:
    return {v.cause for v in report.violations}


def has(
    report: CheckReport,
    cause: str,
    order_id: str | None = None,
    node: str | None = None,
    sku: str | None = None,
) -> bool:
    return any(
        v.cause == cause
        and (order_id is None or v.order_id == order_id)
        and (node is None or v.node == node)
        and (sku is None or v.sku == sku)
        for v in report.violations
    )


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


# --------------------------------------------------------------------------- the example


def test_example_plan_is_valid_and_repriced_costs_match(problem: Raw, plan: Raw) -> None:
    report = check(problem, plan)
    assert report.valid, [str(v) for v in report.violations]
    assert report.violations == ()
    rep = report.repriced
    assert [op.order_id for op in rep.orders] == [op["order_id"] for op in plan["orders"]]
    for given, op in zip(plan["orders"], rep.orders, strict=True):
        assert op.status == given["status"]
        assert {(u.sku, u.qty) for u in op.unfilled} == {
            (u["sku"], u["qty"]) for u in given["unfilled"]
        }
        by_node = {sh.node: sh for sh in op.shipments}
        assert set(by_node) == {sh["node"] for sh in given["shipments"]}
        for sh in given["shipments"]:
            r = by_node[sh["node"]]
            assert {(ln.sku, ln.qty) for ln in r.lines} == {
                (ln["sku"], ln["qty"]) for ln in sh["lines"]
            }
            assert r.distance_km == pytest.approx(sh["distance_km"], rel=REL)
            assert r.transit_days == sh["transit_days"]
            assert r.cost is not None
            for field in ("handling", "shipping", "total"):
                assert getattr(r.cost, field) == pytest.approx(sh["cost"][field], rel=REL), field
        assert op.cost is not None
        for field in ("handling", "shipping", "penalty", "total"):
            assert getattr(op.cost, field) == pytest.approx(given["cost"][field], rel=REL), field
    assert rep.cost is not None
    for field in ("handling", "shipping", "penalty", "total"):
        assert getattr(rep.cost, field) == pytest.approx(plan["cost"][field], rel=REL), field
    assert rep.cost.total == pytest.approx(8194.659121, rel=REL)


def test_plan_without_cost_fields_is_accepted_and_priced(problem: Raw, plan: Raw) -> None:
    report = check(problem, bare(plan))
    assert report.valid, [str(v) for v in report.violations]
    rep = report.repriced
    assert rep.cost is not None
    assert rep.cost.total == pytest.approx(plan["cost"]["total"], rel=REL)
    assert rep.cost.penalty == pytest.approx(8000.0, rel=REL)
    statuses = {op.order_id: op.status for op in rep.orders}
    assert statuses == {op["order_id"]: op["status"] for op in plan["orders"]}


def test_shipment_priced_by_hand(problem: Raw, plan: Raw) -> None:
    """O000005 from W0001: SKU00005 ×1, SKU00003 ×3, SKU00008 ×1, to its address."""
    report = check(problem, bare(plan))
    (sh,) = [
        s
        for s in order(report.repriced.model_dump(), "O000005")["shipments"]
        if s["node"] == "W0001"
    ]

    w1 = problem["nodes"][0]
    o5 = problem["orders"][4]
    assert (w1["id"], o5["id"]) == ("W0001", "O000005")
    d = haversine(w1["lat"], w1["lon"], o5["lat"], o5["lon"])
    assert 300 < d <= 800  # so the band is the third: max_km 800
    band = next(b for b in problem["rates"] if b["max_km"] is None or d <= b["max_km"])
    assert band == {"max_km": 800, "base": 9.3, "per_kg": 0.739, "transit_days": 2}
    weight = 1 * 3.161 + 3 * 4.955 + 1 * 0.925
    shipping = band["base"] + band["per_kg"] * weight
    handling = w1["handling_cost_per_shipment"] + w1["handling_cost_per_unit"] * 5

    assert sh["distance_km"] == pytest.approx(d, rel=REL)
    assert sh["transit_days"] == 2
    assert sh["cost"]["shipping"] == pytest.approx(shipping, rel=REL)
    assert sh["cost"]["handling"] == pytest.approx(handling, rel=REL)
    assert sh["cost"]["total"] == pytest.approx(handling + shipping, rel=REL)
    assert handling == pytest.approx(4.0)
    assert shipping == pytest.approx(23.304789)


def test_transfer_to_pickup_node_priced_by_hand(problem: Raw, plan: Raw) -> None:
    """O000011 is a pickup at S0004 served by W0001: distance W0001 → S0004."""
    report = check(problem, bare(plan))
    (sh,) = order(report.repriced.model_dump(), "O000011")["shipments"]
    w1, s4 = problem["nodes"][0], problem["nodes"][3]
    d = haversine(w1["lat"], w1["lon"], s4["lat"], s4["lon"])
    assert 50 < d <= 300
    shipping = 7.18 + 0.553 * 2.966
    handling = 2.55 + 0.29 * 1
    assert sh["node"] == "W0001"
    assert sh["distance_km"] == pytest.approx(d, rel=REL)
    assert sh["transit_days"] == 1
    assert sh["cost"]["shipping"] == pytest.approx(shipping, rel=REL)
    assert sh["cost"]["handling"] == pytest.approx(handling, rel=REL)


def test_own_stock_pickup_priced_by_hand(problem: Raw, plan: Raw) -> None:
    """Fine print: own-stock pickup pays handling, no shipping, distance 0, transit 0."""
    problem["inventory"].append({"node": "S0004", "sku": "SKU00002", "on_hand": 1})
    problem["rates"] = []  # no band needed for own-stock pickup
    plan = bare(plan)
    plan["orders"] = [op for op in plan["orders"] if op["order_id"] == "O000011"]
    order(plan, "O000011")["shipments"] = [
        {"node": "S0004", "lines": [{"sku": "SKU00002", "qty": 1}]}
    ]
    problem["orders"] = [o for o in problem["orders"] if o["id"] == "O000011"]
    report = check(problem, plan)
    assert report.valid, [str(v) for v in report.violations]
    (sh,) = order(report.repriced.model_dump(), "O000011")["shipments"]
    assert sh["distance_km"] == 0
    assert sh["transit_days"] == 0
    assert sh["cost"]["shipping"] == 0
    assert sh["cost"]["handling"] == pytest.approx(7.07 + 1.12 * 1, rel=REL)
    assert report.repriced.cost is not None
    assert report.repriced.cost.total == pytest.approx(8.19, rel=REL)


# --------------------------------------------------------------------------- violations

Mutation = Callable[[Raw, Raw], None]


def _unknown_order(problem: Raw, plan: Raw) -> None:
    plan["orders"].append({"order_id": "O999999", "shipments": [], "unfilled": []})


def _duplicate_order(problem: Raw, plan: Raw) -> None:
    plan["orders"].append(copy.deepcopy(order(plan, "O000009")))


def _missing_order(problem: Raw, plan: Raw) -> None:
    plan["orders"] = [op for op in plan["orders"] if op["order_id"] != "O000009"]


def _unknown_node(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["shipments"][0]["node"] = "W9999"


def _unknown_sku_shipped(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["shipments"][0]["lines"].append({"sku": "SKU99999", "qty": 1})


def _unknown_sku_unfilled(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["unfilled"].append({"sku": "SKU99999", "qty": 1})


def _duplicate_shipment(problem: Raw, plan: Raw) -> None:
    op = order(plan, "O000005")
    w1 = op["shipments"][0]
    assert w1["node"] == "W0001"
    op["shipments"].append({"node": "W0001", "lines": [w1["lines"].pop()]})


def _empty_shipment(problem: Raw, plan: Raw) -> None:
    order(plan, "O000009")["shipments"].append({"node": "W0001", "lines": []})


def _qty_short(problem: Raw, plan: Raw) -> None:
    order(plan, "O000005")["unfilled"] = []  # SKU00006 ×2 neither shipped nor unfilled


def _qty_over(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["unfilled"].append({"sku": "SKU00002", "qty": 1})


def _qty_sku_not_on_order(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["shipments"][0]["lines"].append({"sku": "SKU00001", "qty": 1})


def _node_disabled(problem: Raw, plan: Raw) -> None:
    order(plan, "O000002")["shipments"][0]["node"] = "S0005"  # atp 3 of SKU00005, no deadline


def _node_excluded(problem: Raw, plan: Raw) -> None:
    op = order(plan, "O000008")  # excludes W0001
    op["unfilled"] = [u for u in op["unfilled"] if u["sku"] != "SKU00002"]
    op["shipments"].append({"node": "W0001", "lines": [{"sku": "SKU00002", "qty": 2}]})


def _cannot_ship(problem: Raw, plan: Raw) -> None:
    problem["inventory"].append({"node": "S0003", "sku": "SKU00002", "on_hand": 5})
    order(plan, "O000004")["shipments"][0]["node"] = "S0003"


def _store_ineligible(problem: Raw, plan: Raw) -> None:
    op = order(plan, "O000007")
    op["unfilled"] = []
    op["shipments"].append({"node": "S0006", "lines": [{"sku": "SKU00006", "qty": 1}]})


def _store_ineligible_transfer(problem: Raw, plan: Raw) -> None:
    # Pickup at S0004 of a store-ineligible sku, transferred from store S0006.
    problem["orders"][10]["lines"] = [{"sku": "SKU00006", "qty": 1}]
    order(plan, "O000011")["shipments"] = [
        {"node": "S0006", "lines": [{"sku": "SKU00006", "qty": 1}]}
    ]


def _out_of_range(problem: Raw, plan: Raw) -> None:
    problem["rates"][-1]["max_km"] = 1500  # the last band is now finite
    problem["orders"][0]["lat"] = 35.0  # ~2000 km from W0001


def _out_of_range_no_rates(problem: Raw, plan: Raw) -> None:
    problem["rates"] = []


def _late(problem: Raw, plan: Raw) -> None:
    problem["orders"][0]["deliver_within_days"] = 1  # W0001 → O000001 takes 2 days


def _transfer_not_allowed(problem: Raw, plan: Raw) -> None:
    problem["orders"][10]["allow_transfer"] = False  # O000011 is served by W0001


def _pickup_node_disabled(problem: Raw, plan: Raw) -> None:
    problem["nodes"][3]["enabled"] = False  # S0004


def _pickup_node_excluded(problem: Raw, plan: Raw) -> None:
    problem["orders"][10]["excluded_nodes"] = ["S0004"]


def _split_not_allowed(problem: Raw, plan: Raw) -> None:
    order(plan, "O000003")["shipments"] = [  # allow_split: false
        {"node": "W0001", "lines": [{"sku": "SKU00004", "qty": 1}]},
        {"node": "W0002", "lines": [{"sku": "SKU00004", "qty": 1}]},
    ]


def _stock(problem: Raw, plan: Raw) -> None:
    order(plan, "O000002")["shipments"][0]["node"] = "S0006"  # atp 2 of SKU00005, takes 3


def _stock_no_record(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["shipments"][0]["node"] = "W0002"  # no SKU00002 record: atp 0


def _stock_reserved(problem: Raw, plan: Raw) -> None:
    # W0001 SKU00002: on_hand 17, reserved 1 -> atp 16; the plan takes 5.
    problem["inventory"][1]["reserved"] = 13


def _order_capacity(problem: Raw, plan: Raw) -> None:
    # S0004 (order_capacity 1) serves its own pickup and ships O000001: two shipments.
    problem["inventory"].append({"node": "S0004", "sku": "SKU00002", "on_hand": 5})
    order(plan, "O000011")["shipments"][0]["node"] = "S0004"
    order(plan, "O000001")["shipments"][0]["node"] = "S0004"


def _order_capacity_zero(problem: Raw, plan: Raw) -> None:
    # order_capacity 0 means no shipments, even an own-stock pickup.
    problem["nodes"][3]["order_capacity"] = 0
    problem["inventory"].append({"node": "S0004", "sku": "SKU00002", "on_hand": 5})
    order(plan, "O000011")["shipments"][0]["node"] = "S0004"


def _unit_capacity(problem: Raw, plan: Raw) -> None:
    problem["nodes"][5]["unit_capacity"] = 2  # S0006 picks 1 (O000005) + 2 (O000008)


VIOLATIONS: list[Any] = [
    # (mutation, expected set of causes, (cause, order_id, node, sku) that must appear)
    pytest.param(
        _unknown_order,
        {"unknown_order"},
        ("unknown_order", "O999999", None, None),
        id="unknown_order",
    ),
    pytest.param(
        _duplicate_order,
        {"duplicate_order"},
        ("duplicate_order", "O000009", None, None),
        id="duplicate_order",
    ),
    pytest.param(
        _missing_order,
        {"missing_order"},
        ("missing_order", "O000009", None, None),
        id="missing_order",
    ),
    pytest.param(
        _unknown_node,
        {"unknown_node", "qty_mismatch"},
        ("unknown_node", "O000001", "W9999", None),
        id="unknown_node",
    ),
    pytest.param(
        _unknown_sku_shipped,
        {"unknown_sku"},
        ("unknown_sku", "O000001", "W0001", "SKU99999"),
        id="unknown_sku-shipped",
    ),
    pytest.param(
        _unknown_sku_unfilled,
        {"unknown_sku"},
        ("unknown_sku", "O000001", None, "SKU99999"),
        id="unknown_sku-unfilled",
    ),
    pytest.param(
        _duplicate_shipment,
        {"duplicate_shipment"},
        ("duplicate_shipment", "O000005", "W0001", None),
        id="duplicate_shipment",
    ),
    pytest.param(
        _empty_shipment,
        {"empty_shipment"},
        ("empty_shipment", "O000009", "W0001", None),
        id="empty_shipment",
    ),
    pytest.param(
        _qty_short,
        {"qty_mismatch"},
        ("qty_mismatch", "O000005", None, "SKU00006"),
        id="qty_mismatch-short",
    ),
    pytest.param(
        _qty_over,
        {"qty_mismatch"},
        ("qty_mismatch", "O000001", None, "SKU00002"),
        id="qty_mismatch-over",
    ),
    pytest.param(
        _qty_sku_not_on_order,
        {"qty_mismatch"},
        ("qty_mismatch", "O000001", "W0001", "SKU00001"),
        id="qty_mismatch-not-on-order",
    ),
    pytest.param(
        _node_disabled,
        {"node_disabled"},
        ("node_disabled", "O000002", "S0005", None),
        id="node_disabled",
    ),
    pytest.param(
        _node_excluded,
        {"node_excluded"},
        ("node_excluded", "O000008", "W0001", None),
        id="node_excluded",
    ),
    pytest.param(
        _cannot_ship, {"cannot_ship"}, ("cannot_ship", "O000004", "S0003", None), id="cannot_ship"
    ),
    pytest.param(
        _store_ineligible,
        {"store_ineligible"},
        ("store_ineligible", "O000007", "S0006", "SKU00006"),
        id="store_ineligible",
    ),
    pytest.param(
        _store_ineligible_transfer,
        {"store_ineligible"},
        ("store_ineligible", "O000011", "S0006", "SKU00006"),
        id="store_ineligible-transfer",
    ),
    pytest.param(
        _out_of_range,
        {"out_of_range"},
        ("out_of_range", "O000001", "W0001", None),
        id="out_of_range",
    ),
    pytest.param(
        _out_of_range_no_rates,
        {"out_of_range"},
        ("out_of_range", "O000011", "W0001", None),
        id="out_of_range-empty-rates",
    ),
    pytest.param(_late, {"late"}, ("late", "O000001", "W0001", None), id="late"),
    pytest.param(
        _transfer_not_allowed,
        {"transfer_not_allowed"},
        ("transfer_not_allowed", "O000011", "W0001", None),
        id="transfer_not_allowed",
    ),
    pytest.param(
        _pickup_node_disabled,
        {"pickup_unservable"},
        ("pickup_unservable", "O000011", "W0001", None),
        id="pickup_unservable-disabled",
    ),
    pytest.param(
        _pickup_node_excluded,
        {"pickup_unservable"},
        ("pickup_unservable", "O000011", "W0001", None),
        id="pickup_unservable-excluded",
    ),
    pytest.param(
        _split_not_allowed,
        {"split_not_allowed"},
        ("split_not_allowed", "O000003", None, None),
        id="split_not_allowed",
    ),
    pytest.param(_stock, {"stock"}, ("stock", None, "S0006", "SKU00005"), id="stock"),
    pytest.param(
        _stock_no_record, {"stock"}, ("stock", None, "W0002", "SKU00002"), id="stock-no-record"
    ),
    pytest.param(
        _stock_reserved, {"stock"}, ("stock", None, "W0001", "SKU00002"), id="stock-reserved"
    ),
    pytest.param(
        _order_capacity,
        {"order_capacity"},
        ("order_capacity", None, "S0004", None),
        id="order_capacity",
    ),
    pytest.param(
        _order_capacity_zero,
        {"order_capacity"},
        ("order_capacity", None, "S0004", None),
        id="order_capacity-zero",
    ),
    pytest.param(
        _unit_capacity,
        {"unit_capacity"},
        ("unit_capacity", None, "S0006", None),
        id="unit_capacity",
    ),
]


@pytest.mark.parametrize(("mutate", "expected", "where"), VIOLATIONS)
def test_violation(
    problem: Raw,
    plan: Raw,
    mutate: Mutation,
    expected: set[str],
    where: tuple[str, str | None, str | None, str | None],
) -> None:
    plan = bare(plan)  # no reported costs or statuses: only the rule itself can fire
    mutate(problem, plan)
    report = check(problem, plan)
    assert not report.valid
    assert causes(report) == expected, [str(v) for v in report.violations]
    cause, order_id, node, sku = where
    assert any(
        (v.cause, v.order_id, v.node, v.sku) == (cause, order_id, node, sku)
        for v in report.violations
    ), [str(v) for v in report.violations]


def test_every_cause_is_covered() -> None:
    covered = {p.values[2][0] for p in VIOLATIONS} | {"status_mismatch", "cost_mismatch"}
    assert covered == set(CAUSES)


def test_own_stock_pickup_of_store_ineligible_sku_is_valid(problem: Raw, plan: Raw) -> None:
    """Fine print: store_eligible does not apply to the pickup node's own stock."""
    problem["inventory"].append({"node": "S0004", "sku": "SKU00006", "on_hand": 1})
    problem["orders"][10]["lines"] = [{"sku": "SKU00006", "qty": 1}]
    plan = bare(plan)
    order(plan, "O000011")["shipments"] = [
        {"node": "S0004", "lines": [{"sku": "SKU00006", "qty": 1}]}
    ]
    report = check(problem, plan)
    assert report.valid, [str(v) for v in report.violations]


def test_own_stock_pickup_needs_no_can_ship(problem: Raw, plan: Raw) -> None:
    problem["nodes"][3]["can_ship"] = False
    problem["inventory"].append({"node": "S0004", "sku": "SKU00002", "on_hand": 1})
    problem["orders"][10].update(allow_transfer=False, deliver_within_days=0)
    plan = bare(plan)
    order(plan, "O000011")["shipments"][0]["node"] = "S0004"
    report = check(problem, plan)
    assert report.valid, [str(v) for v in report.violations]


def test_own_stock_pickup_at_disabled_pickup_node_is_unservable(problem: Raw, plan: Raw) -> None:
    problem["nodes"][3]["enabled"] = False
    problem["inventory"].append({"node": "S0004", "sku": "SKU00002", "on_hand": 1})
    plan = bare(plan)
    order(plan, "O000011")["shipments"][0]["node"] = "S0004"
    report = check(problem, plan)
    assert has(report, "pickup_unservable", "O000011", "S0004")
    assert has(report, "node_disabled", "O000011", "S0004")


def test_unservable_pickup_left_unfilled_is_valid(problem: Raw, plan: Raw) -> None:
    problem["orders"][10]["excluded_nodes"] = ["S0004"]
    plan = bare(plan)
    op = order(plan, "O000011")
    op["shipments"] = []
    op["unfilled"] = [{"sku": "SKU00002", "qty": 1}]
    report = check(problem, plan)
    assert report.valid, [str(v) for v in report.violations]


def test_band_edge_is_inclusive(problem: Raw, plan: Raw) -> None:
    """d ≤ max_km is inclusive: a band ending exactly at the distance is used."""
    w1, o1 = problem["nodes"][0], problem["orders"][0]
    d = haversine(w1["lat"], w1["lon"], o1["lat"], o1["lon"])
    problem["rates"] = [{"max_km": d, "base": 1.0, "per_kg": 0.0, "transit_days": 0}]
    plan = bare(plan)
    plan["orders"] = [order(plan, "O000001")]
    problem["orders"] = [o1]
    report = check(problem, plan)
    assert report.valid, [str(v) for v in report.violations]
    (sh,) = order(report.repriced.model_dump(), "O000001")["shipments"]
    assert sh["cost"]["shipping"] == 1.0


def test_status_mismatch(problem: Raw, plan: Raw) -> None:
    order(plan, "O000001")["status"] = "partial"
    order(plan, "O000009")["status"] = "fulfilled"
    report = check(problem, plan)
    assert causes(report) == {"status_mismatch"}
    assert has(report, "status_mismatch", "O000001")
    assert has(report, "status_mismatch", "O000009")
    assert len(report.violations) == 2


@pytest.mark.parametrize("level", ["shipment", "order", "plan"])
def test_cost_mismatch(problem: Raw, plan: Raw, level: str) -> None:
    op = order(plan, "O000005")
    if level == "shipment":
        op["shipments"][1]["cost"]["total"] += 0.01  # S0006
    elif level == "order":
        op["cost"]["total"] *= 1 + 1e-4
    else:
        plan["cost"]["total"] -= 1.0
    report = check(problem, plan)
    assert causes(report) == {"cost_mismatch"}, [str(v) for v in report.violations]
    (v,) = report.violations
    if level == "shipment":
        assert (v.order_id, v.node) == ("O000005", "S0006")
    elif level == "order":
        assert (v.order_id, v.node) == ("O000005", None)
    else:
        assert (v.order_id, v.node) == (None, None)


def test_cost_within_tolerance_is_not_a_mismatch(problem: Raw, plan: Raw) -> None:
    plan["cost"]["total"] *= 1 + 1e-8
    order(plan, "O000005")["cost"]["total"] *= 1 - 1e-8
    assert check(problem, plan).valid


def test_cost_component_mismatch(problem: Raw, plan: Raw) -> None:
    cost = order(plan, "O000001")["cost"]
    cost["handling"], cost["shipping"] = cost["shipping"], cost["handling"]
    report = check(problem, plan)
    assert has(report, "cost_mismatch", "O000001")
