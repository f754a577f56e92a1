"""Dantzig–Wolfe decomposition over order patterns: a strong bound and a near-optimal plan.

Orders interact only through shared stock and node capacity. So the problem is a choice,
for each order, of one *pattern* (a complete plan for that order alone: which nodes ship
which units, the rest unfilled), subject to the coupling rows. With patterns ``k`` of order
``o`` (true cost ``c_ok``, using ``a_rok`` of coupling row ``r``)::

    master:   min  Σ_o Σ_k c_ok z_ok
              s.t. Σ_k z_ok = 1                        every order o              (σ_o)
                   Σ_o Σ_k a_rok z_ok ≤ b_r            stock (n, s): atp; order and
                                                       unit capacity of n          (π_r ≤ 0)
                   z_ok ∈ {0, 1}

    pricing:  v_o(π) = min over o's plans of  c − Σ_r π_r a_r

Pricing is the one-order problem with dual prices added: ``F_n − π_orders(n)`` per
shipment, ``c_a − π_stock(n, s) − π_units(n)`` per unit. Both stay ≥ 0, so the exact
single-order search (:func:`router.order_search.search`) solves it; its proof does not
depend on where the costs come from.

Bound. For any π ≤ 0, ``L(π) = Σ_o v_o(π) + Σ_r π_r b_r`` is a proven lower bound on the
optimum (Lagrangian relaxation of the coupling rows; every order keeps its own rules). At
the master LP's duals it meets the LP when no pattern prices below ``σ_o``; it is at least
the bound of the plain LP relaxation (:mod:`router.relaxation`), whose fractional
shipments pay fractional fixed costs that no pattern can. The bound reported is the best
L(π) seen, computed from the duals whatever the LP's accuracy (π is clipped to ≤ 0).

Column generation. The restricted master starts with every order's empty pattern (so it
is always feasible), the incumbent's patterns and each order's own optimum; each round
solves the LP with HiGHS (warm-started: columns are added to the same model), prices the
orders whose rows' duals changed (an order touching no changed row keeps its value), and
adds each priced pattern the pool does not have yet (at the LP's duals only one with
negative reduced cost can be new).

Plan. Orders whose LP solution is one whole pattern keep it; the others choose among their
patterns in a small MIP on the stock and capacity left (:func:`master_plan`). The result is
a valid plan; its cost against :attr:`Decomposition.bound` is the gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import highspy
import numpy as np
import scipy.sparse as sp

from router.assignment import Assignment
from router.backends import quiet_highs
from router.candidates import Candidates
from router.data import UNLIMITED, BoolArray, FloatArray, IntArray, ProblemData
from router.order_search import WorkLimitExceeded, search

INTEGRAL_TOL = 1e-6
"""A pattern at z ≥ 1 − this is taken whole by the plan."""
_TIE = 1e-9
"""Float noise in a sum of costs: a neighbour this much dearer than allowed is a tie."""
_NO_ARC = 1e18
"""Unit cost where an order's pair has no arc for a line (never useful: above any penalty)."""


@dataclass(frozen=True, eq=False)
class _Rows:
    """The coupling rows that can bind: index per stock key, per node (orders, units)."""

    stock: IntArray  # per n·S + s: row or -1
    orders: IntArray  # per node: row or -1
    units: IntArray  # per node: row or -1
    rhs: FloatArray

    @property
    def size(self) -> int:
        return int(self.rhs.size)

    @classmethod
    def of(cls, data: ProblemData, cand: Candidates) -> _Rows:
        """Rows whose candidates could exceed the limit (the others never bind)."""
        S = data.num_skus
        arc_node = cand.arc_node()
        key = arc_node * S + data.line_sku[cand.arc_line]
        atp = data.atp.ravel()
        supply = np.bincount(key, weights=cand.arc_cap, minlength=atp.size)
        ships = np.bincount(cand.pair_node, minlength=data.num_nodes)
        units = np.bincount(arc_node, weights=cand.arc_cap, minlength=data.num_nodes)
        s_rows = np.flatnonzero(supply > atp)
        o_rows = np.flatnonzero(ships > data.node_order_cap)
        u_rows = np.flatnonzero(units > data.node_unit_cap)
        index = []
        start = 0
        for keys, size in ((s_rows, atp.size), (o_rows, data.num_nodes), (u_rows, data.num_nodes)):
            ix = np.full(size, -1, dtype=np.int64)
            ix[keys] = start + np.arange(keys.size)
            index.append(ix)
            start += keys.size
        rhs = np.concatenate(
            [atp[s_rows], data.node_order_cap[o_rows], data.node_unit_cap[u_rows]]
        ).astype(np.float64)
        return cls(index[0], index[1], index[2], rhs)


