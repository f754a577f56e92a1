"""The life of an order against live stock, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from models import BadInput, Problem, StockRecord
from router.batch import optimize
from router.service import Conflict, NotFound, RoutingService, schema
from tests.service.conftest import example_problem


def ship_order(oid: str, sku: str = "SKU00003", qty: int = 2, **extra: Any) -> dict[str, Any]:
    return {"id": oid, "lat": 21.0, "lon": 105.8, "lines": [{"sku": sku, "qty": qty}], **extra}


def stock(svc: RoutingService, node: str, sku: str) -> tuple[int, int]:
    rows = svc.inventory(node=node, sku=sku).inventory
    return (rows[0].on_hand, rows[0].reserved) if rows else (0, 0)


def assert_books_balance(svc: RoutingService) -> None:
    """``reserved`` of every (node, sku) is the sum of the open shipments' units."""
    open_units: dict[tuple[str, str], int] = {}
    with svc.store.read() as conn:
        for (doc,) in conn.execute(sa.select(schema.orders.c.doc)):
            for sh in doc["plan"]["shipments"]:
                if sh["state"] == "reserved":
                    for ln in sh["lines"]:
                        key = (sh["node"], ln["sku"])
                        open_units[key] = open_units.get(key, 0) + ln["qty"]
    for level in svc.inventory().inventory:
        assert level.on_hand >= 0
        assert level.reserved == open_units.pop((level.node, level.sku), 0), level
    assert not open_units


def test_route_reserves_what_the_plan_takes(svc: RoutingService) -> None:
    before = {(r.node, r.sku): r for r in svc.inventory(sku="SKU00003").inventory}
    answer, replayed = svc.route(ship_order("A1"))
    assert not replayed
    assert answer.state == "reserved"
    assert answer.plan.status == "fulfilled"
    (sh,) = answer.plan.shipments
    assert sh.state == "reserved" and sh.lines[0].qty == 2
    after = svc.inventory(node=sh.node, sku="SKU00003").inventory[0]
    assert after.reserved == before[(sh.node, "SKU00003")].reserved + 2
    assert after.on_hand == before[(sh.node, "SKU00003")].on_hand
    assert svc.order("A1") == answer
    assert_books_balance(svc)


def test_answer_equals_the_batch_optimum_on_the_same_stock(svc: RoutingService) -> None:
    """Every example order, routed live one after another, costs what the batch optimizer
    says is optimal for that one order on the stock left at that moment."""
    raw = example_problem()
    for order in raw["orders"]:
        levels = svc.inventory().inventory
        inventory = [
            StockRecord(
                node=r.node,
                sku=r.sku,
                on_hand=r.on_hand,
                reserved=r.reserved,
                safety_stock=r.safety_stock,
            )
            for r in levels
        ]
        net = svc.get_network()
        nodes = []
        with svc.store.read() as conn:
            open_work = {
                row.id: (row.open_shipments, row.open_units)
                for row in conn.execute(schema.nodes.select())
            }
        for n in net.nodes:  # capacity left after the open shipments
            s, u = open_work[n.id]
            nodes.append(
                n.model_copy(
                    update={
                        "order_capacity": None
                        if n.order_capacity is None
                        else max(0, n.order_capacity - s),
                        "unit_capacity": None
                        if n.unit_capacity is None
                        else max(0, n.unit_capacity - u),
                    }
                )
            )
        one = Problem(
            nodes=nodes, skus=net.skus, rates=net.rates, inventory=inventory, orders=[order]
        )
        best = optimize(one)
        assert best.status == "optimal"
        answer, _ = svc.route(order)
        assert answer.plan.cost.total == pytest.approx(best.cost, rel=1e-9, abs=1e-9)
    assert_books_balance(svc)


def test_idempotent_replay_reserves_nothing_more(svc: RoutingService) -> None:
    first, replayed = svc.route(ship_order("I1"), idempotency_key="key-1")
    assert not replayed
    levels = svc.inventory().inventory
    again, replayed = svc.route(ship_order("I1"), idempotency_key="key-1")
    assert replayed and again == first
    assert svc.inventory().inventory == levels
    with pytest.raises(Conflict, match="Idempotency-Key"):
        svc.route(ship_order("I1", qty=1), idempotency_key="key-1")
    with pytest.raises(Conflict, match="exists already"):
        svc.route(ship_order("I1"))
    assert svc.inventory().inventory == levels


