"""Where store replenishment leaves the warehouses' units: rows for the hindsight LP.

The time-indexed bound counts a warehouse's receipts at the warehouse and each store
replenishment at the store, limited together by the network's total per (sku, day). So
it may ship a unit from a warehouse and also count it on a store's shelf after a top-up,
when the real top-up would have taken it from that warehouse. (That freedom was thought
to be most of the US season's gap to the bound; with these rows the pattern bound rises
by 0.4 % only, benchmarks/RESULTS.md.)

What the engine does on the morning of a replenishment day ``d`` (after the day's
receipts): each open store asks ``need_j = max(0, target_j − free_j − in transit_j)`` of
each sku and the open warehouses send from their available stock ``avail_w = max(0,
free_w − safety_w)``, nearest first, until the need is met or nothing is left. So per sku,
with ``N = Σ_j need_j``, ``A = Σ_w avail_w`` and ``F_W = Σ_w free_w`` (open warehouses):

* if ``A ≥ N`` everything is sent and the warehouses keep ``F_W − N``; since ``need_j ≥
  target_j − free_j − in transit_j``, that is at most ``F − T``, with ``F`` all the free
  stock of the network (in transit included) and ``T`` the open stores' targets;
* otherwise they send all of A and keep ``Σ_w min(free_w, safety_w) ≤ σ``, their safety
  stock.

Either way the open warehouses keep at most ``max(F − T, σ)``. ``F`` is at most the
network's free stock at the start, plus receipts by ``d`` and returns before ``d``
(counted in full), less ``U``, the units the orders of the days before ``d`` reserved
(walk-ins and write-offs only take away). Until the next replenishment those
warehouses then give out at most what they kept plus their receipts after ``d``:

    Σ x (open warehouses, sku, orders of days d … next − 1)  ≤  max(F₀ − T − U, σ) + R.

The right side is convex in ``U``, so the row uses its chord over ``0 ≤ U ≤ Ū`` (``Ū``:
the units of the sku ordered before ``d``, or the network's stock if less), which lies
above it: ``Σ x + c·U ≤ g(0) + R`` with ``g(U) = max(F₀ − T − U, σ)`` and ``c = (g(0) −
g(Ū)) / Ū``. When stock is plentiful (``F₀ − T − Ū ≥ σ``) the chord is the function and
``c = 1``: the warehouses hold what the network holds beyond the stores' targets. Every
coefficient is ≥ 0, so the pattern bound can price the rows like any other.

The same holds per warehouse over the stores nearest to it (:func:`warehouse_rows`),
chained over the replenishments.

Pure numpy; :mod:`router.simulation.hindsight` computes the inputs from the scenario and
adds the rows to its time-indexed LP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.data import FloatArray, IntArray
from router.simulation.flows import topup_distance


@dataclass(frozen=True, eq=False)
class TopUps:
    """What both row kinds are derived from (:mod:`router.simulation.hindsight` builds it
    from the scenario): ``order_days`` the days the stores order on (every one the engine
    runs, even when the units arrive after the horizon); ``free0`` on hand − reserved at
    the start, (nodes, skus); ``receipts`` day → units received (warehouses); ``returns``
    (day, node, sku, qty) per returned line, counted in full; ``targets`` the order-up-to
    levels; ``enabled`` / ``safety`` per day, after that day's changes; ``ordered`` units
    ordered per (day, sku)."""

    days: int
    order_days: list[int]
    free0: IntArray
    receipts: dict[int, IntArray]
    returns: tuple[IntArray, IntArray, IntArray, IntArray]
    targets: IntArray
    is_store: np.ndarray
    lat: FloatArray
    lon: FloatArray
    enabled: list[np.ndarray]
    safety: list[IntArray]
    ordered: IntArray

    def periods(self) -> tuple[IntArray, IntArray]:
        """The replenishment mornings in the horizon and the last day of each one's
        period."""
        send = sorted(d for d in set(self.order_days) if 0 <= d < self.days)
        end = [send[i + 1] - 1 if i + 1 < len(send) else self.days - 1 for i in range(len(send))]
        return np.array(send, dtype=np.int64), np.array(end, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _Periods:
    day: IntArray  # (E,): replenishment e is ordered on the morning of day[e]
    end: IntArray  # (E,): the last day of its period

    def __len__(self) -> int:
        return int(self.day.size)


@dataclass(frozen=True, eq=False)
class ReplenishmentRows(_Periods):
    """Per store replenishment ``e`` (ordered on the morning of ``day[e]``, the period
    running to ``end[e]`` inclusive) and sku: the open warehouses ``warehouse[e]`` give out
    at most ``rhs[e, k] − slope[e, k] × U`` to the orders of the period, ``U`` the units of
    sku k reserved by the orders of the days before ``day[e]``."""

    warehouse: np.ndarray  # (E, nodes) bool: open warehouses on that morning
    slope: FloatArray  # (E, skus) in [0, 1]
    rhs: FloatArray  # (E, skus)


def replenishment_rows(t: TopUps) -> ReplenishmentRows:
    """The rows of the module docstring."""
    days, free0, targets, is_store = t.days, t.free0, t.targets, t.is_store
    n_nodes, n_skus = free0.shape
    inflow = np.zeros((days + 1, n_skus), dtype=np.float64)  # arrivals by day, network
    inflow[0] += free0.sum(axis=0)
    wh_rec = np.zeros((days + 1, n_nodes, n_skus), dtype=np.float64)
    for d, qty in t.receipts.items():
        if d < days:
            inflow[d] += qty.sum(axis=0)
            wh_rec[d] += qty
    r_day, _, r_sku, r_qty = t.returns
    returned = np.zeros((days + 1, n_skus), dtype=np.float64)
    np.add.at(returned, (np.minimum(r_day, days), r_sku), r_qty)
    cum_in = np.cumsum(inflow, axis=0)
    cum_ret = np.cumsum(returned, axis=0)
    cum_ordered = np.cumsum(t.ordered, axis=0)
    day, end = t.periods()
    send, E = day.tolist(), day.size
    wh_mask = np.zeros((E, n_nodes), dtype=bool)
    slope = np.zeros((E, n_skus), dtype=np.float64)
    rhs = np.zeros((E, n_skus), dtype=np.float64)
    for e, d in enumerate(send):
        open_ = t.enabled[d]
        wh = open_ & ~is_store
        wh_mask[e] = wh
        stores = open_ & is_store
        target = targets[stores].sum(axis=0).astype(np.float64)
        sigma = t.safety[d][wh].sum(axis=0).astype(np.float64)
        # free stock by that morning: the start, receipts by d, returns before d
        f0 = cum_in[d] + (cum_ret[d - 1] if d > 0 else 0.0)
        u_max = cum_ordered[d - 1].astype(np.float64) if d > 0 else np.zeros(n_skus)
        u_max = np.minimum(u_max, f0)
        g0 = np.maximum(f0 - target, sigma)
        g1 = np.maximum(f0 - target - u_max, sigma)
        slope[e] = np.where(u_max > 0, (g0 - g1) / np.maximum(u_max, 1.0), 0.0)
        later = wh_rec[d + 1 : end[e] + 1][:, wh].sum(axis=(0, 1))
        rhs[e] = g0 + later
    return ReplenishmentRows(day, end, wh_mask, slope, rhs)


def replenishment_arc_rows(
    rows: ReplenishmentRows,
    arc_day: IntArray,
    arc_node: IntArray,
    arc_sku: IntArray,
    arc_cap: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """The rows over the arcs: (row per nonzero, arc per nonzero, coefficient per nonzero,
    right-hand side per row). A row whose arcs cannot exceed its right-hand side is
    dropped."""
    out = _Rows()
    for e in range(len(rows)):
        d, end = int(rows.day[e]), int(rows.end[e])
        inside = np.flatnonzero((arc_day >= d) & (arc_day <= end) & rows.warehouse[e][arc_node])
        before = np.flatnonzero((arc_day < d) & (rows.slope[e][arc_sku] > 0))
        arcs = np.concatenate([inside, before])
        coef = np.concatenate([np.ones(inside.size), rows.slope[e][arc_sku[before]]])
        out.add(arc_sku[arcs], arcs, coef, arc_cap, rows.rhs[e])
    return out.arrays()


@dataclass(frozen=True, eq=False)
class WarehouseRows(_Periods):
    """The per-warehouse form (see :func:`warehouse_rows`): per replenishment ``e``, open
    warehouse w and sku k, the orders of the period reserve at w at most ``rhs[e, w, k] −
    slope[e, w, k] × V``, where ``V`` is what w reserved before ``day[e]`` plus what the
    stores that top up from w (``near[e′] == w``, those with a target for k) reserved in
    the period before each replenishment ``e′ ≤ e``."""

    near: IntArray  # (E, nodes): each open store's nearest open warehouse, else -1
    open_wh: np.ndarray  # (E, nodes) bool: the warehouses open that morning (rows only there)
    slope: FloatArray  # (E, nodes, skus), in [0, 1]; warehouse rows only
    rhs: FloatArray  # (E, nodes, skus)
    stocked: np.ndarray  # (nodes, skus) bool: target > 0


def warehouse_rows(t: TopUps) -> WarehouseRows:
    """Per warehouse, the same argument as the module's, with the engine's nearest-first
    rule: a store asks its nearest open warehouse w first, so if w still has available
    stock after the top-up, every store nearest to it got its whole need from it, and
    ``F_w(after) ≤ max(F_w(before) − Σ_j need_j, safety_w)``.

    A store's position (free + in transit) never exceeds ``max(target, free₀)`` plus its
    returns so far (a top-up fills it to the target at most), so before replenishment e′
    it is at most that less what it reserved since the previous one (since day 0 for the
    first, from ``free₀``): ``need_j ≥ target_j − that``. Chaining the replenishments,
    w keeps at most ``max(L_e, φ_e)`` with ``L_e = S_w(d_e) − V + Σ_{e′≤e} K_{w,e′}``
    (``S_w``: its free stock at the start plus receipts; ``K``: its stores' excess over
    target plus returns) and ``φ_e = max(φ_{e−1} + receipts since, safety)``, the most it
    can hold after being emptied. Convex in V, so again the chord over ``0 ≤ V ≤ V̄``."""
    days, free0, targets, is_store = t.days, t.free0, t.targets, t.is_store
    n_nodes, n_skus = free0.shape
    rec = np.zeros((days + 1, n_nodes, n_skus), dtype=np.float64)
    for d, qty in t.receipts.items():
        if d < days:
            rec[d] += qty
    cum_rec = np.cumsum(rec, axis=0)  # by the end of day t
    r_day, r_node, r_sku, r_qty = t.returns
    day, end = t.periods()
    send, E = day.tolist(), day.size
    cum_ordered = np.cumsum(t.ordered, axis=0).astype(np.float64)
    stocked = (targets > 0) & is_store[:, None]
    tgt = targets.astype(np.float64)
    free = free0.astype(np.float64)
    near = np.full((E, n_nodes), -1, dtype=np.int64)
    open_wh = np.zeros((E, n_nodes), dtype=bool)
    slope = np.zeros((E, n_nodes, n_skus), dtype=np.float64)
    rhs = np.zeros((E, n_nodes, n_skus), dtype=np.float64)
    cum_k = np.zeros((n_nodes, n_skus))  # Σ K per warehouse
    cum_cap = np.zeros((n_nodes, n_skus))  # Σ of its stores' most reservable, for V̄
    phi = np.zeros((n_nodes, n_skus))
    prev = 0
    for e, d in enumerate(send):
        open_ = t.enabled[d]
        wh = np.flatnonzero(open_ & ~is_store)
        stores = np.flatnonzero(open_ & is_store)
        open_wh[e, wh] = True
        returned = np.zeros((n_nodes, n_skus))
        before = r_day < d
        np.add.at(returned, (r_node[before], r_sku[before]), r_qty[before])
        if wh.size and stores.size:  # the engine's ranking: first of the nearest
            near[e, stores] = wh[np.argmin(topup_distance(t.lat, t.lon, wh, stores), axis=1)]
        base = free if e == 0 else np.maximum(tgt, free)
        cap = np.maximum(tgt, free) + returned
        j = np.flatnonzero(near[e] >= 0)
        k_j = np.where(stocked[j], base[j] - tgt[j] + returned[j], 0.0)
        np.add.at(cum_k, near[e, j], k_j)
        np.add.at(cum_cap, near[e, j], np.where(stocked[j], cap[j], 0.0))
        sigma = t.safety[d].astype(np.float64)
        # the most w can hold after being emptied at some replenishment: safety + receipts
        phi = sigma.copy() if e == 0 else np.maximum(phi + cum_rec[d] - cum_rec[prev], sigma)
        s_w = free + cum_rec[d]
        c0 = s_w + cum_k
        v_max = s_w - rec[d] + cum_cap  # w's stock before day d, its stores' caps
        v_max = np.minimum(v_max, cum_ordered[d - 1][None, :] if d > 0 else 0.0)
        g0 = np.maximum(c0, phi)
        g1 = np.maximum(c0 - v_max, phi)
        sl = np.where(v_max > 0, (g0 - g1) / np.maximum(v_max, 1e-12), 0.0)
        later = cum_rec[end[e]] - cum_rec[d]
        slope[e, wh] = sl[wh]
        rhs[e, wh] = g0[wh] + later[wh]
        prev = d
    return WarehouseRows(day, end, near, open_wh, slope, rhs, stocked)


def warehouse_arc_rows(
    rows: WarehouseRows,
    arc_day: IntArray,
    arc_node: IntArray,
    arc_sku: IntArray,
    arc_cap: FloatArray,
    num_skus: int,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """:class:`WarehouseRows` over the arcs, as :func:`replenishment_arc_rows`."""
    out = _Rows()
    for e in range(len(rows)):
        d, end = int(rows.day[e]), int(rows.end[e])
        keys: list[IntArray] = []
        arcs: list[IntArray] = []
        coefs: list[FloatArray] = []
        sl = rows.slope[e]
        wh_e = rows.open_wh[e][arc_node]
        inside = np.flatnonzero(wh_e & (arc_day >= d) & (arc_day <= end))
        keys.append(arc_node[inside] * num_skus + arc_sku[inside])
        arcs.append(inside)
        coefs.append(np.ones(inside.size))
        own = np.flatnonzero(wh_e & (arc_day < d))
        keys.append(arc_node[own] * num_skus + arc_sku[own])
        arcs.append(own)
        coefs.append(sl[arc_node[own], arc_sku[own]])
        for e2 in range(e + 1):
            lo = int(rows.day[e2 - 1]) if e2 > 0 else 0
            hi = int(rows.day[e2])
            w_of = rows.near[e2][arc_node]
            st_ = np.flatnonzero(
                (w_of >= 0) & (arc_day >= lo) & (arc_day < hi) & rows.stocked[arc_node, arc_sku]
            )
            keys.append(w_of[st_] * num_skus + arc_sku[st_])
            arcs.append(st_)
            coefs.append(sl[w_of[st_], arc_sku[st_]])
        key = np.concatenate(keys)
        arc = np.concatenate(arcs)
        coef = np.concatenate(coefs)
        nz = coef > 0
        out.add(key[nz], arc[nz], coef[nz], arc_cap, rows.rhs[e].ravel())
    return out.arrays()


class _Rows:
    """Sparse rows gathered over the arcs, keeping only those that can bind."""

    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.arcs: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.rhs: list[FloatArray] = []
        self.n = 0

    def add(
        self, key: IntArray, arc: IntArray, coef: FloatArray, arc_cap: FloatArray, rhs: FloatArray
    ) -> None:
        """One row per key (an index into ``rhs``) whose arcs could exceed it."""
        most = np.bincount(key, weights=coef * arc_cap[arc], minlength=rhs.size)
        bind = most > rhs + 1e-9
        rid = np.cumsum(bind) - 1
        keep = bind[key]
        self.rows.append(self.n + rid[key[keep]])
        self.arcs.append(arc[keep])
        self.vals.append(coef[keep])
        self.rhs.append(rhs[bind])
        self.n += int(bind.sum())

    def arrays(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        if not self.rows:
            z = np.zeros(0)
            return z.astype(np.int64), z.astype(np.int64), z, z
        return (
            np.concatenate(self.rows),
            np.concatenate(self.arcs),
            np.concatenate(self.vals),
            np.concatenate(self.rhs),
        )


__all__ = [
    "ReplenishmentRows",
    "TopUps",
    "WarehouseRows",
    "replenishment_arc_rows",
    "replenishment_rows",
    "warehouse_arc_rows",
    "warehouse_rows",
]
