"""Opportunity cost of a unit of stock: the dual-value policy of Acimovic & Graves (2015).

Over the remaining horizon, the expected online demand ``D[r, s]`` of each region and sku
(:mod:`router.inventory.forecast`) is served from the stock ``S[n, s]`` each node will have
(current available-to-promise plus the receipts known to arrive) by the LP::

    min  Σ_{n,r,s} c[n, r, s] f[n, r, s] + Σ_{r,s} p_s u[r, s]
    s.t. Σ_r f[n, r, s] ≤ S[n, s]                 (stock rows, dual λ[n, s] ≤ 0)
         Σ_n f[n, r, s] + u[r, s] = D[r, s]       (demand rows)
         f, u ≥ 0

``c[n, r, s]`` is a per-unit approximation of the contract's cost of sending one unit of
``s`` from ``n`` to region ``r``'s centroid: ``(handling per shipment + band base) /
units_per_parcel + handling per unit + per_kg × weight``; arcs exist where the contract
lets ``n`` ship ``s`` that far (enabled, can ship, in a band, stores only store-eligible
skus). ``p_s`` is the sku's unfilled penalty. ``−λ[n, s] ≥ 0`` is the opportunity cost
of taking one unit from ``(n, s)`` now: what the rest of the horizon's expected demand
would pay more without it. Routing an order by shipping + handling + this cost is the
dual-value policy.

To keep the LP small, each region only gets arcs from its ``nearest`` cheapest nodes (by
the per-unit cost of a unit of weight 0) plus every warehouse; skus are independent
blocks of one sparse LP, built from arrays (no per-variable Python) and solved once by
GLOP. Skus where each region's cheapest arc fits in its node's stock skip the LP: that
flow is optimal with zero stock duals. The primal flows give the trace
(:meth:`OpportunityCosts.explain`): which regions, and how many days of their expected
demand, a node's protected units serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from router.data import UNLIMITED, FloatArray, IntArray, ProblemData
from router.geo import EARTH_RADIUS_KM
from router.inventory.forecast import DemandForecast
from router.inventory.protection import PromiseSets

DEFAULT_NEAREST = 10
"""Cheapest nodes per region that get arcs (warehouses always do)."""
_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class OpportunityCosts:
    """Result of :func:`opportunity_costs`: ``cost[n, s] ≥ 0`` per unit, and the flows."""

    cost: FloatArray  # (nodes, skus)
    horizon_days: float
    objective: float
    status: str
    forecast: DemandForecast
    node_ids: list[str]
    sku_ids: list[str]
    flow_node: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    flow_region: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    flow_sku: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    flow_units: FloatArray = field(default_factory=lambda: np.zeros(0))
    promise_sets: PromiseSets | None = None
    """Who can keep each delivery promise, when the caller set them
    (:func:`router.inventory.protection.promise_sets`); not used by the LP."""

    def explain(self, node: int, sku: int) -> list[dict[str, Any]]:
        """The demand that units of ``(node, sku)`` are kept for, by the LP's flows: each
        region served, the expected units and how many days of that region's expected
        demand they are (empty when the opportunity cost is 0)."""
        if self.cost[node, sku] <= _EPS:
            return []
        hit = np.flatnonzero(
            (self.flow_node == node) & (self.flow_sku == sku) & (self.flow_units > _EPS)
        )
        regions = self.forecast.regions
        out = []
        for k in hit[np.argsort(-self.flow_units[hit], kind="stable")].tolist():
            r = int(self.flow_region[k])
            daily = float(self.forecast.rate[r, sku])
            units = float(self.flow_units[k])
            out.append(
                {
                    "region": regions.name(r),
                    "lat": float(regions.lat[r]),
                    "lon": float(regions.lon[r]),
                    "units": units,
                    "days": units / daily if daily > 0 else None,
                }
            )
        return out

    def trace(self, limit: int = 20) -> list[dict[str, Any]]:
        """The ``limit`` dearest (node, sku) opportunity costs with their explanations."""
        flat = np.argsort(-self.cost, axis=None, kind="stable")[:limit]
        out = []
        for n, s in zip(*np.unravel_index(flat, self.cost.shape), strict=True):
            if self.cost[n, s] <= _EPS:
                break
            out.append(
                {
                    "node": self.node_ids[int(n)],
                    "sku": self.sku_ids[int(s)],
                    "opportunity_cost": float(self.cost[n, s]),
                    "protects": self.explain(int(n), int(s)),
                }
            )
        return out


SERVE_FIRST = 0.999
"""Share of a unit's margin that its opportunity cost may take (:func:`serve_first`)."""


