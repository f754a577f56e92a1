"""Rebalancing plan: transfers between nodes that lower expected fulfilment + lost-sales +
transfer cost over a horizon. A pure solver (no I/O): OR-Tools ``SimpleMinCostFlow``.

Inputs
------
- ``nodes``, ``skus``, ``rates``: the contract's models (only enabled nodes are used).
- ``stock``: available units per (node, sku) (for live stock: atp, so reserved units and
  safety stock never move).
- ``demand``: :class:`Demand` rows, expected units of a sku in a region over the horizon,
  split into the units before the transfers arrive (``early_units``, days
  ``0 .. lead_days−1``) and after (``units``, days ``lead_days .. horizon−1``). A region is
  a place with a position (served by parcel from any shipping node) or a node's catchment
  (``node`` set: walk-in or own-stock pickup demand that only that node can serve, at no
  shipping cost).

Cost model (per unit, :class:`CostParams`)
------------------------------------------
- Fulfilment from node *n* to a region at distance *d* (the contract's rate band *b*):
  ``b.base / units_per_shipment + b.per_kg × weight + n.handling_cost_per_unit +
  n.handling_cost_per_shipment / units_per_shipment``; a parcel needs ``can_ship`` (and
  ``store_eligible`` for a store) and a band. A catchment's own node serves it at 0.
- Lost sale: the sku's ``unfilled_penalty``.
- Transfer *a* → *b*: a consolidated shipment on the same rate card,
  ``b.per_kg × weight × per_kg_factor + b.base / consolidation_units +
  a.handling_cost_per_unit + receive_cost_per_unit``; needs ``can_ship`` at *a* (and
  ``store_eligible`` when *a* is a store) and a band for the distance.

Model, per sku (one min-cost flow)
----------------------------------
``origin[n]`` (supply = stock) → ``own[n]`` (cost 0) or → ``arrived[b]`` (a transfer);
``own[n]`` serves every demand row, ``arrived[b]`` only the rows after the lead time (so a
transfer cannot serve demand before it arrives, and transferred units cannot be transferred
again); a ``lost`` source serves any row at the penalty; stock left over is free. The
expected cost *before* is the same flow without transfer arcs (the best fulfilment of the
forecast from where stock sits now); *after* includes the transfer cost; the saving is
their difference (≥ 0: doing nothing is always feasible).

Capacities: ``lane_capacity`` (units per (from, to) lane, all skus together; ``lanes``
overrides single lanes) and ``outbound_capacity`` (units a node may send in all). Shared
across skus they couple the per-sku flows: skus are planned one at a time in decreasing
order of their uncapacitated saving, each on the capacity the earlier ones left (a greedy
that is exact without capacities and for a single sku).

Explain: each transfer's units are traced through the flow to the demand rows they serve
(an integral path decomposition of the flow leaving ``arrived[b]``): ``protects`` names the
regions, the units and the days.

Costs are scaled to integer milli-units for the solver; reported costs are recomputed in
floating point from the flows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow

from models import Node, Order, RateBand, Sku
from router.geo import haversine_km

COST_SCALE = 1000.0


@dataclass(frozen=True)
class Region:
    """Where demand comes from: a place (``lat``/``lon``) or a node's catchment (``node``)."""

    id: str
    lat: float
    lon: float
    node: str | None = None


@dataclass(frozen=True)
class Demand:
    """Expected units of ``sku`` in ``region``: ``units`` on days ``lead_days..horizon−1``
    (what transfers can serve) and ``early_units`` before."""

    region: str
    sku: str
    units: float
    early_units: float = 0.0


@dataclass(frozen=True)
class CostParams:
    """See the module docstring."""

    units_per_shipment: float = 1.5
    per_kg_factor: float = 1.0
    consolidation_units: float = 20.0
    receive_cost_per_unit: float = 0.0


@dataclass(frozen=True)
class Protected:
    """Demand a transfer protects: ``expected_units`` of its sku in ``region`` on
    ``days`` (first, last)."""

    region: str
    expected_units: int
    days: tuple[int, int]