def test_bad_order_is_refused_with_paths_and_changes_nothing(svc: RoutingService) -> None:
    levels = svc.inventory().inventory
    with pytest.raises(BadInput) as err:
        svc.route(
            {
                "id": "B1",
                "lat": 95,
                "lon": 105.8,
                "lines": [{"sku": "NOPE", "qty": 1}, {"sku": "SKU00001", "qty": 0}],
                "excluded_nodes": ["X"],
            }
        )
    paths = {e.path for e in err.value.errors}
    assert {"lat", "lines[1].qty"} <= paths, paths
    with pytest.raises(BadInput) as err:
        svc.route(
            {
                "id": "B1",
                "lat": 21,
                "lon": 105.8,
                "lines": [{"sku": "NOPE", "qty": 1}],
                "excluded_nodes": ["X"],
            }
        )
    assert {e.path for e in err.value.errors} == {"lines[0].sku", "excluded_nodes[0]"}
    with pytest.raises(BadInput) as err:
        svc.route(
            {
                "id": "B2",
                "method": "pickup",
                "pickup_node": "W0001",
                "lines": [{"sku": "SKU00001", "qty": 1}],
            }
        )
    assert [e.path for e in err.value.errors] == ["pickup_node"]
    assert svc.inventory().inventory == levels
    with pytest.raises(NotFound):
        svc.order("B1")


def test_cancel_releases_and_fulfil_ships(svc: RoutingService) -> None:
    a, _ = svc.route(ship_order("C1"))
    node = a.plan.shipments[0].node
    on_hand, reserved = stock(svc, node, "SKU00003")
    cancelled = svc.cancel("C1")
    assert cancelled.state == "cancelled"
    assert cancelled.plan.shipments[0].state == "cancelled"
    assert stock(svc, node, "SKU00003") == (on_hand, reserved - 2)
    assert svc.cancel("C1") == cancelled  # cancelling twice changes nothing
    with pytest.raises(Conflict):
        svc.fulfil("C1", {"node": node})

    b, _ = svc.route(ship_order("F1"))
    node = b.plan.shipments[0].node
    on_hand, reserved = stock(svc, node, "SKU00003")
    done = svc.fulfil("F1", {"node": node})
    assert done.state == "fulfilled" and done.plan.shipments[0].state == "fulfilled"
    assert stock(svc, node, "SKU00003") == (on_hand - 2, reserved - 2)
    with pytest.raises(Conflict):
        svc.fulfil("F1", {"node": node})
    with pytest.raises(Conflict):
        svc.cancel("F1")
    with pytest.raises(NotFound):
        svc.fulfil("F1", {"node": "W0002"})
    assert_books_balance(svc)


def test_reject_reroutes_without_that_node(svc: RoutingService) -> None:
    a, _ = svc.route(ship_order("R1", qty=3))
    first = {sh.node for sh in a.plan.shipments}
    node = a.plan.shipments[0].node
    b = svc.reject("R1", {"node": node})
    assert b.rejected_nodes == [node]
    assert node not in {sh.node for sh in b.plan.shipments}
    assert b.plan.cost.total >= a.plan.cost.total - 1e-9
    assert first  # rerouted plan is priced like any other
    assert (
        sum(ln.qty for sh in b.plan.shipments for ln in sh.lines)
        + sum(u.qty for u in b.plan.unfilled)
        == 3
    )
    assert_books_balance(svc)
    with pytest.raises(NotFound):
        svc.reject("R1", {"node": node})


def test_returned_units_are_sellable_at_the_store(svc: RoutingService) -> None:
    a, _ = svc.route(ship_order("T1"))
    node = a.plan.shipments[0].node
    svc.fulfil("T1", {"node": node})
    before = stock(svc, "S0006", "SKU00003")
    answer = svc.return_units("T1", {"node": "S0006", "lines": [{"sku": "SKU00003", "qty": 1}]})
    assert [(ln.sku, ln.qty) for ln in answer.returned] == [("SKU00003", 1)]
    assert stock(svc, "S0006", "SKU00003") == (before[0] + 1, before[1])
    with pytest.raises(BadInput) as err:
        svc.return_units("T1", {"node": "S0006", "lines": [{"sku": "SKU00003", "qty": 2}]})
    assert [e.path for e in err.value.errors] == ["lines[0].qty"]


