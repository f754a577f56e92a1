"""The simulator's side of rebalancing and protection: the planner's forecast from the
scenario's demand model, and the plan's transfers as array updates.

Forecast (what the planner expects, never the draws): online units per sku per day are
``orders_per_day × mean lines × mean qty × popularity`` (as
:func:`~router.simulation.demand.expected_daily_units`); ship orders are spread over the
customer places by population and grouped into node catchments (each place to its nearest
enabled node; the region sits at the catchment's population-weighted centre, named
``near:<node>``); pickup orders go to the stores by pickup weight and walk-ins to each
store by its assortment, both as that store's own catchment (``store:<node>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models import Node, RateBand
from router.data import IntArray
from router.geo import haversine_km
from router.inventory.protection import walkin_rates
from router.inventory.rebalance import (
    CostParams,
    Demand,
    Protected,
    RebalanceInput,
    Region,
    plan_rebalance,
)
from router.simulation.network import BuiltNetwork
from router.simulation.scenario import RebalanceSpec, Scenario


@dataclass(frozen=True)
class SimTransfer:
    src: int
    dst: int
    sku: int
    qty: int
    cost: float
    protects: tuple[Protected, ...] = field(default=())  # days relative to the plan's day


def forecast_regions(
    net: BuiltNetwork, sc: Scenario, nodes: list[Node], walkins: bool
) -> tuple[list[Region], np.ndarray]:
    """Regions and expected units per (region, sku) per day (see the module docstring)."""
    spec = sc.demand
    dist = spec.line_distribution()
    mean_lines = sum(k * p for k, p in dist.items())
    tq = sum(spec.qty.values())
    mean_qty = sum(q * w for q, w in spec.qty.items()) / tq
    online = spec.orders_per_day * mean_lines * mean_qty * net.popularity  # per sku per day
    enabled = np.array([n.enabled for n in nodes], dtype=bool)
    idx = np.flatnonzero(enabled)
    nlat = np.array([nodes[i].lat for i in idx])
    nlon = np.array([nodes[i].lon for i in idx])
    w = net.place_weight / max(float(net.place_weight.sum()), 1e-12)
    d = np.asarray(
        haversine_km(net.place_lat[:, None], net.place_lon[:, None], nlat[None, :], nlon[None, :])
    )
    near = idx[np.argmin(d, axis=1)] if idx.size else np.zeros(0, dtype=np.int64)
    pickup = spec.pickup_share if net.store_weight.sum() > 0 else 0.0
    regions: list[Region] = []
    rows: list[np.ndarray] = []
    for i in np.unique(near).tolist():
        m = near == i
        wt = float(w[m].sum())
        if wt <= 0:
            continue
        lat = float(np.dot(w[m], net.place_lat[m]) / wt)
        lon = float(np.dot(w[m], net.place_lon[m]) / wt)
        regions.append(Region(f"near:{nodes[i].id}", lat, lon))
        rows.append(online * (1.0 - pickup) * wt)
    store_rows = np.zeros(net.on_hand.shape)
    sw = net.store_weight * enabled
    if pickup > 0 and sw.sum() > 0:
        store_rows += (sw / sw.sum())[:, None] * (online * pickup)[None, :]
    if walkins:
        store_rows += walkin_rates(net, spec.walkins_per_store) * enabled[:, None]
    for i in np.flatnonzero(store_rows.sum(axis=1) > 0).tolist():
        n = nodes[i]
        regions.append(Region(f"store:{n.id}", n.lat, n.lon, node=n.id))
        rows.append(store_rows[i])
    per_day = np.array(rows) if rows else np.zeros((0, len(net.skus)))
    return regions, per_day


def build_input(
    net: BuiltNetwork,
    sc: Scenario,
    spec: RebalanceSpec,
    nodes: list[Node],
    rates: list[RateBand],
    atp: IntArray,
) -> RebalanceInput:
    """The planner's problem from available stock ``atp`` (nodes, skus) and the forecast."""
    horizon = spec.horizon_days or spec.every_days + spec.lead_days
    lead = min(spec.lead_days, horizon)
    regions, per_day = forecast_regions(net, sc, nodes, spec.walkins)
    sku_ids = net.sku_ids
    demand = [
        Demand(
            r.id, sku_ids[s], float(per_day[j, s] * (horizon - lead)), float(per_day[j, s] * lead)
        )
        for j, r in enumerate(regions)
        for s in np.flatnonzero(per_day[j] > 0).tolist()
    ]
    nz = np.nonzero(atp > 0)
    stock = {(nodes[i].id, sku_ids[s]): int(atp[i, s]) for i, s in zip(*nz, strict=True)}
    return RebalanceInput(
        nodes=nodes,
        skus=net.skus,
        rates=rates,
        stock=stock,
        regions=regions,
        demand=demand,
        horizon_days=horizon,
        lead_days=lead,
        lane_capacity=spec.lane_capacity,
        outbound_capacity=spec.outbound_capacity,
        costs=CostParams(
            units_per_shipment=spec.units_per_shipment,
            consolidation_units=spec.consolidation_units,
        ),
    )


def plan_transfers(
    net: BuiltNetwork,
    sc: Scenario,
    spec: RebalanceSpec,
    nodes: list[Node],
    rates: list[RateBand],
    atp: IntArray,
) -> list[SimTransfer]:
    """Today's rebalancing transfers from available stock ``atp`` (nodes, skus)."""
    plan = plan_rebalance(build_input(net, sc, spec, nodes, rates, atp))
    ni = {n.id: i for i, n in enumerate(nodes)}
    si = {s: j for j, s in enumerate(net.sku_ids)}
    return [
        SimTransfer(ni[t.from_node], ni[t.to_node], si[t.sku], t.qty, t.cost, tuple(t.protects))
        for t in plan.transfers
    ]
