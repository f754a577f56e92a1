"""Fix-and-optimize: re-solve one neighbourhood of orders exactly while the rest stay put.

For networks too large for one MIP (or one LP) in the time limit: orders are grouped by
the node that serves them most cheaply, so that orders competing for the same stock and
capacity land in the same group; groups are bundled, and each bundle's orders are routed
by an exact MIP on the stock and capacity the other orders leave. A bundle's new routing
is kept only when it is cheaper, so the plan improves monotonically and stays valid.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from router.assignment import Assignment
from router.backends import Backend, solve
from router.candidates import Candidates, build_candidates
from router.cost import lines_cost
from router.data import IntArray, ProblemData
from router.formulation import build_mip, vector_from_assignment
from router.relaxation import residual, to_assignment


def home_bundles(
    data: ProblemData, cand: Candidates, max_orders: int, offset: int = 0
) -> list[IntArray]:
    """Orders bundled by their cheapest node (nodes taken west to east, south to north);
    with ``offset``, the first bundle has only that many orders, so every boundary moves
    (another pass's bundles straddle the first's)."""
    score = cand.pair_fixed + np.bincount(
        cand.arc_pair, weights=cand.arc_unit * cand.arc_cap, minlength=cand.num_pairs
    )
    order = np.lexsort((score, cand.pair_order))
    first = np.unique(cand.pair_order[order], return_index=True)[1]
    orders = cand.pair_order[order[first]]
    home = cand.pair_node[order[first]]
    node_rank = np.argsort(np.lexsort((data.node_lat, np.round(data.node_lon, 0))))
    seq = orders[np.lexsort((orders, node_rank[home]))]
    cuts = [0, *range(offset % max_orders or max_orders, seq.size, max_orders), seq.size]
    return [seq[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def improve(
    data: ProblemData,
    allowed: Candidates,
    incumbent: Assignment,
    bundles: list[IntArray],
    backend: Backend,
    seconds: float,
    threads: int = 1,
) -> Assignment:
    """Re-optimize each bundle in turn (within ``seconds``) using only ``allowed`` shipments."""
    start = time.perf_counter()
    allowed_keys = np.unique(allowed.pair_order * data.num_nodes + allowed.pair_node)
    best = incumbent
    total = sum(b.size for b in bundles)
    for done, orders in enumerate(bundles):
        left_s = seconds - (time.perf_counter() - start)
        if left_s <= 0.02:
            break
        current, others = best.split(orders)
        left = residual(data, others)
        cand = build_candidates(left, orders)
        keys = cand.pair_order * data.num_nodes + cand.pair_node
        cand = cand.subset(np.isin(keys, allowed_keys))
        if cand.num_pairs == 0:
            continue
        lines = data.lines_of(orders)
        model = build_mip(left, cand, lines)
        hint = vector_from_assignment(
            model, cand, left, current.order, current.node, current.sku, current.qty, lines
        )
        remaining_orders = total - sum(b.size for b in bundles[:done])
        out = solve(
            model,
            backend,
            time_limit=max(left_s * orders.size / max(remaining_orders, 1), 0.02),
            hint=hint,
            threads=threads,
            gap=1e-4,
        )
        if out.values is None:
            continue
        found = to_assignment(data, cand, model.x(out.values))
        if lines_cost(data, found, lines) < lines_cost(data, current, lines) - 1e-9:
            best = Assignment.concat([others, found])
    return best