@dataclass(eq=False)
class _Pool:
    """The patterns generated so far: per column its order, cost, rows and units."""

    order: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    row_idx: list[IntArray] = field(default_factory=list)
    row_val: list[FloatArray] = field(default_factory=list)
    arcs: list[IntArray] = field(default_factory=list)
    qty: list[IntArray] = field(default_factory=list)
    seen: dict[tuple[int, bytes], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.order)


@dataclass(frozen=True, eq=False)
class Decomposition:
    """What column generation found: the proven bound, the LP and its patterns."""

    bound: float
    lp: float
    converged: bool
    rounds: int
    z: FloatArray  # LP value per column
    pool: _Pool
    rows: _Rows
    seconds: float
    pricer: _Pricer
    pi: FloatArray  # the duals of the last round priced whole
    value: FloatArray  # per order v_o(pi)


class _OrderArrays(NamedTuple):
    """One order's candidates, dense: rows are its pairs ``p0:p1``, columns its lines (a
    named tuple: built for every pricing, where a frozen dataclass cost 6 %)."""

    l0: int
    p0: int
    p1: int
    a0: int
    a1: int
    row: IntArray  # per arc a0:a1: its pair's row
    col: IntArray  # per arc: its line's column
    usable: IntArray  # units the arc may carry (0: no arc)
    unit: FloatArray  # unit cost with surcharges (_NO_ARC: no arc)
    arc_of: IntArray  # the arc, or -1
    fixed: FloatArray  # per pair: fixed cost with surcharge
    units_left: IntArray  # per pair: the node's unit capacity
    pen: FloatArray  # per line
    qty: IntArray  # per line

    @property
    def num_pairs(self) -> int:
        return self.p1 - self.p0


