"""The simulator policy ``inventory_aware``: myopic routing plus opportunity costs.

Each order is routed exactly (:class:`router.single.SingleOrderRouter`) by shipping +
handling + the opportunity cost of every unit it takes (:mod:`router.inventory.opportunity`),
so the last units of a node that the coming days' nearby demand needs go to a customer
only when the saving pays for what they protect. The plan itself is the contract's (real
cost).

The LP is solved on the expected demand of the scenario's own demand model
(:func:`router.inventory.forecast.from_demand_model`: the generator knows its rates) over
the next ``horizon_days`` (capped at the days left), with today's available-to-promise
plus the warehouse receipts due in that window. It is recomputed every
``recompute_hours`` of simulated time, and sooner when the available stock moved by more
than ``stock_change`` (a share, L1 over every (node, sku)) since the last solve; that is
checked at most every ``check_minutes``.

Pickups that refuse transfers can only take their store's own stock. Per (store, sku)
their expected demand is a fraction of a unit, below any stock, so the LP would price
that stock at 0, yet the last unit is often the one such a customer finds gone. So they
are left out of the LP's regional demand, and a unit at a store costs at least
``penalty × P(D ≥ atp)``, D their Poisson demand over the horizon (the chance that
taking it loses one of them). On the VN season this term is what moves the policy from
−1.8 % to −5.2 % against myopic (benchmarks/RESULTS.md).

Walk-ins share that shelf (``walkins``): they take any free unit, so a pickup is served
only when it comes among the first ``atp`` customers of both streams, and the value is
``penalty × q × P(N ≥ atp)`` (q the pickups' share of the customers, N all of them;
:func:`router.inventory.protection.own_pickup_value`) over the days to the next store
replenishment arrival, after which the store is topped up again. (Netting the LP's store
stock of the walk-ins expected in that window changed nothing measurable, ±0.1k on VN
seeds 0–1, so the LP is left as it was.)

Orders with a delivery promise are the same problem one step wider: a region's orders
promised within d days can only be served by the few nodes that deliver there that fast,
and their expected demand per (region, sku) is again a fraction of a unit. With
``protect_promises`` a unit costs at least its value to them,
``penalty × q × P(N ≥ units held by those nodes)`` summed over the (region, promise) sets
the node is in (:func:`router.inventory.protection.promise_value`), over the horizon (cut
at the season's end, like the own-pickup term's window). Unlike the LP's duals it is not
multiplied by ``weight``: it is a probability, not an expectation that undershoots, and
× 2.3 was measured 1.1 % dearer on VN. On the VN season the term moves the share of the
myopic-to-hindsight gap closed from 33.7 % to 35.9 % on the seeds the defaults were
chosen on and from 32.5 % to 35.8 % on held-out seeds (benchmarks/RESULTS.md).

Knobs under ``policy.params``:
``horizon_days`` (7), ``recompute_hours`` (24), ``stock_change`` (0.2), ``check_minutes``
(60), ``cell_deg`` (1.0: region grid), ``nearest`` (10: arcs per region),
``units_per_parcel`` (null: the demand model's mean units per order), ``weight`` (1.0:
multiplies the LP's opportunity costs and the own-pickup term), ``protect_own`` (true:
the no-transfer pickup term above), ``serve_first`` (true: the surcharge of a unit is
capped below its margin, penalty − unit cost − shipment cost / units the node can give,
:func:`router.inventory.opportunity.serve_first`, so stock is never withheld from a
customer who can be served now for an expected future one: the LP's demand is only an
expectation, and with scarce stock every unit sells anyway), ``walkins`` (true: walk-ins
share the shelf, above), ``promises`` (false: the LP's demand split by delivery promise,
each class with only the nodes that keep it; measured 0.3 % dearer on the VN season, so
off), ``protect_promises`` (true: the promise term above).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from models import Order, OrderPlan
from router.data import FloatArray, IntArray, ProblemData
from router.inventory.forecast import DemandForecast, from_demand_model, mean_units_per_order
from router.inventory.opportunity import (
    DEFAULT_NEAREST,
    OpportunityCosts,
    opportunity_costs,
    serve_first,
    unit_costs,
)
from router.inventory.protection import (
    PromiseSets,
    own_pickup_value,
    promise_sets,
    promise_value,
    protected_demand,
    set_loss,
    walkin_rates,
)
from router.simulation.flows import receipt_days, receipt_plan
from router.simulation.policies import _Left, _PerNetwork, register
from router.simulation.scenario import PolicySpec
from router.simulation.state import StateView

_KNOBS = {
    "horizon_days",
    "protect_own",
    "recompute_hours",
    "stock_change",
    "check_minutes",
    "cell_deg",
    "nearest",
    "units_per_parcel",
    "weight",
    "serve_first",
    "walkins",
    "promises",
    "protect_promises",
}


class InventoryAwarePolicy(_PerNetwork):
    """Dual-value routing (Acimovic & Graves, 2015); see the module docstring."""

    name = "inventory_aware"

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__()
        p = dict(spec.params)
        unknown = set(p) - _KNOBS
        if unknown:
            raise ValueError(f"inventory_aware: unknown params {sorted(unknown)}")
        self.wave_minutes = spec.wave_minutes or 0
        self.horizon_days = float(p.get("horizon_days", 7.0))
        self.recompute_minutes = float(p.get("recompute_hours", 24.0)) * 60.0
        self.stock_change = float(p.get("stock_change", 0.2))
        self.check_minutes = float(p.get("check_minutes", 60.0))
        self.cell_deg = float(p.get("cell_deg", 1.0))
        self.nearest = int(p.get("nearest", DEFAULT_NEAREST))
        upp = p.get("units_per_parcel")
        self.units_per_parcel: float | None = None if upp is None else float(upp)
        self.weight = float(p.get("weight", 1.0))
        self.serve_first = bool(p.get("serve_first", True))
        self.protect_own = bool(p.get("protect_own", True))
        self.walkins = bool(p.get("walkins", True))
        self.promises = bool(p.get("promises", False))
        self.protect_promises = bool(p.get("protect_promises", True))
        self._classes: tuple[tuple[int | None, float], ...] = ((None, 1.0),)
        self._promise_sets: PromiseSets | None = None
        self._sets_version = -1
        self._walkin_rate: FloatArray | None = None
        self._arrivals: list[int] = []
        self.costs: OpportunityCosts | None = None
        self.solves = 0
        self._forecast: DemandForecast | None = None
        self._receipts: dict[int, IntArray] | None = None
        self._solved_at = -np.inf
        self._checked_at = -np.inf
        self._solved_stock: IntArray | None = None
        self._solved_shelf_days = self.horizon_days
        self._solved_window = self.horizon_days
        self._season_days = np.inf
        self._network: ProblemData | None = None
        self._cost_version = -1

    # ----------------------------------------------------------------- the LP

    def _now(self, view: StateView) -> float:
        return view.day * 1440.0 + view.minute

    def _all_atp(self, view: StateView) -> IntArray:
        return view.atp(np.arange(len(view.network.sku_ids), dtype=np.int64))

    def _stale(self, view: StateView) -> bool:
        now = self._now(view)
        if (
            self.costs is None
            or view.version != self._cost_version
            or now - self._solved_at >= self.recompute_minutes
        ):
            return True
        if self.stock_change <= 0 or now - self._checked_at < self.check_minutes:
            return False
        self._checked_at = now
        assert self._solved_stock is not None
        atp = self._all_atp(view)
        moved = float(np.abs(atp - self._solved_stock).sum())
        return moved > self.stock_change * max(float(self._solved_stock.sum()), 1.0)

    def _solve(self, view: StateView) -> None:
        scenario = getattr(view, "scenario", None)
        net = getattr(view, "net", None)
        if scenario is None or net is None:
            raise RuntimeError("inventory_aware needs the simulator's state (scenario, net)")
        if self._forecast is None:
            self._forecast = from_demand_model(net, scenario.demand, self.cell_deg)
            self._classes = self._forecast.promises
            self._season_days = float(scenario.days)
            if not self.promises:
                self._forecast = dataclasses.replace(self._forecast, promises=((None, 1.0),))
            self._receipts = receipt_plan(net, scenario)
            if self.units_per_parcel is None:
                self.units_per_parcel = mean_units_per_order(scenario.demand)
            spec = scenario.replenishment.store
            if spec is not None:
                self._arrivals = [d + spec.lead_days for d in receipt_days(spec, scenario.days)]
            if self.walkins and scenario.demand.walkins_per_store > 0:
                self._walkin_rate = walkin_rates(net, scenario.demand.walkins_per_store)
        assert self._receipts is not None and self.units_per_parcel is not None
        day = view.day
        horizon = self._window(view)
        atp = self._all_atp(view)
        stock = atp.copy()
        for d, qty in self._receipts.items():
            if day < d < day + horizon:
                stock += qty
        self.costs = opportunity_costs(
            view.network, stock, self._forecast, horizon, self.units_per_parcel, self.nearest
        )
        if self.protect_promises and self._sets_version != view.version:
            # who can keep each promise depends on the network's rules only, not on stock
            _, _, ok, transit = unit_costs(view.network, self._forecast, self.units_per_parcel)
            self._promise_sets = promise_sets(ok, transit, self._forecast.rate, self._classes)
            self._sets_version = view.version
        self.solves += 1
        now = self._now(view)
        self._solved_at = self._checked_at = now
        self._solved_stock = atp
        self._solved_shelf_days = self._shelf_days(view)
        self._solved_window = self._window(view)
        self._network = view.network
        self._cost_version = view.version

    def _window(self, view: StateView) -> float:
        """The horizon from now, cut at the end of the season (no demand comes after)."""
        left = self._season_days - (view.day + view.minute / 1440.0)
        return max(min(self.horizon_days, left), 1e-3)

    def _shelf_days(self, view: StateView) -> float:
        """Days from now to the next store replenishment arrival (at most the horizon,
        cut at the season's end): the window over which a store's units are not
        replaced."""
        now = view.day + view.minute / 1440.0
        nxt = [a for a in self._arrivals if a > now]
        window = self._window(view)
        return min(window, (min(nxt) - now) if nxt else window)

    def surcharge(self, skus: IntArray) -> FloatArray:
        assert self.costs is not None
        return np.asarray(self.costs.cost[:, skus] * self.weight, dtype=np.float64)

    def _own_value(
        self, skus: IntArray, atp: IntArray, pen: FloatArray, window: float, shelf: float
    ) -> FloatArray:
        """Per-unit value of keeping a node's stock for its own pickups that refuse
        transfers (no other node can serve them): the penalty times the chance that their
        demand over the window reaches the units there now, P(D ≥ atp), D Poisson; with
        walk-ins on the shelf, over the ``shelf`` days to the next replenishment. The
        expected-demand LP cannot see it: such demand is a fraction of a unit per (node,
        sku), below any stock, so its dual is 0, yet the last unit is often the one lost."""
        own = None if self._forecast is None else self._forecast.own
        if own is None:
            return np.zeros(atp.shape)
        if self._walkin_rate is None:
            return own_pickup_value(own[:, skus], pen, atp, window) * self.weight
        value = own_pickup_value(own[:, skus], pen, atp, shelf, self._walkin_rate[:, skus])
        return value * self.weight

    def _promise_value(
        self, skus: IntArray, atp: IntArray, pen: FloatArray, window: float
    ) -> FloatArray:
        """Per-unit value of a node's stock to the promised orders that only it and the
        other nodes close enough can serve
        (:func:`router.inventory.protection.promise_value`), over the window."""
        sets = self._promise_sets
        if sets is None:
            return np.zeros(atp.shape)
        walk = None if self._walkin_rate is None else self._walkin_rate[:, skus]
        return promise_value(sets, skus, pen, atp, window, walk)

    def _own_protection(self, view: StateView, skus: IntArray, atp: IntArray) -> FloatArray:
        pen = view.network.sku_penalty[skus]
        return self._own_value(skus, atp, pen, self._window(view), self._shelf_days(view))

    def _promise_protection(self, view: StateView, skus: IntArray, atp: IntArray) -> FloatArray:
        return self._promise_value(skus, atp, view.network.sku_penalty[skus], self._window(view))

    def trace(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` dearest (node, sku) opportunity costs at the last recompute, on
        the stock of that moment, with the demand each protects: the LP's (weighted)
        regions, or the store's own pickups or the promised orders when their term set
        the cost (before the serve-first cap, which depends on the order)."""
        costs, atp, net = self.costs, self._solved_stock, self._network
        if costs is None or atp is None or net is None:
            return []
        lp = costs.cost * self.weight
        skus = np.arange(atp.shape[1], dtype=np.int64)
        pen = net.sku_penalty
        h = self._solved_window
        own = None if self._forecast is None else self._forecast.own
        own_v = np.zeros_like(lp)
        if self.protect_own:
            own_v = self._own_value(skus, atp, pen, h, self._solved_shelf_days)
        sets = self._promise_sets if self.protect_promises else None
        loss = None
        terms = own_v
        if sets is not None and len(sets):
            loss = set_loss(sets, skus, atp, h, self._walkin_rate) * pen[None, :]
            terms = np.maximum(terms, self._promise_value(skus, atp, pen, h))
        total = np.maximum(lp, terms)
        out: list[dict[str, Any]] = []
        for flat in np.argsort(-total, axis=None, kind="stable")[:limit].tolist():
            n, j = divmod(int(flat), total.shape[1])
            if total[n, j] <= 0:
                break
            if lp[n, j] >= terms[n, j]:
                protects = costs.explain(n, j)
            else:
                assert self._forecast is not None
                protects = protected_demand(
                    own if self.protect_own else None, sets, self._forecast.regions.name,
                    costs.node_ids[n], n, j, h,
                    own_value=float(own_v[n, j]),
                    set_value=None if loss is None else loss[:, j],
                )  # fmt: skip
            out.append(
                {
                    "node": costs.node_ids[n],
                    "sku": costs.sku_ids[j],
                    "opportunity_cost": float(total[n, j]),
                    "protects": protects,
                }
            )
        return out

    # ----------------------------------------------------------------- routing

    def route(self, orders: list[Order], view: StateView) -> list[OrderPlan]:
        router = self.router(view)
        if self._stale(view):
            self._solve(view)
        out = []
        left = _Left(view, router)
        for order in orders:
            skus = self.skus(order)
            atp = left.atp(skus)
            extra = self.surcharge(skus)
            if self.protect_own:
                extra = np.maximum(extra, self._own_protection(view, skus, atp))
            if self.protect_promises:
                extra = np.maximum(extra, self._promise_protection(view, skus, atp))
            if self.serve_first:
                v = router._view(order, atp, left.ships, left.units, ())
                pen = router.network.sku_penalty[skus]
                extra = serve_first(extra, v.unit, v.fixed, v.usable, pen)
            res = router.route(order, atp, left.ships, left.units, unit_surcharge=extra)
            out.append(res.plan)
            if len(orders) > 1:
                left.consume(res.plan)
        return out


def make(spec: PolicySpec) -> InventoryAwarePolicy:
    return InventoryAwarePolicy(spec)


register("inventory_aware")(make)

__all__ = ["InventoryAwarePolicy", "make"]
