"""The perfect-information (hindsight) bound: what no policy could beat on the same draws.

All online orders of the horizon are routed together as one contract problem, knowing
every order in advance, with all the stock that could ever be used. Its optimum is at most
the cost of any policy's plan on the same seed, because that plan (its final shipments,
rejected attempts dropped) is a feasible plan of the relaxed problem:

* **Orders** are the same (common random numbers: they do not depend on the policy), with
  pickups at closed stores redirected exactly as the engine does it. Each order excludes
  the nodes that were closed on its day, and the stores that could not ship that day
  (except its own pickup store), so every per-day rule the policy obeyed still holds.
* **Stock** per (node, sku) is ``on_hand₀ − reserved₀ + receipts + returns⁺ + transfers⁺
  − min safety``. A policy ships from (n, s) at most that: at the time ``t*`` of its last
  reservation there, ``on_hand − reserved ≥ safety(t*) ≥ min safety``, and everything
  reserved came from the initial free stock plus what arrived (walk-ins, write-offs and
  outbound transfers only take away). Receipts are deterministic; ``returns⁺`` counts
  every order flagged for return in full (only shipped units come back), ``transfers⁺``
  each store replenishment at its full target (the real transfer is the target less what
  the store still held). Safety stock follows the run: the scenario's dated changes
  and, on its day, the store protection levels the engine sets. Timing is relaxed: a
  unit arriving on day 5 may serve an order of day 1; walk-ins and rejections are
  ignored. Relaxing only lowers the optimum.
* **Capacity** per node is the sum of its daily capacities over the days it is open (a
  policy's daily shipments sum to at most that).
* **Rates**: when a change replaces the rate card, the lower envelope of every card used
  (per distance band, the least base, per kg and transit), no dearer than any of them.

The bound reported is :func:`router.optimize`'s proven lower bound on that problem (the LP
or Lagrangian bound when it is not solved to optimality), so it is a lower bound on the
relaxed optimum and hence on every policy's cost. Above ``hindsight.max_orders`` orders
(or if the optimizer returns no bound) it is the *decoupled* bound instead: each order
alone at least cost against the whole horizon's stock and no capacity limit, summed. That
relaxes the coupling between orders as well, so it is weaker, but valid, and linear time.
When the joint problem is not solved to optimality in its time limit, the larger of its
bound and the decoupled bound is reported (both are valid).

**Time-indexed bound** (:func:`timed_bound`, method ``timed``). The pooled problem lets an
order of day 0 use a unit received on day 10. A second LP keeps the timing; every policy's
plan (its final shipments) is feasible for it, so its optimum is a lower bound too, and
the larger of the two is reported:

* **Flows** ``x`` per (order, candidate node, line), ``0 ≤ x ≤ min(qty, supply(n, s, day))``
  (candidates pruned exactly as the contract does, see :mod:`router.candidates`, with each
  order's exclusions of its day), and unfilled units ``u`` at the penalty;
  ``Σ x + u = qty`` per line.
* **Cumulative stock** per (node, sku, day t): the units used by the orders of days ≤ t
  are at most ``supply(t) = on_hand₀ − reserved₀ + receipts + returns⁺ + transfers⁺
  arrived by the end of day t − min over days ≤ t of safety``, clipped at 0 — the same
  quantities as above, dated (receipts and transfers arrive in the morning, returns
  during the day; an order of day t is routed on day t, so by the time ``t*`` of its last
  reservation at (n, s) nothing later has arrived, and the argument above holds with
  ``t*`` ≤ t). Written with a carry per (node, sku, day) so each flow appears once.
* **Capacities** per node and day (they reset each morning): the day's orders use at most
  ``order_capacity(t)`` shipments and ``unit_capacity(t)`` units there.
* **Fixed costs** (per-shipment handling + band base): a shipment ``y_p ∈ [0, 1]`` of
  pair p covers each of its flows, ``x_a ≤ cap_a y_p``, at fixed cost ``F_p y_p``, and
  counts in the order-capacity rows; an order that may not split has ``Σ_p y_p ≤ 1``
  (one shipment in all). For orders that may split, y is replaced by its lower estimate
  ``y_p ≥ Σ_a x_a / K_p`` (``K_p = Σ_a cap_a``): the fixed cost spread over the pair's
  units, ``F_p / K_p`` each, so most of the LP is pure flow and HiGHS' simplex solves a
  VN season in about 25 s. That estimate is exact for a single-line order (one arc per
  pair) but lets a multi-line order split across nodes at a fraction of each fixed cost.
* **Network stock** per (sku, day): store replenishment only moves units from the
  warehouses, so the units all orders of days ≤ t use are at most the initial free stock
  plus receipts and returns⁺ by t, over the whole network (a carry per (sku, day), like
  the stock rows).

**Strong form** (``hindsight.strong_time_limit_s`` > 0, method ``strong``): every
multi-line order keeps its ``y``. On the VN season that LP takes HiGHS' simplex more than
ten minutes, so it is solved by OR-Tools' PDLP (a first-order method) to a loose
tolerance (:data:`STRONG_EPS`); its value is the Lagrangian of the duals PDLP returns,
valid for any duals, so the tolerance (or the time limit) only makes it lower, never
invalid. The larger of the two LP values is reported.

**Pattern bound** (``hindsight.patterns_time_limit_s`` > 0, method ``patterns``): the
same rows with every shipment whole. Each order chooses one *pattern* (a complete plan
of that order alone, paying each shipment's fixed cost in full); the time-indexed rows
couple the patterns, and :mod:`router.pattern_bound` bounds that problem by Dantzig–Wolfe
column generation, pricing each order with the exact one-order search. Once
converged it is at least the strong LP (whose shipments are fractional); every policy's
plan is one pattern per order satisfying the rows, so it stays a lower bound. The value
is a Lagrangian bound, valid whenever column generation stops. On the VN season it
converges in 65–80 s a seed, 0.2–0.7 % above the strong LP (seven minutes by PDLP); on
the US season (8.1 M flows, where the LPs do not fit in memory) in four to five minutes
at 8.3 GiB, about 10 % above the pooled bound. Tried last; the largest bound wins.

**Shelf rows** (:mod:`router.simulation.shelf_bound`). Walk-ins cost nothing when lost,
so the bound cannot charge them, but they come at known times: when walk-ins empty a
store's shelf before a pickup arrives, no policy can give that pickup the units. One row
per walk-in that takes a unit from the envelope of free stock (what the store would have
with no online order at all) caps what the orders after it and before the next
replenishment can reserve there.

**Replenishment periods.** The cumulative stock counts every store replenishment at its
full target, on top of what the store still holds. A store orders up to its target
(``need = target − free − in transit``), so its free stock (on hand − reserved) never
exceeds ``max(target, free₀) + returns so far``: at each arrival the level is at most the
target plus returns, and in between it only falls (reservations, walk-ins) or grows by
returns. So the units a policy reserves at a replenished (store, sku) between two
arrivals are at most ``max(target, free₀) + returns by the period's last day − min
safety`` (the last reservation still leaves the safety stock): one more row per
(period, store, sku) where the candidates could exceed it. Without it the bound lets a
store serve its initial stock plus every target, which no policy can.

**Replenishment rows** (:mod:`router.simulation.replenishment_bound`). The stock rows
count a warehouse's receipts at the warehouse and every store top-up at the store, so a
unit could be shipped from the warehouse and counted on a store's shelf too. On each
replenishment morning the engine fills the stores' needs from the nearest warehouses
until the needs are met or the warehouses are empty; what the warehouses keep is then at
most ``max(free stock − the stores' targets, safety)``, per sku over the network and per
warehouse over the stores it is nearest to, which caps what they give out until the
next replenishment (the convex right side by its chord, so the rows stay linear). Every
policy's run satisfies them (checked on randomized runs in the tests). On the US season
they lift the pattern bound by 0.4 % only: the warehouses keep far more than they ship in
a week, so this freedom was not what kept the bound low.

The time-indexed LP's value is recomputed from its duals as a Lagrangian bound (every
variable is bounded), so solver tolerances cannot lift it above the LP optimum. It is
skipped above ``hindsight.max_orders`` orders or :data:`TIMED_MAX_ARCS` flows, and
dropped when HiGHS does not finish within ``hindsight.time_limit_s`` (its own limit,
after the joint solve).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from models import Line, Node, Order, Problem, RateBand, StockRecord
from router.batch import optimize
from router.candidates import Candidates, build_candidates
from router.data import UNLIMITED, FloatArray, IntArray, ProblemData
from router.pattern_bound import PatternBound, pattern_bound
from router.result import SolveParams
from router.simulation.demand import day_orders, day_walkins
from router.simulation.flows import (
    nearest,
    receipt_days,
    receipt_plan,
    redirect_pickup,
    store_targets,
)
from router.simulation.network import BuiltNetwork
from router.simulation.replenishment_bound import (
    ReplenishmentRows,
    TopUps,
    WarehouseRows,
    replenishment_arc_rows,
    replenishment_rows,
    warehouse_arc_rows,
    warehouse_rows,
)
from router.simulation.scenario import Scenario
from router.simulation.shelf_bound import MINUTES_PER_DAY, ShelfWindows, shelf_windows, window_rows
from router.simulation.state import SimState
from router.single import SingleOrderRouter


@dataclass(frozen=True)
class HindsightBound:
    """The bound, how it was obtained (``lp``: the joint problem; ``timed``: the
    time-indexed LP; ``strong``: its strong form; ``patterns``: the pattern bound;
    ``decoupled``), the bound attributed to each day (in proportion to the hindsight
    plan's cost of that day's orders, so the days add up), the seconds it took and the
    problem's size."""

    bound: float
    method: str
    per_day: list[float]
    seconds: float
    orders: int


