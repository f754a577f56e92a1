"""Routing policies: one interface, registered by name, chosen by ``policy.kind``.

A policy turns a list of arriving orders into contract plans against the state it is
shown (stock, capacity left today, the network's current rules). ``wave_minutes = 0``
means each order is routed as it arrives; otherwise the engine collects orders for that
many minutes and hands them over together. Plans must be valid against the view (the
engine checks every unit); an order's ``excluded_nodes`` include the nodes that already
rejected it.

Registered here: ``rule_based`` (nearest node that fills the whole order, else line by line
from the nearest: what commerce platforms do by default), ``myopic`` (each order optimally
as it arrives, :class:`router.single.SingleOrderRouter`) and ``batch`` (waves optimized
together by :func:`router.optimize`). Another module registers more with
:func:`register` (issue 5's ``inventory_aware``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from models import Order, OrderPlan, Problem, Sku, StockRecord
from router.batch import optimize
from router.data import UNLIMITED, ProblemData
from router.result import SolveParams
from router.simulation.scenario import PolicySpec
from router.simulation.state import StateView
from router.single import SingleOrderRouter


class Policy(Protocol):
    """A routing policy of the simulator."""

    name: str
    wave_minutes: int  # 0: each order as it arrives

    def route(self, orders: list[Order], view: StateView) -> list[OrderPlan]:
        """One plan per order, in order, valid against ``view``."""
        ...


PolicyFactory = Callable[[PolicySpec], Policy]
POLICIES: dict[str, PolicyFactory] = {}
"""Name → factory; a scenario's ``policy.kind`` must be one of these."""


