"""The scenario's network, built once: nodes, skus, rates, initial stock and demand geography.

Demo networks come from :func:`router.generate.generate` (sized by the scenario's daily
orders, so store capacities are per day and stock is sized against a day's demand); the
sku popularity and the city list it drew from are recovered from the generator itself,
so customers are placed where people live in that country. File and inline networks are
validated against the contract; their customers are placed around the nodes and their sku
popularity follows the initial stock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import BadInput, FieldError, Node, Problem, RateBand, Sku, parse_problem
from router.data import FloatArray, IntArray, ProblemData
from router.generate import NETWORKS, _make_nodes, _make_skus, _sites, generate
from router.simulation.scenario import Scenario

_CACHE: dict[str, BuiltNetwork] = {}
_CACHE_SIZE = 8


@dataclass(frozen=True, eq=False)
class BuiltNetwork:
    """Everything about the network that no policy or change can alter."""

    nodes: list[Node]
    skus: list[Sku]
    rates: list[RateBand]
    on_hand: IntArray  # (nodes, skus), before the scenario's scale
    reserved: IntArray
    safety: IntArray
    popularity: FloatArray  # per sku, sums to 1
    place_lat: FloatArray  # where customers live (cities, or around nodes)
    place_lon: FloatArray
    place_weight: FloatArray  # population (or equal weights)
    jitter_km: float
    store_weight: FloatArray  # per node: weight as a pickup store (0: not a pickup node)

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]

    @property
    def sku_ids(self) -> list[str]:
        return [s.id for s in self.skus]

    @property
    def is_store(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return np.array([n.type == "store" for n in self.nodes], dtype=bool)

    def data(
        self, nodes: list[Node] | None = None, rates: list[RateBand] | None = None
    ) -> ProblemData:
        """Arrays of the network (no stock, no orders), with nodes or rates replaced."""
        problem = Problem.model_construct(
            nodes=list(nodes if nodes is not None else self.nodes),
            skus=self.skus,
            rates=list(rates if rates is not None else self.rates),
            inventory=[],
            orders=[],
        )
        return ProblemData.from_problem(problem)


def _key(scenario: Scenario) -> str:
    spec = scenario.network.model_dump()
    spec["orders"] = _basis(scenario)
    spec["base"] = str(scenario.base_dir)
    return json.dumps(spec, sort_keys=True, default=str)


def _basis(scenario: Scenario) -> int:
    net = scenario.network
    return net.orders if net.orders is not None else scenario.demand.orders_per_day


def build_network(scenario: Scenario) -> BuiltNetwork:
    """The scenario's network (cached by its spec): :class:`BadInput` naming network.*."""
    key = _key(scenario)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        net = scenario.network
        if net.demo is not None:
            _CACHE[key] = _demo(net.demo, _basis(scenario), net.seed, net.stores, net.skus)
        elif net.file is not None:
            path = Path(net.file)
            if not path.is_absolute():
                path = scenario.base_dir / path
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise BadInput([FieldError("network.file", f"file not found: {path}")]) from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadInput([FieldError("network.file", f"not valid JSON: {exc}")]) from None
            _CACHE[key] = _contract(raw, "network.file")
        else:
            _CACHE[key] = _contract(net.inline, "network.inline")
    return _CACHE[key]


def _demo(name: str, orders: int, seed: int, stores: int | None, skus: int | None) -> BuiltNetwork:
    try:
        raw = generate(name, max(orders, 1), seed, stores=stores, skus=skus)  # type: ignore[arg-type]
    except ValueError as exc:
        raise BadInput([FieldError("network", str(exc))]) from None
    spec = NETWORKS[name]
    n_stores = spec.default_stores if stores is None else stores
    n_skus = spec.default_skus if skus is None else skus
    sites = _sites(name, n_stores)
    # Replay the generator's first draws to recover the popularity it gave each sku.
    rng = np.random.default_rng(seed)
    _make_nodes(rng, sites, [s.code for s in spec.warehouses], max(orders, 1))
    _, _, popularity, _ = _make_skus(rng, n_skus)
    nodes = [Node.model_construct(**n) for n in raw["nodes"]]
    sku_list = [Sku.model_construct(**s) for s in raw["skus"]]
    rates = [RateBand.model_construct(**r) for r in raw["rates"]]
    node_index = {n.id: i for i, n in enumerate(nodes)}
    sku_index = {s.id: j for j, s in enumerate(sku_list)}
    shape = (len(nodes), len(sku_list))
    on_hand, reserved, safety = (np.zeros(shape, np.int64) for _ in range(3))
    for rec in raw["inventory"]:
        i, j = node_index[rec["node"]], sku_index[rec["sku"]]
        on_hand[i, j], reserved[i, j], safety[i, j] = (
            rec["on_hand"],
            rec["reserved"],
            rec["safety_stock"],
        )
    cities = sites.cities
    store_weight = np.zeros(len(nodes))
    n_wh = len(spec.warehouses)
    store_weight[n_wh:] = cities.pop[sites.store_idx]
    return BuiltNetwork(
        nodes=nodes,
        skus=sku_list,
        rates=rates,
        on_hand=on_hand,
        reserved=reserved,
        safety=safety,
        popularity=np.asarray(popularity, dtype=np.float64),
        place_lat=np.asarray(cities.lat),
        place_lon=np.asarray(cities.lon),
        place_weight=np.asarray(cities.pop),
        jitter_km=7.0,
        store_weight=store_weight,
    )


def _contract(raw: Any, where: str) -> BuiltNetwork:
    """A contract problem's network part; its orders (if any) are ignored."""
    if not isinstance(raw, dict):
        raise BadInput([FieldError(where, "must be a mapping with nodes, skus, rates, inventory")])
    data = {k: raw.get(k) for k in ("nodes", "skus", "rates", "inventory")}
    data["orders"] = []
    try:
        problem = parse_problem(data)
    except BadInput as exc:
        raise BadInput([FieldError(f"{where}.{e.path}", e.message) for e in exc.errors]) from None
    if not problem.nodes or not problem.skus:
        raise BadInput([FieldError(where, "needs at least one node and one sku")])
    node_index = {n.id: i for i, n in enumerate(problem.nodes)}
    sku_index = {s.id: j for j, s in enumerate(problem.skus)}
    shape = (len(problem.nodes), len(problem.skus))
    on_hand, reserved, safety = (np.zeros(shape, np.int64) for _ in range(3))
    for rec in problem.inventory:
        i, j = node_index[rec.node], sku_index[rec.sku]
        on_hand[i, j] = rec.on_hand
        reserved[i, j] = min(rec.reserved, rec.on_hand)
        safety[i, j] = rec.safety_stock
    pop = on_hand.sum(axis=0).astype(np.float64) + 1.0
    lat = np.array([n.lat for n in problem.nodes])
    lon = np.array([n.lon for n in problem.nodes])
    store_weight = np.array([1.0 if n.pickup else 0.0 for n in problem.nodes])
    return BuiltNetwork(
        nodes=list(problem.nodes),
        skus=list(problem.skus),
        rates=list(problem.rates),
        on_hand=on_hand,
        reserved=reserved,
        safety=safety,
        popularity=pop / pop.sum(),
        place_lat=lat,
        place_lon=lon,
        place_weight=np.ones(len(problem.nodes)),
        jitter_km=25.0,
        store_weight=store_weight,
    )
