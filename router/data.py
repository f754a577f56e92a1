"""A problem compiled once into numpy arrays, the form every solver and check works on.

Validated pydantic models stay at the boundary; hot loops index these arrays instead.
Node, sku, order and line positions follow the problem's lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from models import Problem

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

UNLIMITED = np.iinfo(np.int64).max // 4
"""Stand-in for a null capacity or an absent delivery promise."""


@dataclass(frozen=True, eq=False)
class ProblemData:
    """Arrays of one :class:`~models.Problem`; build with :meth:`from_problem`."""

    problem: Problem
    # nodes
    node_ids: list[str]
    node_lat: FloatArray
    node_lon: FloatArray
    node_is_store: BoolArray
    node_can_ship: BoolArray
    node_can_pickup: BoolArray
    node_enabled: BoolArray
    node_order_cap: IntArray
    node_unit_cap: IntArray
    node_h_ship: FloatArray
    node_h_unit: FloatArray
    # skus
    sku_ids: list[str]
    sku_weight: FloatArray
    sku_store_eligible: BoolArray
    sku_penalty: FloatArray
    # rate bands, sorted as given; null max_km is +inf
    band_max_km: FloatArray
    band_base: FloatArray
    band_per_kg: FloatArray
    band_transit: IntArray
    # stock: atp per (node, sku), dense
    atp: IntArray
    # orders
    order_ids: list[str]
    order_pickup: BoolArray
    order_lat: FloatArray
    order_lon: FloatArray
    order_pickup_node: IntArray  # -1 for ship orders
    order_allow_split: BoolArray
    order_allow_transfer: BoolArray
    order_deadline: IntArray  # UNLIMITED when null
    order_line_start: IntArray  # lines of order o are line_start[o]:line_start[o+1]
    excluded: set[tuple[int, int]] = field(repr=False)  # (order, node)
    # lines, flattened over orders
    line_order: IntArray = field(repr=False)
    line_sku: IntArray = field(repr=False)
    line_qty: IntArray = field(repr=False)

    @classmethod
    def from_problem(cls, problem: Problem) -> ProblemData:
        nodes, skus, orders = problem.nodes, problem.skus, problem.orders
        node_index = {n.id: i for i, n in enumerate(nodes)}
        sku_index = {s.id: i for i, s in enumerate(skus)}

        def cap(v: int | None) -> int:
            return UNLIMITED if v is None else v

        atp = np.zeros((len(nodes), len(skus)), dtype=np.int64)
        for rec in problem.inventory:
            atp[node_index[rec.node], sku_index[rec.sku]] = rec.atp

        line_start = np.zeros(len(orders) + 1, dtype=np.int64)
        line_start[1:] = np.cumsum([len(o.lines) for o in orders])
        line_order = np.repeat(np.arange(len(orders), dtype=np.int64), np.diff(line_start))
        line_sku = np.array([sku_index[ln.sku] for o in orders for ln in o.lines], dtype=np.int64)
        line_qty = np.array([ln.qty for o in orders for ln in o.lines], dtype=np.int64)
        excluded = {(oi, node_index[n]) for oi, o in enumerate(orders) for n in o.excluded_nodes}
        return cls(
            problem=problem,
            node_ids=[n.id for n in nodes],
            node_lat=np.array([n.lat for n in nodes], dtype=np.float64),
            node_lon=np.array([n.lon for n in nodes], dtype=np.float64),
            node_is_store=np.array([n.type == "store" for n in nodes], dtype=bool),
            node_can_ship=np.array([n.can_ship for n in nodes], dtype=bool),
            node_can_pickup=np.array([n.pickup for n in nodes], dtype=bool),
            node_enabled=np.array([n.enabled for n in nodes], dtype=bool),
            node_order_cap=np.array([cap(n.order_capacity) for n in nodes], dtype=np.int64),
            node_unit_cap=np.array([cap(n.unit_capacity) for n in nodes], dtype=np.int64),
            node_h_ship=np.array([n.handling_cost_per_shipment for n in nodes], dtype=np.float64),
            node_h_unit=np.array([n.handling_cost_per_unit for n in nodes], dtype=np.float64),
            sku_ids=[s.id for s in skus],
            sku_weight=np.array([s.weight_kg for s in skus], dtype=np.float64),
            sku_store_eligible=np.array([s.store_eligible for s in skus], dtype=bool),
            sku_penalty=np.array([s.unfilled_penalty for s in skus], dtype=np.float64),
            band_max_km=np.array(
                [np.inf if b.max_km is None else b.max_km for b in problem.rates], dtype=np.float64
            ),
            band_base=np.array([b.base for b in problem.rates], dtype=np.float64),
            band_per_kg=np.array([b.per_kg for b in problem.rates], dtype=np.float64),
            band_transit=np.array([b.transit_days for b in problem.rates], dtype=np.int64),
            atp=atp,
            order_ids=[o.id for o in orders],
            order_pickup=np.array([o.method == "pickup" for o in orders], dtype=bool),
            order_lat=np.array(
                [o.lat if o.method == "ship" else np.nan for o in orders], dtype=np.float64
            ),
            order_lon=np.array(
                [o.lon if o.method == "ship" else np.nan for o in orders], dtype=np.float64
            ),
            order_pickup_node=np.array(
                [
                    node_index[o.pickup_node] if o.method == "pickup" and o.pickup_node else -1
                    for o in orders
                ],
                dtype=np.int64,
            ),
            order_allow_split=np.array([o.allow_split for o in orders], dtype=bool),
            order_allow_transfer=np.array([o.allow_transfer for o in orders], dtype=bool),
            order_deadline=np.array(
                [
                    UNLIMITED if o.deliver_within_days is None else o.deliver_within_days
                    for o in orders
                ],
                dtype=np.int64,
            ),
            order_line_start=line_start,
            excluded=excluded,
            line_order=line_order,
            line_sku=line_sku,
            line_qty=line_qty,
        )

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_skus(self) -> int:
        return len(self.sku_ids)

    @property
    def num_orders(self) -> int:
        return len(self.order_ids)

    @property
    def num_lines(self) -> int:
        return int(self.line_qty.size)

    @cached_property
    def node_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.node_ids)}

    @cached_property
    def sku_index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.sku_ids)}

    @cached_property
    def order_index(self) -> dict[str, int]:
        return {o: i for i, o in enumerate(self.order_ids)}

    def lines_of(self, orders: IntArray) -> IntArray:
        """Indices of the lines of ``orders``, order by order."""
        orders = np.asarray(orders, dtype=np.int64)
        counts = self.order_line_start[orders + 1] - self.order_line_start[orders]
        starts = np.repeat(self.order_line_start[orders], counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return (starts + offsets).astype(np.int64)

    def band_of(self, distance_km: FloatArray) -> IntArray:
        """Index of the first band with ``d ≤ max_km`` (inclusive), or -1 when none."""
        d = np.asarray(distance_km, dtype=np.float64)
        if self.band_max_km.size == 0:
            return np.full(d.shape, -1, dtype=np.int64)
        idx = np.searchsorted(self.band_max_km, d, side="left")
        return np.where(idx < self.band_max_km.size, idx, -1).astype(np.int64)
