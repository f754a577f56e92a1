"""Expected online demand per (region, sku) per day.

Regions
-------
A region is a cell of a regular latitude/longitude grid (``cell_deg`` degrees, 1° by
default: ~110 km north-south, about the reach of the cheapest rate bands). Cells are
made from the points that carry demand (customer addresses or the demand model's
places), and each region is represented by the demand-weighted centroid of its points,
which is where the inventory LP (:mod:`router.inventory.opportunity`) measures shipping
distances from. A point in a cell that has no region yet goes to the region with the
nearest centroid (:meth:`Regions.assign`). The grid is independent of the network, so a
node closing or opening does not move any region.

Rates
-----
* From a model (the simulator): the scenario's demand generator knows its rates, so
  :func:`from_demand_model` returns them exactly: units per day × sku popularity × the
  share of customers in the region (ship orders by place population, pickup orders at
  their store).
* From a history (the service): :func:`from_history` estimates Poisson rates with a
  gamma prior (empirical Bayes): ``rate[r, s] = (units[r, s] + a · prior[r, s]) / (T + a)``,
  where ``T`` is the number of days observed, ``a`` = ``prior_days`` the weight of the
  prior in days, and ``prior[r, s] = total daily units × share of region r × share of
  sku s`` (independence of place and sku: a rare sku in a big region gets a sensible
  small rate rather than 0). With a long history the estimate tends to the observed mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from router.data import FloatArray, IntArray
from router.geo import KM_PER_DEG_LAT

if TYPE_CHECKING:  # the simulator imports this module's users: no import cycle at run time
    from router.simulation.network import BuiltNetwork
    from router.simulation.scenario import DemandSpec


DEFAULT_CELL_DEG = 1.0
"""Side of a region's grid cell in degrees."""
DEFAULT_PRIOR_DAYS = 2.0
"""Weight (in days of history) of the popularity prior of :func:`from_history`."""


