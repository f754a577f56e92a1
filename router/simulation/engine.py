"""The event-driven replay: a scenario's days, seed by seed, through a routing policy.

Each day: the morning resets capacities, applies the day's changes, receives warehouse
receipts and arriving store transfers, and dispatches store replenishment; then online
orders, walk-ins and in-store returns are processed in time order (orders one by one, or
in waves for wave policies); in the evening everything reserved is picked. A routed
order's shipments are confirmed line by line by the nodes (record accuracy, see
:class:`~router.simulation.scenario.RejectionSpec`); a rejected line writes the node's
unreserved units of that sku off and the order is rerouted without that node. Every
plan is checked against the stock and capacity it uses before it is applied, so stock
never goes negative and nothing is oversold.

Demand is drawn with common random numbers (:mod:`router.simulation.demand`), so the
scenarios of :func:`simulate` see the same customers and their differences are paired.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from models import BadInput, FieldError, Line, Order, OrderPlan
from router.data import UNLIMITED, IntArray
from router.inventory.opportunity import OpportunityCosts
from router.simulation.demand import (
    DayOrders,
    day_orders,
    day_walkins,
    rejection_draw,
)
from router.simulation.flows import (
    nearest,
    receipt_days,
    receipt_plan,
    redirect_pickup,
    store_targets,
    topup_distance,
)
from router.simulation.network import BuiltNetwork, build_network
from router.simulation.policies import Policy, make_policy
from router.simulation.result import (
    KPI_NAMES,
    Interval,
    NodeVolume,
    ScenarioResult,
    SeedRun,
    SimulationResult,
)
from router.simulation.scenario import Scenario, load_scenario, validate_scenario
from router.simulation.state import SimState

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``: units of work done so far (one per simulated day and
one per hindsight bound), of ``total``, and what is running."""

OPPORTUNITY_TRACE = 10
"""Dearest (node, sku) opportunity costs kept in :attr:`SeedRun.trace`."""

COUNTERS = (
    "orders",
    "units",
    "handling",
    "shipping",
    "penalty",
    "shipments",
    "orders_shipped",
    "split_orders",
    "units_shipped",
    "distance",
    "promised",
    "promise_met",
    "sfs_shipments",
    "pickup_orders",
    "lost_online",
    "walkin_units",
    "lost_walkin",
    "rejections",
    "reroutes",
    "stale_plans",
    "transfer_units",
    "transfer_cost",
)
"""What the replay counts per day; every KPI is computed from these."""


@dataclass
class _Return:
    minute: float
    lat: float
    lon: float
    sku: list[int]
    qty: list[int]


def _ratio(a: float, b: float, empty: float = 0.0) -> float:
    return a / b if b else empty


def kpis_from(c: dict[str, float], utilization: float) -> dict[str, float]:
    """KPIs of counters summed over any period (a day or the horizon)."""
    total = c["handling"] + c["shipping"] + c["penalty"]
    return {
        "orders": c["orders"],
        "units": c["units"],
        "cost_per_order": _ratio(total, c["orders"]),
        "total_cost": total,
        "shipping_cost": c["shipping"],
        "handling_cost": c["handling"],
        "penalty_cost": c["penalty"],
        "shipments_per_order": _ratio(c["shipments"], c["orders_shipped"]),
        "split_rate": _ratio(c["split_orders"], c["orders_shipped"]),
        "units_per_shipment": _ratio(c["units_shipped"], c["shipments"]),
        "fill_rate": _ratio(c["units_shipped"], c["units"], 1.0),
        "mean_distance_km": _ratio(c["distance"], c["shipments"]),
        "promise_attainment": _ratio(c["promise_met"], c["promised"], 1.0),
        "ship_from_store_share": _ratio(c["sfs_shipments"], c["shipments"]),
        "pickup_share": _ratio(c["pickup_orders"], c["orders"]),
        "lost_units_online": c["lost_online"],
        "lost_units_walkin": c["lost_walkin"],
        "walkin_units": c["walkin_units"],
        "rejections": c["rejections"],
        "reroutes": c["reroutes"],
        "node_utilization": utilization,
        "hindsight_cost": math.nan,
        "hindsight_gap": math.nan,
        "transfer_units": c["transfer_units"],
        "transfer_cost": c["transfer_cost"],
    }


