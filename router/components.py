"""Independent pieces of a routing MIP: orders linked only through shared binding rows.

Orders interact only through stock, capacity and split rows that can bind. Orders that
share no such row (directly or through a chain) form separate components, and the MIP
splits exactly into one MIP per component: costs add up, bounds add up. Solving many
small MIPs is much faster than one big one, because a MIP solver's effort grows faster
than linearly in size. Small components are packed into bundles to keep per-model
overhead down.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from router.candidates import Candidates
from router.data import IntArray, ProblemData
from router.formulation import ORDERS, SPLIT, STOCK, UNITS, MipModel

COUPLING_KINDS = (STOCK, ORDERS, UNITS, SPLIT)


def order_components(data: ProblemData, cand: Candidates, model: MipModel) -> IntArray:
    """Component label of each order that has candidates (−1 for orders without any)."""
    coupling = np.isin(model.row_kind, COUPLING_KINDS)
    A = model.A[np.flatnonzero(coupling)].tocoo()
    # each variable belongs to one order: y → pair's order, x → arc's pair's order, u → line's
    var_order = np.concatenate(
        [
            cand.pair_order,
            cand.pair_order[cand.arc_pair],
            np.full(model.num_lines, -1, dtype=np.int64),
        ]
    )
    row_orders = var_order[A.col]
    valid = row_orders >= 0
    n_rows = int(coupling.sum())
    # bipartite graph: orders (0..O-1) and coupling rows (O..O+R-1)
    n_orders = data.num_orders
    g = sp.coo_matrix(
        (np.ones(int(valid.sum())), (row_orders[valid], n_orders + A.row[valid])),
        shape=(n_orders + n_rows, n_orders + n_rows),
    )
    _, labels = connected_components(g, directed=False)
    has = np.zeros(n_orders, dtype=bool)
    has[cand.pair_order] = True
    return np.where(has, labels[:n_orders], -1).astype(np.int64)


def bundles(labels: IntArray, cand: Candidates, max_pairs: int) -> list[IntArray]:
    """Orders grouped into bundles of whole components, about ``max_pairs`` pairs each."""
    with_cand = np.flatnonzero(labels >= 0)
    if with_cand.size == 0:
        return []
    comp_ids, comp_of_order = np.unique(labels[with_cand], return_inverse=True)
    pairs_per_order = np.bincount(cand.pair_order, minlength=labels.size)[with_cand]
    comp_pairs = np.bincount(comp_of_order, weights=pairs_per_order, minlength=comp_ids.size)
    order_by_comp = np.argsort(comp_of_order, kind="stable")
    starts = np.searchsorted(comp_of_order[order_by_comp], np.arange(comp_ids.size + 1))
    out: list[IntArray] = []
    current: list[IntArray] = []
    size = 0.0
    for c in np.argsort(-comp_pairs, kind="stable").tolist():
        members = with_cand[order_by_comp[starts[c] : starts[c + 1]]]
        if current and size + comp_pairs[c] > max_pairs:
            out.append(np.sort(np.concatenate(current)))
            current, size = [], 0.0
        current.append(members)
        size += comp_pairs[c]
    if current:
        out.append(np.sort(np.concatenate(current)))
    return out