@dataclass(frozen=True, eq=False)
class Regions:
    """Grid-cell regions: ``lat``/``lon`` their demand-weighted centroids, ``cells`` their
    (row, column) keys on the grid of side ``cell_deg``."""

    lat: FloatArray
    lon: FloatArray
    cells: list[tuple[int, int]]
    cell_deg: float

    def __len__(self) -> int:
        return int(self.lat.size)

    def name(self, r: int) -> str:
        """A readable region name: its centroid."""
        return f"R{r}({self.lat[r]:.2f},{self.lon[r]:.2f})"

    def assign(self, lat: FloatArray, lon: FloatArray) -> IntArray:
        """Region of each point: its cell's, else the nearest centroid's."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        index = {c: i for i, c in enumerate(self.cells)}
        rows = np.floor(lat / self.cell_deg).astype(np.int64).tolist()
        cols = np.floor(lon / self.cell_deg).astype(np.int64).tolist()
        out = np.array(
            [index.get((a, b), -1) for a, b in zip(rows, cols, strict=True)], dtype=np.int64
        )
        miss = np.flatnonzero(out < 0)
        if miss.size and len(self):
            dy = (lat[miss, None] - self.lat[None, :]) * KM_PER_DEG_LAT
            coslat = np.cos(np.radians(lat[miss]))[:, None]
            dx = (lon[miss, None] - self.lon[None, :]) * KM_PER_DEG_LAT * coslat
            out[miss] = np.argmin(dx * dx + dy * dy, axis=1)
        return out


def make_regions(
    lat: FloatArray, lon: FloatArray, weight: FloatArray | None = None, cell_deg: float = 1.0
) -> Regions:
    """Regions of the grid cells that hold these points (weights: their demand)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    w = np.ones(lat.size) if weight is None else np.asarray(weight, dtype=np.float64)
    w = np.where(w > 0, w, 1e-9)
    rows = np.floor(lat / cell_deg).astype(np.int64)
    cols = np.floor(lon / cell_deg).astype(np.int64)
    keys, inverse = np.unique(np.stack([rows, cols], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    tot = np.bincount(inverse, w, minlength=len(keys))
    clat = np.bincount(inverse, w * lat, minlength=len(keys)) / tot
    clon = np.bincount(inverse, w * lon, minlength=len(keys)) / tot
    cells = [(int(a), int(b)) for a, b in keys.tolist()]
    return Regions(lat=clat, lon=clon, cells=cells, cell_deg=float(cell_deg))


@dataclass(frozen=True, eq=False)
class DemandForecast:
    """Expected units per day of each sku ordered online from each region; ``own``, when
    known, the part that only one node's own stock can serve (pickups that refuse
    transfers), per (node, sku), which ``rate`` then leaves out."""

    regions: Regions
    rate: FloatArray  # (regions, skus)
    own: FloatArray | None = None  # (nodes, skus)
    # Delivery promises: (most transit days or None for none, share of the demand); the
    # opportunity LP lets each share take only the nodes that can keep its promise.
    promises: tuple[tuple[int | None, float], ...] = ((None, 1.0),)

    def over(self, days: float) -> FloatArray:
        """Expected units over ``days`` days."""
        return np.asarray(self.rate * days, dtype=np.float64)


def mean_units_per_order(spec: DemandSpec) -> float:
    """Expected units in one order of the demand model (lines × units per line)."""
    dist = spec.line_distribution()
    mean_lines = sum(k * p for k, p in dist.items())
    tq = sum(spec.qty.values())
    return float(mean_lines * sum(q * w for q, w in spec.qty.items()) / tq)


def from_demand_model(
    net: BuiltNetwork, spec: DemandSpec, cell_deg: float = DEFAULT_CELL_DEG
) -> DemandForecast:
    """The simulator's true online rates (see :func:`router.simulation.demand.day_orders`):
    ship orders at places by population, pickup orders at stores by their pickup weight
    (a pickup's region is its store's), skus by popularity. Pickups that refuse transfers
    (``1 − allow_transfer_share`` of them) can only take their store's own stock: they
    are ``own`` demand of that store, not demand of its region."""
    node_lat = np.array([n.lat for n in net.nodes])
    node_lon = np.array([n.lon for n in net.nodes])
    units = spec.orders_per_day * mean_units_per_order(spec)
    place_w = net.place_weight / net.place_weight.sum()
    has_pickup = bool(net.store_weight.sum() > 0)
    pick_share = spec.pickup_share if has_pickup else 0.0
    store_w = net.store_weight / net.store_weight.sum() if has_pickup else net.store_weight * 0
    lat = np.concatenate([net.place_lat, node_lat])
    lon = np.concatenate([net.place_lon, node_lon])
    transfer = spec.allow_transfer_share
    weight = np.concatenate([place_w * (1.0 - pick_share), store_w * pick_share * transfer])
    keep = weight > 0
    regions = make_regions(lat[keep], lon[keep], weight[keep], cell_deg)
    where = regions.assign(lat[keep], lon[keep])
    share = np.bincount(where, weight[keep], minlength=len(regions))
    rate = units * share[:, None] * net.popularity[None, :]
    own_w = np.asarray(store_w * pick_share * (1.0 - transfer), dtype=np.float64)
    own = units * own_w[:, None] * net.popularity[None, :]
    return DemandForecast(
        regions=regions,
        rate=np.asarray(rate, dtype=np.float64),
        own=np.asarray(own),
        promises=promise_classes(spec.promise_share, spec.promise_days),
    )


def promise_classes(share: float, days: list[int]) -> tuple[tuple[int | None, float], ...]:
    """The demand model's promises as classes: ``share`` of orders promise one of
    ``days`` (equally likely), the rest promise nothing."""
    out: list[tuple[int | None, float]] = []
    if share < 1.0:
        out.append((None, 1.0 - share))
    if share > 0.0:
        for d in sorted(set(days)):
            out.append((d, share * days.count(d) / len(days)))
    return tuple(out)


def from_history(
    lat: FloatArray,
    lon: FloatArray,
    sku: IntArray,
    qty: IntArray,
    num_skus: int,
    days: float,
    cell_deg: float = DEFAULT_CELL_DEG,
    prior_days: float = DEFAULT_PRIOR_DAYS,
    regions: Regions | None = None,
) -> DemandForecast:
    """Poisson rates per (region, sku) per day from ``days`` days of order lines (one entry
    per line: where it went, its sku index, its quantity), shrunk towards the
    region-share × sku-share prior with weight ``prior_days``; see the module docstring."""
    if days <= 0:
        raise ValueError("days must be > 0")
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    q = np.asarray(qty, dtype=np.float64)
    if regions is None:
        if lat.size == 0:
            raise ValueError("no history and no regions: nothing to forecast from")
        regions = make_regions(lat, lon, q, cell_deg)
    r = regions.assign(lat, lon)
    n_r = len(regions)
    units = np.zeros((n_r, num_skus))
    np.add.at(units, (r, np.asarray(sku, dtype=np.int64)), q)
    total = units.sum()
    if total > 0:
        prior = np.outer(units.sum(axis=1), units.sum(axis=0)) / total / days
    else:
        prior = np.zeros_like(units)
    rate = (units + prior_days * prior) / (days + prior_days)
    return DemandForecast(regions=regions, rate=np.asarray(rate, dtype=np.float64))


def own_from_history(
    node: IntArray, sku: IntArray, qty: IntArray, num_nodes: int, num_skus: int, days: float
) -> FloatArray:
    """Units per day of each sku picked up at each node by orders that refuse transfers
    (one entry per such order line): the observed mean, 0 where none was seen."""
    if days <= 0:
        raise ValueError("days must be > 0")
    own = np.zeros((num_nodes, num_skus))
    np.add.at(own, (np.asarray(node, np.int64), np.asarray(sku, np.int64)), np.asarray(qty))
    return own / days
