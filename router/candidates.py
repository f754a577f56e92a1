"""Which (order, node) shipments and (shipment, line) unit flows can exist at all.

Everything the contract rules out for a single shipment is pruned here, once, with numpy:
disabled, excluded, non-shipping and over-capacity-zero nodes, distances beyond every
rate band, transit beyond the delivery promise, transfers a pickup order refuses, store
ineligible skus and (node, sku) pairs without stock. What is left is exactly the set of
variables a solver needs; nothing feasible is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.data import BoolArray, FloatArray, IntArray, ProblemData
from router.geo import haversine_km

CHUNK = 2048
"""Orders per block when scoring (order, node) pairs, to bound memory on large networks."""


@dataclass(frozen=True, eq=False)
class Candidates:
    """Possible shipments (``pair_*``) and unit flows (``arc_*``), with their costs.

    A shipment of pair *p* costs ``pair_fixed[p]`` once plus ``arc_unit[a]`` per unit on
    each of its arcs *a*: fixed = per-shipment handling + band base (0 for own-stock
    pickup); per unit = per-unit handling + band per_kg × sku weight.
    """

    pair_order: IntArray
    pair_node: IntArray
    pair_fixed: FloatArray
    pair_per_kg: FloatArray
    pair_distance: FloatArray
    pair_transit: IntArray
    pair_own: BoolArray
    arc_pair: IntArray
    arc_line: IntArray
    arc_unit: FloatArray
    arc_cap: IntArray  # min(line qty, atp)

    @property
    def num_pairs(self) -> int:
        return int(self.pair_order.size)

    @property
    def num_arcs(self) -> int:
        return int(self.arc_pair.size)

    def arc_node(self) -> IntArray:
        return self.pair_node[self.arc_pair]

    def subset(self, keep_pairs: BoolArray, keep_arcs: BoolArray | None = None) -> Candidates:
        """The candidates restricted to some pairs and arcs, reindexed.

        A pair left without arcs is dropped too (a shipment needs at least one unit).
        """
        keep_arcs = keep_pairs[self.arc_pair] & (True if keep_arcs is None else keep_arcs)
        keep_pairs = keep_pairs & (
            np.bincount(self.arc_pair[keep_arcs], minlength=self.num_pairs) > 0
        )
        new_index = np.cumsum(keep_pairs) - 1
        return Candidates(
            self.pair_order[keep_pairs],
            self.pair_node[keep_pairs],
            self.pair_fixed[keep_pairs],
            self.pair_per_kg[keep_pairs],
            self.pair_distance[keep_pairs],
            self.pair_transit[keep_pairs],
            self.pair_own[keep_pairs],
            new_index[self.arc_pair[keep_arcs]],
            self.arc_line[keep_arcs],
            self.arc_unit[keep_arcs],
            self.arc_cap[keep_arcs],
        )


def build_candidates(data: ProblemData, orders: IntArray | None = None) -> Candidates:
    """All feasible shipments and flows for ``orders`` (default: every order)."""
    ords = np.arange(data.num_orders) if orders is None else np.asarray(orders, dtype=np.int64)
    blocks = [_block(data, ords[i : i + CHUNK]) for i in range(0, max(ords.size, 1), CHUNK)]
    parts = [p for p in blocks if p is not None]
    if not parts:
        z, f, b = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)
        return Candidates(z, z, f, f, f, z, b, z, z, f, z)
    offsets = np.cumsum([0, *(p.num_pairs for p in parts[:-1])]).tolist()
    return Candidates(  # type: ignore[call-arg]
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in (
                "pair_order",
                "pair_node",
                "pair_fixed",
                "pair_per_kg",
                "pair_distance",
                "pair_transit",
                "pair_own",
            )
        ),
        np.concatenate([p.arc_pair + off for p, off in zip(parts, offsets, strict=True)]),
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("arc_line", "arc_unit", "arc_cap")
        ),
    )


def _block(data: ProblemData, ords: IntArray) -> Candidates | None:
    if ords.size == 0 or data.num_nodes == 0:
        return None
    nodes = np.arange(data.num_nodes)
    pickup = data.order_pickup[ords]
    pnode = data.order_pickup_node[ords]
    pn_safe = np.where(pnode >= 0, pnode, 0)
    to_lat = np.where(pickup, data.node_lat[pn_safe], data.order_lat[ords])
    to_lon = np.where(pickup, data.node_lon[pn_safe], data.order_lon[ords])
    dist = haversine_km(
        data.node_lat[None, :], data.node_lon[None, :], to_lat[:, None], to_lon[:, None]
    )
    own = pickup[:, None] & (pnode[:, None] == nodes[None, :])
    dist = np.where(own, 0.0, dist)
    band = data.band_of(dist)
    band = np.where(own, -1, band)
    has_band = band >= 0
    bi = np.where(has_band, band, 0)
    if data.band_base.size:
        base = np.where(has_band, data.band_base[bi], 0.0)
        per_kg = np.where(has_band, data.band_per_kg[bi], 0.0)
        transit = np.where(has_band, data.band_transit[bi], 0)
    else:
        base = per_kg = np.zeros(dist.shape)
        transit = np.zeros(dist.shape, dtype=np.int64)

    ok = np.broadcast_to(
        data.node_enabled & (data.node_order_cap > 0) & (data.node_unit_cap > 0), dist.shape
    ).copy()
    ok &= own | (data.node_can_ship[None, :] & has_band)
    ok &= transit <= data.order_deadline[ords][:, None]
    ok &= ~(pickup & ~data.order_allow_transfer[ords])[:, None] | own
    # A pickup whose pickup node is disabled or excluded cannot be served at all.
    pn_dead = pickup & ~data.node_enabled[pn_safe]
    for k, o in enumerate(ords.tolist()):
        if pickup[k] and (o, int(pnode[k])) in data.excluded:
            pn_dead[k] = True
    ok &= ~pn_dead[:, None]
    if data.excluded:
        pos = {o: k for k, o in enumerate(ords.tolist())}
        for o, n in data.excluded:
            if o in pos:
                ok[pos[o], n] = False

    pk, pn = np.nonzero(ok)
    po = ords[pk]
    # Expand each pair over its order's lines.
    nlines = data.order_line_start[po + 1] - data.order_line_start[po]
    arc_pair = np.repeat(np.arange(pk.size), nlines)
    starts = np.repeat(data.order_line_start[po], nlines)
    first = np.repeat(np.cumsum(nlines) - nlines, nlines)
    arc_line = starts + (np.arange(arc_pair.size) - first)
    arc_node = pn[arc_pair]
    arc_sku = data.line_sku[arc_line]
    stock = data.atp[arc_node, arc_sku]
    arc_own = own[pk, pn][arc_pair]
    good = (stock > 0) & (
        arc_own | ~data.node_is_store[arc_node] | data.sku_store_eligible[arc_sku]
    )
    arc_pair, arc_line, arc_node, arc_sku = (
        arc_pair[good],
        arc_line[good],
        arc_node[good],
        arc_sku[good],
    )
    cap = np.minimum(data.line_qty[arc_line], stock[good])

    used = np.zeros(pk.size, dtype=bool)
    used[arc_pair] = True
    remap = np.cumsum(used) - 1
    pk, pn, po = pk[used], pn[used], po[used]
    fixed = data.node_h_ship[pn] + base[pk, pn]
    pkg = per_kg[pk, pn]
    arc_pair = remap[arc_pair]
    arc_unit = data.node_h_unit[arc_node] + pkg[arc_pair] * data.sku_weight[arc_sku]
    return Candidates(
        po,
        pn,
        fixed,
        pkg,
        dist[pk, pn],
        transit[pk, pn].astype(np.int64),
        own[pk, pn],
        arc_pair,
        arc_line,
        arc_unit,
        cap,
    )
