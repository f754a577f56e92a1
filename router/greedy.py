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
from router.data import FloatArray, IntArray, ProblemData


class _Greedy:
    """Stock and capacity left while orders are routed one by one."""

    def __init__(self, data: ProblemData, cand: Candidates) -> None:
        self.atp = data.atp.copy()
        self.ocap = data.node_order_cap.copy()
        self.ucap = data.node_unit_cap.copy()
        arc_sort = np.argsort(cand.arc_pair, kind="stable")
        first_arc = np.searchsorted(cand.arc_pair[arc_sort], np.arange(cand.num_pairs + 1))
        self.arcs_of = [
            arc_sort[first_arc[p] : first_arc[p + 1]].tolist() for p in range(cand.num_pairs)
        ]
        self.arc_line = cand.arc_line.tolist()
        self.line_sku = data.line_sku.tolist()
        self.pair_node = cand.pair_node.tolist()
        self.rows: list[tuple[int, int, int, int]] = []

    def fill(self, p: int, want: dict[int, int]) -> dict[int, int]:
        """Units of each wanted line node ``pair_node[p]`` can give now."""
        n = self.pair_node[p]
        if self.ocap[n] <= 0:
            return {}
        room = int(self.ucap[n])
        take: dict[int, int] = {}
        for a in self.arcs_of[p]:
            ln = self.arc_line[a]
            q = min(want.get(ln, 0), int(self.atp[n, self.line_sku[ln]]), room)
            if q > 0:
                take[ln] = q
                room -= q
        return take

    def commit(self, o: int, p: int, take: dict[int, int], need: dict[int, int]) -> None:
        n = self.pair_node[p]
        self.ocap[n] -= 1
        for ln, q in take.items():
            s = self.line_sku[ln]
            self.atp[n, s] -= q
            self.ucap[n] -= q
            need[ln] -= q
            self.rows.append((o, n, s, q))


def route_greedy(
    data: ProblemData,
    cand: Candidates | None = None,
    priority: FloatArray | None = None,
    orders: IntArray | None = None,
) -> Assignment:
    """Route every order (or ``orders``, in that sequence) greedily; returns the assignment.

    Nodes are tried nearest first, or by ascending ``priority`` (one value per candidate
    pair, ties by distance) when given: LP rounding uses it to follow the relaxation.
    """
    cand = build_candidates(data) if cand is None else cand
    state = _Greedy(data, cand)
    keys: tuple[FloatArray | IntArray, ...] = (cand.pair_distance, cand.pair_order)
    if priority is not None:
        keys = (cand.pair_distance, priority, cand.pair_order)
    pair_sort = np.lexsort(keys)
    first_pair = np.searchsorted(cand.pair_order[pair_sort], np.arange(data.num_orders + 1))
    line_qty = data.line_qty.tolist()
    for o in range(data.num_orders) if orders is None else orders.tolist():
        pairs = pair_sort[first_pair[o] : first_pair[o + 1]].tolist()
        if not pairs:
            continue
        lines = range(data.order_line_start[o], data.order_line_start[o + 1])
        need = {ln: line_qty[ln] for ln in lines}
        total = sum(need.values())
        full = next((p for p in pairs if sum(state.fill(p, need).values()) == total), None)
        if full is not None:
            state.commit(o, full, state.fill(full, need), need)
        elif not data.order_allow_split[o]:
            best, best_take, best_units = None, {}, 0
            for p in pairs:
                take = state.fill(p, need)
                if sum(take.values()) > best_units:
                    best, best_take, best_units = p, take, sum(take.values())
            if best is not None:
                state.commit(o, best, best_take, need)
        else:
            for p in pairs:
                if not any(need.values()):
                    break
                take = state.fill(p, need)
                if take:
                    state.commit(o, p, take, need)
    rows = np.array(state.rows, dtype=np.int64).reshape(-1, 4)
    return Assignment.from_rows(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
