"""The one place that prices a plan, exactly as the contract's cost model says.

Shipment of order *o* from node *n*: distance by haversine (to the address for ``ship``,
to the pickup node for ``pickup``); shipping 0 for own-stock pickup, else the first rate
band with ``d ≤ max_km``: ``base + per_kg × weight``; handling
``per_shipment + per_unit × units``. Order cost adds each unfilled unit's penalty.
Everything that reports a cost (solvers, baselines, ``router check``) goes through
:func:`price`, so a plan's reported cost is its repriced cost by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import LineQty, OrderCost, OrderPlan, Plan, Shipment, ShipmentCost, SolverInfo
from router.assignment import Assignment
from router.data import BoolArray, FloatArray, IntArray, ProblemData
from router.geo import haversine_km


@dataclass(frozen=True, eq=False)
class ShipmentTable:
    """One row per shipment (unique order, node) with its priced fields."""

    order: IntArray
    node: IntArray
    units: IntArray
    weight: FloatArray
    distance_km: FloatArray
    band: IntArray  # -1 when own-stock pickup or out of every band
    own_pickup: BoolArray
    transit_days: IntArray
    handling: FloatArray
    shipping: FloatArray

    @property
    def total(self) -> FloatArray:
        return self.handling + self.shipping

    @property
    def in_range(self) -> BoolArray:
        return self.own_pickup | (self.band >= 0)


def leg_distance(data: ProblemData, order: IntArray, node: IntArray) -> FloatArray:
    """Distance of the leg from ``node`` to ``order`` (address, or pickup node)."""
    pickup = data.order_pickup[order]
    pn = np.where(pickup, data.order_pickup_node[order], 0)
    to_lat = np.where(pickup, data.node_lat[pn], data.order_lat[order])
    to_lon = np.where(pickup, data.node_lon[pn], data.order_lon[order])
    return haversine_km(data.node_lat[node], data.node_lon[node], to_lat, to_lon)


def shipment_table(data: ProblemData, a: Assignment) -> ShipmentTable:
    """Group an assignment into shipments and price each one."""
    if len(a) == 0:
        z, f, b = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)
        return ShipmentTable(z, z, z, f, f, z, b, z, f, f)
    keys = a.order * data.num_nodes + a.node
    uniq, inv = np.unique(keys, return_inverse=True)
    order, node = uniq // data.num_nodes, uniq % data.num_nodes
    units = np.bincount(inv, weights=a.qty, minlength=uniq.size).astype(np.int64)
    weight: FloatArray = np.bincount(
        inv, weights=a.qty * data.sku_weight[a.sku], minlength=uniq.size
    ).astype(np.float64)
    own = data.order_pickup[order] & (data.order_pickup_node[order] == node)
    dist = np.where(own, 0.0, leg_distance(data, order, node))
    band = np.where(own, -1, data.band_of(dist))
    ok = band >= 0
    bi = np.where(ok, band, 0)
    if data.band_base.size:
        shipping = np.where(ok, data.band_base[bi] + data.band_per_kg[bi] * weight, 0.0)
        transit = np.where(ok, data.band_transit[bi], 0)
    else:
        shipping, transit = np.zeros(uniq.size), np.zeros(uniq.size, dtype=np.int64)
    handling = data.node_h_ship[node] + data.node_h_unit[node] * units
    return ShipmentTable(
        order,
        node,
        units,
        weight,
        dist.astype(np.float64),
        band.astype(np.int64),
        own,
        transit.astype(np.int64),
        handling,
        shipping,
    )


def price(data: ProblemData, a: Assignment, solver: SolverInfo | None = None) -> Plan:
    """The contract plan of an assignment: shipments, unfilled units, costs at every level."""
    table = shipment_table(data, a)
    shipped = a.shipped_per_line(data)
    unfilled = data.line_qty - shipped
    penalty_per_line = np.maximum(unfilled, 0) * data.sku_penalty[data.line_sku]

    # Rows of the assignment, grouped by order then node, to list each shipment's lines.
    row_order = np.lexsort((a.sku, a.node, a.order)) if len(a) else np.zeros(0, np.int64)
    rows_o, rows_n = a.order[row_order], a.node[row_order]
    rows_s, rows_q = a.sku[row_order], a.qty[row_order]
    ship_start = np.searchsorted(
        rows_o * data.num_nodes + rows_n, table.order * data.num_nodes + table.node
    )
    ship_end = np.append(ship_start[1:], len(rows_o)) if table.order.size else ship_start
    first_ship = np.searchsorted(table.order, np.arange(data.num_orders + 1))

    sku_ids, node_ids = data.sku_ids, data.node_ids
    h_tab, s_tab, d_tab, t_tab = (
        table.handling.tolist(),
        table.shipping.tolist(),
        table.distance_km.tolist(),
        table.transit_days.tolist(),
    )
    start_l, end_l = ship_start.tolist(), ship_end.tolist()
    skus_l, qty_l, nodes_l = rows_s.tolist(), rows_q.tolist(), table.node.tolist()
    unfilled_l, pen_l, lsku_l = unfilled.tolist(), penalty_per_line.tolist(), data.line_sku.tolist()
    line_start = data.order_line_start.tolist()

    orders: list[OrderPlan] = []
    tot_h = tot_s = tot_p = 0.0
    for o, oid in enumerate(data.order_ids):
        shipments = []
        oh = os_ = 0.0
        for k in range(first_ship[o], first_ship[o + 1]):
            h, s = h_tab[k], s_tab[k]
            oh += h
            os_ += s
            shipments.append(
                Shipment.model_construct(
                    node=node_ids[nodes_l[k]],
                    lines=[
                        LineQty.model_construct(sku=sku_ids[skus_l[r]], qty=qty_l[r])
                        for r in range(start_l[k], end_l[k])
                    ],
                    distance_km=d_tab[k],
                    transit_days=t_tab[k],
                    cost=ShipmentCost.model_construct(handling=h, shipping=s, total=h + s),
                )
            )
        lines = range(line_start[o], line_start[o + 1])
        short = [
            LineQty.model_construct(sku=sku_ids[lsku_l[ln]], qty=unfilled_l[ln])
            for ln in lines
            if unfilled_l[ln] > 0
        ]
        op = sum(pen_l[ln] for ln in lines)
        status = "unfilled" if not shipments else ("partial" if short else "fulfilled")
        orders.append(
            OrderPlan.model_construct(
                order_id=oid,
                status=status,
                shipments=shipments,
                unfilled=short,
                cost=OrderCost.model_construct(
                    handling=oh, shipping=os_, penalty=op, total=oh + os_ + op
                ),
            )
        )
        tot_h, tot_s, tot_p = tot_h + oh, tot_s + os_, tot_p + op
    cost = OrderCost.model_construct(
        handling=tot_h, shipping=tot_s, penalty=tot_p, total=tot_h + tot_s + tot_p
    )
    return Plan.model_construct(orders=orders, cost=cost, solver=solver)


def total_cost(data: ProblemData, a: Assignment) -> float:
    """Plan cost of an assignment without building the plan (same arithmetic as :func:`price`)."""
    table = shipment_table(data, a)
    unfilled = data.line_qty - a.shipped_per_line(data)
    penalty = float(np.dot(np.maximum(unfilled, 0), data.sku_penalty[data.line_sku]))
    return float(table.handling.sum() + table.shipping.sum()) + penalty


def lines_cost(data: ProblemData, a: Assignment, lines: IntArray) -> float:
    """Cost of ``a``'s shipments plus the penalties of ``lines`` (a part of a plan)."""
    table = shipment_table(data, a)
    shipped = a.shipped_per_line(data)[lines]
    penalty = (data.line_qty[lines] - shipped) * data.sku_penalty[data.line_sku[lines]]
    return float(table.handling.sum() + table.shipping.sum() + penalty.sum())