class _Pricer:
    """Per-order slices of the candidates, and the exact pricing of one order."""

    def __init__(self, data: ProblemData, cand: Candidates, rows: _Rows) -> None:
        self._slices(data, cand)
        self.rows = rows
        n_orders = data.num_orders
        S = data.num_skus
        arc_node = cand.arc_node()
        self.arc_stock_row = rows.stock[arc_node * S + data.line_sku[cand.arc_line]]
        self.arc_unit_row = rows.units[arc_node]
        self.pair_order_row = rows.orders[cand.pair_node]
        self.pair_units = np.minimum(data.node_unit_cap[cand.pair_node], UNLIMITED)
        self.pair_unit_row = rows.units[cand.pair_node]
        # order × row incidence: which orders a change of a row's dual can affect
        arc_order = cand.pair_order[cand.arc_pair]
        r = np.concatenate([self.arc_stock_row, self.arc_unit_row, self.pair_order_row])
        o = np.concatenate([arc_order, arc_order, cand.pair_order])
        ok = r >= 0
        self.incidence = sp.csr_matrix(
            (np.ones(int(ok.sum())), (o[ok], r[ok])), shape=(n_orders, rows.size)
        )

    def _slices(self, data: ProblemData, cand: Candidates) -> None:
        """Where each order's pairs and each pair's arcs start; no surcharges yet."""
        if cand.num_pairs and (
            np.any(np.diff(cand.pair_order) < 0) or np.any(np.diff(cand.arc_pair) < 0)
        ):
            raise ValueError("candidates must be sorted by order and pair")
        self.data, self.cand = data, cand
        self.pair_start = np.searchsorted(cand.pair_order, np.arange(data.num_orders + 1))
        self.arc_start = np.searchsorted(cand.arc_pair, np.arange(cand.num_pairs + 1))
        self.line_pen = data.sku_penalty[data.line_sku]
        self.arc_sur = np.zeros(cand.num_arcs)
        self.pair_sur = np.zeros(cand.num_pairs)

    def set_duals(self, pi: FloatArray) -> None:
        """Dual prices (≤ 0) of the coupling rows, as surcharges (≥ 0) on arcs and pairs."""
        ext = np.r_[-pi, 0.0]  # index -1 → 0
        self.arc_sur = ext[self.arc_stock_row] + ext[self.arc_unit_row]
        self.pair_sur = ext[self.pair_order_row]

    def order_arrays(self, o: int) -> _OrderArrays:
        """Order ``o``'s candidates as dense (pair × line) arrays at the current prices."""
        d, c = self.data, self.cand
        l0, l1 = int(d.order_line_start[o]), int(d.order_line_start[o + 1])
        p0, p1 = int(self.pair_start[o]), int(self.pair_start[o + 1])
        a0, a1 = int(self.arc_start[p0]), int(self.arc_start[p1])
        r = c.arc_pair[a0:a1] - p0
        col = c.arc_line[a0:a1] - l0
        shape = (p1 - p0, l1 - l0)
        usable = np.zeros(shape, dtype=np.int64)
        unit = np.full(shape, _NO_ARC)
        arc_of = np.full(shape, -1, dtype=np.int64)
        usable[r, col] = c.arc_cap[a0:a1]
        unit[r, col] = c.arc_unit[a0:a1] + self.arc_sur[a0:a1]
        arc_of[r, col] = np.arange(a0, a1)
        return _OrderArrays(
            l0=l0,
            p0=p0,
            p1=p1,
            a0=a0,
            a1=a1,
            row=r,
            col=col,
            usable=usable,
            unit=unit,
            arc_of=arc_of,
            fixed=c.pair_fixed[p0:p1] + self.pair_sur[p0:p1],
            units_left=self.pair_units[p0:p1],
            pen=self.line_pen[l0 : l0 + shape[1]],
            qty=d.line_qty[l0 : l0 + shape[1]],
        )

    def price(
        self, o: int, left: FloatArray | None = None
    ) -> tuple[float, IntArray, IntArray, bool]:
        """``v_o(π)``, the optimal pattern (arcs, units) and whether the value is exact.

        ``left`` (per coupling row) limits the order to what is left of each row: then the
        pattern is the order's best plan on that residual stock and capacity. Past the
        search's work limit the value is a lower bound (nothing shipped, or one fixed
        cost, the least, and every unit at its cheapest) and the pattern is empty.
        """
        d, c = self.data, self.cand
        empty = np.zeros(0, dtype=np.int64)
        od = self.order_arrays(o)
        pen, qty = od.pen, od.qty
        if od.num_pairs == 0:
            return float(pen @ qty), empty, empty, True
        a0, a1, p0, p1 = od.a0, od.a1, od.p0, od.p1
        r, col, usable, unit, fixed = od.row, od.col, od.usable, od.unit, od.fixed
        units_left = od.units_left
        if left is not None:
            ext = np.r_[left, np.inf]
            stock = ext[self.arc_stock_row[a0:a1]]
            usable[r, col] = np.minimum(c.arc_cap[a0:a1], np.maximum(stock, 0)).astype(np.int64)
            units_left = np.minimum(units_left, np.maximum(ext[self.pair_unit_row[p0:p1]], 0))
            units_left = units_left.astype(np.int64)
            usable[ext[self.pair_order_row[p0:p1]] < 1] = 0
        try:
            rows = search(
                fixed,
                unit,
                usable,
                units_left,
                pen,
                qty,
                bool(d.order_allow_split[o]),
            )
        except WorkLimitExceeded:
            # a plan ships nothing (every unit at its penalty) or pays at least one
            # shipment's fixed cost, and every unit at least its cheapest way
            least = np.minimum(pen, np.where(usable > 0, unit, np.inf).min(axis=0))
            open_ = (usable > 0).any(axis=1)
            ships = float(fixed[open_].min()) if open_.any() else np.inf
            return float(min(pen @ qty, ships + least @ qty)), empty, empty, False
        value = float(pen @ qty)
        arc_of = od.arc_of
        arcs: list[int] = []
        units: list[int] = []
        for k, take in rows:
            t = np.asarray(take, dtype=np.int64)
            value += float(fixed[k]) + float(((unit[k] - pen) * t).sum())
            used = np.flatnonzero(t > 0)
            arcs.extend(arc_of[k, used].tolist())
            units.extend(t[used].tolist())
        return value, np.asarray(arcs, dtype=np.int64), np.asarray(units, dtype=np.int64), True

    def add(self, pool: _Pool, o: int, arcs: IntArray, units: IntArray) -> int:
        """The pattern's column, added with its true cost and rows if it is new."""
        by_arc = np.argsort(arcs, kind="stable")
        arcs, units = arcs[by_arc], units[by_arc]
        sig = (o, arcs.tobytes() + units.tobytes())
        if sig in pool.seen:
            return pool.seen[sig]
        pool.seen[sig] = len(pool)
        d, c = self.data, self.cand
        l0, l1 = int(d.order_line_start[o]), int(d.order_line_start[o + 1])
        pen = self.line_pen[l0:l1]
        pairs = np.unique(c.arc_pair[arcs])
        shipped = np.bincount(c.arc_line[arcs] - l0, weights=units, minlength=l1 - l0)
        cost = (
            float(c.pair_fixed[pairs].sum())
            + float(c.arc_unit[arcs] @ units)
            + float(pen @ (d.line_qty[l0:l1] - shipped))
        )
        idx, val = self._column(arcs, units, pairs)
        pool.order.append(o)
        pool.cost.append(cost)
        pool.row_idx.append(idx)
        pool.row_val.append(val)
        pool.arcs.append(arcs)
        pool.qty.append(units)
        return len(pool) - 1

    def _column(
        self, arcs: IntArray, units: IntArray, pairs: IntArray
    ) -> tuple[IntArray, FloatArray]:
        """The coupling rows a pattern uses (sorted) and how much of each."""
        idx = np.concatenate(
            [self.arc_stock_row[arcs], self.arc_unit_row[arcs], self.pair_order_row[pairs]]
        )
        val = np.concatenate([units, units, np.ones(pairs.size)]).astype(np.float64)
        keep = idx >= 0
        idx, val = idx[keep], val[keep]
        if idx.size:
            idx, inv = np.unique(idx, return_inverse=True)
            val = np.bincount(inv, weights=val).astype(np.float64)
        return idx, val

    def patterns_of(self, a: Assignment) -> list[tuple[int, IntArray, IntArray]]:
        """A plan as one pattern per order (its arcs and units); orders it leaves out are
        omitted. Rows outside the candidates are dropped (a valid plan has none)."""
        d, c = self.data, self.cand
        if len(a) == 0 or c.num_arcs == 0:
            return []
        S, N = d.num_skus, d.num_nodes
        arc_key = (c.pair_order[c.arc_pair] * N + c.pair_node[c.arc_pair]) * S + d.line_sku[
            c.arc_line
        ]
        order = np.argsort(arc_key)
        keys = (a.order * N + a.node) * S + a.sku
        pos = np.searchsorted(arc_key[order], keys)
        pos = np.minimum(pos, order.size - 1)
        found = arc_key[order[pos]] == keys
        arcs, qty, orders = order[pos[found]], a.qty[found], a.order[found]
        by_order = np.argsort(orders, kind="stable")
        arcs, qty, orders = arcs[by_order], qty[by_order], orders[by_order]
        cuts = np.flatnonzero(np.diff(orders)) + 1
        return [
            (int(os_[0]), ar, q)
            for os_, ar, q in zip(
                np.split(orders, cuts), np.split(arcs, cuts), np.split(qty, cuts), strict=True
            )
            if os_.size
        ]


