"""The rule-based router most commerce platforms ship by default: a peer and a fallback.

For each order in turn: the nearest node that can fill all of it; else fill line by line
from the nearest nodes (an order that may not split takes the nearest node that fills
the most). Stock and capacities are consumed as it goes, so its plans are always valid.
It is priced by the same cost model as everything else.
"""

from __future__ import annotations

import numpy as np

from router.assignment import Assignment
from router.candidates import Candidates, build_candidates
from router.data import ProblemData


def route_greedy(data: ProblemData, cand: Candidates | None = None) -> Assignment:
    """Route every order greedily by distance; returns the assignment."""
    cand = build_candidates(data) if cand is None else cand
    atp = data.atp.copy()
    ocap = data.node_order_cap.copy()
    ucap = data.node_unit_cap.copy()
    # pairs of each order, nearest first; arcs of each pair
    pair_sort = np.lexsort((cand.pair_distance, cand.pair_order))
    first_pair = np.searchsorted(cand.pair_order[pair_sort], np.arange(data.num_orders + 1))
    arc_sort = np.argsort(cand.arc_pair, kind="stable")
    first_arc = np.searchsorted(cand.arc_pair[arc_sort], np.arange(cand.num_pairs + 1))
    arc_line = cand.arc_line.tolist()
    line_sku = data.line_sku.tolist()
    line_qty = data.line_qty.tolist()
    pair_node = cand.pair_node.tolist()
    rows_o: list[int] = []
    rows_n: list[int] = []
    rows_s: list[int] = []
    rows_q: list[int] = []

    for o in range(data.num_orders):
        pairs = pair_sort[first_pair[o] : first_pair[o + 1]].tolist()
        if not pairs:
            continue
        need = {ln: line_qty[ln] for ln in range(data.order_line_start[o], data.order_line_start[o + 1])}
        total = sum(need.values())

        def fill(p: int, want: dict[int, int]) -> dict[int, int]:
            n = pair_node[p]
            if ocap[n] <= 0:
                return {}
            room = int(ucap[n])
            take: dict[int, int] = {}
            for a in arc_sort[first_arc[p] : first_arc[p + 1]].tolist():
                ln = arc_line[a]
                q = min(want.get(ln, 0), int(atp[n, line_sku[ln]]), room)
                if q > 0:
                    take[ln] = q
                    room -= q
            return take

        def commit(p: int, take: dict[int, int]) -> None:
            n = pair_node[p]
            ocap[n] -= 1
            for ln, q in take.items():
                atp[n, line_sku[ln]] -= q
                ucap[n] -= q
                need[ln] -= q
                rows_o.append(o)
                rows_n.append(n)
                rows_s.append(line_sku[ln])
                rows_q.append(q)

        full = next((p for p in pairs if sum(fill(p, need).values()) == total), None)
        if full is not None:
            commit(full, fill(full, need))
            continue
        if not data.order_allow_split[o]:
            best, best_take, best_units = None, {}, 0
            for p in pairs:
                take = fill(p, need)
                if sum(take.values()) > best_units:
                    best, best_take, best_units = p, take, sum(take.values())
            if best is not None:
                commit(best, best_take)
            continue
        for p in pairs:
            if not any(need.values()):
                break
            take = fill(p, need)
            if take:
                commit(p, take)
    return Assignment.from_rows(
        np.array(rows_o), np.array(rows_n), np.array(rows_s), np.array(rows_q)
    )