@dataclass(frozen=True)
class Transfer:
    from_node: str
    to_node: str
    sku: str
    qty: int
    cost: float
    protects: list[Protected] = field(default_factory=list)


@dataclass(frozen=True)
class RebalancePlan:
    transfers: list[Transfer]
    expected_cost_before: float
    expected_cost_after: float
    expected_saving: float
    horizon_days: int
    lead_days: int


@dataclass(frozen=True)
class RebalanceInput:
    nodes: Sequence[Node]
    skus: Sequence[Sku]
    rates: Sequence[RateBand]
    stock: Mapping[tuple[str, str], int]
    regions: Sequence[Region]
    demand: Sequence[Demand]
    horizon_days: int = 7
    lead_days: int = 1
    lane_capacity: int | None = None
    lanes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    outbound_capacity: int | None = None
    costs: CostParams = field(default_factory=CostParams)


def _band(rates: Sequence[RateBand], d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, base, per_kg) of the first band covering each distance."""
    ok = np.zeros(d.shape, dtype=bool)
    base = np.zeros(d.shape)
    per_kg = np.zeros(d.shape)
    for r in rates:
        lim = np.inf if r.max_km is None else r.max_km
        hit = ~ok & (d <= lim)
        base[hit], per_kg[hit] = r.base, r.per_kg
        ok |= hit
    return ok, base, per_kg


@dataclass
class _Costs:
    """Per-unit cost arrays, weight-free parts (sku weight applied per sku)."""

    f_ok: np.ndarray  # (N, R) parcel possible
    f_fixed: np.ndarray  # (N, R) base/ups + handling
    f_kg: np.ndarray  # (N, R) per_kg
    t_ok: np.ndarray  # (N, N)
    t_fixed: np.ndarray
    t_kg: np.ndarray
    own: np.ndarray  # (N, R) node n is region r's catchment node


def _costs(inp: RebalanceInput, nodes: list[Node], regions: list[Region]) -> _Costs:
    p = inp.costs
    ups = max(p.units_per_shipment, 1e-9)
    nlat = np.array([n.lat for n in nodes], dtype=float)
    nlon = np.array([n.lon for n in nodes], dtype=float)
    rlat = np.array([r.lat for r in regions], dtype=float)
    rlon = np.array([r.lon for r in regions], dtype=float)
    ship = np.array([n.can_ship for n in nodes], dtype=bool)
    h_unit = np.array([n.handling_cost_per_unit for n in nodes], dtype=float)
    h_ship = np.array([n.handling_cost_per_shipment for n in nodes], dtype=float)
    d_nr = np.asarray(haversine_km(nlat[:, None], nlon[:, None], rlat[None, :], rlon[None, :]))
    ok, base, kg = _band(inp.rates, d_nr)
    idx = {n.id: i for i, n in enumerate(nodes)}
    own = np.zeros(d_nr.shape, dtype=bool)
    for j, r in enumerate(regions):
        if r.node is not None and r.node in idx:
            own[idx[r.node], j] = True
    catch = np.array([r.node is not None for r in regions], dtype=bool)
    f_ok = ok & ship[:, None] & ~catch[None, :]
    f_fixed = base / ups + h_unit[:, None] + h_ship[:, None] / ups
    d_nn = np.asarray(haversine_km(nlat[:, None], nlon[:, None], nlat[None, :], nlon[None, :]))
    tok, tbase, tkg = _band(inp.rates, d_nn)
    t_ok = tok & ship[:, None] & ~np.eye(len(nodes), dtype=bool)
    t_fixed = tbase / max(p.consolidation_units, 1e-9) + h_unit[:, None] + p.receive_cost_per_unit
    return _Costs(f_ok, f_fixed, kg, t_ok, t_fixed, tkg * p.per_kg_factor, own)


@dataclass
class _SkuResult:
    before: float
    after: float
    transfers: list[Transfer]


def _solve_sku(
    inp: RebalanceInput,
    sku: Sku,
    nodes: list[Node],
    regions: list[Region],
    c: _Costs,
    supply: np.ndarray,  # (N,) int
    late: np.ndarray,  # (R,) int
    early: np.ndarray,  # (R,) int
    lane_left: np.ndarray | None,  # (N, N) int, None: unlimited
    out_left: np.ndarray | None,  # (N,) int
    transfers: bool,
) -> _SkuResult:
    n_nodes, n_reg = len(nodes), len(regions)
    is_store = np.array([n.type == "store" for n in nodes], dtype=bool)
    w = sku.weight_kg
    f_cost = np.where(c.own, 0.0, c.f_fixed + c.f_kg * w)
    f_ok = c.f_ok & ~(is_store[:, None] & (not sku.store_eligible)) | c.own
    t_cost = c.t_fixed + c.t_kg * w
    t_ok = c.t_ok & ~(is_store[:, None] & (not sku.store_eligible))
    penalty = sku.unfilled_penalty
    # vertices
    origin = np.arange(n_nodes)
    own = origin + n_nodes
    arrived = own + n_nodes
    hub = arrived + n_nodes  # outbound limit per node
    d_late = hub[-1] + 1 + np.arange(n_reg) if n_nodes else np.arange(n_reg)
    d_early = d_late + n_reg
    lost = int(2 * n_reg + 4 * n_nodes)
    left = lost + 1
    tails: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    caps: list[np.ndarray] = []
    costs: list[np.ndarray] = []
    exact: list[np.ndarray] = []
    kinds: list[np.ndarray] = []  # 0 other, 1 transfer, 2 arrived→late

    def add(t: np.ndarray, h: np.ndarray, cap: np.ndarray, cost: np.ndarray, kind: int) -> None:
        tails.append(t.astype(np.int64))
        heads.append(h.astype(np.int64))
        caps.append(np.asarray(cap, dtype=np.int64))
        exact.append(np.broadcast_to(np.asarray(cost, dtype=float), t.shape))
        costs.append(np.rint(exact[-1] * COST_SCALE).astype(np.int64))
        kinds.append(np.full(t.size, kind, dtype=np.int64))

    big = int(supply.sum() + late.sum() + early.sum() + 1)
    add(origin, own, supply, np.zeros(n_nodes), 0)
    add(own, np.full(n_nodes, left), np.full(n_nodes, big), np.zeros(n_nodes), 0)
    add(arrived, np.full(n_nodes, left), np.full(n_nodes, big), np.zeros(n_nodes), 0)
    rows, cols = np.nonzero(f_ok)
    cf = f_cost[rows, cols]
    add(own[rows], d_late[cols], np.full(rows.size, big), cf, 0)
    add(own[rows], d_early[cols], np.full(rows.size, big), cf, 0)
    add(arrived[rows], d_late[cols], np.full(rows.size, big), cf, 2)
    add(np.full(n_reg, lost), d_late, np.full(n_reg, big), np.full(n_reg, penalty), 0)
    add(np.full(n_reg, lost), d_early, np.full(n_reg, big), np.full(n_reg, penalty), 0)
    add(np.array([lost]), np.array([left]), np.array([big]), np.zeros(1), 0)
    if transfers:
        ocap = np.full(n_nodes, big) if out_left is None else np.minimum(out_left, big)
        add(origin, hub, ocap, np.zeros(n_nodes), 0)
        ta, tb = np.nonzero(t_ok & (supply[:, None] > 0))
        lcap = np.full(ta.size, big) if lane_left is None else np.minimum(lane_left[ta, tb], big)
        add(hub[ta], arrived[tb], lcap, t_cost[ta, tb], 1)
    t_arr, h_arr = np.concatenate(tails), np.concatenate(heads)
    cap_arr, cost_arr = np.concatenate(caps), np.concatenate(costs)
    kind_arr = np.concatenate(kinds)
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(t_arr, h_arr, cap_arr, cost_arr)
    n_vert = left + 1
    sup = np.zeros(n_vert, dtype=np.int64)
    sup[origin] = supply
    sup[lost] = int(late.sum() + early.sum())
    sup[d_late] = -late
    sup[d_early] = -early
    sup[left] = -int(supply.sum())
    mcf.set_nodes_supplies(np.arange(n_vert), sup)
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed for sku {sku.id}: status {status}")
    flow = np.asarray(mcf.flows(np.arange(t_arr.size)), dtype=np.int64)
    real_cost = np.concatenate(exact)
    total = float(np.dot(flow, real_cost))
    out: list[Transfer] = []
    if transfers:
        days = (inp.lead_days, max(inp.horizon_days - 1, inp.lead_days))
        # what leaves arrived[b] for each late region, consumed greedily by its transfers
        serve: dict[int, list[list[int]]] = {}
        for k in np.flatnonzero((kind_arr == 2) & (flow > 0)).tolist():
            b = int(t_arr[k] - arrived[0])
            serve.setdefault(b, []).append([int(h_arr[k] - d_late[0]), int(flow[k])])
        for k in np.flatnonzero((kind_arr == 1) & (flow > 0)).tolist():
            a, b, q = int(t_arr[k] - hub[0]), int(h_arr[k] - arrived[0]), int(flow[k])
            need, prot = q, []
            for item in serve.get(b, []):
                if need == 0:
                    break
                take = min(need, item[1])
                if take:
                    item[1] -= take
                    need -= take
                    prot.append(Protected(regions[item[0]].id, take, days))
            if lane_left is not None:
                lane_left[a, b] -= q
            if out_left is not None:
                out_left[a] -= q
            out.append(Transfer(nodes[a].id, nodes[b].id, sku.id, q, float(real_cost[k] * q), prot))
    return _SkuResult(before=total, after=total, transfers=out)


def plan_rebalance(inp: RebalanceInput) -> RebalancePlan:
    """The rebalancing plan of ``inp`` (see the module docstring)."""
    nodes = [n for n in inp.nodes if n.enabled]
    node_idx = {n.id: i for i, n in enumerate(nodes)}
    regions = list(inp.regions)
    reg_idx = {r.id: j for j, r in enumerate(regions)}
    sku_by_id = {s.id: s for s in inp.skus}
    late: dict[str, np.ndarray] = {}
    early: dict[str, np.ndarray] = {}
    for d in inp.demand:
        if d.sku not in sku_by_id or d.region not in reg_idx:
            continue
        j = reg_idx[d.region]
        late.setdefault(d.sku, np.zeros(len(regions)))[j] += d.units
        early.setdefault(d.sku, np.zeros(len(regions)))[j] += d.early_units
        late.setdefault(d.sku, np.zeros(len(regions)))
        early.setdefault(d.sku, np.zeros(len(regions)))
    c = _costs(inp, nodes, regions)
    n = len(nodes)
    capped = inp.lane_capacity is not None or bool(inp.lanes) or inp.outbound_capacity is not None
    lane_left: np.ndarray | None = None
    out_left: np.ndarray | None = None
    if capped:
        big = np.iinfo(np.int64).max // 4
        lane_left = np.full((n, n), big if inp.lane_capacity is None else inp.lane_capacity)
        for (a, b), cap in inp.lanes.items():
            if a in node_idx and b in node_idx:
                lane_left[node_idx[a], node_idx[b]] = cap
        out_left = np.full(n, big if inp.outbound_capacity is None else inp.outbound_capacity)
    work = []
    for sku_id in late:
        sku = sku_by_id[sku_id]
        supply = np.zeros(n, dtype=np.int64)
        for i, nd in enumerate(nodes):
            supply[i] = max(int(inp.stock.get((nd.id, sku_id), 0)), 0)
        lt = np.rint(late[sku_id]).astype(np.int64)
        er = np.rint(early[sku_id]).astype(np.int64)
        args = (inp, sku, nodes, regions, c, supply, lt, er)
        before = _solve_sku(*args, None, None, transfers=False).before
        free = _solve_sku(*args, None, None, transfers=True) if n > 1 else None
        work.append((before, free, args))
    before_total = sum(w[0] for w in work)
    after_total = 0.0
    transfers: list[Transfer] = []
    if capped:
        work.sort(key=lambda w: -(w[0] - (w[1].after if w[1] else w[0])))
    for before, free, args in work:
        if free is None or free.after >= before - 1e-9:
            after_total += before
            continue
        res = free if not capped else _solve_sku(*args, lane_left, out_left, transfers=True)
        if res.after >= before - 1e-9:  # capacity left no useful transfer
            after_total += before
            continue
        after_total += res.after
        transfers.extend(res.transfers)
    transfers.sort(key=lambda t: (t.sku, t.from_node, t.to_node))
    return RebalancePlan(
        transfers=transfers,
        expected_cost_before=before_total,
        expected_cost_after=after_total,
        expected_saving=before_total - after_total,
        horizon_days=inp.horizon_days,
        lead_days=inp.lead_days,
    )


def plan_as_dict(plan: RebalancePlan) -> dict[str, object]:
    """The plan as JSON-ready data."""
    return {
        "transfers": [
            {
                "from_node": t.from_node,
                "to_node": t.to_node,
                "sku": t.sku,
                "qty": t.qty,
                "cost": t.cost,
                "protects": [
                    {"region": p.region, "expected_units": p.expected_units, "days": list(p.days)}
                    for p in t.protects
                ],
            }
            for t in plan.transfers
        ],
        "expected_cost_before": plan.expected_cost_before,
        "expected_cost_after": plan.expected_cost_after,
        "expected_saving": plan.expected_saving,
        "horizon_days": plan.horizon_days,
        "lead_days": plan.lead_days,
    }


def catchment_forecast(
    nodes: Sequence[Node],
    orders: Sequence[Order],
    history_days: float,
    horizon_days: int,
    lead_days: int,
) -> tuple[list[Region], list[Demand]]:
    """A simple forecast from an order history: each sku's units per day in a region are
    its units in the history divided by ``history_days`` (a moving average over the whole
    history), carried flat over the horizon. Ship orders belong to the catchment of the
    enabled node nearest the address (region ``near:<node>`` at the node's position);
    pickup orders to their pickup node's own catchment (``store:<node>``)."""
    live = [n for n in nodes if n.enabled]
    if not live or history_days <= 0:
        return [], []
    lat = np.array([n.lat for n in live])
    lon = np.array([n.lon for n in live])
    per_day: dict[tuple[str, str], float] = {}
    own: set[str] = set()
    for o in orders:
        if o.method == "pickup" and o.pickup_node:
            region = f"store:{o.pickup_node}"
            own.add(o.pickup_node)
        elif o.lat is not None and o.lon is not None:
            d = np.asarray(haversine_km(lat, lon, o.lat, o.lon))
            region = f"near:{live[int(np.argmin(d))].id}"
        else:
            continue
        for ln in o.lines:
            key = (region, ln.sku)
            per_day[key] = per_day.get(key, 0.0) + ln.qty / history_days
    regions = [Region(f"near:{n.id}", n.lat, n.lon) for n in live]
    regions += [Region(f"store:{n.id}", n.lat, n.lon, node=n.id) for n in live if n.id in own]
    lead = min(lead_days, horizon_days)
    demand = [
        Demand(r, s, u * (horizon_days - lead), u * lead) for (r, s), u in sorted(per_day.items())
    ]
    return regions, demand


def uniform_prior(
    nodes: Sequence[Node],
    stock: Mapping[tuple[str, str], int],
    horizon_days: int,
    lead_days: int,
    turn_days: float = 30.0,
) -> tuple[list[Region], list[Demand]]:
    """A prior when there is no history: the network sells each sku's available units
    evenly over ``turn_days``, spread equally over the catchments of its enabled nodes."""
    live = [n for n in nodes if n.enabled]
    if not live:
        return [], []
    totals: dict[str, int] = {}
    for (_node, sku), q in stock.items():
        totals[sku] = totals.get(sku, 0) + max(int(q), 0)
    regions = [Region(f"near:{n.id}", n.lat, n.lon) for n in live]
    lead = min(lead_days, horizon_days)
    demand = []
    for sku, total in sorted(totals.items()):
        u = total / turn_days / len(live)
        if u > 0:
            demand += [Demand(r.id, sku, u * (horizon_days - lead), u * lead) for r in regions]
    return regions, demand
