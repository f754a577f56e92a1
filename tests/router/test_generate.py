"""Tests for the demo-data generator: reproducible, contract-shaped, realistic enough."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.generate import NETWORKS, generate

CITY_CENTRES = {
    "W-SGN": (10.82302, 106.62965),  # Ho Chi Minh City
    "W-HAN": (21.0245, 105.84117),  # Hanoi
    "W-DAD": (16.06778, 108.22083),  # Da Nang
}


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine, as the contract defines it."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@pytest.fixture(scope="module")
def vn() -> dict[str, Any]:
    return generate("vn", 1500, 11)


@pytest.fixture(scope="module")
def us() -> dict[str, Any]:
    return generate("us", 2000, 5)


def _check_contract(p: dict[str, Any], orders: int) -> None:
    """Referential integrity and the contract's structural rules, in one place."""
    assert set(p) == {"nodes", "skus", "rates", "inventory", "orders", "options"}
    nodes = {n["id"]: n for n in p["nodes"]}
    skus = {s["id"]: s for s in p["skus"]}
    assert len(nodes) == len(p["nodes"])
    assert len(skus) == len(p["skus"])
    assert len(p["orders"]) == orders
    assert len({o["id"] for o in p["orders"]}) == orders

    for n in p["nodes"]:
        assert n["type"] in ("warehouse", "store")
        assert -90 <= n["lat"] <= 90 and -180 <= n["lon"] <= 180
        assert n["handling_cost_per_shipment"] >= 0 and n["handling_cost_per_unit"] >= 0
        cap = n["order_capacity"]
        assert cap is None or (isinstance(cap, int) and cap >= 0)
        if n["type"] == "store":
            assert n["can_pickup"] is True
            assert isinstance(cap, int)

    for s in p["skus"]:
        assert 0.1 <= s["weight_kg"] <= 20.0
        assert s["unfilled_penalty"] > 0

    rates = p["rates"]
    assert rates[-1]["max_km"] is None
    bounded = [r["max_km"] for r in rates[:-1]]
    assert bounded == sorted(bounded) and None not in bounded
    assert all(r["base"] >= 0 and r["per_kg"] >= 0 and r["transit_days"] >= 0 for r in rates)

    pairs = [(r["node"], r["sku"]) for r in p["inventory"]]
    assert len(pairs) == len(set(pairs))
    for r in p["inventory"]:
        assert r["node"] in nodes and r["sku"] in skus
        assert r["on_hand"] > 0 and r["reserved"] >= 0 and r["safety_stock"] >= 0
        assert all(isinstance(r[k], int) for k in ("on_hand", "reserved", "safety_stock"))

    for o in p["orders"]:
        assert o["lines"]
        line_skus = [line["sku"] for line in o["lines"]]
        assert len(line_skus) == len(set(line_skus))
        assert all(s in skus for s in line_skus)
        assert all(isinstance(ln["qty"], int) and ln["qty"] >= 1 for ln in o["lines"])
        assert all(x in nodes for x in o["excluded_nodes"])
        if o["method"] == "pickup":
            pickup = nodes[o["pickup_node"]]
            assert pickup["type"] == "store" and pickup["can_pickup"]
            assert "lat" not in o and "lon" not in o
            assert o["pickup_node"] not in o["excluded_nodes"]
        else:
            assert o["method"] == "ship"
            assert -90 <= o["lat"] <= 90 and -180 <= o["lon"] <= 180
        assert o["deliver_within_days"] in (None, 1, 2, 3)


def test_same_seed_same_problem() -> None:
    assert generate("vn", 300, 42) == generate("vn", 300, 42)
    assert generate("us", 200, 42, skus=100, stores=50) == generate(
        "us", 200, 42, skus=100, stores=50
    )


def test_different_seed_different_problem() -> None:
    a, b = generate("vn", 300, 1), generate("vn", 300, 2)
    assert a != b
    assert a["orders"] != b["orders"]
    assert a["inventory"] != b["inventory"]


def test_vn_contract_and_sizes(vn: dict[str, Any]) -> None:
    _check_contract(vn, 1500)
    kinds = Counter(n["type"] for n in vn["nodes"])
    assert kinds == {"warehouse": 3, "store": NETWORKS["vn"].default_stores}
    assert 40 <= len(vn["nodes"]) <= 46
    assert len(vn["skus"]) == NETWORKS["vn"].default_skus


