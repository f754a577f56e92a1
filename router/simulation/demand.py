"""Deterministic demand with common random numbers: the same customers in every scenario.

Every random stream is keyed by ``(seed, day, stream name)`` through
:class:`numpy.random.SeedSequence`, and each attribute of an order (arrival time, address,
lines, flags, returns) has its own stream. So two scenarios with the same seed and the
same demand section draw the same orders, walk-ins and returns whatever their network
changes, policies or stock: comparisons between them are paired, and their difference
is the effect of the change, not noise. Walk-ins are keyed per store as well, so closing
one store does not reshuffle the customers of another. Rejection draws are a hash of
``(seed, order, node, sku)`` (:func:`rejection_draw`), so a node that is asked for the
same line in two scenarios answers the same.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from router.data import BoolArray, FloatArray, IntArray
from router.geo import KM_PER_DEG_LAT
from router.simulation.network import BuiltNetwork
from router.simulation.scenario import MAX_LINES, DemandSpec

HOURLY = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5, 6, 7, 7.5, 6, 4, 2],
    dtype=np.float64,
)
"""Relative online order arrivals per hour of the day (evening peak)."""
STORE_OPEN, STORE_CLOSE = 9 * 60.0, 21 * 60.0
"""Walk-ins and in-store returns happen while stores are open (minutes of the day)."""
_MASK64 = (1 << 64) - 1


def stream(seed: int, day: int, name: str) -> np.random.Generator:
    """The generator of one named stream of one day: independent of every other stream."""
    key = [seed % (1 << 63), day, zlib.crc32(name.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))


@dataclass(frozen=True, eq=False)
class DayOrders:
    """One day's online orders, by arrival time; ``index`` is the draw position (the id)."""

    day: int
    index: IntArray
    minute: FloatArray
    pickup: BoolArray
    lat: FloatArray
    lon: FloatArray
    pickup_node: IntArray  # -1 for ship orders
    n_lines: IntArray
    sku: IntArray  # (orders, MAX_LINES), -1 past n_lines
    qty: IntArray
    allow_split: BoolArray
    allow_transfer: BoolArray
    promise: IntArray  # 0: no promise
    returned: BoolArray  # comes back to a store ``return_delay`` days later (if shipped)
    return_minute: FloatArray

    def __len__(self) -> int:
        return int(self.index.size)

    def order_id(self, k: int) -> str:
        return f"d{self.day}-{int(self.index[k]):06d}"


@dataclass(frozen=True, eq=False)
class DayWalkins:
    """One day's walk-in purchases: one unit each, at a store, while it is open."""

    minute: FloatArray
    node: IntArray
    sku: IntArray

    def __len__(self) -> int:
        return int(self.minute.size)


def _cdf(weights: FloatArray) -> FloatArray:
    c = np.cumsum(np.asarray(weights, dtype=np.float64))
    return c / c[-1] if c.size and c[-1] > 0 else c


def _draw(rng: np.random.Generator, cdf: FloatArray, size: int | tuple[int, ...]) -> IntArray:
    idx = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)


def _distinct(rng: np.random.Generator, cdf: FloatArray, n_lines: IntArray) -> IntArray:
    """Up to MAX_LINES distinct skus per order by popularity (duplicates redrawn)."""
    n = n_lines.size
    draws = _draw(rng, cdf, (n, MAX_LINES))
    active = np.arange(MAX_LINES)[None, :] < n_lines[:, None]
    for _ in range(100):
        dup = np.zeros((n, MAX_LINES), dtype=bool)
        for c in range(1, MAX_LINES):
            dup[:, c] = (draws[:, :c] == draws[:, c : c + 1]).any(axis=1)
        dup &= active
        if not dup.any():
            break
        draws[dup] = _draw(rng, cdf, int(dup.sum()))
    else:  # a tiny catalogue: finish the stubborn rows exactly
        p = np.diff(np.concatenate([[0.0], cdf]))
        for r in np.flatnonzero(dup.any(axis=1)).tolist():
            k = int(n_lines[r])
            draws[r, :k] = rng.choice(cdf.size, size=k, replace=False, p=p)
    return np.where(active, draws, -1)