class _Master:
    """The restricted master LP in HiGHS, grown column by column and re-solved warm."""

    def __init__(self, num_orders: int, rhs: FloatArray) -> None:
        self.h = quiet_highs(threads=1)
        self.num_orders = num_orders
        inf = highspy.kHighsInf
        lower = np.concatenate([np.ones(num_orders), np.full(rhs.size, -inf)])
        upper = np.concatenate([np.ones(num_orders), rhs])
        no_entries = np.zeros(0, dtype=np.int32)
        self.h.addRows(lower.size, lower, upper, 0, no_entries, no_entries, np.zeros(0))
        self.columns = 0

    def add(self, pool: _Pool) -> None:
        new = range(self.columns, len(pool))
        if not new:
            return
        idx = [np.r_[pool.order[j], self.num_orders + pool.row_idx[j]] for j in new]
        val = [np.r_[1.0, pool.row_val[j]] for j in new]
        starts = np.cumsum([0, *(i.size for i in idx[:-1])]).astype(np.int32)
        index = np.concatenate(idx).astype(np.int32)
        value = np.concatenate(val)
        cost = np.asarray(pool.cost[self.columns :])
        n = len(new)
        self.h.addCols(n, cost, np.zeros(n), np.ones(n), index.size, starts, index, value)
        self.columns = len(pool)

    def solve(self, time_limit: float) -> tuple[float, FloatArray, FloatArray, FloatArray] | None:
        """(objective, z, σ, π) of the LP, or None if not solved to optimality in time."""
        # HiGHS counts time_limit against the object's total run time over every run()
        self.h.setOptionValue("time_limit", self.h.getRunTime() + max(time_limit, 0.01))
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = self.h.getSolution()
        duals = np.asarray(sol.row_dual)
        obj = float(self.h.getInfo().objective_function_value)
        z = np.asarray(sol.col_value)
        return obj, z, duals[: self.num_orders], np.minimum(duals[self.num_orders :], 0.0)