def serve_first(
    surcharge: FloatArray,
    unit: FloatArray,
    fixed: FloatArray,
    usable: IntArray,
    penalty: FloatArray,
) -> FloatArray:
    """Cap the opportunity costs of one order's units, (nodes, lines), so that any node
    that can serve a line still beats leaving it unfilled: the LP's demand is only an
    expectation, and with scarce stock every unit sells anyway, so stock is never
    withheld from a customer who can be served now for one who may come. The cap is
    :data:`SERVE_FIRST` of the margin ``penalty − unit − fixed / usable``: a shipment
    carrying all a node can give of the line, alone, then costs less than leaving those
    units unfilled whenever it did without opportunity costs (``unit``, ``fixed``,
    ``usable``: the single-order router's per-unit cost, per-shipment cost of each node,
    and units each node may ship of each line)."""
    k = np.maximum(np.asarray(usable, dtype=np.float64), 1.0)
    margin = penalty[None, :] - unit - np.asarray(fixed, dtype=np.float64)[:, None] / k
    return np.minimum(surcharge, np.maximum(margin, 0.0) * SERVE_FIRST)


def unit_costs(
    network: ProblemData, forecast: DemandForecast, units_per_parcel: float
) -> tuple[FloatArray, FloatArray, np.ndarray[Any, np.dtype[np.bool_]], IntArray]:
    """Per-unit cost parts of sending from each node to each region: the weight-free part
    ``a[n, r]`` and the per-kg rate ``k[n, r]`` (cost of a unit = a + k × weight),
    ``ok[n, r]``, whether the contract lets ``n`` ship that far at all, and the transit
    days ``t[n, r]``."""
    reg = forecast.regions
    lat1 = np.radians(network.node_lat)[:, None]
    lat2 = np.radians(reg.lat)[None, :]
    dlat = lat2 - lat1
    dlon = np.radians(reg.lon[None, :] - network.node_lon[:, None])
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    dist = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    nb = network.band_max_km.size
    if nb == 0:
        shape = dist.shape
        z = np.zeros(shape)
        return z, z, np.zeros(shape, dtype=bool), np.zeros(shape, dtype=np.int64)
    band = np.searchsorted(network.band_max_km, dist, side="left")
    inside = band < nb
    bi = np.where(inside, band, 0)
    ok = inside & (network.node_enabled & network.node_can_ship)[:, None]
    upp = max(float(units_per_parcel), 1.0)
    a = (network.node_h_ship[:, None] + network.band_base[bi]) / upp + network.node_h_unit[:, None]
    k = network.band_per_kg[bi]
    t = network.band_transit[bi]
    return np.asarray(a, np.float64), np.asarray(k, np.float64), ok, np.asarray(t, np.int64)