@dataclass(frozen=True, eq=False)
class HindsightProblem:
    problem: Problem
    order_day: IntArray
    atp: IntArray  # (nodes, skus) of the relaxed stock
    # Dated, for the time-indexed bound: the stock usable by the orders of days ≤ t,
    # (days, nodes, skus); and the daily order and unit capacities, (days, nodes).
    supply: IntArray | None = None
    day_ocap: IntArray | None = None
    day_ucap: IntArray | None = None
    # Replenishment periods: each day's period (-1 before the first store replenishment
    # arrives) and per period the most a store may give out of each sku, (periods,
    # nodes, skus).
    period_of_day: IntArray | None = None
    period_cap: IntArray | None = None
    # Walk-ins: each order's minute of its day, and the shelf rows
    # (:mod:`router.simulation.shelf_bound`).
    order_minute: FloatArray | None = None
    shelf: ShelfWindows | None = None
    # Units of each sku that exist in the whole network by the end of each day (days,
    # skus): initial free stock + receipts + returns⁺, store transfers excluded.
    pool: IntArray | None = None
    # What each store replenishment leaves at the warehouses
    # (:mod:`router.simulation.replenishment_bound`).
    replenishment: ReplenishmentRows | None = None
    warehouse_rows: WarehouseRows | None = None


def rate_envelope(cards: list[list[RateBand]]) -> list[RateBand]:
    """Bands no dearer (base, per kg, transit) than any of ``cards`` at every distance."""
    uniq: dict[tuple[tuple[float | None, float, float, int], ...], list[RateBand]] = {}
    for c in cards:
        uniq.setdefault(tuple((b.max_km, b.base, b.per_kg, b.transit_days) for b in c), c)
    if len(uniq) == 1:
        return list(next(iter(uniq.values())))
    points = sorted({math.inf if b.max_km is None else b.max_km for c in cards for b in c})
    out: list[RateBand] = []
    for p in points:
        best: tuple[float, float, int] | None = None
        for c in cards:
            band = next((b for b in c if b.max_km is None or p <= b.max_km), None)
            if band is None:
                continue
            cand = (band.base, band.per_kg, band.transit_days)
            best = (
                cand
                if best is None
                else (min(best[0], cand[0]), min(best[1], cand[1]), min(best[2], cand[2]))
            )
        if best is None:
            break
        out.append(
            RateBand.model_construct(
                max_km=None if p == math.inf else p,
                base=best[0],
                per_kg=best[1],
                transit_days=best[2],
            )
        )
    return out