def day_orders(net: BuiltNetwork, spec: DemandSpec, seed: int, day: int) -> DayOrders:
    """The online orders of ``day`` under ``seed``; see the module docstring."""
    n = spec.orders_per_day
    n_skus = len(net.skus)
    r_time = stream(seed, day, "orders.time")
    hour = _draw(r_time, _cdf(HOURLY), n)
    minute = hour * 60.0 + r_time.random(n) * 60.0

    r_geo = stream(seed, day, "orders.geo")
    place = _draw(r_geo, _cdf(net.place_weight), n)
    jitter = r_geo.normal(0.0, net.jitter_km, (n, 2))
    lat = np.clip(net.place_lat[place] + jitter[:, 0] / KM_PER_DEG_LAT, -89.9, 89.9)
    coslat = np.maximum(np.cos(np.radians(lat)), 1e-6)
    lon = np.clip(net.place_lon[place] + jitter[:, 1] / (KM_PER_DEG_LAT * coslat), -180, 180)
    lat, lon = np.round(lat, 5), np.round(lon, 5)

    r_pick = stream(seed, day, "orders.pickup")
    u_pick = r_pick.random(n)
    stores = net.store_weight
    pickup = (u_pick < spec.pickup_share) & bool(stores.sum() > 0)
    pnode = _draw(r_pick, _cdf(stores if stores.sum() > 0 else np.ones(len(stores))), n)
    pnode = np.where(pickup, pnode, -1)

    r_lines = stream(seed, day, "orders.lines")
    dist = spec.line_distribution()
    counts = np.array(list(dist), dtype=np.int64)
    n_lines = np.minimum(counts[_draw(r_lines, _cdf(np.array(list(dist.values()))), n)], n_skus)
    sku = _distinct(r_lines, _cdf(net.popularity), n_lines)
    qtys = np.array(sorted(spec.qty), dtype=np.int64)
    qty = qtys[_draw(r_lines, _cdf(np.array([spec.qty[q] for q in qtys])), (n, MAX_LINES))]
    qty = np.where(sku >= 0, qty, 0)

    r_flags = stream(seed, day, "orders.flags")
    allow_split = r_flags.random(n) < spec.allow_split_share
    allow_transfer = r_flags.random(n) < spec.allow_transfer_share
    days = np.array(spec.promise_days, dtype=np.int64)
    promise = np.where(
        r_flags.random(n) < spec.promise_share, days[r_flags.integers(0, days.size, n)], 0
    )
    r_ret = stream(seed, day, "orders.returns")
    returned = r_ret.random(n) < spec.returns.rate
    return_minute = STORE_OPEN + r_ret.random(n) * (STORE_CLOSE - STORE_OPEN)

    order = np.argsort(minute, kind="stable")
    return DayOrders(
        day=day,
        index=order.astype(np.int64),
        minute=minute[order],
        pickup=pickup[order],
        lat=lat[order],
        lon=lon[order],
        pickup_node=pnode[order].astype(np.int64),
        n_lines=n_lines[order],
        sku=sku[order],
        qty=qty[order].astype(np.int64),
        allow_split=allow_split[order],
        allow_transfer=allow_transfer[order],
        promise=promise[order].astype(np.int64),
        returned=returned[order],
        return_minute=return_minute[order],
    )


def assortment(net: BuiltNetwork) -> list[tuple[int, IntArray, FloatArray]]:
    """Per store: (node, skus it carries initially, cdf of walk-in demand over them)."""
    return _assortment(net)


@lru_cache(maxsize=8)
def _assortment(net: BuiltNetwork) -> list[tuple[int, IntArray, FloatArray]]:
    out = []
    for i in np.flatnonzero(net.is_store).tolist():
        carried = np.flatnonzero(net.on_hand[i] > 0)
        if carried.size:
            out.append((i, carried, _cdf(net.popularity[carried])))
    return out


def day_walkins(net: BuiltNetwork, spec: DemandSpec, seed: int, day: int) -> DayWalkins:
    """Walk-in sales of ``day``: Poisson customers per store, each buying one unit of a sku
    the store carries (by popularity). Keyed per store (by id) for common random numbers."""
    minutes, nodes, skus = [], [], []
    ids = net.node_ids
    for i, carried, cdf in assortment(net):
        rng = stream(seed, day, f"walkins:{ids[i]}")
        k = int(rng.poisson(spec.walkins_per_store))
        if k == 0:
            continue
        minutes.append(STORE_OPEN + rng.random(k) * (STORE_CLOSE - STORE_OPEN))
        nodes.append(np.full(k, i, dtype=np.int64))
        skus.append(carried[_draw(rng, cdf, k)])
    if not minutes:
        z = np.zeros(0, dtype=np.int64)
        return DayWalkins(np.zeros(0), z, z)
    m, nd, sk = np.concatenate(minutes), np.concatenate(nodes), np.concatenate(skus)
    order = np.lexsort((nd, m))
    return DayWalkins(m[order], nd[order], sk[order])


def expected_daily_units(net: BuiltNetwork, spec: DemandSpec) -> FloatArray:
    """Expected units demanded per sku per day (online plus walk-in): the planner's forecast,
    used for warehouse receipts (and available to forecasting policies)."""
    dist = spec.line_distribution()
    mean_lines = sum(k * p for k, p in dist.items())
    tq = sum(spec.qty.values())
    mean_qty = sum(q * w for q, w in spec.qty.items()) / tq
    online = spec.orders_per_day * mean_lines * mean_qty * net.popularity
    walkin = np.zeros(len(net.skus))
    for _node, carried, _weights in assortment(net):
        p = net.popularity[carried]
        walkin[carried] += spec.walkins_per_store * p / p.sum()
    return np.asarray(online + walkin, dtype=np.float64)


@lru_cache(maxsize=65536)
def _text_hash(text: str) -> int:
    return zlib.crc32(text.encode())


def _mix(x: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def rejection_draw(seed: int, order_id: str, node_id: str, sku_id: str) -> float:
    """A uniform [0, 1) draw fixed by (seed, order, node, sku): the same in every scenario."""
    h = _mix((seed & _MASK64) ^ zlib.crc32(order_id.encode()))
    h = _mix(h ^ _text_hash(node_id))
    h = _mix(h ^ (_text_hash(sku_id) << 32))
    return (h >> 11) / float(1 << 53)
