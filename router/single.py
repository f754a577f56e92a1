"""Exact, fast routing of one order against availability already in memory: the live hot path.

The order management system calls :meth:`SingleOrderRouter.route` for every online order,
with the available-to-promise of the order's skus and the capacity each node has left.
The answer is a contract :class:`~models.OrderPlan`, priced exactly as :mod:`router.cost`
prices it, and proven optimal: its cost equals that of :func:`router.optimize` on the
one-order problem with the same availability and capacities.

Formulation
-----------
For one order with lines ``l`` (qty ``q_l``, unfilled penalty ``p_l``) and nodes ``n``::

    min  Σ_{n ∈ S} F_n + Σ_{n,l} c_nl x_nl + Σ_l p_l (q_l − Σ_n x_nl)
    s.t. 0 ≤ x_nl ≤ u_nl,   Σ_l x_nl ≤ U_n,   x_nl > 0 only if n ∈ S,   |S| ≤ 1 if no split

``F_n`` = per-shipment handling + the band's base (handling only for the pickup node's
own stock), ``c_nl`` = per-unit handling + the band's per_kg × weight (handling only for
own stock), ``u_nl`` = min(atp, q_l) where the contract allows node ``n`` to send line
``l`` (enabled, not excluded, order capacity left, can ship or own pickup, in a band,
within the promise, store-eligible, transfers allowed, pickup node alive) else 0, and
``U_n`` the unit capacity left. One order takes at most one shipment per node, so
order capacity only needs to be ≥ 1. This is the contract's cost (shipping is linear in
weight, so it splits into a fixed and a per-unit part).

Exact method, and why each step loses no optimum
------------------------------------------------
Write ``UB`` for the cost of the best plan in hand (the incumbent); a step may discard
anything that cannot lead to a plan cheaper than ``UB``.

1. *Useless units.* A unit with ``c_nl ≥ p_l`` is never needed: leaving it unfilled costs no
   more, and a node left without units saves ``F_n ≥ 0``. Such arcs are set to 0, and
   ``U_n`` is capped at ``Σ q_l``.
2. *Incumbent.* Each node's best plan alone (its units by saving ``p_l − c_nl``, the unit
   capacity filled greedily, which is exact for items of weight 1) and the empty plan; if
   the order may not split, the best of these is optimal by definition: done. Otherwise
   nodes are added greedily (largest saving on what is left) for a tighter ``UB``.
3. *Bound pruning.* Let ``m_l = min(p_l, min_n c_nl)``: every unit costs at least ``m_l``,
   shipped or not, so every plan costs ≥ ``Σ_l q_l m_l`` plus its fixed costs. A plan
   cheaper than ``UB`` has two nodes or more (``UB`` is at most every single-node plan),
   so a node ``n`` is only kept when ``F_n + min_{m≠n} F_m + Σ q_l m_l < UB``, and such
   a plan has at most ``T`` nodes, ``T`` the largest ``t`` with the ``t`` smallest ``F``
   plus ``Σ q_l m_l`` below ``UB`` (and ``T ≤ Σ q_l``: each node ships a unit). ``T < 2``
   proves the incumbent optimal.
4. *Dominance.* Rank the nodes by (``F``, index). ``d`` dominates ``m`` when ``d`` ranks
   before ``m``, ``u_dl ≥ u_ml`` for every line, ``U_d ≥ U_m`` and
   ``F_d − F_m + Σ_l max(0, c_dl − c_ml)·u_ml ≤ 0``: whatever ``m`` ships, ``d`` can ship
   the same for no more. Take, among the optimal plans cheaper than ``UB`` (≤ ``T``
   nodes), one whose nodes have the least sum of ranks. If it used a node ``m`` with
   ≥ ``T`` dominators, one of them, ``d``, would be unused, and moving ``m``'s units to
   ``d`` would give a plan no dearer with a smaller sum of ranks. So some optimal plan
   uses no node with ≥ ``T`` dominators: all of them are dropped at once. Counting
   dominators among a subset only undercounts, so large candidate sets are first screened
   against :data:`CHAMPIONS` strong nodes (the cheapest, and those with the most stock).
5. *Search.* When no survivor's unit capacity binds, a set of nodes is priced exactly
   line by line (its cheapest units first, the rest unfilled), and every set of 2 to
   ``T`` survivors whose ``F`` plus ``Σ q_l m_l`` stay below ``UB`` is priced, by size,
   vectorised (:data:`SUBSET_LIMIT` sets per size at most). Otherwise (or past that
   limit): a dynamic programme over the survivors by increasing ``F``, whose states are
   remaining-demand vectors ``r`` (at most ``Π (q_l + 1)``) with the least cost reaching
   them (the past does not constrain the future: each node comes once). At node ``k``
   each state skips it or ships any ``0 ≠ x ≤ min(u_k, r)`` with ``Σ x ≤ U_k``; stopping
   at ``r`` costs ``Σ p_l r_l`` and may improve ``UB``. A state is dropped when its cost
   plus ``min(Σ p_l r_l, F_k + Σ r_l m_kl)`` reaches ``UB`` (stop now, or use at least one
   more node, each at least ``F_k`` as ``F`` increases, every unit at least ``m_kl``, the
   least of ``p_l`` and the unit costs of the nodes left). Exchange: when ``U_k ≥ Σ r``,
   a line where ``c_kl ≤ m_(k+1)l`` takes all it can from ``k`` if ``k`` is used (moving a
   unit from a later node or from unfilled to ``k`` never costs more). Every plan cheaper
   than ``UB`` is a path of the programme, so the best path is optimal: status
   ``optimal``, bound = cost. (Float slack: improvements below 1e-9 relative are not
   pursued, dominance allows 1e-12; both far below the contract's 1e-6.)
6. *Fallback.* Should the programme exceed :data:`WORK_LIMIT` shipment choices (large
   quantities on many lines), the one-order problem goes to :func:`router.optimize`
   (the exact MIP), so the answer is still proven optimal.

Surcharges (inventory-aware routing)
------------------------------------
``route(..., unit_surcharge=s)`` adds ``s_nl ≥ 0`` (e.g. the opportunity cost of taking a
unit of line ``l``'s sku from node ``n``, :mod:`router.inventory.opportunity`) to ``c_nl``
in the optimization only. Every step above reads the per-unit costs only through ``c_nl``
(usefulness compares ``c_nl + s_nl`` with ``p_l``, the bound uses the least surcharged
unit cost, dominance and the programme compare surcharged costs), and none assumes more
of ``c_nl`` than that it is a constant per (node, line): so the search returns an exact
optimum of the surcharged objective. The plan itself is priced by the contract (real
cost). Because the objective is not the contract's, such a result has status
``feasible`` with the trivial bound 0 (costs are ≥ 0), and ``objective`` holds the
surcharged optimum; the MIP fallback is then a small MIP of the surcharged objective
(:func:`_surcharged_mip`).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from models import (
    Alternative,
    Explanation,
    LineQty,
    Order,
    OrderCost,
    OrderPlan,
    Problem,
    Reason,
    Shipment,
    ShipmentCost,
    SolverStatus,
    StockRecord,
)
from router.batch import optimize
from router.data import UNLIMITED, BoolArray, FloatArray, IntArray, ProblemData
from router.geo import EARTH_RADIUS_KM
from router.order_search import (
    WorkLimitExceeded,
    search,
)
from router.result import SolveParams

FALLBACK_TIME_LIMIT = 10.0
"""Seconds the MIP fallback may take (it proves optimality in far less on one order)."""
MAX_ALTERNATIVES = 10
"""Alternatives listed by an explanation."""
FEASIBLE_ALTERNATIVES = 3
"""Of those, slots kept for the cheapest nodes that could really take the whole order."""


@dataclass(frozen=True)
class SingleResult:
    """A routed order: its priced plan, cost, proven bound, and optionally why."""

    plan: OrderPlan
    cost: float
    bound: float
    status: SolverStatus
    seconds: float
    explanation: Explanation | None = None
    solver: str = "single"  # "single" (exact search) or "single+mip" (the fallback)
    objective: float | None = None  # with surcharges: the surcharged optimum (else None)


@dataclass(frozen=True, eq=False, slots=True)
class _View:
    """One order against the network: per node and (node, line) arrays, before solving."""

    order: Order
    sku: IntArray  # per line
    qty: IntArray
    weight: FloatArray
    penalty: FloatArray
    eligible: BoolArray
    atp: IntArray  # (nodes, lines), clipped at 0
    ships_left: IntArray
    units_left: IntArray
    excluded: BoolArray
    dead: bool  # pickup node disabled or excluded: nothing can be served
    own: BoolArray
    dist: FloatArray
    band: IntArray  # -1: own-stock pickup or beyond every band
    base: FloatArray
    per_kg: FloatArray
    transit: IntArray
    usable: IntArray  # (nodes, lines): units the rules, stock and unit capacity allow
    fixed: FloatArray  # F_n
    unit: FloatArray  # (nodes, lines): c_nl


class SingleOrderRouter:
    """Built once per network (nodes, skus, rates); reused for every order.

    ``network`` is the :class:`ProblemData` of a problem whose inventory and orders may be
    empty: only nodes, skus and rate bands are read from it.
    """

    def __init__(self, network: ProblemData) -> None:
        self.network = network
        self.node_ids = list(network.node_ids)
        self.node_index = dict(network.node_index)
        self.sku_index = dict(network.sku_index)
        self.num_nodes = network.num_nodes
        self._lat = network.node_lat
        self._lon = network.node_lon
        self._lat_rad = np.radians(network.node_lat)  # haversine's p1, as router.geo has it
        self._cos_lat = np.cos(self._lat_rad)
        self._enabled = network.node_enabled
        self._can_ship = network.node_can_ship
        self._store = network.node_is_store
        self._order_cap = network.node_order_cap
        self._unit_cap = network.node_unit_cap
        self._h_ship = network.node_h_ship
        self._h_unit = network.node_h_unit
        self._band_max = network.band_max_km
        self._band_base = network.band_base
        self._band_per_kg = network.band_per_kg
        self._band_transit = network.band_transit
        self._sku_weight = network.sku_weight
        self._sku_penalty = network.sku_penalty
        self._sku_eligible = network.sku_store_eligible

    # ------------------------------------------------------------------------- public

    def route(
        self,
        order: Order,
        atp: IntArray,
        shipments_left: IntArray | None = None,
        units_left: IntArray | None = None,
        exclude: Collection[str] = (),
        explain: bool = False,
        unit_surcharge: FloatArray | None = None,
    ) -> SingleResult:
        """The least-cost plan of ``order``, proven optimal.

        ``atp[n, l]`` is the available-to-promise of line ``l``'s sku at node ``n``;
        ``shipments_left``/``units_left`` the order and unit capacity left per node
        (None: the network's; :data:`router.data.UNLIMITED` for unlimited); ``exclude``
        names nodes this order may not use on top of its ``excluded_nodes``.
        ``unit_surcharge[n, l] ≥ 0`` is added to the per-unit cost in the optimization only
        (see "Surcharges" in the module docstring); the plan stays priced by the contract.
        """
        start = time.perf_counter()
        view = self._view(order, atp, shipments_left, units_left, exclude)
        if unit_surcharge is not None:
            return self._route_surcharged(view, unit_surcharge, start, explain)
        try:
            rows = self._solve(view)
        except WorkLimitExceeded:
            return self._fallback(view, start, explain)
        plan, cost = self._price(view, rows)
        explanation = self._explain(view, plan, cost) if explain else None
        return SingleResult(
            plan=plan,
            cost=cost,
            bound=cost,
            status="optimal",
            seconds=time.perf_counter() - start,
            explanation=explanation,
        )

    def _route_surcharged(
        self, view: _View, surcharge: FloatArray, start: float, explain: bool
    ) -> SingleResult:
        extra = np.asarray(surcharge, dtype=np.float64)
        if extra.shape != view.unit.shape:
            raise ValueError(f"unit_surcharge has shape {extra.shape}, expected {view.unit.shape}")
        if not np.all(np.isfinite(extra)) or (extra < 0).any():
            raise ValueError("unit_surcharge must be finite and ≥ 0")
        sv = dataclasses.replace(view, unit=view.unit + extra)
        solver = "single"
        try:
            rows = self._solve(sv)
        except WorkLimitExceeded:
            rows, solver = _surcharged_mip(sv), "single+mip"
        plan, cost = self._price(view, rows)
        objective = _objective(sv, rows)
        return SingleResult(
            plan=plan,
            cost=cost,
            bound=0.0,
            status="feasible",
            seconds=time.perf_counter() - start,
            explanation=self._explain(view, plan, cost) if explain else None,
            solver=solver,
            objective=objective,
        )

    def one_order_problem(
        self,
        order: Order,
        atp: IntArray,
        shipments_left: IntArray | None = None,
        units_left: IntArray | None = None,
        exclude: Collection[str] = (),
    ) -> Problem:
        """The contract problem :meth:`route` solves: the network, this order alone, the
        given availability as stock and the capacities left as capacities."""
        view = self._view(order, atp, shipments_left, units_left, exclude)
        return self._problem(view)

    # ------------------------------------------------------------------------- the view

    def _view(
        self,
        order: Order,
        atp: IntArray,
        shipments_left: IntArray | None,
        units_left: IntArray | None,
        exclude: Collection[str],
    ) -> _View:
        """Everything the contract says about this order at each node, as arrays."""
        n_nodes, n_lines = self.num_nodes, len(order.lines)
        try:
            sku = np.fromiter(
                (self.sku_index[ln.sku] for ln in order.lines), dtype=np.int64, count=n_lines
            )
        except KeyError as exc:
            raise ValueError(f"order {order.id!r}: unknown sku {exc.args[0]!r}") from None
        qty = np.fromiter((ln.qty for ln in order.lines), dtype=np.int64, count=n_lines)
        atp_arr = np.asarray(atp, dtype=np.int64)
        if atp_arr.shape != (n_nodes, n_lines):
            raise ValueError(f"atp has shape {atp_arr.shape}, expected {(n_nodes, n_lines)}")
        atp_arr = np.maximum(atp_arr, 0)
        ships = self._order_cap if shipments_left is None else self._caps(shipments_left)
        units = self._unit_cap if units_left is None else self._caps(units_left)

        excluded = np.zeros(n_nodes, dtype=bool)
        for node_id in itertools.chain(order.excluded_nodes, exclude):
            n = self.node_index.get(node_id)
            if n is None:
                raise ValueError(f"order {order.id!r}: unknown node {node_id!r} to exclude")
            excluded[n] = True

        pickup = order.method == "pickup"
        own = np.zeros(n_nodes, dtype=bool)
        pn, dead = -1, False
        if pickup:
            if order.pickup_node not in self.node_index:
                raise ValueError(f"order {order.id!r}: unknown pickup node {order.pickup_node!r}")
            pn = self.node_index[order.pickup_node]
            if not self.network.node_can_pickup[pn]:
                raise ValueError(f"order {order.id!r}: node {order.pickup_node!r} takes no pickups")
            own[pn] = True
            dead = not bool(self._enabled[pn]) or bool(excluded[pn])
            to_lat, to_lon = float(self._lat[pn]), float(self._lon[pn])
        else:
            if order.lat is None or order.lon is None:
                raise ValueError(f"order {order.id!r}: a ship order needs lat and lon")
            to_lat, to_lon = order.lat, order.lon
        dist = self._distance(to_lat, to_lon)
        if pickup:
            dist[pn] = 0.0

        nb = self._band_max.size
        if nb:
            band = np.searchsorted(self._band_max, dist, side="left")
            band[band >= nb] = -1
        else:
            band = np.full(n_nodes, -1, dtype=np.int64)
        if pickup:
            band[pn] = -1
        has = band >= 0
        if nb:
            bi = np.where(has, band, 0)
            base = np.where(has, self._band_base[bi], 0.0)
            per_kg = np.where(has, self._band_per_kg[bi], 0.0)
            transit = np.where(has, self._band_transit[bi], 0)
        else:
            base, per_kg = np.zeros(n_nodes), np.zeros(n_nodes)
            transit = np.zeros(n_nodes, dtype=np.int64)

        deadline = _deadline(order)
        node_ok = self._enabled & ~excluded & (ships >= 1) & (units >= 1)
        node_ok &= own | (self._can_ship & has)
        node_ok &= transit <= deadline
        if pickup and (dead or not order.allow_transfer):
            node_ok &= own & (not dead)

        weight = self._sku_weight[sku]
        eligible = self._sku_eligible[sku]
        line_ok = node_ok[:, None] & ((own | ~self._store)[:, None] | eligible[None, :])
        usable = np.where(line_ok, np.minimum(atp_arr, qty[None, :]), 0)
        usable = np.minimum(usable, units[:, None])
        fixed = self._h_ship + base
        unit = self._h_unit[:, None] + per_kg[:, None] * weight[None, :]
        return _View(
            order=order,
            sku=sku,
            qty=qty,
            weight=weight,
            penalty=self._sku_penalty[sku],
            eligible=eligible,
            atp=atp_arr,
            ships_left=ships,
            units_left=units,
            excluded=excluded,
            dead=dead,
            own=own,
            dist=dist,
            band=band,
            base=base,
            per_kg=per_kg,
            transit=transit,
            usable=usable,
            fixed=fixed,
            unit=unit,
        )

    def _caps(self, left: IntArray) -> IntArray:
        arr = np.asarray(left, dtype=np.int64)
        if arr.shape != (self.num_nodes,):
            raise ValueError(f"capacity array has shape {arr.shape}, expected {(self.num_nodes,)}")
        return arr

    def _distance(self, lat: float, lon: float) -> FloatArray:
        """Haversine from every node to (lat, lon): the arithmetic of router.geo, with the
        node side precomputed, so that bands match the batch optimizer's to the bit."""
        p2 = np.radians(lat)
        dphi = p2 - self._lat_rad
        dlmb = np.radians(lon - self._lon)
        a = np.sin(dphi / 2.0) ** 2 + self._cos_lat * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
        return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))

    # ------------------------------------------------------------------------- solving

    def _solve(self, v: _View) -> list[tuple[int, tuple[int, ...]]]:
        """Shipments (node, units per line) of an optimal plan; see the module docstring."""
        return search(
            v.fixed, v.unit, v.usable, v.units_left, v.penalty, v.qty, v.order.allow_split
        )

    # ------------------------------------------------------------------------- pricing

    def _price(
        self, v: _View, shipments: list[tuple[int, tuple[int, ...]]]
    ) -> tuple[OrderPlan, float]:
        """The contract plan of the shipments and its cost, priced with router.cost's
        arithmetic (same formulas, same order of summation)."""
        lines = v.order.lines
        by_sku = sorted(range(len(lines)), key=lambda ln: int(v.sku[ln]))
        weight = v.weight.tolist()
        shipped = [0] * len(lines)
        out: list[Shipment] = []
        hand = ship = 0.0
        for n, x in sorted(shipments):
            units = sum(x)
            w = 0.0
            for ln in by_sku:
                w += x[ln] * weight[ln]
                shipped[ln] += x[ln]
            own = bool(v.own[n])
            h = float(self._h_ship[n] + self._h_unit[n] * units)
            s = 0.0 if own else float(v.base[n] + v.per_kg[n] * w)
            hand, ship = hand + h, ship + s
            out.append(
                Shipment.model_construct(
                    node=self.node_ids[n],
                    lines=[
                        LineQty.model_construct(sku=lines[ln].sku, qty=x[ln])
                        for ln in by_sku
                        if x[ln] > 0
                    ],
                    distance_km=0.0 if own else float(v.dist[n]),
                    transit_days=0 if own else int(v.transit[n]),
                    cost=ShipmentCost.model_construct(handling=h, shipping=s, total=h + s),
                )
            )
        pen = v.penalty.tolist()
        short = [ln.qty - shipped[i] for i, ln in enumerate(lines)]
        penalty = sum(short[i] * pen[i] for i in range(len(lines)))
        unfilled = [
            LineQty.model_construct(sku=ln.sku, qty=short[i])
            for i, ln in enumerate(lines)
            if short[i] > 0
        ]
        status = "unfilled" if not out else ("partial" if unfilled else "fulfilled")
        total = hand + ship + penalty
        plan = OrderPlan.model_construct(
            order_id=v.order.id,
            status=status,
            shipments=out,
            unfilled=unfilled,
            cost=OrderCost.model_construct(
                handling=hand, shipping=ship, penalty=penalty, total=total
            ),
        )
        return plan, total

    # ------------------------------------------------------------------------- fallback

    def _problem(self, v: _View) -> Problem:
        """The one-order contract problem of a view (for the MIP fallback and for tests)."""
        net = self.network.problem
        nodes = [
            node.model_copy(
                update={
                    "order_capacity": _cap_or_none(int(v.ships_left[i])),
                    "unit_capacity": _cap_or_none(int(v.units_left[i])),
                }
            )
            for i, node in enumerate(net.nodes)
        ]
        wanted = {ln.sku for ln in v.order.lines}
        skus = [s for s in net.skus if s.id in wanted]
        inventory = [
            StockRecord.model_construct(
                node=self.node_ids[n], sku=v.order.lines[ln].sku, on_hand=int(v.atp[n, ln])
            )
            for n, ln in zip(*np.nonzero(v.atp > 0), strict=True)
        ]
        excluded = [self.node_ids[n] for n in np.flatnonzero(v.excluded).tolist()]
        order = v.order.model_copy(update={"excluded_nodes": excluded})
        return Problem.model_construct(
            nodes=nodes, skus=skus, rates=list(net.rates), inventory=inventory, orders=[order]
        )

    def _fallback(self, v: _View, start: float, explain: bool) -> SingleResult:
        """The exact MIP of the batch optimizer on the one-order problem."""
        data = ProblemData.from_problem(self._problem(v))
        result = optimize(data, SolveParams(time_limit=FALLBACK_TIME_LIMIT, threads=1))
        plan = result.plan.orders[0]
        bound = result.cost if result.bound is None else result.bound
        return SingleResult(
            plan=plan,
            cost=result.cost,
            bound=bound,
            status=result.status,
            seconds=time.perf_counter() - start,
            explanation=self._explain(v, plan, result.cost) if explain else None,
            solver="single+mip",
        )

    # ------------------------------------------------------------------------- explaining

    def _explain(self, v: _View, plan: OrderPlan, cost: float) -> Explanation:
        """The chosen nodes and the cheapest alternatives, each priced as the whole order
        from that node alone (see models.explain for what each field means)."""
        order = v.order
        chosen = [sh.node for sh in plan.shipments]
        units = int(v.qty.sum())
        weight = 0.0
        for ln in np.argsort(v.sku, kind="stable").tolist():  # router.cost's summation order
            weight += int(v.qty[ln]) * float(v.weight[ln])
        priced = v.own | (v.band >= 0)
        shipping = np.where(v.own, 0.0, v.base + v.per_kg * weight)
        hypo = self._h_ship + self._h_unit * units + shipping
        short: BoolArray = np.asarray((v.atp < v.qty[None, :]).any(axis=1))
        pickup = order.method == "pickup"
        not_own = ~v.own
        reasons: list[tuple[Reason, BoolArray]] = [
            ("no_stock", short),
            ("capacity", (v.ships_left < 1) | (v.units_left < units)),
            ("promise", not_own & (v.band >= 0) & (v.transit > _deadline(order))),
            ("excluded", v.excluded),
            ("disabled", ~self._enabled),
            ("cannot_ship", not_own & ~self._can_ship),
            ("store_ineligible", not_own & self._store & bool((~v.eligible).any())),
            ("out_of_range", not_own & (v.band < 0)),
            (
                "transfer_not_allowed",
                not_own & (pickup and not order.allow_transfer),
            ),
            ("pickup_unservable", np.full(self.num_nodes, v.dead)),
            ("no_split", short & np.asarray((v.atp > 0).any(axis=1)) & (not order.allow_split)),
        ]
        blocked = np.zeros(self.num_nodes, dtype=bool)
        for _, mask in reasons:
            blocked |= mask
        listed = np.ones(self.num_nodes, dtype=bool)
        for node_id in chosen:
            listed[self.node_index[node_id]] = False
        # Cheapest first; nodes without a price (out of range) last, nearest first.
        key = np.where(priced, hypo, v.dist)
        pool = np.flatnonzero(listed)
        pool = pool[np.lexsort((pool, key[pool], ~priced[pool]))]
        feasible_first = pool[~blocked[pool]][:FEASIBLE_ALTERNATIVES]
        listed[feasible_first] = False
        rest = pool[listed[pool]][: MAX_ALTERNATIVES - feasible_first.size]
        picked = np.concatenate([feasible_first, rest])
        picked = picked[np.lexsort((picked, key[picked], ~priced[picked]))]
        alternatives = [
            Alternative(
                node=self.node_ids[n],
                cost=float(hypo[n]) if priced[n] else None,
                cost_difference=float(hypo[n]) - cost if priced[n] else None,
                feasible=not bool(blocked[n]),
                reasons=[name for name, mask in reasons if mask[n]],
            )
            for n in picked.tolist()
        ]
        return Explanation(chosen=chosen, alternatives=alternatives)