def opportunity_costs(
    network: ProblemData,
    stock: IntArray | FloatArray,
    forecast: DemandForecast,
    horizon_days: float,
    units_per_parcel: float = 1.0,
    nearest: int = DEFAULT_NEAREST,
) -> OpportunityCosts:
    """Solve the LP of the module docstring; ``stock[n, s]`` = units available over the
    horizon (atp now plus receipts), ``forecast.rate`` × ``horizon_days`` the demand."""
    from ortools.linear_solver.python import model_builder_helper as mbh

    n_nodes, n_skus = network.num_nodes, len(network.sku_ids)
    S = np.maximum(np.asarray(stock, dtype=np.float64), 0.0)
    if S.shape != (n_nodes, n_skus):
        raise ValueError(f"stock has shape {S.shape}, expected {(n_nodes, n_skus)}")
    a, k, ok, transit = unit_costs(network, forecast, units_per_parcel)
    # Each promise class is a copy of the regions ("virtual regions" c × R + r) with its
    # share of the demand and only the arcs that keep its promise.
    base = forecast.over(horizon_days)
    n_real = base.shape[0]
    D = np.concatenate([base * share for _, share in forecast.promises])
    a = np.tile(a, len(forecast.promises))
    k = np.tile(k, len(forecast.promises))
    ok = np.concatenate(
        [ok & (transit <= (UNLIMITED if d is None else d)) for d, _ in forecast.promises], axis=1
    )
    n_reg = D.shape[0]

    # Candidate (node, region) pairs: the nearest cheapest per region, and every warehouse.
    keep = np.zeros_like(ok)
    cheap = np.where(ok, a, np.inf)
    m = min(nearest, n_nodes)
    if m > 0:
        top = np.argpartition(cheap, m - 1, axis=0)[:m] if m < n_nodes else None
        if top is None:
            keep |= ok
        else:
            keep[top, np.arange(n_reg)[None, :]] = True
    keep |= (~network.node_is_store)[:, None]
    keep &= ok
    pn, pr = np.nonzero(keep)  # pairs

    # Arcs: pairs × skus where the node holds the sku, the region wants it, and the
    # contract lets the node ship it (stores: store-eligible skus only).
    has = (S[pn] > 0) & (D[pr] > _EPS)
    has &= ~network.node_is_store[pn][:, None] | network.sku_store_eligible[None, :]
    ai, fs = np.nonzero(has)
    fn, fr = pn[ai], pr[ai]
    cost = a[fn, fr] + k[fn, fr] * network.sku_weight[fs]
    pen = network.sku_penalty[fs]
    useful = cost < pen  # an arc dearer than the penalty is never used
    fn, fr, fs, cost = fn[useful], fr[useful], fs[useful], cost[useful]

    # Easy skus: when every region's cheapest arc fits in its node's stock, that greedy
    # flow is optimal and zero stock duals are optimal duals (each demand row's dual is
    # its cheapest arc, every reduced cost is ≥ 0): such skus need no LP.
    hard = _hard_skus(fn, fr, fs, cost, D, S)
    on = hard[fs]
    fn, fr, fs, cost = fn[on], fr[on], fs[on], cost[on]
    dr, ds = np.nonzero((D > _EPS) & hard[None, :])  # demand rows
    dem_row = np.full((n_reg, n_skus), -1, dtype=np.int64)
    dem_row[dr, ds] = np.arange(dr.size)
    sn_used = np.unique(fn * n_skus + fs)  # stock rows that matter
    st_row = np.full(n_nodes * n_skus, -1, dtype=np.int64)
    st_row[sn_used] = np.arange(sn_used.size)

    n_arcs, n_dem, n_st = fn.size, dr.size, sn_used.size
    result_cost = np.zeros((n_nodes, n_skus))
    if n_dem == 0:
        return OpportunityCosts(
            result_cost, horizon_days, 0.0, "empty", forecast,
            list(network.node_ids), list(network.sku_ids),
        )  # fmt: skip
    # Variables: arcs, then unserved per demand row. Rows: stock rows, then demand rows.
    arc_idx = np.arange(n_arcs)
    rows = np.concatenate(
        [st_row[fn * n_skus + fs], n_st + dem_row[fr, fs], n_st + np.arange(n_dem)]
    )
    cols = np.concatenate([arc_idx, arc_idx, n_arcs + np.arange(n_dem)])
    vals = np.ones(rows.size)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n_st + n_dem, n_arcs + n_dem))
    obj = np.concatenate([cost, network.sku_penalty[ds]])
    demand = D[dr, ds]
    lb = np.concatenate([np.full(n_st, -np.inf), demand])
    ub = np.concatenate([S.reshape(-1)[sn_used], demand])

    model: Any = mbh.ModelBuilderHelper()  # its stubs mistype numpy arrays
    model.fill_model_from_sparse_data(
        np.zeros(n_arcs + n_dem), np.full(n_arcs + n_dem, np.inf), obj, lb, ub, A
    )
    solver = mbh.ModelSolverHelper("glop")
    solver.solve(model)
    status = str(solver.status()).rsplit(".", 1)[-1].lower()
    if not solver.has_solution():
        return OpportunityCosts(
            result_cost, horizon_days, float("nan"), status, forecast,
            list(network.node_ids), list(network.sku_ids),
        )  # fmt: skip
    duals = np.asarray(solver.dual_values())
    x = np.asarray(solver.variable_values())
    oc = np.maximum(-duals[:n_st], 0.0)
    result_cost.reshape(-1)[sn_used] = oc
    flow = x[:n_arcs]
    pos = flow > _EPS
    # promise classes back to their real region, their flows summed
    key = (fn[pos] * n_real + fr[pos] % n_real) * n_skus + fs[pos]
    key, back = np.unique(key, return_inverse=True)
    units = np.bincount(back.ravel(), weights=flow[pos], minlength=key.size).astype(np.float64)
    return OpportunityCosts(
        cost=result_cost,
        horizon_days=horizon_days,
        objective=float(solver.objective_value()),
        status=status,
        forecast=forecast,
        node_ids=list(network.node_ids),
        sku_ids=list(network.sku_ids),
        flow_node=key // n_skus // n_real,
        flow_region=key // n_skus % n_real,
        flow_sku=key % n_skus,
        flow_units=units,
    )


def _hard_skus(
    fn: IntArray, fr: IntArray, fs: IntArray, cost: FloatArray, D: FloatArray, S: FloatArray
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Skus whose LP is not solved by sending each region's demand on its cheapest arc."""
    n_skus = D.shape[1]
    hard = np.zeros(n_skus, dtype=bool)
    if fn.size == 0:
        return hard
    row = fr * n_skus + fs
    by = np.lexsort((cost, row))
    first = by[np.r_[True, row[by][1:] != row[by][:-1]]]
    load = np.zeros(S.size)
    np.add.at(load, fn[first] * n_skus + fs[first], D.reshape(-1)[row[first]])
    over = load > S.reshape(-1) + _EPS
    hard[np.flatnonzero(over) % n_skus] = True
    return hard
