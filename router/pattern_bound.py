"""A Dantzig–Wolfe bound over order patterns under any coupling rows with nonnegative use.

:mod:`router.patterns` couples one day's orders through stock per (node, sku) and node
capacities. A season's hindsight problem couples them through dated rows instead
(:func:`router.simulation.hindsight.timed_lp`): cumulative stock per (node, sku, day),
written with carries, network stock per (sku, day), capacities per (node, day),
replenishment periods and shelf windows. Every one is linear in the orders' unit flows
``x`` and shipments ``y`` with coefficients ≥ 0, plus continuous columns ``w`` (the
carries) of cost 0. With ``G_x`` (rows × arcs), ``G_y`` (rows × pairs) and ``H``
(rows × carries)::

    master:   min  Σ_o Σ_k c_ok z_ok
              s.t. Σ_k z_ok = 1                                         (σ_o)
                   Σ_o Σ_k (G_x x_ok + G_y y_ok) z_ok + H w ≤ b         (π ≤ 0)
                   0 ≤ w ≤ w̄,   z ≥ 0

    pricing:  v_o(π) = min over o's plans of  c − π·(G_x x + G_y y)

A pattern ``k`` is one whole plan of order ``o`` (``x_ok`` units per arc, ``y_ok`` its
shipments): every shipment pays its fixed cost in full, which is what the time-indexed LP
gives up when it spreads a split order's fixed cost over its units. The surcharges
``−π G_x`` per unit and ``−π G_y`` per shipment are ≥ 0, so the exact one-order search
(:func:`router.order_search.search`) prices it, as in :mod:`router.patterns`.

Bound. For any π ≤ 0,

    L(π) = Σ_o v_o(π) + π·b + Σ_j min(0, −(π H)_j) w̄_j

is a lower bound on the problem with integral patterns (Lagrangian relaxation of the
coupling rows: each order keeps its own rules, each carry takes its best value in
``[0, w̄]``). A pricing cut off by the search's work limit gives a lower bound on
``v_o``, so L stays valid. The bound reported is the best L seen over the rounds of
column generation, whatever the master LP's accuracy (valid up to the search's float
tolerance, a plan must beat its incumbent by 1e-9 relative). The cost per order (and so
the hindsight's split by day) is the last master LP's, not the solution at the best π.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from router.candidates import Candidates
from router.data import FloatArray, IntArray, ProblemData
from router.patterns import _Master, _Pool, _price_round, _Pricer


@dataclass(frozen=True, eq=False)
class PatternBound:
    """The best Lagrangian bound seen, the last master LP's value (an upper estimate of
    what the bound could still reach), each order's cost in that LP, the units that LP
    leaves unfilled and their penalty (the rest of its cost is shipping and handling),
    and the effort."""

    bound: float
    lp: float
    converged: bool
    rounds: int
    columns: int
    seconds: float
    order_cost: FloatArray
    unfilled: float
    penalty: float


class _RowPricer(_Pricer):
    """The exact pricing of :class:`router.patterns._Pricer` with coupling rows given as
    matrices (rows × arcs, rows × pairs) instead of stock and capacity indices."""

    def __init__(
        self,
        data: ProblemData,
        cand: Candidates,
        g_arc: sp.csc_matrix,
        g_pair: sp.csc_matrix,
        pair_units: IntArray,
    ) -> None:
        self._slices(data, cand)
        if (g_arc.data < 0).any() or (g_pair.data < 0).any():
            raise ValueError("coupling rows must use arcs and pairs with coefficients >= 0")
        self.g_arc, self.g_pair = g_arc, g_pair
        self.pair_units = pair_units
        arc_order = cand.pair_order[cand.arc_pair]
        n = data.num_orders
        to_order = sp.csr_matrix(
            (np.ones(arc_order.size), (arc_order, np.arange(arc_order.size))),
            shape=(n, cand.num_arcs),
        )
        pair_to_order = sp.csr_matrix(
            (np.ones(cand.num_pairs), (cand.pair_order, np.arange(cand.num_pairs))),
            shape=(n, cand.num_pairs),
        )
        self.incidence = (
            to_order @ (g_arc.T != 0).astype(np.float64)
            + pair_to_order @ (g_pair.T != 0).astype(np.float64)
        ).tocsr()

    def price(
        self, o: int, left: FloatArray | None = None
    ) -> tuple[float, IntArray, IntArray, bool]:
        """``v_o(π)`` as :meth:`router.patterns._Pricer.price`; without residual rows
        (this pricer has no stock indices to take ``left`` from)."""
        if left is not None:
            raise ValueError("the row pricer prices at dual prices only, not on residuals")
        return super().price(o)

    def set_duals(self, pi: FloatArray) -> None:
        self.arc_sur = np.asarray(self.g_arc.T @ -pi, dtype=np.float64)
        self.pair_sur = np.asarray(self.g_pair.T @ -pi, dtype=np.float64)

    def _column(
        self, arcs: IntArray, units: IntArray, pairs: IntArray
    ) -> tuple[IntArray, FloatArray]:
        col = self.g_arc[:, arcs] @ sp.csc_matrix(units.astype(np.float64)[:, None])
        col = col + self.g_pair[:, pairs] @ sp.csc_matrix(np.ones((pairs.size, 1)))
        col = sp.csc_matrix(col)
        col.sum_duplicates()
        col.sort_indices()
        return col.indices.astype(np.int64), col.data.astype(np.float64)


def pattern_bound(
    data: ProblemData,
    cand: Candidates,
    g_arc: sp.spmatrix,
    g_pair: sp.spmatrix,
    carries: sp.spmatrix,
    carry_ub: FloatArray,
    rhs: FloatArray,
    pair_units: IntArray,
    seconds: float,
    max_rounds: int = 1_000,
    progress: Callable[[int, float, float], None] | None = None,
) -> PatternBound | None:
    """Column generation on the master above within ``seconds``; None if not even one
    round (every order priced once) fits. ``cand.arc_cap`` bounds each arc's units and
    ``pair_units`` each shipment's; ``progress(round, bound, lp)`` after every round."""
    start = time.perf_counter()
    deadline = start + seconds
    g_arc, g_pair = sp.csc_matrix(g_arc), sp.csc_matrix(g_pair)
    carries = sp.csc_matrix(carries)
    pricer = _RowPricer(data, cand, g_arc, g_pair, pair_units)
    n_orders = data.num_orders
    pool = _Pool()
    empty = np.zeros(0, dtype=np.int64)
    for o in range(n_orders):
        pricer.add(pool, o, empty, empty)
    master = _Master(n_orders, rhs)
    W = carries.shape[1]
    if W:
        master.h.addCols(
            W,
            np.zeros(W),
            np.zeros(W),
            np.minimum(carry_ub, highspy.kHighsInf),
            carries.nnz,
            carries.indptr[:-1].astype(np.int32),
            (carries.indices + n_orders).astype(np.int32),
            carries.data.astype(np.float64),
        )
    carries_t = carries.T.tocsr()

    def lagrangian(pi: FloatArray, value: FloatArray) -> float:
        reduced = -(carries_t @ pi)
        return float(value.sum() + pi @ rhs + np.minimum(reduced * carry_ub, 0.0).sum())

    value = np.zeros(n_orders)
    todo = np.arange(n_orders)
    pi = np.zeros(rhs.size)
    best, lp, rounds, z = -np.inf, np.inf, 0, np.zeros(0)
    for rnd in range(1, max_rounds + 1):
        if not _price_round(pricer, pool, todo, pi, value, deadline):
            break  # cut short: its values would mix two prices, so it gives no bound
        best = max(best, lagrangian(pi, value))
        master.add(pool)
        out = master.solve(deadline - time.perf_counter())
        if out is None:
            break
        lp, z_all, _, new_pi = out
        z, rounds = z_all[W:], rnd
        if progress is not None:
            progress(rnd, best, lp)
        if lp - best <= 1e-7 * max(abs(lp), 1.0):
            break
        changed = new_pi != pi
        pi = new_pi
        todo = np.flatnonzero(pricer.incidence @ changed.astype(np.float64) > 0)
        if todo.size == 0:  # no price moved, yet a gap: only inexact pricing is left
            break
    if not np.isfinite(best):
        return None
    order_cost = np.bincount(
        np.asarray(pool.order[: z.size], dtype=np.int64),
        weights=z * np.asarray(pool.cost[: z.size]),
        minlength=n_orders,
    ).astype(np.float64)
    unfilled = penalty = 0.0
    for j in np.flatnonzero(z > 1e-9).tolist():
        o = pool.order[j]
        l0, l1 = int(data.order_line_start[o]), int(data.order_line_start[o + 1])
        shipped = np.bincount(
            cand.arc_line[pool.arcs[j]] - l0, weights=pool.qty[j], minlength=l1 - l0
        )
        short = data.line_qty[l0:l1] - shipped
        unfilled += z[j] * float(short.sum())
        penalty += z[j] * float(pricer.line_pen[l0:l1] @ short)
    return PatternBound(
        bound=best,
        lp=lp,
        converged=lp - best <= 1e-7 * max(abs(lp), 1.0),
        rounds=rounds,
        columns=len(pool),
        seconds=time.perf_counter() - start,
        order_cost=order_cost,
        unfilled=unfilled,
        penalty=penalty,
    )