def column_generation(
    data: ProblemData,
    cand: Candidates,
    incumbent: Assignment | None,
    seconds: float,
    max_rounds: int = 200,
) -> Decomposition | None:
    """The master LP by column generation within ``seconds``, with the best bound seen.

    None if not even the first round (every order priced, then the LP) fits in time. A
    round cut short by the deadline gives no bound (its values would mix two prices).
    """
    start = time.perf_counter()
    deadline = start + seconds
    rows = _Rows.of(data, cand)
    pricer = _Pricer(data, cand, rows)
    pool = _Pool()
    n_orders = data.num_orders
    empty = np.zeros(0, dtype=np.int64)
    for o in range(n_orders):
        pricer.add(pool, o, empty, empty)
    if incumbent is not None:
        for o, arcs, qty in pricer.patterns_of(incumbent):
            pricer.add(pool, o, arcs, qty)
    value = np.zeros(n_orders)
    todo = np.arange(n_orders)
    pi = np.zeros(rows.size)
    master = _Master(n_orders, rows.rhs)
    best_bound, last = -np.inf, None
    priced: tuple[FloatArray, FloatArray] = (pi, value)
    for rnd in range(1, max_rounds + 1):
        if not _price_round(pricer, pool, todo, pi, value, deadline):
            break  # cut short: its values would mix two prices, so it gives no bound
        priced = (pi, value.copy())
        best_bound = max(best_bound, float(value.sum() + pi @ rows.rhs))
        master.add(pool)
        left = deadline - time.perf_counter()
        if last is not None and left <= 0:
            break
        out = master.solve(max(left, 0.05))
        if out is None:
            break
        lp, z, _, new_pi = out
        last = (lp, z, rnd)
        if lp - best_bound <= 1e-7 * max(abs(lp), 1.0):
            used = time.perf_counter() - start
            return Decomposition(best_bound, lp, True, rnd, z, pool, rows, used, pricer, *priced)
        changed = new_pi != pi
        pi = new_pi
        todo = np.flatnonzero(pricer.incidence @ changed.astype(np.float64) > 0)
        if todo.size == 0:  # no price moved, yet a gap: only inexact pricing is left
            break
    if last is None:
        return None
    lp, z, rnd = last
    used = time.perf_counter() - start
    return Decomposition(best_bound, lp, False, rnd, z, pool, rows, used, pricer, *priced)


def _price_round(
    pricer: _Pricer,
    pool: _Pool,
    todo: IntArray,
    pi: FloatArray,
    value: FloatArray,
    deadline: float,
) -> bool:
    """Price ``todo`` at ``pi`` into ``value``, adding the patterns found; False if the
    deadline cut the round short."""
    pricer.set_duals(pi)
    for o in todo.tolist():
        if time.perf_counter() > deadline:
            return False
        value[o], arcs, qty, _ = pricer.price(o)
        if arcs.size:
            pricer.add(pool, o, arcs, qty)
    return True


FREE_ORDERS = 2_000
"""Most orders the plan's MIP re-decides around the ones the LP leaves fractional."""
ALTERNATIVES_SHARE = 0.2
"""Most of the plan's time spent adding the LP patterns' alternatives to the pool."""
MOVES_SHARE = 0.15
"""Most of step 3's time spent adding near-optimal patterns' one-move neighbours."""
MOVES_MAX_RC = 0.15
"""Patterns whose reduced cost at the final prices is within this share of the average
order's value (LP over orders) get their one-move neighbours (themselves kept within it)."""
FREE_MIP_GAP = 1e-4
"""Relative gap at which step 2's MIP stops: proving its last 0.01 % took `vn-day` 2 s
that the moves and step 3 turn into a 0.26 % cheaper plan."""
FULL_MASTER_COLUMNS = 60_000
"""Up to this many patterns, the plan's last step is a MIP over all of them (else only
over the orders the LP leaves fractional)."""


