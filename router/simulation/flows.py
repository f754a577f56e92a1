"""Stock that arrives on a schedule (warehouse receipts, store replenishment) and where
returns and pickups go: shared by the engine and the hindsight bound, so both see the
same quantities and destinations.
"""

from __future__ import annotations

import numpy as np

from router.data import BoolArray, FloatArray, IntArray
from router.geo import haversine_km
from router.simulation.demand import expected_daily_units
from router.simulation.network import BuiltNetwork
from router.simulation.scenario import Scenario, StoreReplenishment, WarehouseReceipts


def receipt_days(spec: WarehouseReceipts | StoreReplenishment | None, days: int) -> list[int]:
    if spec is None:
        return []
    return list(range(spec.start_day, days, spec.every_days))


def receipt_plan(net: BuiltNetwork, scenario: Scenario) -> dict[int, IntArray]:
    """Day → units received per (node, sku) (warehouse rows only). Deterministic: the
    expected demand of the interval × factor, split by each warehouse's share of the
    sku's initial stock, rounded on the running total so nothing drifts."""
    spec = scenario.replenishment.warehouse
    days = receipt_days(spec, scenario.days)
    if spec is None or not days:
        return {}
    wh = np.flatnonzero(~net.is_store)
    if wh.size == 0:
        return {}
    expected = expected_daily_units(net, scenario.demand) * spec.every_days * spec.factor
    stock = net.on_hand[wh].astype(np.float64)
    total = stock.sum(axis=0)
    share = np.where(total > 0, stock / np.maximum(total, 1.0), 1.0 / wh.size)
    per = share * expected[None, :]
    out: dict[int, IntArray] = {}
    for k, d in enumerate(days):
        qty = np.zeros(net.on_hand.shape, dtype=np.int64)
        qty[wh] = np.rint(per * (k + 1)).astype(np.int64) - np.rint(per * k).astype(np.int64)
        out[d] = qty
    return out


def store_targets(net: BuiltNetwork, scenario: Scenario) -> IntArray:
    """Order-up-to level per (node, sku): target × the store's initial (scaled) on_hand."""
    spec = scenario.replenishment.store
    if spec is None:
        return np.zeros(net.on_hand.shape, dtype=np.int64)
    scaled = np.rint(net.on_hand * scenario.initial_stock.scale)
    tgt = np.ceil(scaled * spec.target).astype(np.int64)
    tgt[~net.is_store] = 0
    return tgt


def transfer_arrivals(scenario: Scenario) -> list[int]:
    """Days on which store replenishment arrives (within the horizon)."""
    spec = scenario.replenishment.store
    if spec is None:
        return []
    return [
        d + spec.lead_days
        for d in receipt_days(spec, scenario.days)
        if d + spec.lead_days < scenario.days
    ]


def topup_distance(
    node_lat: FloatArray, node_lon: FloatArray, warehouses: IntArray, stores: IntArray
) -> FloatArray:
    """(stores, warehouses): how far each store sees each warehouse it tops up from (the
    engine asks them nearest first, ties by index; planar degrees). One definition for
    the engine and the hindsight bound's replenishment rows, which must rank alike."""
    dlat = node_lat[warehouses][None, :] - node_lat[stores][:, None]
    return np.asarray(np.hypot(dlat, node_lon[warehouses][None, :] - node_lon[stores][:, None]))


def nearest(
    node_lat: FloatArray, node_lon: FloatArray, allowed: BoolArray, lat: float, lon: float
) -> int:
    """Index of the allowed node nearest (lat, lon), ties by index; -1 when none."""
    idx = np.flatnonzero(allowed)
    if idx.size == 0:
        return -1
    d = haversine_km(node_lat[idx], node_lon[idx], lat, lon)
    return int(idx[int(np.argmin(d))])


def redirect_pickup(
    node_lat: FloatArray, node_lon: FloatArray, pickup_ok: BoolArray, node: int
) -> int:
    """A pickup at a closed store goes to the nearest open pickup point (customers choose
    an open one); unchanged when it is open or none is."""
    if pickup_ok[node]:
        return node
    alt = nearest(node_lat, node_lon, pickup_ok, float(node_lat[node]), float(node_lon[node]))
    return node if alt < 0 else alt