def _objective(v: _View, rows: list[tuple[int, tuple[int, ...]]]) -> float:
    """Value of shipments under the view's own costs (F_n, c_nl, penalties)."""
    short = v.qty.astype(np.float64).copy()
    total = 0.0
    for n, x in rows:
        xa = np.asarray(x, dtype=np.float64)
        total += float(v.fixed[n]) + float(v.unit[n] @ xa)
        short -= xa
    return total + float(v.penalty @ short)


def _surcharged_mip(v: _View) -> list[tuple[int, tuple[int, ...]]]:
    """The one-order MIP of the view's (surcharged) costs, solved exactly by SCIP: the
    fallback of :meth:`SingleOrderRouter.route` with surcharges (rarely reached)."""
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:  # pragma: no cover - SCIP ships with OR-Tools
        raise RuntimeError("SCIP is not available")
    n_lines = v.usable.shape[1]
    cand = np.flatnonzero(((v.usable > 0) & (v.unit < v.penalty[None, :])).any(axis=1)).tolist()
    if not cand:
        return []
    y = {n: solver.BoolVar(f"y{n}") for n in cand}
    x = {
        (n, ln): solver.IntVar(0, int(v.usable[n, ln]), f"x{n}_{ln}")
        for n in cand
        for ln in range(n_lines)
        if v.usable[n, ln] > 0
    }
    for (n, ln), var in x.items():
        solver.Add(var <= int(v.usable[n, ln]) * y[n])
    for n in cand:
        terms = [x[n, ln] for ln in range(n_lines) if (n, ln) in x]
        solver.Add(sum(terms) <= int(min(v.units_left[n], v.qty.sum())))
    for ln in range(n_lines):
        solver.Add(sum(x[n, ln] for n in cand if (n, ln) in x) <= int(v.qty[ln]))
    if not v.order.allow_split:
        solver.Add(sum(y.values()) <= 1)
    obj = sum(float(v.fixed[n]) * y[n] for n in cand)
    obj += sum((float(v.unit[n, ln]) - float(v.penalty[ln])) * var for (n, ln), var in x.items())
    solver.Minimize(obj)
    solver.SetTimeLimit(int(FALLBACK_TIME_LIMIT * 1000))
    solver.Solve()
    rows = []
    for n in cand:
        take = tuple(
            round(x[n, ln].solution_value()) if (n, ln) in x else 0 for ln in range(n_lines)
        )
        if any(take):
            rows.append((n, take))
    return rows


def _cap_or_none(value: int) -> int | None:
    return None if value >= UNLIMITED else value


def _deadline(order: Order) -> int:
    return UNLIMITED if order.deliver_within_days is None else order.deliver_within_days
