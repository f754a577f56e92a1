"""The problem model against the contract: defaults, ignored fields, and every bad-input case.

Contract: shared/spec/routing-contract.md ("Problem", "Fine print", "Bad input").
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models import BadInput, FieldError, Problem, parse_problem

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "examples" / "small-problem.json"

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def example_raw() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


@pytest.fixture
def raw(example_raw: dict[str, Any]) -> dict[str, Any]:
    """A fresh deep copy of the example problem, safe to mutate."""
    return copy.deepcopy(example_raw)


def minimal() -> dict[str, Any]:
    """A small valid problem that leaves every defaultable field out."""
    return {
        "nodes": [
            {"id": "W", "type": "warehouse", "lat": 0.0, "lon": 0.0},
            {"id": "S", "type": "store", "lat": 1.0, "lon": 1.0},
        ],
        "skus": [{"id": "A"}],
        "rates": [{"max_km": None, "base": 1.0, "per_kg": 0.5, "transit_days": 1}],
        "inventory": [{"node": "W", "sku": "A", "on_hand": 3}],
        "orders": [{"id": "O", "lat": 0.5, "lon": 0.5, "lines": [{"sku": "A", "qty": 1}]}],
    }


def bad_input(data: Any) -> BadInput:
    """Parse ``data``, which must be refused with exactly a :class:`BadInput`."""
    with pytest.raises(BadInput) as info:
        parse_problem(data)
    exc = info.value
    assert type(exc) is BadInput
    assert exc.errors, "BadInput without errors"
    assert all(isinstance(e, FieldError) for e in exc.errors)
    # str(exc) is one line per error, "path: message".
    assert str(exc).splitlines() == [
        f"{e.path}: {e.message}" if e.path else e.message for e in exc.errors
    ]
    return exc


def paths(exc: BadInput) -> list[str]:
    return [e.path for e in exc.errors]


# --------------------------------------------------------------------------- valid input


def test_example_parses(raw: dict[str, Any]) -> None:
    problem = parse_problem(raw)
    assert isinstance(problem, Problem)
    assert [len(problem.nodes), len(problem.skus), len(problem.rates)] == [6, 8, 5]
    assert [len(problem.inventory), len(problem.orders)] == [16, 12]
    nodes = {n.id: n for n in problem.nodes}
    assert nodes["S0005"].enabled is False
    assert nodes["S0003"].can_ship is False
    assert nodes["S0004"].order_capacity == 1
    assert nodes["S0006"].unit_capacity == 37
    assert nodes["S0005"].unit_capacity is None  # explicit null in the file
    assert problem.rates[-1].max_km is None
    orders = {o.id: o for o in problem.orders}
    assert orders["O000011"].method == "pickup"
    assert orders["O000011"].pickup_node == "S0004"
    assert orders["O000003"].allow_split is False
    assert orders["O000008"].excluded_nodes == ["W0001"]
    assert orders["O000009"].deliver_within_days == 0
    assert problem.options.time_limit_s == 10.0
    stock = {(r.node, r.sku): r for r in problem.inventory}
    # atp = max(0, on_hand − reserved − safety_stock)
    assert stock[("S0004", "SKU00004")].atp == 0
    assert stock[("W0001", "SKU00002")].atp == 16
    assert stock[("S0005", "SKU00008")].atp == 4


def _check_defaults(problem: Problem) -> None:
    warehouse, store = problem.nodes
    assert warehouse.can_pickup is False
    assert store.can_pickup is True
    for node in (warehouse, store):
        assert node.can_ship is True
        assert node.enabled is True
        assert node.order_capacity is None
        assert node.unit_capacity is None
        assert node.handling_cost_per_shipment == 0
        assert node.handling_cost_per_unit == 0
    (sku,) = problem.skus
    assert sku.weight_kg == 1.0
    assert sku.store_eligible is True
    assert sku.unfilled_penalty == 1000.0
    (rec,) = problem.inventory
    assert (rec.reserved, rec.safety_stock) == (0, 0)
    assert rec.atp == 3
    (order,) = problem.orders
    assert order.method == "ship"
    assert order.allow_split is True
    assert order.allow_transfer is True
    assert order.deliver_within_days is None
    assert order.excluded_nodes == []
    assert problem.options.time_limit_s == 10.0


def test_defaults_when_fields_are_missing() -> None:
    _check_defaults(parse_problem(minimal()))


def test_options_may_be_missing_or_empty() -> None:
    data = minimal()
    assert "options" not in data
    assert parse_problem(data).options.time_limit_s == 10.0
    data["options"] = {}
    assert parse_problem(data).options.time_limit_s == 10.0
    data["options"] = {"time_limit_s": 2.5}
    assert parse_problem(data).options.time_limit_s == 2.5


def test_explicit_null_takes_the_default() -> None:
    data = minimal()
    for node in data["nodes"]:
        node.update(
            can_ship=None,
            can_pickup=None,
            enabled=None,
            order_capacity=None,
            unit_capacity=None,
            handling_cost_per_shipment=None,
            handling_cost_per_unit=None,
        )
    data["skus"][0].update(weight_kg=None, store_eligible=None, unfilled_penalty=None)
    data["inventory"][0].update(reserved=None, safety_stock=None)
    data["orders"][0].update(
        method=None,
        pickup_node=None,
        allow_split=None,
        allow_transfer=None,
        deliver_within_days=None,
        excluded_nodes=None,
    )
    data["options"] = None
    _check_defaults(parse_problem(data))
    data["options"] = {"time_limit_s": None}
    _check_defaults(parse_problem(data))


def test_null_can_pickup_on_a_pickup_store_still_defaults_to_true(raw: dict[str, Any]) -> None:
    raw["nodes"][3]["can_pickup"] = None  # S0004, pickup node of O000011
    problem = parse_problem(raw)
    assert problem.nodes[3].can_pickup is True


def test_unknown_extra_fields_are_ignored() -> None:
    data = minimal()
    data["comment"] = "from the planners"
    for section in ("nodes", "skus", "rates", "inventory", "orders"):
        for item in data[section]:
            item["x_extra"] = {"anything": [1, 2, 3]}
    data["orders"][0]["lines"][0]["gift_wrap"] = True
    data["options"] = {"time_limit_s": 3.0, "threads": 8}
    problem = parse_problem(data)
    assert problem.options.time_limit_s == 3.0
    assert not hasattr(problem.nodes[0], "x_extra")
    _check_defaults(parse_problem({k: v for k, v in data.items() if k != "options"}))


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(500.0, -900.0), (math.nan, math.inf), ("north", None), (-91, 181)],
)
def test_lat_lon_of_a_pickup_order_are_ignored(raw: dict[str, Any], lat: Any, lon: Any) -> None:
    raw["orders"][10].update(lat=lat, lon=lon)  # O000011 is a pickup at S0004
    problem = parse_problem(raw)
    assert problem.orders[10].method == "pickup"
    assert problem.orders[10].pickup_node == "S0004"


@pytest.mark.parametrize("pickup_node", ["NOPE", "W0001", "S0005", 7, ""])
def test_pickup_node_of_a_ship_order_is_ignored(raw: dict[str, Any], pickup_node: Any) -> None:
    raw["orders"][0]["pickup_node"] = pickup_node
    raw["orders"][2]["pickup_node"] = pickup_node  # method given explicitly as "ship"
    problem = parse_problem(raw)
    assert problem.orders[0].method == "ship"
    assert problem.orders[2].method == "ship"


def test_warehouse_with_can_pickup_may_be_a_pickup_node(raw: dict[str, Any]) -> None:
    raw["nodes"][1]["can_pickup"] = True
    raw["orders"][10]["pickup_node"] = "W0002"
    problem = parse_problem(raw)
    assert problem.orders[10].pickup_node == "W0002"


def test_disabled_pickup_node_is_not_bad_input(raw: dict[str, Any]) -> None:
    # Fine print: such an order cannot be served, but the problem is valid.
    raw["orders"][10]["pickup_node"] = "S0005"
    raw["orders"][9]["excluded_nodes"] = ["S0004"]
    parse_problem(raw)


def test_integral_coordinates_and_empty_rates_are_valid() -> None:
    data = minimal()
    data["nodes"][0].update(lat=90, lon=-180)
    data["orders"][0].update(lat=-90, lon=180)
    data["rates"] = []
    problem = parse_problem(data)
    assert problem.rates == []
    assert problem.nodes[0].lat == 90


def test_capacity_zero_is_valid() -> None:
    data = minimal()
    data["nodes"][0].update(order_capacity=0, unit_capacity=0)
    problem = parse_problem(data)
    assert (problem.nodes[0].order_capacity, problem.nodes[0].unit_capacity) == (0, 0)


# --------------------------------------------------------------------------- bad input


def _set(*keys: Any, value: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value

    return mutate


def _delete(*keys: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        for k in keys[:-1]:
            target = target[k]
        del target[keys[-1]]

    return mutate


def _append_copy(section: str, index: int) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d[section].append(copy.deepcopy(d[section][index]))

    return mutate


def _append(section: str, item: dict[str, Any]) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d[section].append(copy.deepcopy(item))

    return mutate


def _append_line(order: int, line: dict[str, Any]) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d["orders"][order]["lines"].append(dict(line))

    return mutate


BAD_CASES: list[Any] = [
    # unknown references
    pytest.param(
        _set("orders", 3, "lines", 0, "sku", value="SKU99999"),
        "orders[3].lines[0].sku",
        id="unknown-line-sku",
    ),
    pytest.param(
        _set("inventory", 2, "node", value="W9999"),
        "inventory[2].node",
        id="unknown-inventory-node",
    ),
    pytest.param(
        _set("inventory", 2, "sku", value="SKU99999"),
        "inventory[2].sku",
        id="unknown-inventory-sku",
    ),
    pytest.param(
        _set("orders", 7, "excluded_nodes", value=["W0001", "W9999"]),
        "orders[7].excluded_nodes[1]",
        id="unknown-excluded-node",
    ),
    pytest.param(
        _set("orders", 10, "pickup_node", value="S9999"),
        "orders[10].pickup_node",
        id="unknown-pickup-node",
    ),
    # duplicates
    pytest.param(_append_copy("nodes", 0), "nodes[6].id", id="duplicate-node-id"),
    pytest.param(_append_copy("skus", 2), "skus[8].id", id="duplicate-sku-id"),
    pytest.param(_append_copy("orders", 4), "orders[12].id", id="duplicate-order-id"),
    pytest.param(
        _append("inventory", {"node": "W0001", "sku": "SKU00001", "on_hand": 1}),
        "inventory[16]",
        id="second-stock-record",
    ),
    # negative quantities
    pytest.param(
        _set("inventory", 5, "on_hand", value=-1), "inventory[5].on_hand", id="negative-on-hand"
    ),
    pytest.param(
        _set("inventory", 5, "reserved", value=-1), "inventory[5].reserved", id="negative-reserved"
    ),
    pytest.param(
        _set("inventory", 5, "safety_stock", value=-3),
        "inventory[5].safety_stock",
        id="negative-safety-stock",
    ),
    pytest.param(
        _set("orders", 4, "lines", 1, "qty", value=0), "orders[4].lines[1].qty", id="qty-zero"
    ),
    pytest.param(
        _set("orders", 4, "lines", 1, "qty", value=-2), "orders[4].lines[1].qty", id="qty-negative"
    ),
    # coordinates
    pytest.param(_set("nodes", 2, "lat", value=math.nan), "nodes[2].lat", id="node-lat-nan"),
    pytest.param(_set("nodes", 2, "lon", value=math.nan), "nodes[2].lon", id="node-lon-nan"),
    pytest.param(_set("nodes", 2, "lat", value=math.inf), "nodes[2].lat", id="node-lat-inf"),
    pytest.param(_set("nodes", 2, "lon", value=-math.inf), "nodes[2].lon", id="node-lon-neginf"),
    pytest.param(_set("orders", 1, "lat", value=math.nan), "orders[1].lat", id="order-lat-nan"),
    pytest.param(_set("orders", 1, "lon", value=math.nan), "orders[1].lon", id="order-lon-nan"),
    pytest.param(_set("orders", 1, "lat", value=-math.inf), "orders[1].lat", id="order-lat-neginf"),
    pytest.param(_set("orders", 1, "lon", value=math.inf), "orders[1].lon", id="order-lon-inf"),
    pytest.param(_set("nodes", 0, "lat", value=91), "nodes[0].lat", id="node-lat-91"),
    pytest.param(_set("nodes", 0, "lat", value=-90.0001), "nodes[0].lat", id="node-lat-below"),
    pytest.param(_set("nodes", 0, "lon", value=-181), "nodes[0].lon", id="node-lon-minus-181"),
    pytest.param(_set("nodes", 0, "lon", value=180.5), "nodes[0].lon", id="node-lon-above"),
    pytest.param(_set("orders", 1, "lat", value=91), "orders[1].lat", id="order-lat-91"),
    pytest.param(_set("orders", 1, "lat", value=-91.5), "orders[1].lat", id="order-lat-below"),
    pytest.param(_set("orders", 1, "lon", value=-181), "orders[1].lon", id="order-lon-minus-181"),
    pytest.param(
        _set("orders", 2, "lon", value=181), "orders[2].lon", id="explicit-ship-order-lon-181"
    ),
    pytest.param(_delete("orders", 0, "lat"), "orders[0].lat", id="ship-order-missing-lat"),
    pytest.param(_delete("orders", 0, "lon"), "orders[0].lon", id="ship-order-missing-lon"),
    pytest.param(_set("orders", 0, "lat", value=None), "orders[0].lat", id="ship-order-null-lat"),
    pytest.param(_delete("nodes", 0, "lat"), "nodes[0].lat", id="node-missing-lat"),
    # pickup
    pytest.param(
        _delete("orders", 10, "pickup_node"),
        "orders[10].pickup_node",
        id="pickup-order-missing-pickup-node",
    ),
    pytest.param(
        _set("orders", 10, "pickup_node", value="W0001"),
        "orders[10].pickup_node",
        id="pickup-node-is-warehouse-by-default",
    ),
    pytest.param(
        _set("nodes", 3, "can_pickup", value=False),
        "orders[10].pickup_node",
        id="pickup-node-store-without-pickup",
    ),
    # lines
    pytest.param(_set("orders", 2, "lines", value=[]), "orders[2].lines", id="empty-lines"),
    pytest.param(_delete("orders", 2, "lines"), "orders[2].lines", id="missing-lines"),
    pytest.param(
        _append_line(4, {"sku": "SKU00005", "qty": 1}),
        "orders[4].lines[5].sku",
        id="two-lines-one-sku",
    ),
    # integers and ranges
    pytest.param(
        _set("orders", 5, "deliver_within_days", value=-1),
        "orders[5].deliver_within_days",
        id="negative-deliver-within-days",
    ),
    pytest.param(
        _set("nodes", 3, "order_capacity", value=-1),
        "nodes[3].order_capacity",
        id="negative-order-capacity",
    ),
    pytest.param(
        _set("nodes", 5, "unit_capacity", value=-5),
        "nodes[5].unit_capacity",
        id="negative-unit-capacity",
    ),
    pytest.param(
        _set("orders", 0, "lines", 0, "qty", value=1.5),
        "orders[0].lines[0].qty",
        id="fractional-qty",
    ),
    pytest.param(
        _set("nodes", 3, "order_capacity", value=2.5),
        "nodes[3].order_capacity",
        id="fractional-order-capacity",
    ),
    pytest.param(
        _set("nodes", 5, "unit_capacity", value=0.5),
        "nodes[5].unit_capacity",
        id="fractional-unit-capacity",
    ),
    pytest.param(
        _set("inventory", 0, "on_hand", value=2.5), "inventory[0].on_hand", id="fractional-on-hand"
    ),
    pytest.param(
        _set("orders", 5, "deliver_within_days", value=1.5),
        "orders[5].deliver_within_days",
        id="fractional-deliver-within-days",
    ),
    pytest.param(
        _set("rates", 1, "transit_days", value=1.5),
        "rates[1].transit_days",
        id="fractional-transit-days",
    ),
    pytest.param(
        _set("skus", 0, "weight_kg", value=-0.1), "skus[0].weight_kg", id="negative-weight"
    ),
    pytest.param(
        _set("nodes", 0, "handling_cost_per_unit", value=-1),
        "nodes[0].handling_cost_per_unit",
        id="negative-handling",
    ),
    # rate bands
    pytest.param(
        _set("rates", 2, "max_km", value=200), "rates[2].max_km", id="unsorted-rate-bands"
    ),
    pytest.param(
        _set("rates", 1, "max_km", value=None), "rates[2].max_km", id="null-max-km-not-last"
    ),
    # wrong types
    pytest.param(
        _set("inventory", 0, "on_hand", value="5"), "inventory[0].on_hand", id="string-on-hand"
    ),
    pytest.param(
        _set("orders", 0, "lines", 0, "qty", value="1"), "orders[0].lines[0].qty", id="string-qty"
    ),
    pytest.param(
        _set("orders", 0, "lines", 0, "qty", value=True), "orders[0].lines[0].qty", id="bool-qty"
    ),
    pytest.param(_set("nodes", 0, "lat", value="17.1886"), "nodes[0].lat", id="string-node-lat"),
    pytest.param(_set("orders", 0, "lat", value="10.3"), "orders[0].lat", id="string-order-lat"),
    pytest.param(
        _set("skus", 1, "weight_kg", value="heavy"), "skus[1].weight_kg", id="string-weight"
    ),
    pytest.param(_set("rates", 0, "base", value="4.83"), "rates[0].base", id="string-base"),
    pytest.param(
        _set("nodes", 1, "order_capacity", value="3"),
        "nodes[1].order_capacity",
        id="string-capacity",
    ),
    pytest.param(_set("nodes", 0, "type", value="depot"), "nodes[0].type", id="bad-node-type"),
    pytest.param(_set("orders", 0, "method", value="drone"), "orders[0].method", id="bad-method"),
    pytest.param(
        _set("orders", 0, "lines", value="SKU00002"), "orders[0].lines", id="string-lines"
    ),
    pytest.param(
        _set("options", value={"time_limit_s": "fast"}),
        "options.time_limit_s",
        id="string-time-limit",
    ),
]


@pytest.mark.parametrize(("mutate", "path"), BAD_CASES)
def test_bad_input_names_the_field(raw: dict[str, Any], mutate: Mutation, path: str) -> None:
    mutate(raw)
    exc = bad_input(raw)
    # Exactly the offending field, nothing else: the rest of the example is fine.
    assert paths(exc) == [path], str(exc)


@pytest.mark.parametrize("section", ["nodes", "skus", "rates", "inventory", "orders"])
@pytest.mark.parametrize("how", ["missing", "null", "not-a-list"])
def test_missing_top_level_list(raw: dict[str, Any], section: str, how: str) -> None:
    if how == "missing":
        del raw[section]
    elif how == "null":
        raw[section] = None
    else:
        raw[section] = {"0": raw[section][0]}
    exc = bad_input(raw)
    assert section in paths(exc), str(exc)


def test_missing_top_level_list_in_minimal_problem() -> None:
    data = minimal()
    del data["orders"]
    exc = bad_input(data)
    assert paths(exc) == ["orders"]


@pytest.mark.parametrize(
    "data",
    [None, [], [{"nodes": []}], "problem", 3, 2.5, True],
    ids=["none", "empty-list", "list", "string", "int", "float", "bool"],
)
def test_non_dict_problem(data: Any) -> None:
    exc = bad_input(data)
    assert paths(exc) == [""]


def test_bad_input_leaves_the_input_unchanged(raw: dict[str, Any]) -> None:
    raw["orders"][3]["lines"][0]["sku"] = "SKU99999"
    raw["nodes"][0]["lat"] = 91
    before = copy.deepcopy(raw)
    bad_input(raw)
    assert raw == before


def test_all_errors_are_reported_at_once(raw: dict[str, Any]) -> None:
    raw["orders"][3]["lines"][0]["sku"] = "SKU99999"  # unknown sku
    raw["nodes"][0]["lat"] = 91  # out of range (node still referenced: no cascade)
    raw["inventory"][5]["on_hand"] = -1  # negative
    raw["skus"].append(copy.deepcopy(raw["skus"][0]))  # duplicate id
    raw["rates"][2]["max_km"] = 200  # unsorted
    raw["orders"][10]["pickup_node"] = "W0002"  # warehouse cannot take pickups
    raw["orders"][2]["lines"][0]["qty"] = 0  # qty 0
    raw["orders"][7]["excluded_nodes"] = ["W9999"]  # unknown node
    raw["orders"][1]["lat"] = math.nan  # NaN address
    raw["nodes"][4]["unit_capacity"] = 2.5  # fraction
    exc = bad_input(raw)
    expected = {
        "orders[3].lines[0].sku",
        "nodes[0].lat",
        "inventory[5].on_hand",
        "skus[8].id",
        "rates[2].max_km",
        "orders[10].pickup_node",
        "orders[2].lines[0].qty",
        "orders[7].excluded_nodes[0]",
        "orders[1].lat",
        "nodes[4].unit_capacity",
    }
    assert set(paths(exc)) == expected, str(exc)
    assert len(paths(exc)) == len(expected)


def test_errors_in_several_lines_of_one_order_are_all_reported(raw: dict[str, Any]) -> None:
    raw["orders"][4]["lines"][0]["sku"] = "SKU99999"
    raw["orders"][4]["lines"][2]["sku"] = "SKU00007"  # second line for SKU00007
    raw["orders"][4]["lines"][4]["sku"] = "SKU88888"
    exc = bad_input(raw)
    assert set(paths(exc)) == {
        "orders[4].lines[0].sku",
        "orders[4].lines[2].sku",
        "orders[4].lines[4].sku",
    }


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: d["orders"][0].update(lat=91, deliver_within_days=-1),
            {"orders[0].lat", "orders[0].deliver_within_days"},
            id="order-lat-and-negative-deadline",
        ),
        pytest.param(
            lambda d: d["orders"][0].update(
                lines=[{"sku": "SKU00002", "qty": 0}, {"sku": "SKU99999", "qty": 1}]
            ),
            {"orders[0].lines[0].qty", "orders[0].lines[1].sku"},
            id="qty-zero-and-unknown-sku",
        ),
        pytest.param(
            lambda d: d["nodes"].append({**d["nodes"][0], "lat": 91}),
            {"nodes[6].id", "nodes[6].lat"},
            id="node-duplicate-id-and-lat-91",
        ),
    ],
)
def test_every_error_of_one_item_is_reported(
    raw: dict[str, Any], mutate: Mutation, expected: set[str]
) -> None:
    mutate(raw)
    exc = bad_input(raw)
    assert expected <= set(paths(exc)), str(exc)


def test_pickup_node_ignored_when_method_is_null(raw: dict[str, Any]) -> None:
    raw["orders"][0].update(method=None, pickup_node=7)
    problem = parse_problem(raw)
    assert problem.orders[0].method == "ship"