def build_hindsight(scenario: Scenario, net: BuiltNetwork, seed: int) -> HindsightProblem:
    """The relaxed whole-horizon problem of one seed (see the module docstring).

    Refuses scenarios that rebalance: transfers planned from the run's own stock move
    units the bound does not model (the scenario validator refuses the pair too; this
    holds for callers that go around it)."""
    if scenario.rebalance is not None:
        raise ValueError("the hindsight bound does not model rebalancing transfers")
    st = SimState(scenario, net)  # only to replay the dated changes
    days = scenario.days
    n_nodes = len(net.nodes)
    stock = st.on_hand - st.reserved
    min_safety = st.safety.copy()
    changes = sorted(scenario.changes, key=lambda c: c.day)
    ever_enabled = np.zeros(n_nodes, dtype=bool)
    ever_ship = np.zeros(n_nodes, dtype=bool)
    ocap = np.zeros(n_nodes, dtype=np.int64)
    ucap = np.zeros(n_nodes, dtype=np.int64)
    cards: list[list[RateBand]] = []
    node_lat = np.array([n.lat for n in net.nodes])
    node_lon = np.array([n.lon for n in net.nodes])
    can_pickup = np.array([n.pickup for n in net.nodes], dtype=bool)
    is_store = net.is_store
    ret_delay = scenario.demand.returns.delay_days
    rules: list[tuple[np.ndarray, np.ndarray]] = []
    safety_by_day: list[IntArray] = []  # prefix minimum of the safety stock
    safety_now: list[IntArray] = []  # the safety stock of each day
    day_ocap = np.zeros((days, n_nodes), dtype=np.int64)
    day_ucap = np.zeros((days, n_nodes), dtype=np.int64)
    from router.inventory.protection import protection_level, walkin_rates

    prot = scenario.protection
    for day in range(days):
        if prot is not None and day == prot.day:  # as the engine does, before the changes
            rates = walkin_rates(net, scenario.demand.walkins_per_store) * prot.cover_days
            level = protection_level(rates, prot.service_level)
            st.safety[st.is_store] = level[st.is_store]
        for ch in changes:
            if ch.day == day:
                st.apply(ch)
        np.minimum(min_safety, st.safety, out=min_safety)
        safety_by_day.append(min_safety.copy())
        safety_now.append(st.safety.copy())
        day_ocap[day] = np.where(st.enabled, st.order_cap, 0)
        day_ucap[day] = np.where(st.enabled, st.unit_cap, 0)
        enabled = st.enabled
        ship = np.array([n.can_ship for n in st.nodes], dtype=bool)
        rules.append((enabled.copy(), ship.copy()))
        ever_enabled |= enabled
        ever_ship |= ship & enabled
        ocap = np.where(enabled, np.minimum(ocap + st.order_cap, UNLIMITED), ocap)
        ucap = np.where(enabled, np.minimum(ucap + st.unit_cap, UNLIMITED), ucap)
        cards.append(st.rates)

    stock0 = stock.copy()
    arrivals: dict[int, IntArray] = {}  # day → units arriving that day (at most)

    def arriving(day: int) -> IntArray:
        if day not in arrivals:
            arrivals[day] = np.zeros(stock.shape, dtype=np.int64)
        return arrivals[day]

    rec = receipt_plan(net, scenario)
    for rday, qty in rec.items():
        stock = stock + qty
        arriving(rday)[:] += qty
    spec = scenario.replenishment.store
    targets = store_targets(net, scenario)
    transfer_days: list[int] = []
    ordered_days: list[int] = []
    if spec is not None:
        for sent in receipt_days(spec, days):
            if sent + spec.lead_days < days:
                stock = stock + targets
                arriving(sent + spec.lead_days)[:] += targets
                transfer_days.append(sent + spec.lead_days)
                ordered_days.append(sent)
    ret_day_l: list[int] = []  # returns: (day, node, sku, qty) per returned line
    ret_node_l: list[int] = []
    ret_min_l: list[float] = []
    ret_sku_l: list[int] = []
    ret_qty_l: list[int] = []

    orders: list[Order] = []
    order_day: list[int] = []
    ordered = np.zeros((days, stock0.shape[1]), dtype=np.int64)  # units per (day, sku)
    order_minute: list[float] = []
    node_ids, sku_ids = net.node_ids, net.sku_ids
    for day in range(days):
        enabled, ship = rules[day]
        pickup_ok = enabled & can_pickup
        closed = [node_ids[i] for i in np.flatnonzero(~enabled).tolist()]
        no_ship = np.flatnonzero(enabled & ~ship & ever_ship).tolist()
        d = day_orders(net, scenario.demand, seed, day)
        np.add.at(ordered[day], d.sku[d.sku >= 0], d.qty[d.sku >= 0])
        ret_day = day + ret_delay
        ret_stores = (
            rules[ret_day][0] & is_store if ret_day < days else np.zeros(n_nodes, dtype=bool)
        )
        for k in range(len(d)):
            nl = int(d.n_lines[k])
            skus, qtys = d.sku[k, :nl].tolist(), d.qty[k, :nl].tolist()
            lines = [
                Line.model_construct(sku=sku_ids[s], qty=q) for s, q in zip(skus, qtys, strict=True)
            ]
            promise = int(d.promise[k]) or None
            if d.pickup[k]:
                pn = redirect_pickup(node_lat, node_lon, pickup_ok, int(d.pickup_node[k]))
                excl = closed + [node_ids[i] for i in no_ship if i != pn]
                if node_ids[pn] in closed:
                    excl = [x for x in excl if x != node_ids[pn]]  # dead anyway: disabled
                order = Order.model_construct(
                    id=d.order_id(k),
                    method="pickup",
                    lat=None,
                    lon=None,
                    pickup_node=node_ids[pn],
                    lines=lines,
                    allow_split=bool(d.allow_split[k]),
                    allow_transfer=bool(d.allow_transfer[k]),
                    deliver_within_days=promise,
                    excluded_nodes=excl,
                )
                lat, lon = float(node_lat[pn]), float(node_lon[pn])
                pn_closed = not enabled[pn]
            else:
                order = Order.model_construct(
                    id=d.order_id(k),
                    method="ship",
                    lat=float(d.lat[k]),
                    lon=float(d.lon[k]),
                    pickup_node=None,
                    lines=lines,
                    allow_split=bool(d.allow_split[k]),
                    allow_transfer=True,
                    deliver_within_days=promise,
                    excluded_nodes=closed + [node_ids[i] for i in no_ship],
                )
                lat, lon = float(d.lat[k]), float(d.lon[k])
                pn_closed = False
            orders.append(order)
            order_day.append(day)
            order_minute.append(float(d.minute[k]))
            if d.returned[k] and ret_day < days and not pn_closed:
                r = nearest(node_lat, node_lon, ret_stores, lat, lon)
                if r >= 0:
                    np.add.at(stock[r], skus, qtys)
                    np.add.at(arriving(ret_day)[r], skus, qtys)
                    ret_day_l.extend([ret_day] * len(skus))
                    ret_min_l.extend([float(d.return_minute[k])] * len(skus))
                    ret_node_l.extend([r] * len(skus))
                    ret_sku_l.extend(skus)
                    ret_qty_l.extend(qtys)

    atp = np.maximum(stock - min_safety, 0).astype(np.int64)
    supply = np.zeros((days, *stock.shape), dtype=np.int64)
    running = stock0.astype(np.int64)
    for day in range(days):
        if day in arrivals:
            running = running + arrivals[day]
        supply[day] = np.maximum(running - safety_by_day[day], 0)
    # Between store replenishments: a store's free stock never exceeds max(target, its
    # initial free stock) plus the returns so far (see "Replenishment periods").
    period_of_day = np.full(days, -1, dtype=np.int64)
    bounds = sorted(set(transfer_days))
    period_cap = np.zeros((len(bounds), *stock.shape), dtype=np.int64)
    r_day = np.asarray(ret_day_l, dtype=np.int64)
    r_node = np.asarray(ret_node_l, dtype=np.int64)
    r_sku = np.asarray(ret_sku_l, dtype=np.int64)
    r_qty = np.asarray(ret_qty_l, dtype=np.int64)
    level = np.maximum(targets, stock0).astype(np.int64)
    for k, first_day in enumerate(bounds):
        last_day = bounds[k + 1] - 1 if k + 1 < len(bounds) else days - 1
        period_of_day[first_day : last_day + 1] = k
        cap = level - safety_by_day[last_day]
        so_far = r_day <= last_day
        np.add.at(cap, (r_node[so_far], r_sku[so_far]), r_qty[so_far])
        # only replenished (node, sku) pairs get a period row (the others: no limit here)
        period_cap[k] = np.where(targets > 0, np.maximum(cap, 0), UNLIMITED)
    shelf = shelf_windows(
        free0=stock0,
        targets=targets,
        orders_on=ordered_days,
        arrive_on=transfer_days,
        returns=(r_day, r_node, r_sku, r_qty),
        return_minute=np.asarray(ret_min_l, dtype=np.float64),
        walkins=[
            (w.minute, w.node, w.sku)
            for w in (day_walkins(net, scenario.demand, seed, d) for d in range(days))
        ],
        enabled=[rules[d][0] for d in range(days)],
        min_safety=safety_by_day,
        days=days,
    )
    nodes = [
        Node.model_construct(
            **{
                **node.model_dump(),
                "enabled": bool(ever_enabled[i]),
                "can_ship": bool(ever_ship[i]),
                "can_pickup": node.pickup,
                "order_capacity": None if ocap[i] >= UNLIMITED else int(ocap[i]),
                "unit_capacity": None if ucap[i] >= UNLIMITED else int(ucap[i]),
            }
        )
        for i, node in enumerate(net.nodes)
    ]
    ni, si = np.nonzero(atp > 0)
    inventory = [
        StockRecord.model_construct(
            node=node_ids[i], sku=sku_ids[j], on_hand=int(atp[i, j]), reserved=0, safety_stock=0
        )
        for i, j in zip(ni.tolist(), si.tolist(), strict=True)
    ]
    problem = Problem.model_construct(
        nodes=nodes,
        skus=list(net.skus),
        rates=rate_envelope(cards),
        inventory=inventory,
        orders=orders,
    )
    inflow = np.zeros((days, stock0.shape[1]), dtype=np.int64)
    inflow[0] = stock0.sum(axis=0)
    for rday, qty in rec.items():
        if rday < days:
            inflow[rday] += qty.sum(axis=0)
    np.add.at(inflow, (r_day, r_sku), r_qty)
    repl = wrows = None
    if spec is not None:
        top_ups = TopUps(
            days=days,
            order_days=receipt_days(spec, days),
            free0=stock0,
            receipts=rec,
            returns=(r_day, r_node, r_sku, r_qty),
            targets=targets,
            is_store=is_store,
            lat=node_lat,
            lon=node_lon,
            enabled=[rules[d][0] for d in range(days)],
            safety=safety_now,
            ordered=ordered,
        )
        repl, wrows = replenishment_rows(top_ups), warehouse_rows(top_ups)
    return HindsightProblem(
        problem,
        np.array(order_day, dtype=np.int64),
        atp,
        supply,
        day_ocap,
        day_ucap,
        period_of_day if bounds else None,
        period_cap if bounds else None,
        np.array(order_minute, dtype=np.float64),
        shelf if len(shelf) else None,
        np.cumsum(inflow, axis=0),
        repl if repl is not None and len(repl) else None,
        wrows if wrows is not None and len(wrows) else None,
    )


