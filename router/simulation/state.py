"""The simulated world at one moment: stock, today's capacity left, and the network's rules.

Stock lives in dense numpy arrays per (node, sku): ``on_hand`` (physically there),
``reserved`` (promised to routed orders not yet picked) and ``safety`` (held back for
walk-ins). Routed orders reserve units; everything reserved is picked at the end of the day
(``on_hand`` and ``reserved`` drop together), so ``0 ≤ reserved ≤ on_hand`` always and a
walk-in can buy only what is not reserved. Capacities of the contract (``order_capacity``,
``unit_capacity``) are per day and reset each morning. Changes of the scenario (close a
node, no ship-from-store, capacities, rate card, safety stock) apply at the start of
their day and bump :attr:`SimState.version`, so policies know to rebuild what they cache.

Policies see the state through :class:`StateView` (read-only by convention).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from models import Node, RateBand
from router.data import UNLIMITED, BoolArray, IntArray, ProblemData
from router.simulation.network import BuiltNetwork
from router.simulation.scenario import Change, Scenario


class StateView(Protocol):
    """What a policy may read: the network as it is now, stock and capacity left."""

    day: int
    minute: float
    version: int  # changes whenever nodes or rates change

    @property
    def network(self) -> ProblemData: ...

    @property
    def ships_left(self) -> IntArray: ...

    @property
    def units_left(self) -> IntArray: ...

    def atp(self, skus: IntArray) -> IntArray: ...


class SimState:
    """Stock, capacity and rules of one run; the engine is the only writer."""

    def __init__(self, scenario: Scenario, net: BuiltNetwork) -> None:
        self.net = net
        self.scenario = scenario
        scale = scenario.initial_stock.scale
        self.on_hand: IntArray = np.rint(net.on_hand * scale).astype(np.int64)
        self.reserved: IntArray = np.minimum(net.reserved, self.on_hand).astype(np.int64)
        self.safety: IntArray = net.safety.astype(np.int64).copy()
        self.nodes: list[Node] = list(net.nodes)
        self.rates: list[RateBand] = list(net.rates)
        self.is_store: BoolArray = net.is_store
        self.node_index = {n.id: i for i, n in enumerate(self.nodes)}
        self.sku_index = {s.id: j for j, s in enumerate(net.skus)}
        self.version = 0
        self.day = 0
        self.minute = 0.0
        self._data: ProblemData | None = None
        n = len(self.nodes)
        self.ships_used = np.zeros(n, dtype=np.int64)
        self.units_used = np.zeros(n, dtype=np.int64)
        self._caps()

    # ----------------------------------------------------------------- reading

    @property
    def network(self) -> ProblemData:
        """The network's arrays as they are now (no stock, no orders), built lazily."""
        if self._data is None:
            self._data = self.net.data(self.nodes, self.rates)
        return self._data

    @property
    def ships_left(self) -> IntArray:
        return np.maximum(self.order_cap - self.ships_used, 0)

    @property
    def units_left(self) -> IntArray:
        return np.maximum(self.unit_cap - self.units_used, 0)

    @property
    def enabled(self) -> BoolArray:
        return np.array([n.enabled for n in self.nodes], dtype=bool)

    def atp(self, skus: IntArray) -> IntArray:
        """Available to promise of ``skus`` at every node: (nodes, len(skus))."""
        s = np.asarray(skus, dtype=np.int64)
        return np.maximum(self.on_hand[:, s] - self.reserved[:, s] - self.safety[:, s], 0)

    # ----------------------------------------------------------------- rules

    def _caps(self) -> None:
        def cap(v: int | None) -> int:
            return UNLIMITED if v is None else int(v)

        self.order_cap = np.array([cap(n.order_capacity) for n in self.nodes], dtype=np.int64)
        self.unit_cap = np.array([cap(n.unit_capacity) for n in self.nodes], dtype=np.int64)

    def _touch(self) -> None:
        self.version += 1
        self._data = None
        self._caps()

    def apply(self, change: Change) -> None:
        """One dated change of the scenario, from now on."""
        fs = change.model_fields_set
        update: dict[str, object] = {}
        for key in ("enabled", "can_ship", "order_capacity", "unit_capacity"):
            if key in fs:
                update[key] = getattr(change, key)
        for node_id in change.targets():
            i = self.node_index[node_id]
            if update:
                self.nodes[i] = self.nodes[i].model_copy(update=update)
            if "safety_stock" in fs and change.safety_stock is not None:
                self.safety[i, :] = change.safety_stock
        if "ship_from_store" in fs:
            for i, node in enumerate(self.nodes):
                if node.type == "store":
                    self.nodes[i] = node.model_copy(update={"can_ship": change.ship_from_store})
        if "rates" in fs and change.rates is not None:
            self.rates = list(change.rates)
        if "safety_stock" in fs and change.safety_stock is not None and not change.targets():
            scope = change.scope or "stores"
            rows = {
                "stores": self.is_store,
                "warehouses": ~self.is_store,
                "all": np.ones(len(self.nodes), dtype=bool),
            }[scope]
            self.safety[rows, :] = change.safety_stock
        if update or "ship_from_store" in fs or "rates" in fs:
            self._touch()

    def start_day(self, day: int) -> None:
        """Morning: capacities reset."""
        self.day, self.minute = day, 0.0
        self.ships_used[:] = 0
        self.units_used[:] = 0

    # ----------------------------------------------------------------- writing

    def reserve(self, node: int, sku: int, qty: int) -> None:
        """Units promised to an order; the engine checks atp before calling."""
        self.reserved[node, sku] += qty
        assert self.reserved[node, sku] <= self.on_hand[node, sku], "oversold"

    def pick_all(self) -> None:
        """Evening: everything reserved is picked and leaves."""
        self.on_hand -= self.reserved
        self.reserved[:] = 0

    def shelf(self, node: int, sku: int) -> int:
        """Units a walk-in customer can take: on hand and not promised to an order."""
        return int(self.on_hand[node, sku] - self.reserved[node, sku])

    def take(self, node: int, sku: int, qty: int) -> None:
        """Units leave without a reservation (walk-in sale, write-off, outbound transfer)."""
        self.on_hand[node, sku] -= qty
        assert self.on_hand[node, sku] >= self.reserved[node, sku], "negative shelf"

    def receive(self, node: int, sku: int | IntArray, qty: int | IntArray) -> None:
        np.add.at(self.on_hand[node], sku, qty)

    def check(self) -> None:
        """The stock invariants (tests call it after every event)."""
        assert (self.reserved >= 0).all(), "negative reservation"
        assert (self.on_hand >= self.reserved).all(), "reserved more than on hand"
        assert (self.ships_used <= self.order_cap).all(), "order capacity exceeded"
        assert (self.units_used <= self.unit_cap).all(), "unit capacity exceeded"