def test_us_contract_and_sizes(us: dict[str, Any]) -> None:
    _check_contract(us, 2000)
    kinds = Counter(n["type"] for n in us["nodes"])
    assert kinds["warehouse"] == 6
    assert len(us["nodes"]) == 500
    assert len(us["skus"]) == 2000


def test_vn_warehouses_in_the_three_big_cities(vn: dict[str, Any]) -> None:
    warehouses = {n["id"]: n for n in vn["nodes"] if n["type"] == "warehouse"}
    assert set(warehouses) == set(CITY_CENTRES)
    for wid, (lat, lon) in CITY_CENTRES.items():
        assert _km(warehouses[wid]["lat"], warehouses[wid]["lon"], lat, lon) < 30.0


def test_nodes_inside_the_country(vn: dict[str, Any], us: dict[str, Any]) -> None:
    assert all(8 <= n["lat"] <= 24 and 102 <= n["lon"] <= 110 for n in vn["nodes"])
    assert all(24 <= n["lat"] <= 50 and -125 <= n["lon"] <= -66 for n in us["nodes"])


def test_order_mix_is_realistic(vn: dict[str, Any]) -> None:
    orders = vn["orders"]
    n = len(orders)
    pickups = [o for o in orders if o["method"] == "pickup"]
    assert 0.07 * n <= len(pickups) <= 0.18 * n
    assert 0.03 * n <= sum(not o["allow_split"] for o in orders) <= 0.17 * n
    assert 0.03 * n <= sum(o["deliver_within_days"] is not None for o in orders) <= 0.17 * n
    assert 0 < sum(bool(o["excluded_nodes"]) for o in orders) <= 0.06 * n
    assert 0.1 <= sum(not o["allow_transfer"] for o in pickups) / len(pickups) <= 0.5
    lines = Counter(len(o["lines"]) for o in orders)
    assert set(lines) <= {1, 2, 3, 4}
    assert lines[1] + lines[2] > 0.7 * n


def test_catalogue_and_stores_are_mixed(us: dict[str, Any]) -> None:
    stores = [n for n in us["nodes"] if n["type"] == "store"]
    share_no_ship = sum(not s["can_ship"] for s in stores) / len(stores)
    assert 0.08 <= share_no_ship <= 0.25
    ineligible = sum(not s["store_eligible"] for s in us["skus"]) / len(us["skus"])
    assert 0.02 <= ineligible <= 0.09
    assert all(s["handling_cost_per_shipment"] > 4 for s in stores)


def test_stock_is_scarce_but_mostly_enough() -> None:
    p = generate("vn", 6000, 3)
    warehouses = {n["id"] for n in p["nodes"] if n["type"] == "warehouse"}
    atp_wh: Counter[str] = Counter()
    atp_all: Counter[str] = Counter()
    for r in p["inventory"]:
        atp = max(0, r["on_hand"] - r["reserved"] - r["safety_stock"])
        atp_all[r["sku"]] += atp
        if r["node"] in warehouses:
            atp_wh[r["sku"]] += atp
    demand: Counter[str] = Counter()
    for o in p["orders"]:
        for line in o["lines"]:
            demand[line["sku"]] += line["qty"]
    total = sum(demand.values())
    wh_fill = sum(min(q, atp_wh[s]) for s, q in demand.items()) / total
    all_fill = sum(min(q, atp_all[s]) for s, q in demand.items()) / total
    assert wh_fill < 0.99  # warehouses alone fall short: stores have to help
    assert all_fill > 0.85  # but most demand can be met


def test_json_ready(vn: dict[str, Any], us: dict[str, Any]) -> None:
    for p in (vn, us):
        assert json.loads(json.dumps(p)) == p


def test_overrides_and_bad_arguments() -> None:
    p = generate("vn", 10, 0, skus=5, stores=4)
    _check_contract(p, 10)
    assert len(p["skus"]) == 5 and len(p["nodes"]) == 7
    no_stores = generate("vn", 20, 0, stores=0)
    assert all(o["method"] == "ship" for o in no_stores["orders"])
    with pytest.raises(ValueError):
        generate("xx", 10, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        generate("vn", -1, 0)
    with pytest.raises(ValueError):
        generate("vn", 10, 0, stores=10_000)


@settings(max_examples=15, deadline=None)
@given(
    orders=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    skus=st.integers(1, 12),
    stores=st.integers(0, 8),
)
def test_small_problems_follow_the_contract(orders: int, seed: int, skus: int, stores: int) -> None:
    _check_contract(generate("vn", orders, seed, skus=skus, stores=stores), orders)