def register(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: make a policy available to scenarios as ``policy.kind: name``."""

    def deco(factory: PolicyFactory) -> PolicyFactory:
        POLICIES[name] = factory
        return factory

    return deco


def make_policy(spec: PolicySpec) -> Policy:
    return POLICIES[spec.kind](spec)


class _PerNetwork:
    """A SingleOrderRouter rebuilt whenever the network's rules change (state version)."""

    def __init__(self) -> None:
        self._version = -1
        self._router: SingleOrderRouter | None = None
        self._sku_index: dict[str, int] = {}

    def router(self, view: StateView) -> SingleOrderRouter:
        if self._router is None or view.version != self._version:
            self._router = SingleOrderRouter(view.network)
            self._version = view.version
            self._sku_index = view.network.sku_index
        return self._router

    def skus(self, order: Order) -> np.ndarray[Any, np.dtype[np.int64]]:
        idx = self._sku_index
        return np.fromiter((idx[ln.sku] for ln in order.lines), np.int64, len(order.lines))

    def route(self, orders: list[Order], view: StateView) -> list[OrderPlan]:
        """Each order in turn; later orders of a wave see the stock and capacity that
        earlier ones took."""
        router = self.router(view)
        out = []
        left = _Left(view, router)
        for order in orders:
            plan = self.route_one(router, order, left)
            out.append(plan)
            if len(orders) > 1:
                left.consume(plan)
        return out

    def route_one(self, router: SingleOrderRouter, order: Order, left: _Left) -> OrderPlan:
        raise NotImplementedError


class MyopicPolicy(_PerNetwork):
    """Each order at least cost as it arrives, proven optimal for that order alone."""

    name = "myopic"

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__()
        self.wave_minutes = spec.wave_minutes or 0

    def route_one(self, router: SingleOrderRouter, order: Order, left: _Left) -> OrderPlan:
        return router.route(order, left.atp(self.skus(order)), left.ships, left.units).plan


class _Left:
    """Stock and capacity left while a list of orders is routed one by one (a wave)."""

    def __init__(self, view: StateView, router: SingleOrderRouter) -> None:
        self.view, self.router = view, router
        self.ships, self.units = view.ships_left, view.units_left
        self.taken: dict[int, dict[int, int]] = {}  # sku → node → units taken
        self.sku_index = view.network.sku_index

    def atp(self, skus: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, Any]:
        atp = self.view.atp(skus)
        if self.taken:
            for c, s in enumerate(skus.tolist()):
                for n, q in self.taken.get(s, {}).items():
                    atp[n, c] = max(atp[n, c] - q, 0)
        return atp

    def consume(self, plan: OrderPlan) -> None:
        if not plan.shipments:
            return
        self.ships, self.units = self.ships.copy(), self.units.copy()
        for sh in plan.shipments:
            n = self.router.node_index[sh.node]
            self.ships[n] -= 1
            for ln in sh.lines:
                self.units[n] -= ln.qty
                by_node = self.taken.setdefault(self.sku_index[ln.sku], {})
                by_node[n] = by_node.get(n, 0) + ln.qty


class RuleBasedPolicy(_PerNetwork):
    """Nearest node that can fill the whole order; else line by line from the nearest (an
    order that may not split: the nearest node that fills the most). The contract's rules
    come from the single-order router's view of the order, the prices from its pricer, so
    plans are valid and priced exactly like every other policy's."""

    name = "rule_based"

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__()
        self.wave_minutes = spec.wave_minutes or 0

    def route_one(self, router: SingleOrderRouter, order: Order, left: _Left) -> OrderPlan:
        v = router._view(order, left.atp(self.skus(order)), left.ships, left.units, ())
        rows = _nearest_first(v.usable, v.qty, v.dist, v.units_left, order.allow_split)
        plan, _ = router._price(v, rows)
        return plan


def _nearest_first(
    usable: np.ndarray[Any, np.dtype[np.int64]],
    qty: np.ndarray[Any, np.dtype[np.int64]],
    dist: np.ndarray[Any, np.dtype[np.float64]],
    units_left: np.ndarray[Any, np.dtype[np.int64]],
    allow_split: bool,
) -> list[tuple[int, tuple[int, ...]]]:
    """The rule-based choice as (node, units per line) shipments."""
    cand = np.flatnonzero(usable.any(axis=1))
    if cand.size == 0:
        return []
    cand = cand[np.lexsort((cand, dist[cand]))]
    total = int(qty.sum())
    full = (usable[cand] >= qty[None, :]).all(axis=1) & (units_left[cand] >= total)
    if full.any():
        n = int(cand[int(np.argmax(full))])
        return [(n, tuple(qty.tolist()))]

    def fill(n: int, need: np.ndarray[Any, np.dtype[np.int64]]) -> list[int]:
        room = int(units_left[n])
        take = []
        for q in np.minimum(usable[n], need).tolist():
            t = min(q, room)
            take.append(t)
            room -= t
        return take

    if not allow_split:
        best, best_take, best_units = -1, [0], 0
        for n in cand.tolist():
            take = fill(n, qty)
            if sum(take) > best_units:
                best, best_take, best_units = n, take, sum(take)
        return [(best, tuple(best_take))] if best >= 0 else []
    need = qty.copy()
    rows = []
    for n in cand.tolist():
        if not need.any():
            break
        take = fill(n, need)
        if sum(take):
            rows.append((n, tuple(take)))
            need -= np.array(take, dtype=np.int64)
    return rows


class BatchPolicy:
    """Orders collected for ``wave_minutes`` and optimized together (router.optimize).

    The time limit per optimization is ``time_limit_s`` for a full wave and shorter for
    small lists (``0.2 s + 5 ms`` per order), which are the reroutes after rejections; a
    single order goes to the single-order router, whose plan is the same optimum, faster.
    """

    name = "batch"

    def __init__(self, spec: PolicySpec) -> None:
        self.wave_minutes = 60 if spec.wave_minutes is None else spec.wave_minutes
        self.time_limit = spec.time_limit_s
        self.single = MyopicPolicy(spec)

    def route(self, orders: list[Order], view: StateView) -> list[OrderPlan]:
        if not orders:
            return []
        if len(orders) == 1:
            return self.single.route(orders, view)
        limit = min(self.time_limit, 0.2 + 0.005 * len(orders))
        params = SolveParams(time_limit=limit, threads=1)
        net = view.network
        wanted = sorted({net.sku_index[ln.sku] for o in orders for ln in o.lines})
        atp = view.atp(np.array(wanted, dtype=np.int64))
        ships, units = view.ships_left, view.units_left

        def cap(v: int) -> int | None:
            return None if v >= UNLIMITED else int(v)

        nodes = [
            node.model_copy(update={"order_capacity": cap(int(s)), "unit_capacity": cap(int(u))})
            for node, s, u in zip(net.problem.nodes, ships.tolist(), units.tolist(), strict=True)
        ]
        skus: list[Sku] = [net.problem.skus[j] for j in wanted]
        ni, si = np.nonzero(atp > 0)
        inventory = [
            StockRecord.model_construct(
                node=net.node_ids[i],
                sku=skus[k].id,
                on_hand=int(atp[i, k]),
                reserved=0,
                safety_stock=0,
            )
            for i, k in zip(ni.tolist(), si.tolist(), strict=True)
        ]
        problem = Problem.model_construct(
            nodes=nodes,
            skus=skus,
            rates=list(net.problem.rates),
            inventory=inventory,
            orders=list(orders),
        )
        result = optimize(ProblemData.from_problem(problem), params)
        return list(result.plan.orders)


register("myopic")(MyopicPolicy)
register("rule_based")(RuleBasedPolicy)
register("batch")(BatchPolicy)

# Policies defined elsewhere register themselves on import (issue 5's inventory_aware).
import router.inventory.policy  # noqa: E402, F401