def decoupled_bound(hp: HindsightProblem) -> tuple[float, list[float]]:
    """Σ over orders of each order's least cost alone against all the relaxed stock and no
    capacity limit: a weaker but valid bound (it also relaxes the sharing of stock)."""
    p = hp.problem
    empty = Problem.model_construct(
        nodes=p.nodes, skus=p.skus, rates=p.rates, inventory=[], orders=[]
    )
    data = ProblemData.from_problem(empty)
    router = SingleOrderRouter(data)
    unlimited = np.full(data.num_nodes, UNLIMITED, dtype=np.int64)
    idx = data.sku_index
    days = int(hp.order_day.max()) + 1 if hp.order_day.size else 0
    per_day = [0.0] * days
    for order, day in zip(p.orders, hp.order_day.tolist(), strict=True):
        skus = np.array([idx[ln.sku] for ln in order.lines], dtype=np.int64)
        res = router.route(order, hp.atp[:, skus], unlimited, unlimited)
        per_day[day] += res.bound
    return sum(per_day), per_day


def hindsight_bound(
    scenario: Scenario,
    net: BuiltNetwork,
    seed: int,
    status: Callable[[str], None] | None = None,
) -> HindsightBound:
    """The hindsight bound of one seed (see the module docstring); ``status(text)`` says
    which bound is being computed (and, for the pattern bound, each round's values)."""
    say = status if status is not None else (lambda text: None)
    start = time.perf_counter()
    say("hindsight bound")
    hp = build_hindsight(scenario, net, seed)
    days = scenario.days
    n = len(hp.problem.orders)
    spec = scenario.hindsight
    bound: float | None = None
    per_day = [0.0] * days
    method = "lp"
    if n <= spec.max_orders:
        data = ProblemData.from_problem(hp.problem)
        res = optimize(data, SolveParams(time_limit=spec.time_limit_s, threads=1))
        if res.bound is not None and math.isfinite(res.bound):
            bound = float(res.bound)
            costs = np.zeros(days)
            for op, day in zip(res.plan.orders, hp.order_day.tolist(), strict=True):
                costs[day] += op.cost.total if op.cost is not None else 0.0
            share = costs / costs.sum() if costs.sum() > 0 else np.full(days, 1.0 / days)
            per_day = (share * bound).tolist()
        if bound is None or res.status != "optimal":
            # A weak (Lagrangian) or missing bound: the decoupled one may be better.
            loose, loose_days = decoupled_bound(hp)
            if bound is None or loose > bound:
                bound, per_day, method = loose, loose_days, "decoupled"
        timed = timed_bound(hp, data, spec.time_limit_s)
        if timed is not None and (bound is None or timed[0] > bound):
            bound, per_day = timed
            method = "timed"
        if spec.strong_time_limit_s > 0:
            say("strong time-indexed LP")
            strong = timed_bound(hp, data, spec.strong_time_limit_s, strong=True)
            if strong is not None and (bound is None or strong[0] > bound):
                bound, per_day = strong
                method = "strong"
        if spec.patterns_time_limit_s > 0:
            say("pattern bound")

            def rounds(k: int, low: float, lp: float) -> None:
                say(f"pattern bound round {k}: {low:,.0f} ≤ bound ≤ {lp:,.0f}")

            pat = patterns_bound(hp, data, spec.patterns_time_limit_s, progress=rounds)
            if pat is not None and (bound is None or pat[0].bound > bound):
                bound, per_day = pat[0].bound, pat[1]
                method = "patterns"
    else:
        method = "decoupled"
        bound, per_day = decoupled_bound(hp)
    per_day = per_day + [0.0] * (days - len(per_day))
    assert bound is not None
    return HindsightBound(bound, method, per_day, time.perf_counter() - start, n)


