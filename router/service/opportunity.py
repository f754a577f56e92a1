"""Inventory-aware routing in the service (issue 5): opportunity costs of live stock.

With ``ROUTER_ROUTING_POLICY=inventory_aware`` every order is routed by shipping +
handling + the opportunity cost of the units it takes (the dual-value LP of
:mod:`router.inventory.opportunity`); the answer's plan and cost stay the contract's.
The LP's inputs are read from the database: the live available-to-promise of every
(node, sku), and a forecast from the orders the service has seen (the ``orders`` table:
ship orders at their address, pickups at their store; Poisson rates with a popularity
prior, :func:`router.inventory.forecast.from_history`). The costs are cached per worker
and recomputed every ``ROUTER_OPPORTUNITY_RECOMPUTE_S`` seconds or when the network
changes; with no history yet there are none (plain myopic routing).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import OrderPlan
from models.explain import Protects, UnitOpportunity
from router.data import FloatArray, IntArray
from router.inventory.forecast import from_history, own_from_history
from router.inventory.opportunity import OpportunityCosts, opportunity_costs, unit_costs
from router.inventory.protection import (
    own_pickup_value,
    promise_sets,
    promise_value,
    protected_demand,
    set_loss,
)
from router.service import schema
from router.service.inventory import atp_expr
from router.service.network import Network

POLICIES = ("myopic", "inventory_aware")
MAX_PROTECTS = 5
"""Regions listed per (node, sku) in an explanation's ``opportunity``."""


class OpportunityCache:
    """Opportunity costs of one worker, recomputed on a schedule (thread-safe)."""

    def __init__(self, recompute_s: float, horizon_days: float, cell_deg: float) -> None:
        self.recompute_s = recompute_s
        self.horizon_days = horizon_days
        self.cell_deg = cell_deg
        self.costs: OpportunityCosts | None = None
        self._at = -np.inf
        self._version = -1
        self._lock = threading.Lock()

    def current(self, conn: Connection, net: Network) -> OpportunityCosts | None:
        with self._lock:
            now = time.time()
            if net.version != self._version or now - self._at >= self.recompute_s:
                self.costs = self._compute(conn, net)
                self._at, self._version = now, net.version
            return self.costs

    def _compute(self, conn: Connection, net: Network) -> OpportunityCosts | None:
        data = net.data
        o = schema.orders.c
        lat: list[float] = []
        lon: list[float] = []
        sku: list[int] = []
        qty: list[int] = []
        own_node: list[int] = []  # no-transfer pickups: only their store can serve them
        own_sku: list[int] = []
        own_qty: list[int] = []
        promised: dict[int, int] = {}  # units of orders with a delivery promise, by days
        first = last = None
        n_orders = 0
        nodes = {n.id: n for n in net.nodes}
        for doc, created in conn.execute(sa.select(o.doc, o.created_at)):
            order: dict[str, Any] = doc.get("order", {})
            own = None
            if order.get("method") == "pickup":
                node = nodes.get(order.get("pickup_node", ""))
                if node is None:
                    continue
                where = (node.lat, node.lon)
                if order.get("allow_transfer") is False:
                    own = data.node_index[node.id]
            elif order.get("lat") is not None and order.get("lon") is not None:
                where = (float(order["lat"]), float(order["lon"]))
            else:
                continue
            for line in order.get("lines", []):
                j = data.sku_index.get(line.get("sku"))
                if j is None:
                    continue
                if own is not None:
                    own_node.append(own)
                    own_sku.append(j)
                    own_qty.append(int(line.get("qty", 0)))
                    continue
                lat.append(where[0])
                lon.append(where[1])
                sku.append(j)
                qty.append(int(line.get("qty", 0)))
                days_ = order.get("deliver_within_days")
                if days_ is not None:
                    promised[int(days_)] = promised.get(int(days_), 0) + int(line.get("qty", 0))
            n_orders += 1
            first = created if first is None else min(first, created)
            last = created if last is None else max(last, created)
        if not sku or first is None or last is None:
            return None
        days = max((last - first) / 86400.0, 1.0)
        forecast = from_history(
            np.array(lat), np.array(lon), np.array(sku), np.array(qty),
            num_skus=len(data.sku_ids), days=days, cell_deg=self.cell_deg,
        )  # fmt: skip
        own_rate = own_from_history(
            np.array(own_node), np.array(own_sku), np.array(own_qty),
            data.num_nodes, len(data.sku_ids), days,
        )  # fmt: skip
        forecast = dataclasses.replace(forecast, own=own_rate)
        s = schema.stock.c
        stock = np.zeros((data.num_nodes, len(data.sku_ids)))
        for node, sku_id, atp in conn.execute(sa.select(s.node, s.sku, atp_expr())):
            i, j = data.node_index.get(node), data.sku_index.get(sku_id)
            if i is not None and j is not None:
                stock[i, j] = max(0, int(atp))
        units = float(np.sum(qty) + np.sum(own_qty)) / max(n_orders, 1)  # ≈ units per parcel
        costs = opportunity_costs(
            data, stock, forecast, self.horizon_days, units_per_parcel=max(units, 1.0)
        )
        total = float(np.sum(qty))
        if not promised or total <= 0:
            return costs
        # one share per promised days for the whole network (the history is too thin
        # to split it by region), as the simulator's demand model has it
        classes = tuple((d, q / total) for d, q in sorted(promised.items()))
        _, _, ok, transit = unit_costs(data, forecast, max(units, 1.0))
        sets = promise_sets(ok, transit, forecast.rate, classes)
        return dataclasses.replace(costs, promise_sets=sets)


