"""Named benchmark instances, generated from a seed and cached as :class:`router.ProblemData`.

Every instance comes from :func:`router.generate.generate`, so the same name always gives
the same problem on every machine. Builders are ``functools.lru_cache``-d: a pytest session
or a report run pays for generation and parsing once per instance.

=============  =======  ======  ====  =====  ====  =====================================
name           network  orders  seed  nodes  skus  notes
=============  =======  ======  ====  =====  ====  =====================================
vn-50x20       vn           50     1     20   300  3 warehouses + 17 stores
us-1000x100    us        1,000     1    100   300  6 warehouses + 94 stores; store
                                                   order capacities tightened (below)
vn-day         vn        2,000     1     43   300  default vn network, one day of orders
us-day         us       20,000     1    500  2000  default us network, one day of orders
=============  =======  ======  ====  =====  ====  =====================================

``us-1000x100`` is the "binding capacities" instance. The generator gives each store an
``order_capacity`` of 1.5–4× its fair share of the orders, which on this instance never
binds (a good plan uses at most ~45 % of any store's capacity; only stock binds). So the
problem dict is post-processed: every store's ``order_capacity`` is scaled by
:data:`US_1000_STORE_CAPACITY_SCALE` and rounded up (minimum 1), i.e. 2–5 shipments per
store. Warehouses stay unlimited, so every order can still be served. With that, both kinds
of rows bind in good plans: store order capacities (about 40 of the 94 stores at their
limit) and stock (over 300 (node, sku) pairs emptied). :func:`binding_rows` counts them;
the benchmark suite records the counts and checks that both are non-zero.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from models import parse_problem
from router import ProblemData, SolveParams, route_greedy, total_cost
from router.assignment import Assignment
from router.candidates import build_candidates
from router.data import UNLIMITED
from router.generate import generate

US_1000_STORE_CAPACITY_SCALE = 0.1
"""Factor applied to the generated store ``order_capacity`` of ``us-1000x100`` (ceil, ≥ 1)."""


@dataclass(frozen=True)
class InstanceSpec:
    """How an instance is generated (the arguments of ``generate`` plus post-processing)."""

    name: str
    network: Literal["vn", "us"]
    orders: int
    seed: int
    stores: int | None = None
    skus: int | None = None
    store_capacity_scale: float | None = None
    note: str = ""


SPECS: dict[str, InstanceSpec] = {
    s.name: s
    for s in (
        InstanceSpec("vn-50x20", "vn", 50, 1, stores=17, note="vn restricted to 20 nodes"),
        InstanceSpec(
            "us-1000x100",
            "us",
            1000,
            1,
            stores=94,
            skus=300,
            store_capacity_scale=US_1000_STORE_CAPACITY_SCALE,
            note=f"binding capacities: store order_capacity × {US_1000_STORE_CAPACITY_SCALE}",
        ),
        InstanceSpec("vn-day", "vn", 2000, 1, note="default vn network"),
        InstanceSpec("us-day", "us", 20000, 1, note="default us network"),
    )
}


def solve_params(solver: str, limit: float) -> SolveParams:
    """``backend`` or ``backend:threads`` (``scip:2``: two threads, the compact MIP races
    beside the pipeline), as the report and the suite name engine runs; one thread unless
    said."""
    backend, _, threads = solver.partition(":")
    return SolveParams(
        backend=backend,  # type: ignore[arg-type]
        time_limit=limit,
        threads=int(threads or 1),
    )


def problem_dict(name: str) -> dict[str, Any]:
    """The contract-form problem of instance ``name`` (a fresh dict on every call)."""
    spec = SPECS[name]
    d = generate(spec.network, spec.orders, spec.seed, skus=spec.skus, stores=spec.stores)
    if spec.store_capacity_scale is not None:
        tighten_store_capacity(d, spec.store_capacity_scale)
    return d


def tighten_store_capacity(problem: dict[str, Any], scale: float) -> None:
    """Scale every store's finite ``order_capacity`` in place: ``max(1, ceil(cap × scale))``."""
    for node in problem["nodes"]:
        cap = node.get("order_capacity")
        if node["type"] == "store" and cap is not None:
            node["order_capacity"] = max(1, math.ceil(cap * scale))


def _build(name: str) -> ProblemData:
    return ProblemData.from_problem(parse_problem(problem_dict(name)))


@functools.lru_cache(maxsize=1)
def vn_50x20() -> ProblemData:
    return _build("vn-50x20")


@functools.lru_cache(maxsize=1)
def us_1000x100() -> ProblemData:
    return _build("us-1000x100")


@functools.lru_cache(maxsize=1)
def vn_day() -> ProblemData:
    return _build("vn-day")


@functools.lru_cache(maxsize=1)
def us_day() -> ProblemData:
    return _build("us-day")


INSTANCES: dict[str, Callable[[], ProblemData]] = {
    "vn-50x20": vn_50x20,
    "us-1000x100": us_1000x100,
    "vn-day": vn_day,
    "us-day": us_day,
}


def load(name: str) -> ProblemData:
    """The (cached) ProblemData of instance ``name``."""
    if name not in INSTANCES:
        raise KeyError(f"unknown instance {name!r}; choose from {', '.join(INSTANCES)}")
    return INSTANCES[name]()


@functools.cache
def greedy_cost(name: str) -> float:
    """Cost of the rule-based plan (:func:`router.route_greedy`) of instance ``name``."""
    data = load(name)
    return total_cost(data, route_greedy(data))


@functools.cache
def sizes(name: str) -> dict[str, int]:
    """Problem and model sizes of instance ``name`` (candidates are built, then dropped)."""
    data = load(name)
    cand = build_candidates(data)
    return {
        "orders": data.num_orders,
        "lines": data.num_lines,
        "nodes": data.num_nodes,
        "skus": data.num_skus,
        "pairs": cand.num_pairs,
        "arcs": cand.num_arcs,
    }


def binding_rows(data: ProblemData, a: Assignment) -> dict[str, int]:
    """How many capacity and stock limits a plan uses up exactly (its binding rows).

    ``order_capacity``: nodes with a finite order capacity shipping that many shipments;
    ``unit_capacity``: likewise for units; ``stock``: (node, sku) pairs with atp > 0 whose
    whole atp is taken.
    """
    n = data.num_nodes
    if len(a) == 0:
        return {"order_capacity": 0, "unit_capacity": 0, "stock": 0}
    shipments = np.bincount(np.unique(a.order * n + a.node) % n, minlength=n)
    units = np.bincount(a.node, weights=a.qty, minlength=n)
    ocap, ucap = data.node_order_cap, data.node_unit_cap
    used = np.zeros_like(data.atp)
    np.add.at(used, (a.node, a.sku), a.qty)
    return {
        "order_capacity": int(np.count_nonzero((ocap < UNLIMITED) & (shipments >= ocap))),
        "unit_capacity": int(np.count_nonzero((ucap < UNLIMITED) & (units >= ucap))),
        "stock": int(np.count_nonzero((data.atp > 0) & (used >= data.atp))),
    }


def saving_pct(cost: float, baseline: float) -> float:
    """Saving of ``cost`` against the rule-based ``baseline`` cost, in percent."""
    return 100.0 * (baseline - cost) / baseline if baseline else 0.0