TIMED_METHOD = "highs"
STRONG_EPS = 1e-4
"""PDLP's tolerance for the strong LP: its duals only need to be good, not exact, as the
bound is their Lagrangian value (valid for any duals)."""
TIMED_MAX_ARCS = 3_000_000
"""Above this many (order, node, line) flows the time-indexed LP is not attempted."""


Form = Literal["weak", "strong", "patterns"]
"""How :func:`timed_lp` keeps shipments: ``weak``, only orders that may not split have a
``y``; ``strong``, every multi-line order too; ``patterns``, every pair has a ``y`` and
the rows inside one order (its lines, its links, one shipment) are left out: they belong
to the order's patterns (:mod:`router.pattern_bound`)."""


@dataclass(frozen=True, eq=False)
class TimedLP:
    """The time-indexed LP ``min cost·v, A_ub v ≤ b_ub, A_eq v = qty, 0 ≤ v ≤ ub`` over
    ``v = [x (arcs), u (lines), stock carries, y (ship_pairs), network carries]``;
    ``cand`` holds its arcs with their dated capacity."""

    days: int
    cand: Candidates
    day_a: IntArray
    ship_pairs: IntArray
    cost: FloatArray
    A_ub: sp.csr_matrix
    b_ub: FloatArray
    A_eq: sp.csr_matrix
    qty: FloatArray
    ub: FloatArray
    xo: int
    uo: int
    co: int
    yo: int
    po: int