def master_plan(
    data: ProblemData,
    cand: Candidates,
    dec: Decomposition,
    time_limit: float,
    threads: int = 1,
) -> Assignment:
    """A valid plan from the master, in three steps, each no worse than the last.

    0. The pool gets each LP pattern's *alternatives* (:func:`_alternatives`): for each
       shipment of a pattern the LP uses, the order's best plan without that shipment at
       the same prices: the near-optimal patterns column generation had no reason to
       price, among which the MIPs below can trade scarce units between orders.
    1. Orders whose LP value is one whole pattern keep it. The others (and, up to
       :data:`FREE_ORDERS` in all, the whole ones that share a row with them), most
       decided first, take their LP pattern if it still fits, else their best plan on the
       stock and capacity left (exact search; at the LP's prices it does worse: the
       residual already holds the scarcity those prices stand for).
    2. Those orders choose among all their patterns in a MIP on what the first group
       leaves, to a gap of :data:`FREE_MIP_GAP` (kept only if cheaper than step 1's).
    3. With time left and at most :data:`FULL_MASTER_COLUMNS` patterns, the pool gets the
       one-move neighbours of step 1's orders' near-optimal patterns (:func:`_moves`:
       the exchanges between orders that need one unit moved within an order), and every
       order chooses again in the MIP over the whole pool (kept only if cheaper).

    Past ``time_limit`` step 1 leaves the orders it has not reached unfilled unless their
    LP pattern fits. It prices with no dual prices: the pricer's duals are reset.
    """
    start = time.perf_counter()
    pool, pricer, rows = dec.pool, dec.pricer, dec.rows
    pricer.set_duals(dec.pi)
    _alternatives(dec, start + time_limit * ALTERNATIVES_SHARE)
    z = np.zeros(len(pool))
    z[: dec.z.size] = dec.z
    col_order = np.asarray(pool.order, dtype=np.int64)
    whole_col = z >= 1.0 - INTEGRAL_TOL
    # Orders spread over several patterns are free; so are the whole ones that share a
    # row with them (so that the MIP can make room for them), while they stay few.
    touched = np.zeros(rows.size, dtype=bool)
    for j in np.flatnonzero((z > INTEGRAL_TOL) & ~whole_col).tolist():
        touched[pool.row_idx[j]] = True
    all_whole = np.flatnonzero(whole_col)
    near = np.asarray([touched[pool.row_idx[j]].any() for j in all_whole.tolist()], dtype=bool)
    spread = data.num_orders - all_whole.size
    whole = all_whole[~near] if spread + int(near.sum()) <= FREE_ORDERS else all_whole
    decided = np.zeros(data.num_orders, dtype=bool)
    decided[col_order[whole]] = True
    left = rows.rhs - _usage(pool, whole, rows.size)
    lp_whole = np.full(data.num_orders, -1, dtype=np.int64)
    lp_whole[col_order[all_whole]] = all_whole
    certainty = np.zeros(data.num_orders)
    np.maximum.at(certainty, col_order, z)
    free = np.flatnonzero(~decided)
    free = free[np.argsort(-certainty[free], kind="stable")]
    pricer.set_duals(np.zeros(rows.size))
    rest_left = left.copy()
    greedy: list[int] = []
    for o in free.tolist():
        j = int(lp_whole[o])
        if j < 0 or np.any(rest_left[pool.row_idx[j]] < pool.row_val[j] - 1e-9):
            if time.perf_counter() - start < time_limit:
                _, arcs, qty, _ = pricer.price(o, rest_left)
            else:  # out of time: unfilled (the empty pattern always fits)
                arcs = qty = np.zeros(0, dtype=np.int64)
            j = pricer.add(pool, o, arcs, qty)
        greedy.append(j)
        rest_left[pool.row_idx[j]] -= pool.row_val[j]
    choice = np.concatenate([whole, np.asarray(greedy, dtype=np.int64)])
    costs = np.asarray(pool.cost)
    col_order = np.asarray(pool.order, dtype=np.int64)
    if free.size:
        cols = np.flatnonzero(~decided[col_order])
        budget = time_limit - (time.perf_counter() - start)
        picked = _choose(
            pool, cols, col_order, left, np.asarray(greedy), budget, threads, FREE_MIP_GAP
        )
        if picked is not None and costs[picked].sum() <= costs[greedy].sum() + 1e-9:
            choice = np.concatenate([whole, picked])
    budget = time_limit - (time.perf_counter() - start)
    if len(pool) <= FULL_MASTER_COLUMNS and budget > 0.05:
        max_rc = MOVES_MAX_RC * max(dec.lp, 0.0) / max(data.num_orders, 1)
        _moves(dec, max_rc, ~decided, time.perf_counter() + budget * MOVES_SHARE)
        pricer.set_duals(np.zeros(rows.size))
        costs = np.asarray(pool.cost)
        col_order = np.asarray(pool.order, dtype=np.int64)
        budget = time_limit - (time.perf_counter() - start)
        every = np.arange(len(pool))
        picked = _choose(pool, every, col_order, rows.rhs, choice, budget, threads)
        if picked is not None and costs[picked].sum() < costs[choice].sum() - 1e-9:
            choice = picked
    arcs = np.concatenate([pool.arcs[j] for j in choice.tolist()] or [np.zeros(0, np.int64)])
    qty = np.concatenate([pool.qty[j] for j in choice.tolist()] or [np.zeros(0, np.int64)])
    return Assignment.from_rows(
        cand.pair_order[cand.arc_pair[arcs]],
        cand.pair_node[cand.arc_pair[arcs]],
        data.line_sku[cand.arc_line[arcs]],
        qty,
    )