class Replay:
    """One scenario on one seed. ``check`` asserts the stock invariants after every event."""

    def __init__(self, scenario: Scenario, net: BuiltNetwork, seed: int, check: bool = False):
        self.sc, self.net, self.seed, self.check = scenario, net, seed, check
        self.state = SimState(scenario, net)
        self.policy: Policy = make_policy(scenario.policy)
        self.days = scenario.days
        n_nodes = len(net.nodes)
        self.count = {k: np.zeros(self.days) for k in COUNTERS}
        self.node_ships = np.zeros((self.days, n_nodes))
        self.node_units = np.zeros((self.days, n_nodes))
        self.node_cap = np.zeros((self.days, n_nodes))  # order capacity of capped open nodes
        self.node_ids = net.node_ids
        self.sku_ids = net.sku_ids
        self.penalty = [s.unfilled_penalty for s in net.skus]
        self.node_lat = np.array([n.lat for n in net.nodes])
        self.node_lon = np.array([n.lon for n in net.nodes])
        rej = scenario.rejections
        self.accuracy = np.where(net.is_store, rej.store_accuracy, rej.warehouse_accuracy).tolist()
        self.returns: dict[int, list[_Return]] = defaultdict(list)
        self.transfers: dict[int, list[tuple[IntArray, IntArray]]] = defaultdict(list)
        self.receipts = receipt_plan(net, scenario)
        self.targets = store_targets(net, scenario)
        self.store_days = set(receipt_days(scenario.replenishment.store, self.days))
        rb = scenario.rebalance
        self.rebalance_days = (
            set(range(rb.start_day, self.days, rb.every_days)) if rb is not None else set()
        )
        self.day = 0
        self.seconds = 0.0
        self.returned_units = 0
        self.transfer_log: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ the run

    def run(self, progress: Callable[[int], None] | None = None) -> SeedRun:
        start = time.perf_counter()
        changes: dict[int, list[Any]] = defaultdict(list)
        for ch in self.sc.changes:
            changes[ch.day].append(ch)
        for day in range(self.days):
            self.day = day
            st = self.state
            st.start_day(day)
            prot = self.sc.protection
            if prot is not None and day == prot.day:
                self._protect(prot.service_level, prot.cover_days)
            for ch in changes[day]:
                st.apply(ch)
            self._morning_stock(day)
            enabled = st.enabled
            self.node_cap[day] = np.where(
                enabled & (st.order_cap < UNLIMITED), st.order_cap, 0
            ).astype(np.float64)
            self._events(day)
            st.pick_all()
            if self.check:
                st.check()
            if progress is not None:
                progress(day + 1)
        self.seconds = time.perf_counter() - start
        return self._result()

    def _morning_stock(self, day: int) -> None:
        st = self.state
        rec = self.receipts.get(day)
        if rec is not None:
            st.on_hand += rec
        for node, (sku, qty) in enumerate_transfers(self.transfers.pop(day, [])):
            st.receive(node, sku, qty)
        spec = self.sc.replenishment.store
        if spec is not None and day in self.store_days:
            self._replenish_stores(day, spec.lead_days)
        if day in self.rebalance_days:
            self._rebalance(day)

    def _protect(self, service_level: float, cover_days: float) -> None:
        """Store protection levels (see :mod:`router.inventory.protection`)."""
        from router.inventory.protection import protection_level, walkin_rates

        rates = walkin_rates(self.net, self.sc.demand.walkins_per_store) * cover_days
        level = protection_level(rates, service_level)
        st = self.state
        st.safety[st.is_store] = level[st.is_store]

    def _rebalance(self, day: int) -> None:
        """Plan transfers from today's available stock; they leave now, arrive later."""
        from router.simulation.rebalancing import plan_transfers

        spec = self.sc.rebalance
        assert spec is not None
        st = self.state
        atp = np.maximum(st.on_hand - st.reserved - st.safety, 0)
        atp[~st.enabled] = 0
        moves = plan_transfers(self.net, self.sc, spec, st.nodes, st.rates, atp)
        c = self.count
        for t in moves:
            self.transfer_log.append(
                {
                    "day": day,
                    "from": self.node_ids[t.src],
                    "to": self.node_ids[t.dst],
                    "sku": self.sku_ids[t.sku],
                    "units": t.qty,
                    "cost": t.cost,
                    "protects": [
                        {
                            "region": p.region,
                            "expected_units": p.expected_units,
                            "days": [day + p.days[0], day + p.days[1]],
                        }
                        for p in t.protects
                    ],
                }
            )
            st.take(t.src, t.sku, t.qty)
            qty = np.zeros(st.on_hand.shape[1], dtype=np.int64)
            qty[t.sku] = t.qty
            if spec.lead_days == 0:
                st.receive(t.dst, np.array([t.sku]), np.array([t.qty]))
            else:
                self.transfers[day + spec.lead_days].append((np.array([t.dst]), qty))
            c["transfer_units"][day] += t.qty
            c["transfer_cost"][day] += t.cost

    def _replenish_stores(self, day: int, lead: int) -> None:
        """Each store orders up to its target; nearest warehouses with atp send the units."""
        st = self.state
        enabled = st.enabled
        wh = np.flatnonzero(~st.is_store & enabled)
        if wh.size == 0:
            return
        in_transit = np.zeros_like(st.on_hand)
        for d, items in self.transfers.items():
            if d > day:
                for node_arr, qty_arr in items:
                    in_transit[node_arr[0]] += qty_arr
        avail = np.maximum(st.on_hand[wh] - st.reserved[wh] - st.safety[wh], 0)
        for i in np.flatnonzero(st.is_store & enabled).tolist():
            need = self.targets[i] - (st.on_hand[i] - st.reserved[i]) - in_transit[i]
            need = np.maximum(need, 0)
            if not need.any():
                continue
            d = topup_distance(self.node_lat, self.node_lon, wh, np.array([i]))[0]
            sent = np.zeros_like(need)
            for k in np.argsort(d, kind="stable").tolist():
                take = np.minimum(need, avail[k])
                if take.any():
                    avail[k] -= take
                    st.on_hand[wh[k]] -= take
                    need -= take
                    sent += take
                if not need.any():
                    break
            if sent.any():
                if lead == 0:
                    st.on_hand[i] += sent
                else:
                    self.transfers[day + lead].append((np.array([i]), sent))

    # ------------------------------------------------------------------ events

    def _events(self, day: int) -> None:
        orders = day_orders(self.net, self.sc.demand, self.seed, day)
        walk = day_walkins(self.net, self.sc.demand, self.seed, day)
        rets = self.returns.pop(day, [])
        self.today = orders
        self._prepare(orders)
        times = np.concatenate([[r.minute for r in rets], walk.minute, orders.minute])
        kinds = np.concatenate([np.zeros(len(rets)), np.ones(len(walk)), np.full(len(orders), 2.0)])
        idx = np.concatenate([np.arange(len(rets)), np.arange(len(walk)), np.arange(len(orders))])
        seq = np.lexsort((idx, kinds, times))
        times_l, kinds_l, idx_l = times[seq].tolist(), kinds[seq].tolist(), idx[seq].tolist()
        wave = self.policy.wave_minutes
        buffer: list[int] = []
        wave_end = math.inf
        st = self.state
        c = self.count
        w_node, w_sku = walk.node.tolist(), walk.sku.tolist()
        enabled = st.enabled
        for t, kind, k in zip(times_l, kinds_l, idx_l, strict=True):
            if buffer and t >= wave_end:
                st.minute = wave_end
                self._route(buffer)
                buffer = []
            st.minute = t
            if kind == 2:
                if wave > 0:
                    if not buffer:
                        wave_end = (math.floor(t / wave) + 1) * wave
                    buffer.append(k)
                else:
                    self._route([k])
            elif kind == 1:
                n, s = w_node[k], w_sku[k]
                if not enabled[n]:
                    continue
                c["walkin_units"][day] += 1
                if st.on_hand[n, s] - st.reserved[n, s] >= 1:
                    st.on_hand[n, s] -= 1
                else:
                    c["lost_walkin"][day] += 1
            else:
                self._restock(rets[k])
            if self.check:
                st.check()
        if buffer:
            st.minute = min(wave_end, 24 * 60.0)
            self._route(buffer)

    def _restock(self, r: _Return) -> None:
        st = self.state
        stores = st.enabled & st.is_store
        n = nearest(self.node_lat, self.node_lon, stores, r.lat, r.lon)
        if n >= 0:
            st.receive(n, np.array(r.sku), np.array(r.qty))
            self.returned_units += sum(r.qty)

    def _prepare(self, d: DayOrders) -> None:
        """Per-order fields as Python lists (fast access in the hot loop)."""
        self.o_pickup = d.pickup.tolist()
        self.o_lat, self.o_lon = d.lat.tolist(), d.lon.tolist()
        self.o_pnode = d.pickup_node.tolist()
        self.o_nl = d.n_lines.tolist()
        self.o_sku, self.o_qty = d.sku.tolist(), d.qty.tolist()
        self.o_split, self.o_transfer = d.allow_split.tolist(), d.allow_transfer.tolist()
        self.o_promise = d.promise.tolist()
        self.o_ret, self.o_ret_min = d.returned.tolist(), d.return_minute.tolist()
        self.o_id = [d.order_id(k) for k in range(len(d))]
        c = self.count
        c["orders"][d.day] += len(d)
        c["units"][d.day] += float(d.qty.sum())
        c["pickup_orders"][d.day] += float(d.pickup.sum())
        c["promised"][d.day] += float((d.promise > 0).sum())

    def _order(self, k: int, excluded: tuple[str, ...]) -> Order:
        """The contract order of today's order ``k`` (trusted data: no validation)."""
        nl = self.o_nl[k]
        skus, qtys = self.o_sku[k], self.o_qty[k]
        lines = [Line.model_construct(sku=self.sku_ids[skus[j]], qty=qtys[j]) for j in range(nl)]
        promise = self.o_promise[k] or None
        if self.o_pickup[k]:
            st = self.state
            pickup_ok = st.enabled & st.network.node_can_pickup
            pn = redirect_pickup(self.node_lat, self.node_lon, pickup_ok, self.o_pnode[k])
            return Order.model_construct(
                id=self.o_id[k],
                method="pickup",
                lat=None,
                lon=None,
                pickup_node=self.node_ids[pn],
                lines=lines,
                allow_split=self.o_split[k],
                allow_transfer=self.o_transfer[k],
                deliver_within_days=promise,
                excluded_nodes=list(excluded),
            )
        return Order.model_construct(
            id=self.o_id[k],
            method="ship",
            lat=self.o_lat[k],
            lon=self.o_lon[k],
            pickup_node=None,
            lines=lines,
            allow_split=self.o_split[k],
            allow_transfer=True,
            deliver_within_days=promise,
            excluded_nodes=list(excluded),
        )

    def _route(self, batch: list[int]) -> None:
        """Route orders, confirm their shipments, reroute rejected ones, apply the rest."""
        pending: list[tuple[int, tuple[str, ...]]] = [(k, ()) for k in batch]
        limit = self.sc.rejections.max_reroutes
        for attempt in range(limit + 1):
            orders = [self._order(k, excl) for k, excl in pending]
            plans = self.policy.route(orders, self.state)
            if len(plans) != len(orders):
                raise RuntimeError(f"policy {self.policy.name} returned {len(plans)} plans")
            retry = []
            for (k, _excl), order, plan in zip(pending, orders, plans, strict=True):
                again = self._apply(k, order, plan, final=attempt == limit)
                if again is not None:
                    retry.append((k, again))
            if not retry:
                return
            self.count["reroutes"][self.day] += len(retry)
            pending = retry

    def _apply(self, k: int, order: Order, plan: OrderPlan, final: bool) -> tuple[str, ...] | None:
        """Apply one order's plan; returns the exclusions to reroute with, or None if done."""
        st, c, day = self.state, self.count, self.day
        ni, si = st.node_index, st.sku_index
        ships = [
            (ni[sh.node], [(si[ln.sku], ln.qty) for ln in sh.lines], sh) for sh in plan.shipments
        ]
        # Is the plan still valid against the stock? (A wave's plan can go stale when a
        # rejection earlier in the same wave wrote stock off.)
        stale = False
        ships_left, units_left = st.ships_left, st.units_left
        for n, lines, _ in ships:
            if ships_left[n] < 1 or units_left[n] < sum(q for _, q in lines):
                stale = True
            for s, q in lines:
                if st.on_hand[n, s] - st.reserved[n, s] - st.safety[n, s] < q:
                    stale = True
        if stale:
            c["stale_plans"][day] += 1
            if not final:
                return tuple(order.excluded_nodes)
            ships = []
        own = order.pickup_node if order.method == "pickup" else None
        rejected: set[int] = set()
        for n, lines, _ in ships:
            acc = self.accuracy[n]
            if acc >= 1.0:
                continue
            nid = self.node_ids[n]
            for s, _q in lines:
                if rejection_draw(self.seed, order.id, nid, self.sku_ids[s]) >= acc:
                    rejected.add(n)
                    # The record was wrong: the node's unreserved units are written off.
                    st.on_hand[n, s] = st.reserved[n, s]
        if rejected:
            c["rejections"][day] += len(rejected)
            if not final:
                excl = set(order.excluded_nodes)
                excl |= {self.node_ids[n] for n in rejected if self.node_ids[n] != own}
                return tuple(sorted(excl))
            ships = [x for x in ships if x[0] not in rejected]
        self._commit(k, order, ships)
        return None

    def _commit(
        self, k: int, order: Order, ships: Sequence[tuple[int, list[tuple[int, int]], Any]]
    ) -> None:
        st, c, day = self.state, self.count, self.day
        own = (
            st.node_index[order.pickup_node]
            if order.method == "pickup" and order.pickup_node
            else -1
        )
        shipped: dict[int, int] = defaultdict(int)
        hand = shipping = 0.0
        for n, lines, sh in ships:
            units = 0
            for s, q in lines:
                st.reserve(n, s, q)
                shipped[s] += q
                units += q
            st.ships_used[n] += 1
            st.units_used[n] += units
            hand += sh.cost.handling
            shipping += sh.cost.shipping
            c["distance"][day] += sh.distance_km or 0.0
            self.node_ships[day, n] += 1
            self.node_units[day, n] += units
            if n != own and st.is_store[n]:
                c["sfs_shipments"][day] += 1
        nl = self.o_nl[k]
        skus, qtys = self.o_sku[k], self.o_qty[k]
        short = 0
        penalty = 0.0
        for j in range(nl):
            gap = qtys[j] - shipped.get(skus[j], 0)
            short += gap
            penalty += gap * self.penalty[skus[j]]
        units_shipped = sum(shipped.values())
        c["handling"][day] += hand
        c["shipping"][day] += shipping
        c["penalty"][day] += penalty
        c["shipments"][day] += len(ships)
        c["units_shipped"][day] += units_shipped
        c["lost_online"][day] += short
        if ships:
            c["orders_shipped"][day] += 1
            if len(ships) > 1:
                c["split_orders"][day] += 1
        if self.o_promise[k] and short == 0:
            c["promise_met"][day] += 1
        ret_day = day + self.sc.demand.returns.delay_days
        if self.o_ret[k] and units_shipped and ret_day < self.days:
            if own >= 0:
                lat, lon = float(self.node_lat[own]), float(self.node_lon[own])
            else:
                lat, lon = self.o_lat[k], self.o_lon[k]
            self.returns[ret_day].append(
                _Return(self.o_ret_min[k], lat, lon, list(shipped), list(shipped.values()))
            )

    # ------------------------------------------------------------------ results

    def _result(self) -> SeedRun:
        c = self.count
        days = []
        util = []
        for d in range(self.days):
            capped = self.node_cap[d] > 0
            u = (
                float(np.mean(self.node_ships[d, capped] / self.node_cap[d, capped]))
                if capped.any()
                else 0.0
            )
            util.append(u)
            row = {"day": float(d)}
            row.update(kpis_from({k: float(v[d]) for k, v in c.items()}, u))
            days.append(row)
        totals = kpis_from({k: float(v.sum()) for k, v in c.items()}, float(np.mean(util)))
        ships, units, cap = self.node_ships.sum(0), self.node_units.sum(0), self.node_cap.sum(0)
        nodes = [
            NodeVolume(
                node=n.id,
                type=n.type,
                lat=float(n.lat),
                lon=float(n.lon),
                units=float(units[i]),
                shipments=float(ships[i]),
                utilization=float(ships[i] / cap[i]) if cap[i] > 0 else None,
            )
            for i, n in enumerate(self.net.nodes)
        ]
        run_stats = {
            "seconds": self.seconds,
            "stale_plans": float(c["stale_plans"].sum()),
            "orders_per_second": _ratio(float(c["orders"].sum()), self.seconds),
        }
        return SeedRun(
            seed=self.seed,
            kpis=totals,
            days=days,
            nodes=nodes,
            stats=run_stats,
            trace=self._trace(),
        )

    def _trace(self) -> dict[str, Any]:
        """:attr:`SeedRun.trace`: the transfers and the last opportunity costs, explained."""
        trace: dict[str, Any] = {}
        if self.transfer_log:
            trace["transfers"] = self.transfer_log
        costs = getattr(self.policy, "costs", None)
        if isinstance(costs, OpportunityCosts):
            explain = getattr(self.policy, "trace", None)  # with the policy's own terms
            trace["opportunity"] = (
                explain(OPPORTUNITY_TRACE) if callable(explain) else costs.trace(OPPORTUNITY_TRACE)
            )
            at = float(getattr(self.policy, "_solved_at", math.nan))
            if math.isfinite(at):
                trace["opportunity_day"] = int(at // 1440)
                trace["opportunity_minute"] = int(at % 1440)
        return trace


def enumerate_transfers(
    items: list[tuple[IntArray, IntArray]],
) -> list[tuple[int, tuple[IntArray, IntArray]]]:
    """(store, (sku indices, qty)) of arriving transfers."""
    out = []
    for node_arr, qty in items:
        sku = np.flatnonzero(qty)
        out.append((int(node_arr[0]), (sku, qty[sku])))
    return out


# ---------------------------------------------------------------------- public API


def _as_scenario(scenario: Scenario | str | Path) -> Scenario:
    if isinstance(scenario, Scenario):
        # Validated in Python: check node names against the network like a file would be.
        return validate_scenario(
            scenario.model_dump(exclude_unset=True), scenario.base_dir
        ).with_base_dir(scenario.base_dir)
    return load_scenario(scenario)


def interval(values: Sequence[float]) -> Interval:
    """Mean and Student-t 95 % interval; NaN bounds with fewer than 2 finite values."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    n = int(arr.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.975, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


def run_seed(
    scenario: Scenario,
    seed: int,
    *,
    check: bool = False,
    progress: Callable[[int], None] | None = None,
    hindsight: bool | None = None,
    status: Callable[[str], None] | None = None,
) -> SeedRun:
    """One scenario on one seed, with its hindsight bound (unless disabled);
    ``progress(days done)`` after each day, ``status(text)`` while the bound runs."""
    from router.simulation.hindsight import hindsight_bound

    net = build_network(scenario)
    replay = Replay(scenario, net, seed, check=check)
    run = replay.run(progress)
    if hindsight if hindsight is not None else scenario.hindsight.enabled:
        hb = hindsight_bound(scenario, net, seed, status=status)
        total = run.kpis["total_cost"]
        run.kpis["hindsight_cost"] = hb.bound
        run.kpis["hindsight_gap"] = _ratio(total - hb.bound, total)
        for row, part in zip(run.days, hb.per_day, strict=True):
            row["hindsight_cost"] = part
            row["hindsight_gap"] = _ratio(row["total_cost"] - part, row["total_cost"])
        run.stats.update(
            hindsight_seconds=hb.seconds,
            hindsight_joint=float(hb.method in ("lp", "timed", "strong", "patterns")),
        )
    return run


def _aggregate(scenario: Scenario, runs: list[SeedRun]) -> ScenarioResult:
    kpis = {k: interval([r.kpis[k] for r in runs]) for k in KPI_NAMES}
    nodes = []
    for i, nv in enumerate(runs[0].nodes):
        utils = [r.nodes[i].utilization for r in runs]
        nodes.append(
            NodeVolume(
                node=nv.node,
                type=nv.type,
                lat=nv.lat,
                lon=nv.lon,
                units=float(np.mean([r.nodes[i].units for r in runs])),
                shipments=float(np.mean([r.nodes[i].shipments for r in runs])),
                utilization=None
                if any(u is None for u in utils)
                else float(np.mean([u for u in utils if u is not None])),
            )
        )
    return ScenarioResult(
        name=scenario.name,
        policy=scenario.policy.kind,
        runs=runs,
        kpis=kpis,
        nodes=nodes,
        description=scenario.description,
    )


def run(
    scenario: Scenario | str | Path,
    *,
    seeds: Sequence[int] | None = None,
    progress: Progress | None = None,
    check: bool = False,
) -> ScenarioResult:
    """Replay ``scenario`` (a :class:`Scenario` or a YAML path) on its seeds (or ``seeds``).

    ``progress(done, total, label)`` is called after every simulated day and hindsight
    bound; ``check`` asserts the stock invariants after every event (for tests).
    """
    sc = _as_scenario(scenario)
    seed_list = list(seeds) if seeds is not None else sc.seed_list
    if not seed_list:
        raise BadInput([FieldError("seeds", "no seeds to run")])
    total = len(seed_list) * (sc.days + int(sc.hindsight.enabled))
    return _run_many(sc, seed_list, progress, 0, total, check)


def _run_many(
    sc: Scenario,
    seed_list: list[int],
    progress: Progress | None,
    done0: int,
    total: int,
    check: bool,
) -> ScenarioResult:
    per_seed = sc.days + int(sc.hindsight.enabled)
    runs = []
    for i, seed in enumerate(seed_list):
        base = done0 + i * per_seed

        def tick(day: int, base: int = base, seed: int = seed) -> None:
            if progress is not None:
                progress(base + day, total, f"{sc.name} seed {seed} day {day}/{sc.days}")

        def stage(text: str, base: int = base, seed: int = seed) -> None:
            if progress is not None:
                progress(base + sc.days, total, f"{sc.name} seed {seed} {text}")

        r = run_seed(sc, seed, check=check, progress=tick, status=stage)
        if progress is not None:
            progress(base + per_seed, total, f"{sc.name} seed {seed} done")
        runs.append(r)
    return _aggregate(sc, runs)


def simulate(
    scenarios: Sequence[Scenario | str | Path],
    *,
    seeds: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Scenarios on the same seeds (the first scenario's, unless ``seeds``), with paired
    differences of every KPI against the first and their Student-t 95 % intervals."""
    scs = [_as_scenario(s) for s in scenarios]
    if not scs:
        raise ValueError("simulate needs at least one scenario")
    names = [s.name for s in scs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput([FieldError("name", f"two scenarios are named {n!r}") for n in dupes])
    seed_list = list(seeds) if seeds is not None else scs[0].seed_list
    total = sum(len(seed_list) * (s.days + int(s.hindsight.enabled)) for s in scs)
    results, done = [], 0
    for sc in scs:
        results.append(_run_many(sc, seed_list, progress, done, total, False))
        done += len(seed_list) * (sc.days + int(sc.hindsight.enabled))
    base = results[0]
    paired: dict[str, dict[str, Interval]] = {}
    for res in results[1:]:
        paired[res.name] = {
            k: interval([r.kpis[k] - b.kpis[k] for r, b in zip(res.runs, base.runs, strict=True)])
            for k in KPI_NAMES
        }
    return SimulationResult(
        scenarios=results,
        seeds=seed_list,
        days=scs[0].days,
        paired=paired,
        meta={"policies": {r.name: r.policy for r in results}},
    )
