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
  the store still held). Timing is relaxed: a unit arriving on day 5 may serve an order
  of day 1; walk-ins and rejections are ignored. Relaxing only lowers the optimum.
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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from models import Line, Node, Order, Problem, RateBand, StockRecord
from router.batch import optimize
from router.data import UNLIMITED, IntArray, ProblemData
from router.result import SolveParams
from router.simulation.demand import day_orders
from router.simulation.flows import (
    nearest,
    receipt_days,
    receipt_plan,
    redirect_pickup,
    store_targets,
)
from router.simulation.network import BuiltNetwork
from router.simulation.scenario import Scenario
from router.simulation.state import SimState
from router.single import SingleOrderRouter


@dataclass(frozen=True)
class HindsightBound:
    """The bound, how it was obtained (``lp``: the joint problem; ``decoupled``), the bound
    attributed to each day (in proportion to the hindsight plan's cost of that day's orders,
    so the days add up), the seconds it took and the problem's size."""

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
    """The relaxed whole-horizon problem of one seed (see the module docstring)."""
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
    for day in range(days):
        for ch in changes:
            if ch.day == day:
                st.apply(ch)
        np.minimum(min_safety, st.safety, out=min_safety)
        enabled = st.enabled
        ship = np.array([n.can_ship for n in st.nodes], dtype=bool)
        rules.append((enabled.copy(), ship.copy()))
        ever_enabled |= enabled
        ever_ship |= ship & enabled
        ocap = np.where(enabled, np.minimum(ocap + st.order_cap, UNLIMITED), ocap)
        ucap = np.where(enabled, np.minimum(ucap + st.unit_cap, UNLIMITED), ucap)
        cards.append(st.rates)

    rec = receipt_plan(net, scenario)
    for qty in rec.values():
        stock = stock + qty
    spec = scenario.replenishment.store
    if spec is not None:
        targets = store_targets(net, scenario)
        for sent in receipt_days(spec, days):
            if sent + spec.lead_days < days:
                stock = stock + targets

    orders: list[Order] = []
    order_day: list[int] = []
    node_ids, sku_ids = net.node_ids, net.sku_ids
    for day in range(days):
        enabled, ship = rules[day]
        pickup_ok = enabled & can_pickup
        closed = [node_ids[i] for i in np.flatnonzero(~enabled).tolist()]
        no_ship = np.flatnonzero(enabled & ~ship & ever_ship).tolist()
        d = day_orders(net, scenario.demand, seed, day)
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
            if d.returned[k] and ret_day < days and not pn_closed:
                r = nearest(node_lat, node_lon, ret_stores, lat, lon)
                if r >= 0:
                    np.add.at(stock[r], skus, qtys)

    atp = np.maximum(stock - min_safety, 0).astype(np.int64)
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
    return HindsightProblem(problem, np.array(order_day, dtype=np.int64), atp)


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


def hindsight_bound(scenario: Scenario, net: BuiltNetwork, seed: int) -> HindsightBound:
    """The hindsight bound of one seed (see the module docstring)."""
    start = time.perf_counter()
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
    else:
        method = "decoupled"
        bound, per_day = decoupled_bound(hp)
    per_day = per_day + [0.0] * (days - len(per_day))
    assert bound is not None
    return HindsightBound(bound, method, per_day, time.perf_counter() - start, n)