def _alternatives(dec: Decomposition, deadline: float) -> None:
    """Add to the pool, for each shipment of each pattern the LP uses, the order's best
    pattern without that shipment at the pricer's (final) prices; orders the LP leaves
    fractional first. Stops at ``deadline`` or when the pool reaches
    :data:`FULL_MASTER_COLUMNS` (the size up to which the plan's last MIP takes it all)."""
    pool, pricer, cand = dec.pool, dec.pricer, dec.pricer.cand
    z = dec.z
    col_order = np.asarray(pool.order[: z.size], dtype=np.int64)
    used = np.flatnonzero(z > INTEGRAL_TOL)
    spread = np.zeros(pricer.data.num_orders, dtype=bool)
    spread[col_order[used[z[used] < 1.0 - INTEGRAL_TOL]]] = True
    used = used[np.argsort(~spread[col_order[used]], kind="stable")]
    for j in used.tolist():
        if time.perf_counter() > deadline or len(pool) >= FULL_MASTER_COLUMNS:
            return
        o = int(col_order[j])
        for p in np.unique(cand.arc_pair[pool.arcs[j]]).tolist():
            kept = pricer.pair_sur[p]
            pricer.pair_sur[p] = _NO_ARC  # the shipment priced out of reach
            try:
                _, arcs, qty, exact = pricer.price(o)
            finally:
                pricer.pair_sur[p] = kept
            if exact:
                pricer.add(pool, o, arcs, qty)


def _moves(dec: Decomposition, max_rc: float, free: BoolArray, deadline: float) -> None:
    """Add to the pool the one-move neighbours of each pattern whose reduced cost at the
    final prices is at most ``max_rc``, least reduced cost first, keeping those within it.

    A move takes one unit of a line from a shipment (or from the unfilled) to another of
    the pattern's shipments (or to the unfilled), or sends a whole shipment from another
    node. Pricing gives each order one best pattern per price and the alternatives only
    drop a shipment: better plans often trade one unit between two shipments of an order
    (its scarce node's unit to another order) or one node for an equally dear one, which
    no price makes best. Measured on us-1000x100: the four patterns the optimum needed
    that the pool lacked are each one move from a pattern of the pool, at reduced costs
    0.07 to 2.85 (the average order's value is 22.8).
    """
    pool, pricer = dec.pool, dec.pricer
    pricer.set_duals(dec.pi)  # the prices the reduced costs are at
    split_ok = pricer.data.order_allow_split
    cols = np.flatnonzero(free[np.asarray(pool.order, dtype=np.int64)])
    rc = _reduced_costs(dec, cols)
    near = np.argsort(rc, kind="stable")[: int(np.sum(rc <= max_rc))]
    for j, rc_j in zip(cols[near].tolist(), rc[near].tolist(), strict=True):
        if time.perf_counter() > deadline or len(pool) >= FULL_MASTER_COLUMNS:
            return
        o = pool.order[j]
        od = pricer.order_arrays(o)
        if od.num_pairs == 0:
            continue
        take = np.zeros_like(od.usable)
        arcs = pool.arcs[j]
        take[pricer.cand.arc_pair[arcs] - od.p0, pricer.cand.arc_line[arcs] - od.l0] = pool.qty[j]
        for t in _neighbours(od, take, max_rc - rc_j, bool(split_ok[o])):
            k = np.nonzero(t)
            pricer.add(pool, o, od.arc_of[k], t[k])


def _reduced_costs(dec: Decomposition, cols: IntArray) -> FloatArray:
    """Reduced costs ``c − π·a − v_o`` of pool columns at the duals ``dec.pi`` its order
    values were priced at (≥ 0 up to float noise where that pricing was exact)."""
    pool = dec.pool
    out = np.empty(cols.size)
    for k, j in enumerate(cols.tolist()):
        dual = float(dec.pi[pool.row_idx[j]] @ pool.row_val[j])
        out[k] = pool.cost[j] - dual - dec.value[pool.order[j]]
    return out


