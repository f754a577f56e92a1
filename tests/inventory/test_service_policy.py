"""The service's inventory-aware routing option (ROUTER_ROUTING_POLICY=inventory_aware)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from router.service.core import RoutingService
from router.service.settings import Settings
from tests.service.conftest import example_problem


@pytest.fixture
def aware(tmp_path: Path) -> Iterator[tuple[RoutingService, dict[str, Any]]]:
    """A service on SQLite routing inventory-aware (costs recomputed before every order),
    loaded with the contract example."""
    problem = example_problem()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/r.db",
        api_keys="k:admin",
        routing_policy="inventory_aware",
        opportunity_recompute_s=0.0,
    )
    svc = RoutingService(settings)
    try:
        svc.load_problem(problem)
        yield svc, problem
    finally:
        svc.close()


def _orders(problem: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(o, id=f"x-{o['id']}") for o in problem["orders"]]


def test_inventory_aware_service_routes_validly(
    aware: tuple[RoutingService, dict[str, Any]],
) -> None:
    svc, problem = aware
    assert svc.opportunity is not None
    answers = []
    for body in problem["orders"] + _orders(problem):
        answer, replay = svc.route(body)
        assert not replay
        answers.append(answer)
    costs = svc.opportunity.costs
    assert costs is not None  # a forecast exists once orders were seen
    assert costs.status in ("optimal", "empty")
    assert (costs.cost >= 0).all()
    inv = svc.inventory()
    assert all(s.on_hand >= s.reserved >= 0 for s in inv.inventory)


def test_unknown_policy_setting_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(routing_policy="clairvoyant")


def test_reject_reroutes_by_the_same_inventory_aware_objective(
    aware: tuple[RoutingService, dict[str, Any]],
) -> None:
    """A rejected shipment is rerouted with the opportunity costs too, not myopically."""
    svc, problem = aware
    assert svc.opportunity is not None
    routed = [(body, svc.route(body)[0]) for body in problem["orders"]]
    body, answer = next(
        (b, a)
        for b, a in routed[2:]  # after a few orders, so that a forecast exists
        if b.get("method", "ship") == "ship" and a.plan.shipments
    )
    node = answer.plan.shipments[0].node
    calls: list[bool] = []
    current = svc.opportunity.current

    def spy(*args: Any) -> Any:
        out = current(*args)
        calls.append(out is not None)
        return out

    svc.opportunity.current = spy  # type: ignore[method-assign,assignment]
    after = svc.reject(body["id"], {"node": node})
    assert calls and all(calls)  # the reroute priced the opportunity costs
    assert node not in {sh.node for sh in after.plan.shipments}
    qty = sum(ln["qty"] for ln in body["lines"])
    assert (
        sum(ln.qty for sh in after.plan.shipments for ln in sh.lines)
        + sum(u.qty for u in after.plan.unfilled)
        == qty
    )
    inv = svc.inventory()
    assert all(s.on_hand >= s.reserved >= 0 for s in inv.inventory)


def test_service_protects_a_stores_stock_for_its_no_transfer_pickups(
    aware: tuple[RoutingService, dict[str, Any]],
) -> None:
    """Pickups that refuse transfers, seen in the history, make the store's last units
    dearer to anyone else: at least penalty × P(their demand ≥ units left)."""
    from router.inventory.protection import own_pickup_value
    from router.service.opportunity import surcharge_of

    svc, problem = aware
    for body in problem["orders"][:4]:  # some ordinary history
        svc.route(body)
    pickup = next(o for o in problem["orders"] if o.get("method") == "pickup")
    for k in range(3):  # the same store's customers, refusing transfers
        svc.route(dict(pickup, id=f"own-{k}", allow_transfer=False))
    assert svc.opportunity is not None
    with svc.store.engine.connect() as conn:
        net = svc.networks.get(conn)
        costs = svc.opportunity.current(conn, net)
    assert costs is not None and costs.forecast.own is not None
    store = net.data.node_index[pickup["pickup_node"]]
    sku = pickup["lines"][0]["sku"]
    j = net.data.sku_index[sku]
    assert costs.forecast.own[store, j] > 0
    assert costs.forecast.own.sum() == pytest.approx(costs.forecast.own[store].sum())
    atp = np.ones((net.data.num_nodes, 1), dtype=np.int64)
    got = surcharge_of(costs, net, [sku], atp)
    want = own_pickup_value(
        costs.forecast.own[:, [j]], net.data.sku_penalty[[j]], atp, costs.horizon_days
    )
    assert (got >= want - 1e-12).all() and got[store, 0] > 0
    assert (got >= costs.cost[:, [j]] - 1e-12).all()


def test_service_protects_units_for_promised_orders_and_explains_it(
    aware: tuple[RoutingService, dict[str, Any]],
) -> None:
    """Orders with a delivery promise, seen in the history, make the units of the nodes
    that can keep it dearer (the pooled-set value the simulator's policy uses), and the
    explanation names the promised orders those units are kept for."""
    from router.inventory.opportunity import unit_costs
    from router.inventory.protection import promise_value
    from router.service.opportunity import _protected, surcharge_of

    svc, problem = aware
    ship = [o for o in problem["orders"] if o.get("method", "ship") == "ship"]
    for k, body in enumerate(ship[:8]):
        svc.route(dict(body, id=f"p-{k}", deliver_within_days=1 if k % 2 else None))
    assert svc.opportunity is not None
    with svc.store.engine.connect() as conn:
        net = svc.networks.get(conn)
        costs = svc.opportunity.current(conn, net)
    assert costs is not None and costs.promise_sets is not None
    sets = costs.promise_sets
    assert len(sets) > 0 and set(sets.days.tolist()) == {1}
    # the sets are the nodes within a day of each region, at the history's promised share
    _, _, ok, transit = unit_costs(net.data, costs.forecast, 1.0)
    assert (sets.members <= (ok & (transit <= 1)).T[sets.region]).all()
    # the promised share is the history's: promised units over all the ship units seen
    units = [sum(ln["qty"] for ln in o["lines"]) for o in ship[:8]]
    share = sum(units[1::2]) / sum(units)
    np.testing.assert_allclose(sets.rate, sets.region_rate * share)
    skus = sorted({ln["sku"] for o in ship[:8] for ln in o["lines"]})
    cols = np.array([net.data.sku_index[s] for s in skus])
    atp = np.ones((net.data.num_nodes, len(skus)), dtype=np.int64)
    got = surcharge_of(costs, net, skus, atp)
    want = promise_value(sets, cols, net.data.sku_penalty[cols], atp, costs.horizon_days)
    assert want.any() and (got >= want - 1e-12).all()
    assert (got >= costs.cost[:, cols] - 1e-12).all()
    # a promised order that a node can serve now is served (serve first), though its
    # units are dear to the promised orders still to come
    body = dict(ship[1], id="p-now", deliver_within_days=1)
    answer, _ = svc.route(body, explain=True)
    assert answer.plan.shipments and not answer.plan.unfilled  # (uncapped: left unfilled)
    # explain: what a node's units are kept for names the promised orders of each region
    k = int(np.flatnonzero(sets.rate.sum(axis=1) > 0)[0])
    i = int(np.flatnonzero(sets.members[k])[0])
    j = int(np.flatnonzero(sets.rate[k])[0])
    node = net.data.node_ids[i]
    named = _protected(costs, net, node, i, j, None)
    region = costs.forecast.regions.name(int(sets.region[k]))
    hit = [p for p in named if p.region == f"orders promised within 1 day from {region}"]
    assert hit and hit[0].expected_units == pytest.approx(sets.rate[k, j] * costs.horizon_days)