def timed_bound(
    hp: HindsightProblem, data: ProblemData, time_limit: float, strong: bool = False
) -> tuple[float, list[float]] | None:
    """The time-indexed LP bound (see the module docstring) and its split by day; None
    when it is not available (no dated data, too large, or not solved in ``time_limit``).
    ``strong``: every multi-line order keeps its shipments, solved by PDLP.

    The value returned is the Lagrangian value of the LP's dual solution, recomputed here
    with every variable bounded, so solver tolerances cannot push it above the optimum.
    """
    start = time.perf_counter()
    lp = timed_lp(hp, data, "strong" if strong else "weak")
    if lp is None:
        return None
    days = lp.days
    cost, A_ub, b_ub, A_eq, qty, ub = lp.cost, lp.A_ub, lp.b_ub, lp.A_eq, lp.qty, lp.ub
    xo, uo, co, yo, po = lp.xo, lp.uo, lp.co, lp.yo, lp.po
    left = time_limit - (time.perf_counter() - start)
    if left <= 0:
        return None
    sol = _solve_lp(cost, A_ub, b_ub, A_eq, qty, ub, left, pdlp=strong)
    if sol is None:
        return None
    x, lam_ub, lam_eq = sol
    reduced = cost - A_ub.T @ lam_ub - A_eq.T @ lam_eq
    value = float(b_ub @ lam_ub + qty @ lam_eq + np.minimum(reduced * ub, 0.0).sum())
    if not math.isfinite(value):
        return None
    day_cost = np.bincount(lp.day_a, weights=cost[xo:uo] * x[xo:uo], minlength=days)
    line_day = hp.order_day[data.line_order]
    day_cost += np.bincount(line_day, weights=cost[uo:co] * x[uo:co], minlength=days)
    y_day = hp.order_day[lp.cand.pair_order[lp.ship_pairs]]
    day_cost += np.bincount(y_day, weights=cost[yo:po] * x[yo:po], minlength=days)
    total = day_cost.sum()
    share = day_cost / total if total > 0 else np.full(days, 1.0 / days)
    return value, (share * value).tolist()


PATTERNS_MAX_ARCS = 12_000_000
"""Above this many flows the pattern bound is not attempted (the US season has 8.1 M)."""


def patterns_bound(
    hp: HindsightProblem,
    data: ProblemData,
    time_limit: float,
    progress: Callable[[int, float, float], None] | None = None,
) -> tuple[PatternBound, list[float]] | None:
    """The time-indexed problem with whole shipments, bounded by Dantzig–Wolfe column
    generation (:mod:`router.pattern_bound`), and the bound's split by day; None when it
    is not available. Its coupling rows are the time-indexed LP's; each order's own rows
    (its lines, one shipment per pair, at most one shipment if it may not split) are
    kept whole inside its patterns, so every policy's plan is still feasible."""
    start = time.perf_counter()
    lp = timed_lp(hp, data, "patterns", max_arcs=PATTERNS_MAX_ARCS)
    if lp is None:
        return None
    assert hp.day_ucap is not None  # timed_lp needs it
    A = lp.A_ub.tocsc()
    carries = sp.hstack([A[:, lp.co : lp.yo], A[:, lp.po :]], format="csc")
    carry_ub = np.concatenate([lp.ub[lp.co : lp.yo], lp.ub[lp.po :]])
    day_p = hp.order_day[lp.cand.pair_order]
    pair_units = np.minimum(hp.day_ucap[day_p, lp.cand.pair_node], UNLIMITED)
    res = pattern_bound(
        data,
        lp.cand,
        A[:, lp.xo : lp.uo],
        A[:, lp.yo : lp.po],
        carries,
        carry_ub,
        lp.b_ub,
        pair_units,
        time_limit - (time.perf_counter() - start),
        progress=progress,
    )
    if res is None or not math.isfinite(res.bound):
        return None
    days = lp.days
    day_cost = np.bincount(hp.order_day, weights=res.order_cost, minlength=days)
    total = day_cost.sum()
    share = day_cost / total if total > 0 else np.full(days, 1.0 / days)
    return res, (share * res.bound).tolist()