def test_adjustments_apply_all_or_nothing(svc: RoutingService) -> None:
    before = svc.inventory().inventory
    with pytest.raises(BadInput) as err:
        svc.adjust(
            {
                "adjustments": [
                    {"node": "W0001", "sku": "SKU00003", "delta": 5, "reason": "receipt"},
                    {"node": "W0001", "sku": "SKU00001", "delta": -100, "reason": "damage"},
                ]
            }
        )
    assert [e.path for e in err.value.errors] == ["adjustments[1].delta"]
    assert svc.inventory().inventory == before
    out = svc.adjust(
        {
            "adjustments": [
                {"node": "W0001", "sku": "SKU00003", "delta": 5, "reason": "receipt"},
                {"node": "S0006", "sku": "SKU00008", "delta": 2, "reason": "in_store_return"},
            ]
        }
    )
    got = {(r.node, r.sku): r.on_hand for r in out.inventory}
    assert got[("W0001", "SKU00003")] == 35


def test_network_replacement_drops_stock_of_gone_nodes(svc: RoutingService) -> None:
    net = svc.get_network()
    kept = [n for n in net.nodes if n.id != "S0006"]
    svc.put_network(
        {
            "nodes": [n.model_dump() for n in kept],
            "skus": [s.model_dump() for s in net.skus],
            "rates": [r.model_dump() for r in net.rates],
        }
    )
    assert svc.inventory(node="S0006").inventory == []
    assert [n.id for n in svc.get_network().nodes] == [n.id for n in kept]
    # a node with open reservations cannot go
    a, _ = svc.route(ship_order("N1"))
    node = a.plan.shipments[0].node
    with pytest.raises(Conflict, match="open reservations"):
        svc.put_network(
            {
                "nodes": [n.model_dump() for n in kept if n.id != node],
                "skus": [s.model_dump() for s in net.skus],
                "rates": [r.model_dump() for r in net.rates],
            }
        )
    with pytest.raises(BadInput) as err:
        svc.put_network(
            {
                "nodes": [n.model_dump() for n in kept] * 2,
                "skus": [s.model_dump() for s in net.skus],
                "rates": [],
            }
        )
    assert "nodes[5].id" in {e.path for e in err.value.errors}


def test_availability_nearest_first(svc: RoutingService) -> None:
    got = svc.availability("SKU00003", 21.0, 105.8, 5000)
    assert got.nodes and all(a.atp > 0 for a in got.nodes)
    distances = [a.distance_km for a in got.nodes]
    assert distances == sorted(distances)
    assert svc.availability("SKU00003", 21.0, 105.8, 0.001).nodes == []
    with pytest.raises(BadInput) as err:
        svc.availability("NOPE", 91, 0, -1)
    assert {e.path for e in err.value.errors} == {"sku", "lat", "radius_km"}


def test_a_pickup_store_that_rejects_its_own_stock_stays_the_pickup_point(
    svc: RoutingService,
) -> None:
    """S0006 holds one SKU00004: the pickup is served from its shelf. When the shelf turns
    out empty, the order is rerouted as a transfer to S0006, not given up."""
    order = {
        "id": "P1",
        "method": "pickup",
        "pickup_node": "S0006",
        "lines": [{"sku": "SKU00004", "qty": 1}],
    }
    a, _ = svc.route(order)
    assert [sh.node for sh in a.plan.shipments] == ["S0006"]
    b = svc.reject("P1", {"node": "S0006"})
    assert b.rejected_nodes == ["S0006"]
    assert b.plan.status == "fulfilled"
    assert b.plan.shipments and all(sh.node != "S0006" for sh in b.plan.shipments)
    assert all(sh.distance_km and sh.distance_km > 0 for sh in b.plan.shipments)  # transfers
    assert_books_balance(svc)


def test_a_large_inventory_loads_on_both_back_ends(svc: RoutingService) -> None:
    """Thousands of stock records in one request (PostgreSQL caps bound parameters)."""
    net = svc.get_network()
    records = [
        {"node": n.id, "sku": s.id, "on_hand": 7} for n in net.nodes for s in net.skus
    ] * 1  # 48 pairs; repeated below through many skus
    big = {"skus": [{"id": f"X{i:05d}"} for i in range(6000)]}
    svc.put_network(
        {
            "nodes": [n.model_dump() for n in net.nodes],
            "skus": [s.model_dump() for s in net.skus] + big["skus"],
            "rates": [r.model_dump() for r in net.rates],
        }
    )
    records += [
        {"node": n.id, "sku": f"X{i:05d}", "on_hand": 1} for n in net.nodes for i in range(6000)
    ]
    out = svc.put_inventory({"inventory": records})
    assert len(out.inventory) == len(records) == 48 + 36_000