def surcharge_of(
    costs: OpportunityCosts, net: Network, skus: list[str], atp: IntArray | None = None
) -> FloatArray:
    """Per-unit opportunity cost of each node (rows) for these skus (columns); with the
    live ``atp`` (nodes × these skus), at least the value of a store's last units to its
    own no-transfer pickups (:func:`router.inventory.protection.own_pickup_value`) and of
    a node's units to the promised orders that only it and the nodes as close can serve
    (:func:`router.inventory.protection.promise_value`), as in the simulator's policy."""
    idx = [net.data.sku_index[s] for s in skus]
    cost = np.asarray(costs.cost[:, idx], dtype=np.float64)
    if atp is None:
        return cost
    pen = net.data.sku_penalty[idx]
    own = costs.forecast.own
    if own is not None:
        cost = np.maximum(cost, own_pickup_value(own[:, idx], pen, atp, costs.horizon_days))
    if costs.promise_sets is not None:
        cols = np.asarray(idx, dtype=np.int64)
        value = promise_value(costs.promise_sets, cols, pen, atp, costs.horizon_days)
        cost = np.maximum(cost, value)
    return cost


def explain_units(
    costs: OpportunityCosts,
    net: Network,
    plan: OrderPlan,
    limit: int = MAX_PROTECTS,
    used: tuple[list[str], FloatArray] | None = None,
    atp: IntArray | None = None,
) -> list[UnitOpportunity]:
    """For every (node, sku) the plan takes: the per-unit opportunity cost the decision
    used (``used`` = (skus, surcharge[node, column of the sku]), else the LP's) and the
    ``limit`` largest demands it protects: the LP's flows, led, when a protection term
    set the cost, by the store's own no-transfer pickups and the promised orders it keeps
    the units for (the dearest first, at the stock ``atp`` the decision saw, nodes × the
    columns of ``used``)."""
    out = []
    for sh in plan.shipments:
        i = net.data.node_index.get(sh.node)
        for ln in sh.lines:
            j = net.data.sku_index.get(ln.sku)
            if i is None or j is None:
                continue
            protects = [
                Protects(region=p["region"], expected_units=float(p["units"]), days=p["days"])
                for p in costs.explain(i, j)[:limit]
            ]
            lp_cost = float(costs.cost[i, j])
            cost = lp_cost
            if used is not None and ln.sku in used[0]:
                cost = float(used[1][i, used[0].index(ln.sku)])
            if cost > lp_cost + 1e-12:  # a protection term set it: name what it keeps
                col = None
                if atp is not None and used is not None and ln.sku in used[0]:
                    col = atp[:, used[0].index(ln.sku)]
                protects[:0] = _protected(costs, net, sh.node, i, j, col)
            out.append(
                UnitOpportunity(
                    node=sh.node,
                    sku=ln.sku,
                    units=ln.qty,
                    opportunity_cost=cost,
                    protects=protects[:limit],
                )
            )
    return out


def _protected(
    costs: OpportunityCosts, net: Network, node: str, i: int, j: int, atp: IntArray | None
) -> list[Protects]:
    """The demand the protection terms keep units of (node ``i``, sku ``j``) for
    (:func:`router.inventory.protection.protected_demand`), ordered by what each is
    worth at the stock ``atp`` of that sku (per node) when given."""
    h, own = costs.horizon_days, costs.forecast.own
    own_value = set_value = None
    if atp is not None:
        stock = np.asarray(atp, dtype=np.int64)[:, None]
        pen = net.data.sku_penalty[[j]]
        if own is not None:
            own_value = float(own_pickup_value(own[:, [j]], pen, stock, h)[i, 0])
        if costs.promise_sets is not None and len(costs.promise_sets):
            cols = np.array([j], dtype=np.int64)
            set_value = set_loss(costs.promise_sets, cols, stock, h)[:, 0] * pen[0]
    found = protected_demand(
        own, costs.promise_sets, costs.forecast.regions.name, node, i, j, h,
        own_value=own_value, set_value=set_value,
    )  # fmt: skip
    return [Protects(region=p["region"], expected_units=p["units"], days=p["days"]) for p in found]