def timed_lp(
    hp: HindsightProblem, data: ProblemData, form: Form, max_arcs: int = TIMED_MAX_ARCS
) -> TimedLP | None:
    """The time-indexed LP of ``form`` (see the module docstring); None without dated
    data, without orders or above ``max_arcs`` flows."""
    supply, ocap_d, ucap_d = hp.supply, hp.day_ocap, hp.day_ucap
    if supply is None or ocap_d is None or ucap_d is None or data.num_orders == 0:
        return None
    days = supply.shape[0]
    cand = build_candidates(data)  # pooled pruning: a superset of every day's candidates
    if cand.num_arcs > max_arcs:
        return None
    day_p = hp.order_day[cand.pair_order]
    open_p = (ocap_d[day_p, cand.pair_node] > 0) & (ucap_d[day_p, cand.pair_node] > 0)
    day_a = day_p[cand.arc_pair]
    sku_a = data.line_sku[cand.arc_line]
    cap_a = np.minimum(cand.arc_cap, supply[day_a, cand.arc_node(), sku_a])
    cand = cand.subset(open_p, cap_a > 0)
    P, A, L = cand.num_pairs, cand.num_arcs, data.num_lines
    day_p = hp.order_day[cand.pair_order]
    day_a = day_p[cand.arc_pair]
    node_a = cand.arc_node()
    sku_a = data.line_sku[cand.arc_line]
    cap_a = np.minimum(cand.arc_cap, supply[day_a, node_a, sku_a]).astype(np.float64)

    # Stock groups (node, sku) whose candidates could exceed what has arrived by the
    # first day they are used; each gets one carry variable per day from that day on.
    S = data.num_skus
    stock_c = _carry(node_a * S + sku_a, day_a, cap_a, lambda k: supply[:, k // S, k % S].T, days)
    C = stock_c.size
    # The same per sku over the whole network: store transfers only move units
    pool_c = (
        _carry(sku_a, day_a, cap_a, lambda k: hp.pool[:, k].T, days)  # type: ignore[index]
        if hp.pool is not None
        else _carry(sku_a[:0], day_a[:0], cap_a[:0], lambda k: np.zeros((k.size, days)), days)
    )
    # y_p ≥ x_a / cap_a for each arc of p implies y_p ≥ Σ_a x_a / K_p (K_p = Σ_a cap_a):
    # y is replaced by that lower estimate, so the LP keeps only unit flows.
    K = np.bincount(cand.arc_pair, weights=cap_a, minlength=P)
    share_a = 1.0 / K[cand.arc_pair]
    # Orders that may not split keep their shipments: y_p ∈ [0, 1] with x_a ≤ cap_a y_p and
    # Σ_p y_p ≤ 1 (else the estimate above would let them split for free); in the strong
    # LP every multi-line order does (a single-line pair has one arc: the estimate is exact).
    split_p = data.order_allow_split[cand.pair_order]
    ns_p = ~split_p
    if form == "strong":
        lines_o = np.bincount(data.line_order, minlength=data.num_orders)
        ns_p = ns_p | (lines_o[cand.pair_order] > 1)
    elif form == "patterns":
        ns_p = np.ones(P, dtype=bool)
    ns_pairs = np.flatnonzero(ns_p)
    Y = ns_pairs.size
    y_of_pair = np.full(P, -1, dtype=np.int64)
    y_of_pair[ns_pairs] = np.arange(Y)
    ns_a = ns_p[cand.arc_pair]
    share_a = np.where(ns_a, 0.0, share_a)
    xo, uo, co = 0, A, A + L
    yo = co + C
    po = yo + Y
    n_var = po + pool_c.size

    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    rhs: list[FloatArray] = []
    n_rows = 0

    def add(r: IntArray, c: IntArray, v: FloatArray, b: FloatArray) -> None:
        nonlocal n_rows
        rows.append(r + n_rows)
        cols.append(c)
        vals.append(v)
        rhs.append(b)
        n_rows += b.size

    ar = np.arange(A)
    # cumulative stock, as a carry: X[g, t] + c[g, t] − c[g, t−1] ≤ cum[g, t] − cum[g, t−1]
    for block, at in ((stock_c, co), (pool_c, po)):
        add(
            np.concatenate([block.arc_row, np.arange(block.size), block.prev]),
            np.concatenate([xo + block.arcs, at + np.arange(block.size), at + block.prev - 1]),
            np.concatenate(
                [np.ones(block.arcs.size), np.ones(block.size), -np.ones(block.prev.size)]
            ),
            block.arrive,
        )

    def limit(
        group: IntArray, used: FloatArray, lim: IntArray, col: IntArray, coef: FloatArray
    ) -> None:
        """``Σ coef_j v_j ≤ lim`` per group over variables ``col``, where they could
        exceed it (``used``: the most each can contribute)."""
        k, iv = np.unique(group, return_inverse=True)
        lk = lim[k]
        b = np.bincount(iv, weights=used, minlength=k.size) > lk
        rid = np.cumsum(b) - 1
        s_ = b[iv] & (coef > 0)
        add(rid[iv[s_]], col[s_], coef[s_], lk[b].astype(np.float64))

    N = data.num_nodes
    y_day = hp.order_day[cand.pair_order[ns_pairs]]
    y_node = cand.pair_node[ns_pairs]
    # shipments per node and day: the split orders' estimate plus the others' y
    limit(
        np.concatenate([day_a * N + node_a, y_day * N + y_node]),
        np.concatenate([cap_a * share_a, np.ones(Y)]),
        ocap_d.ravel(),
        np.concatenate([xo + ar, yo + np.arange(Y)]),
        np.concatenate([share_a, np.ones(Y)]),
    )
    limit(day_a * N + node_a, cap_a, ucap_d.ravel(), xo + ar, np.ones(A))
    if hp.period_of_day is not None and hp.period_cap is not None:
        per_a = hp.period_of_day[day_a]
        on = per_a >= 0
        n_periods = hp.period_cap.shape[0]
        key_a = np.where(
            on, (per_a * N + node_a) * data.num_skus + sku_a, n_periods * N * data.num_skus
        )
        caps = np.concatenate([hp.period_cap.ravel(), [np.iinfo(np.int64).max // 4]])
        limit(key_a, cap_a * on, caps, xo + ar, on.astype(np.float64))
    if hp.replenishment is not None:
        r_row, r_arc, r_val, r_rhs = replenishment_arc_rows(
            hp.replenishment, day_a, node_a, sku_a, cap_a
        )
        add(r_row, xo + r_arc, r_val, r_rhs)
    if hp.warehouse_rows is not None:
        r_row, r_arc, r_val, r_rhs = warehouse_arc_rows(
            hp.warehouse_rows, day_a, node_a, sku_a, cap_a, data.num_skus
        )
        add(r_row, xo + r_arc, r_val, r_rhs)
    if hp.shelf is not None and hp.order_minute is not None:
        order_a = cand.pair_order[cand.arc_pair]
        time_a = day_a * MINUTES_PER_DAY + hp.order_minute[order_a]
        w_row, w_arc, w_rhs = window_rows(hp.shelf, node_a, sku_a, time_a, cap_a, data.num_skus)
        add(w_row, xo + w_arc, np.ones(w_arc.size), w_rhs)
    if Y and form != "patterns":
        # one shipment per order: Σ_p y_p ≤ 1
        one = np.flatnonzero(~split_p[ns_pairs])
        if one.size:
            uo_, yi = np.unique(cand.pair_order[ns_pairs[one]], return_inverse=True)
            add(yi, yo + one, np.ones(one.size), np.ones(uo_.size))
        # link: x_a − cap_a y_p ≤ 0
        na = np.flatnonzero(ns_a)
        k = np.arange(na.size)
        add(
            np.concatenate([k, k]),
            np.concatenate([xo + na, yo + y_of_pair[cand.arc_pair[na]]]),
            np.concatenate([np.ones(na.size), -cap_a[na]]),
            np.zeros(na.size),
        )

    A_ub = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_var),
    )
    b_ub = np.concatenate(rhs)
    line_pos = np.arange(L)
    A_eq = sp.csr_matrix(
        (
            np.ones(A + L),
            (np.concatenate([cand.arc_line, line_pos]), np.concatenate([xo + ar, uo + line_pos])),
        ),
        shape=(L, n_var),
    )
    qty = data.line_qty.astype(np.float64)
    fixed_a = cand.pair_fixed[cand.arc_pair] * share_a
    cost = np.concatenate(
        [
            cand.arc_unit + fixed_a,
            data.sku_penalty[data.line_sku],
            np.zeros(C),
            cand.pair_fixed[ns_pairs],
            np.zeros(pool_c.size),
        ]
    )
    ub = np.concatenate([cap_a, qty, stock_c.ub, np.ones(Y), pool_c.ub])
    cand = dataclasses.replace(cand, arc_cap=cap_a.astype(np.int64))
    return TimedLP(days, cand, day_a, ns_pairs, cost, A_ub, b_ub, A_eq, qty, ub, xo, uo, co, yo, po)


@dataclass(frozen=True, eq=False)
class _Carry:
    """Cumulative-supply rows of :func:`timed_bound` as carries: for each group whose
    arcs could exceed what has arrived by its first day, ``c[g, t]`` (the units arrived
    by day t and not used by then) from that day on, and ``X[g, t] + c[g, t] − c[g, t−1]
    ≤ cum[g, t] − cum[g, t−1]``. Row k of the block is carry k's."""

    arcs: IntArray  # arcs in a binding group
    arc_row: IntArray  # their row
    prev: IntArray  # carries with a previous day in their group
    arrive: FloatArray  # right-hand side per row
    ub: FloatArray  # upper bound per carry (its cumulative supply)

    @property
    def size(self) -> int:
        return int(self.ub.size)


def _carry(
    key_a: IntArray,
    day_a: IntArray,
    cap_a: FloatArray,
    cum_of: Callable[[IntArray], np.ndarray],
    days: int,
) -> _Carry:
    """The carry block over groups ``key_a`` (per arc); ``cum_of(keys)`` gives each key's
    cumulative supply by day, (keys, days)."""
    keys, inv = np.unique(key_a, return_inverse=True)
    inv = inv.ravel()
    first = np.full(keys.size, days, dtype=np.int64)
    np.minimum.at(first, inv, day_a)
    cum_all = np.asarray(cum_of(keys), dtype=np.float64).reshape(keys.size, days)
    total = np.bincount(inv, weights=cap_a, minlength=keys.size)
    bind = total > cum_all[np.arange(keys.size), np.minimum(first, days - 1)]
    gid = np.cumsum(bind) - 1
    G = int(bind.sum())
    g_first = first[bind]
    cum = cum_all[bind]  # (G, days)
    c_count = days - g_first
    c_start = np.cumsum(c_count) - c_count
    C = int(c_count.sum())
    c_g = np.repeat(np.arange(G), c_count)
    c_t = np.arange(C) - np.repeat(c_start, c_count) + np.repeat(g_first, c_count)
    sel = np.flatnonzero(bind[inv])
    arc_row = c_start[gid[inv[sel]]] + (day_a[sel] - g_first[gid[inv[sel]]])
    later = c_t > np.repeat(g_first, c_count)
    arrive = cum[c_g, c_t] - np.where(later, cum[c_g, np.maximum(c_t - 1, 0)], 0.0)
    return _Carry(sel, arc_row, np.flatnonzero(later), arrive, cum[c_g, c_t])


def _solve_lp(
    cost: FloatArray,
    A_ub: sp.csr_matrix,
    b_ub: FloatArray,
    A_eq: sp.csr_matrix,
    b_eq: FloatArray,
    ub: FloatArray,
    time_limit: float,
    pdlp: bool,
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """``min cost·x, A_ub x ≤ b_ub, A_eq x = b_eq, 0 ≤ x ≤ ub``: the primal and the duals
    of the ≤ rows (clipped to ≤ 0) and of the = rows; None when there is no solution.
    ``pdlp``: OR-Tools' PDLP to :data:`STRONG_EPS` (a first-order method: on the VN season
    several times faster than HiGHS' simplex once multi-line orders have their
    shipments), else HiGHS' simplex (scipy) to optimality."""
    if not pdlp:
        from scipy.optimize import linprog

        res = linprog(
            cost,
            A_ub=A_ub,
            b_ub=b_ub,
            A_eq=A_eq,
            b_eq=b_eq,
            bounds=np.column_stack([np.zeros(cost.size), ub]),
            method=TIMED_METHOD,
            options={"time_limit": time_limit, "presolve": True},
        )
        if res.status != 0 or res.x is None:
            return None
        lam = np.minimum(np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
        return np.asarray(res.x, dtype=np.float64), lam, np.asarray(res.eqlin.marginals)
    from ortools.linear_solver.python import model_builder_helper as mbh

    n_ub = A_ub.shape[0]
    model: Any = mbh.ModelBuilderHelper()  # its stubs mistype numpy arrays
    model.fill_model_from_sparse_data(
        np.zeros(cost.size),
        ub,
        cost,
        np.concatenate([np.full(n_ub, -np.inf), b_eq]),
        np.concatenate([b_ub, b_eq]),
        sp.vstack([A_ub, A_eq]).tocsr(),
    )
    solver = mbh.ModelSolverHelper("pdlp")
    solver.set_time_limit_in_seconds(max(time_limit, 0.1))
    solver.set_solver_specific_parameters(
        "termination_criteria { simple_optimality_criteria { "
        f"eps_optimal_relative: {STRONG_EPS} eps_optimal_absolute: {STRONG_EPS} }} }}"
    )
    solver.solve(model)
    if not solver.has_solution():
        return None
    y = np.asarray(solver.dual_values(), dtype=np.float64)
    x = np.asarray(solver.variable_values(), dtype=np.float64)
    return x, np.minimum(y[:n_ub], 0.0), y[n_ub:]