def _neighbours(od: _OrderArrays, take: IntArray, slack: float, split_ok: bool) -> list[IntArray]:
    """The one-move neighbours of the plan ``take`` (pair × line units) of one order whose
    reduced cost rises by at most ``slack`` (see :func:`_moves`; ties within float noise
    count)."""
    slack += _TIE
    used = take.sum(axis=1)
    ships = np.flatnonzero(used > 0)
    unfilled = od.qty - take.sum(axis=0)
    out: list[IntArray] = []
    # one unit: from a shipment (or the unfilled, -1) to another (or the unfilled)
    sources = [(p, ln) for p in ships.tolist() for ln in np.flatnonzero(take[p] > 0).tolist()]
    sources += [(-1, ln) for ln in np.flatnonzero(unfilled > 0).tolist()]
    for p, ln in sources:
        was = od.unit[p, ln] if p >= 0 else od.pen[ln]
        freed = od.fixed[p] if p >= 0 and used[p] == 1 else 0.0
        for q in [*ships.tolist(), -1]:
            full = q >= 0 and (take[q, ln] >= od.usable[q, ln] or used[q] >= od.units_left[q])
            if q == p or full:
                continue
            now = od.unit[q, ln] if q >= 0 else od.pen[ln]
            if now - was - freed <= slack:
                t = take.copy()
                if p >= 0:
                    t[p, ln] -= 1
                if q >= 0:
                    t[q, ln] += 1
                out.append(t)
    # a whole shipment from another node
    for p in ships.tolist():
        fits = np.all(od.usable >= take[p][None, :], axis=1) & (od.units_left >= used[p])
        fits[ships] = False
        rise = od.fixed - od.fixed[p] + (od.unit - od.unit[p]) @ take[p]
        for q in np.flatnonzero(fits & (rise <= slack)).tolist():
            t = take.copy()
            t[q], t[p] = take[p], 0
            out.append(t)
    if not split_ok:
        out = [t for t in out if np.count_nonzero(t.sum(axis=1)) <= 1]
    return out


def _usage(pool: _Pool, cols: IntArray, size: int) -> FloatArray:
    used = np.zeros(size)
    for j in cols.tolist():
        np.add.at(used, pool.row_idx[j], pool.row_val[j])
    return used


def _choose(
    pool: _Pool,
    cols: IntArray,
    col_order: IntArray,
    left: FloatArray,
    hint_cols: IntArray,
    time_limit: float,
    threads: int,
    gap: float = 1e-6,
) -> IntArray | None:
    """One pattern per order among ``cols`` within ``left``, least cost (a MIP), or None."""
    if time_limit <= 0.01:
        return None
    orders, conv = np.unique(col_order[cols], return_inverse=True)
    n = cols.size
    r = [conv]
    c = [np.arange(n)]
    v = [np.ones(n)]
    for k, j in enumerate(cols.tolist()):
        r.append(orders.size + pool.row_idx[j])
        c.append(np.full(pool.row_idx[j].size, k))
        v.append(pool.row_val[j])
    num_rows = orders.size + left.size
    A = sp.csc_matrix(
        (np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(num_rows, n)
    )
    hint = np.isin(cols, hint_cols).astype(np.float64)
    values = _solve_master_mip(
        np.asarray(pool.cost)[cols],
        A,
        np.concatenate([np.ones(orders.size), np.full(left.size, -highspy.kHighsInf)]),
        np.concatenate([np.ones(orders.size), left]),
        hint,
        time_limit,
        threads,
        gap,
    )
    if values is None:
        return None
    picked = cols[values > 0.5]
    if np.unique(col_order[picked]).size != orders.size or picked.size != orders.size:
        return None
    return picked


def _solve_master_mip(
    cost: FloatArray,
    A: sp.csc_matrix,
    row_lb: FloatArray,
    row_ub: FloatArray,
    start: FloatArray,
    time_limit: float,
    threads: int,
    gap: float = 1e-6,
) -> FloatArray | None:
    """Binary ``min cost·z, row_lb ≤ A z ≤ row_ub`` in HiGHS from the feasible ``start``
    (so the answer is never worse than it), or None without a solution."""
    h = quiet_highs(threads)
    h.setOptionValue("time_limit", max(time_limit, 0.01))
    h.setOptionValue("mip_rel_gap", gap)
    # HiGHS's root reduced-cost heuristic delays the sub-MIP that finds the master's better
    # plans: vn-day's last MIP found 41,617.81 at 4.1 s with it; the master's plan with 5 s
    # went from 41,725.50 to 41,617.92 without it (us-1000x100: the optimum in 1.5 s, was 1.8).
    h.setOptionValue("mip_heuristic_run_root_reduced_cost", False)
    n = cost.size
    no_entries = np.zeros(0, dtype=np.int32)
    h.addRows(row_lb.size, row_lb, row_ub, 0, no_entries, no_entries, np.zeros(0))
    h.addCols(
        n,
        cost,
        np.zeros(n),
        np.ones(n),
        A.nnz,
        A.indptr[:-1].astype(np.int32),
        A.indices.astype(np.int32),
        A.data.astype(np.float64),
    )
    h.changeColsIntegrality(
        n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger)
    )
    sol = highspy.HighsSolution()
    sol.col_value = start.tolist()
    h.setSolution(sol)
    h.run()
    if h.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
        return None
    return np.asarray(h.getSolution().col_value)
