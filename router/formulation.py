"""The routing MIP in matrix form, built from candidate arrays with no per-variable loop.

Formulation (P candidate shipments p = (o, n), A arcs a = (p, line l), L lines)::

    min   Σ_p F_p y_p + Σ_a c_a x_a + Σ_l pen_l u_l
    s.t.  Σ_{a ∈ l} x_a + u_l = q_l                      every line l          (demand)
          x_a − cap_a y_p ≤ 0                             every arc a of p      (link)
          Σ_{a at (n, s)} x_a ≤ atp_{n,s}                 potentially binding   (stock)
          Σ_{p at n} y_p ≤ order_capacity_n               potentially binding   (orders)
          Σ_{a at n} x_a ≤ unit_capacity_n                potentially binding   (units)
          Σ_{p of o} y_p ≤ 1                              allow_split = false   (split)
          y ∈ {0, 1},  0 ≤ x_a ≤ cap_a,  0 ≤ u_l ≤ q_l,  x, u integer

With y fixed the rest is a min-cost flow (line → (node, sku) → node), so x and u could be
continuous; they are declared integer so that every back end returns integral units.
Rows that can never bind (total candidate supply within the limit) are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from router.candidates import Candidates
from router.data import BoolArray, FloatArray, IntArray, ProblemData

ROW_KINDS = ("demand", "link", "stock", "orders", "units", "split")
DEMAND, LINK, STOCK, ORDERS, UNITS, SPLIT = range(len(ROW_KINDS))
"""Row kinds, as stored in :attr:`MipModel.row_kind`."""


@dataclass(frozen=True, eq=False)
class MipModel:
    """``min c·v  s.t. row_lb ≤ A v ≤ row_ub, var_lb ≤ v ≤ var_ub`` with some v integral."""

    c: FloatArray
    A: sp.csr_matrix
    row_lb: FloatArray
    row_ub: FloatArray
    var_lb: FloatArray
    var_ub: FloatArray
    integral: BoolArray
    num_pairs: int
    num_arcs: int
    num_lines: int
    row_kind: IntArray  # index into ROW_KINDS
    row_ref: IntArray  # the line, arc, (n·S+s), node or order the row is about

    @property
    def num_vars(self) -> int:
        return self.num_pairs + self.num_arcs + self.num_lines

    def y(self, v: FloatArray) -> FloatArray:
        return v[: self.num_pairs]

    def x(self, v: FloatArray) -> FloatArray:
        return v[self.num_pairs : self.num_pairs + self.num_arcs]

    def u(self, v: FloatArray) -> FloatArray:
        return v[self.num_pairs + self.num_arcs :]


def build_mip(
    data: ProblemData, cand: Candidates, lines: IntArray | None = None, *, coupling: bool = True
) -> MipModel:
    """The MIP over ``cand``; ``lines`` are the problem lines it covers (default: all).

    ``coupling=False`` leaves out the stock and capacity rows, the only rows that link
    orders: the relaxation then splits into one small problem per order (a cheap bound).
    """
    line_ids = np.arange(data.num_lines) if lines is None else np.asarray(lines, dtype=np.int64)
    L = line_ids.size
    P, A_ = cand.num_pairs, cand.num_arcs
    line_pos = np.full(data.num_lines, -1, dtype=np.int64)
    line_pos[line_ids] = np.arange(L)
    arc_l = line_pos[cand.arc_line]
    if np.any(arc_l < 0):
        raise ValueError("candidates reference lines outside the model")
    yo, xo, uo = 0, P, P + A_
    arc_node = cand.arc_node()
    arc_sku = data.line_sku[cand.arc_line]
    S = data.num_skus

    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    lb: list[FloatArray] = []
    ub: list[FloatArray] = []
    kind: list[IntArray] = []
    ref: list[IntArray] = []
    nrows = 0

    def add(
        r: IntArray,
        c: IntArray,
        v: FloatArray,
        lo: FloatArray,
        hi: FloatArray,
        k: int,
        rf: IntArray,
    ) -> None:
        nonlocal nrows
        rows.append(r + nrows)
        cols.append(c)
        vals.append(v)
        lb.append(lo)
        ub.append(hi)
        kind.append(np.full(lo.size, k, dtype=np.int64))
        ref.append(rf)
        nrows += lo.size

    qty = data.line_qty[line_ids].astype(np.float64)
    # demand
    add(
        np.concatenate([arc_l, np.arange(L)]),
        np.concatenate([xo + np.arange(A_), uo + np.arange(L)]),
        np.ones(A_ + L),
        qty,
        qty,
        DEMAND,
        line_ids,
    )
    # link
    ar = np.arange(A_)
    add(
        np.concatenate([ar, ar]),
        np.concatenate([xo + ar, yo + cand.arc_pair]),
        np.concatenate([np.ones(A_), -cand.arc_cap.astype(np.float64)]),
        np.full(A_, -np.inf),
        np.zeros(A_),
        LINK,
        ar,
    )

    def limit_rows(
        group: IntArray,
        used: FloatArray,
        limit_of: Callable[[IntArray], IntArray],
        var_index: IntArray,
        kind: int,
    ) -> None:
        """``Σ vars of a group ≤ limit`` for groups whose candidates could exceed it."""
        keys, inv = np.unique(group, return_inverse=True)
        limit = limit_of(keys)
        bind = np.bincount(inv, weights=used, minlength=keys.size) > limit
        rid = np.cumsum(bind) - 1
        sel = bind[inv]
        add(
            rid[inv[sel]],
            var_index[sel],
            np.ones(int(sel.sum())),
            np.full(int(bind.sum()), -np.inf),
            limit[bind].astype(np.float64),
            kind,
            keys[bind],
        )

    x_index = xo + np.arange(A_)
    y_index = yo + np.arange(P)
    cap = cand.arc_cap.astype(np.float64)
    if coupling:
        limit_rows(arc_node * S + arc_sku, cap, lambda k: data.atp[k // S, k % S], x_index, STOCK)
        limit_rows(cand.pair_node, np.ones(P), lambda k: data.node_order_cap[k], y_index, ORDERS)
        limit_rows(arc_node, cap, lambda k: data.node_unit_cap[k], x_index, UNITS)
    no_split = np.where(data.order_allow_split[cand.pair_order], 0, 1).astype(np.int64)
    limit_rows(
        cand.pair_order, np.ones(P) * no_split, lambda k: np.ones(k.size, np.int64), y_index, SPLIT
    )
    # (a split row binds only for orders that may not split and have two or more pairs)

    n = P + A_ + L
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrows, n)
    )
    c = np.concatenate([cand.pair_fixed, cand.arc_unit, data.sku_penalty[data.line_sku[line_ids]]])
    var_ub = np.concatenate([np.ones(P), cand.arc_cap.astype(np.float64), qty])
    return MipModel(
        c=c,
        A=A,
        row_lb=np.concatenate(lb),
        row_ub=np.concatenate(ub),
        var_lb=np.zeros(n),
        var_ub=var_ub,
        integral=np.ones(n, dtype=bool),
        num_pairs=P,
        num_arcs=A_,
        num_lines=L,
        row_kind=np.concatenate(kind),
        row_ref=np.concatenate(ref),
    )


def vector_from_assignment(
    model: MipModel,
    cand: Candidates,
    data: ProblemData,
    order: IntArray,
    node: IntArray,
    sku: IntArray,
    qty: IntArray,
    lines: IntArray | None = None,
) -> FloatArray | None:
    """The variable vector of a known plan (for warm starts), or None if it leaves the model."""
    v = np.zeros(model.num_vars)
    arc_key = (
        cand.pair_order[cand.arc_pair] * data.num_nodes + cand.pair_node[cand.arc_pair]
    ) * data.num_skus + data.line_sku[cand.arc_line]
    lookup = {k: i for i, k in enumerate(arc_key.tolist())}
    for o, n, s, q in zip(order.tolist(), node.tolist(), sku.tolist(), qty.tolist(), strict=True):
        a = lookup.get((o * data.num_nodes + n) * data.num_skus + s)
        if a is None:
            return None
        v[model.num_pairs + a] += q
        v[cand.arc_pair[a]] = 1.0
    line_ids = np.arange(data.num_lines) if lines is None else lines
    shipped = np.zeros(model.num_lines)
    pos = np.full(data.num_lines, -1)
    pos[line_ids] = np.arange(line_ids.size)
    np.add.at(shipped, pos[cand.arc_line], model.x(v))
    v[model.num_pairs + model.num_arcs :] = data.line_qty[line_ids] - shipped
    return v
