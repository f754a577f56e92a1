"""LP relaxation of the routing MIP: a proven bound, a rounded plan, and reduced-cost fixing.

On realistic instances the LP optimum is integral for almost every order: orders only
interact through the stock and capacity they share. So the LP gives (1) a lower bound,
(2) a plan by fixing every order the LP already routes integrally and solving a small MIP
for the rest on the stock and capacity left, and (3) reduced costs that prove most
candidate shipments can never appear in a plan cheaper than that one: for any feasible
point ``v``, ``c·v ≥ z_LP + Σ_j d_j (v_j − lb_j)`` over variables at their lower bound,
so a shipment whose ``d_y + min_a d_x`` exceeds ``UB − z_LP`` is dropped without loss.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from router.assignment import Assignment
from router.backends import Backend, SolveOutcome, solve
from router.candidates import Candidates, build_candidates
from router.data import BoolArray, FloatArray, ProblemData
from router.formulation import (
    DEMAND,
    ORDERS,
    SPLIT,
    STOCK,
    UNITS,
    MipModel,
    build_mip,
    vector_from_assignment,
)
from router.greedy import route_greedy

INTEGRAL_TOL = 1e-6
LP_BACKEND: Backend = "scipy"
"""HiGHS's dual simplex through scipy: 5x faster than GLOP on large instances, and its
duals are consistent (OR-Tools' HiGHS wrapper returns duals that fail the dual check)."""


@dataclass(frozen=True, eq=False)
class Relaxation:
    model: MipModel
    outcome: SolveOutcome

    @property
    def bound(self) -> float:
        assert self.outcome.objective is not None
        return self.outcome.objective

    @property
    def values(self) -> FloatArray:
        assert self.outcome.values is not None
        return self.outcome.values


def solve_relaxation(model: MipModel, time_limit: float) -> Relaxation | None:
    """The LP optimum with duals and reduced costs, or None if not solved in time."""
    out = solve(model, LP_BACKEND, relax=True, time_limit=time_limit)
    if out.status != "optimal" or out.values is None:
        return None
    return Relaxation(model, out)


def to_assignment(data: ProblemData, cand: Candidates, x: FloatArray) -> Assignment:
    xi = np.rint(x).astype(np.int64)
    used = xi > 0
    return Assignment.from_rows(
        cand.pair_order[cand.arc_pair[used]],
        cand.pair_node[cand.arc_pair[used]],
        data.line_sku[cand.arc_line[used]],
        xi[used],
    )


def residual(data: ProblemData, a: Assignment) -> ProblemData:
    """The problem data with the stock and capacity ``a`` uses taken away."""
    atp = data.atp.copy()
    np.subtract.at(atp, (a.node, a.sku), a.qty)
    ships = np.unique(a.order * data.num_nodes + a.node) % data.num_nodes if len(a) else a.node
    ocap = data.node_order_cap - np.bincount(ships, minlength=data.num_nodes)
    ucap = data.node_unit_cap - np.bincount(a.node, weights=a.qty, minlength=data.num_nodes).astype(
        np.int64
    )
    return dataclasses.replace(data, atp=atp, node_order_cap=ocap, node_unit_cap=ucap)


def round_relaxation(data: ProblemData, cand: Candidates, relax: Relaxation) -> Assignment:
    """A plan from the LP: fix the orders it routes integrally, route the rest greedily.

    The rest try their nodes in order of LP weight, the most decided orders first (they
    lose least by going first). Cheap, always valid; the warm start for what follows.
    """
    model, v = relax.model, relax.values
    y, x, u = model.y(v), model.x(v), model.u(v)
    loose = np.zeros(data.num_orders, dtype=bool)
    loose[cand.pair_order[np.abs(y - np.rint(y)) > INTEGRAL_TOL]] = True
    loose[cand.pair_order[cand.arc_pair[np.abs(x - np.rint(x)) > INTEGRAL_TOL]]] = True
    loose[data.line_order[np.abs(u - np.rint(u)) > INTEGRAL_TOL]] = True  # covers all lines
    fixed = to_assignment(data, cand, np.where(loose[cand.pair_order[cand.arc_pair]], 0.0, x))
    rest = np.flatnonzero(loose)
    if rest.size == 0:
        return fixed
    left = residual(data, fixed)
    sub_cand = build_candidates(left, rest)
    if sub_cand.num_pairs == 0:
        return fixed
    # LP weight of each remaining candidate (0 for columns the LP never had)
    weight = dict(
        zip((cand.pair_order * data.num_nodes + cand.pair_node).tolist(), y.tolist(), strict=True)
    )
    keys = (sub_cand.pair_order * data.num_nodes + sub_cand.pair_node).tolist()
    priority = -np.array([weight.get(k, 0.0) for k in keys])
    certainty = np.zeros(data.num_orders)
    np.maximum.at(certainty, cand.pair_order, y)
    sequence = rest[np.argsort(-certainty[rest], kind="stable")]
    return Assignment.concat([fixed, route_greedy(left, sub_cand, priority, sequence)])


def support_mip(
    data: ProblemData,
    cand: Candidates,
    cg: ColumnGeneration,
    incumbent: Assignment,
    backend: Backend,
    time_limit: float,
    extra_per_order: int = 1,
    threads: int = 1,
) -> Assignment | None:
    """The MIP over the LP's support (RENS): shipments the LP uses, the incumbent's, and
    each order's ``extra_per_order`` most promising others.

    The LP is integral for most orders, so this MIP has little more than one shipment per
    order and solves in a fraction of the full MIP's time, usually to within a few tenths
    of a percent of the optimum. A heuristic: its bound says nothing about the full problem.
    """
    y = cg.relax.model.y(cg.relax.values)
    keep = np.zeros(cand.num_pairs, dtype=bool)
    keep[np.flatnonzero(cg.keep)[y > INTEGRAL_TOL]] = True
    keep |= np.isin(
        cand.pair_order * data.num_nodes + cand.pair_node,
        incumbent.order * data.num_nodes + incumbent.node,
    )
    if extra_per_order:
        keep |= initial_columns(data, cand, extra_per_order)
    sub = cand.subset(keep)
    model = build_mip(data, sub)
    hint = vector_from_assignment(
        model, sub, data, incumbent.order, incumbent.node, incumbent.sku, incumbent.qty
    )
    out = solve(model, backend, time_limit=time_limit, hint=hint, threads=threads, gap=1e-5)
    if out.values is None:
        return None
    return to_assignment(data, sub, model.x(out.values))


def reduced_cost_filter(
    cand: Candidates, cg: ColumnGeneration, upper: float, eps: float = 1e-6
) -> tuple[BoolArray, BoolArray]:
    """Shipments and flows of ``cand`` that a plan cheaper than ``upper`` may use.

    Every feasible plan costs at least ``bound + Σ_j d_j v_j`` (each term ≥ 0 at the
    LP's duals, columns outside the restricted LP priced by :func:`pair_reduced_costs`),
    so anything whose reduced cost exceeds ``upper − bound`` is provably unused by a
    better plan. Restricted to what is kept, the MIP's optimum is the true optimum
    whenever it is below ``upper``, and its bound is valid for the full problem.
    """
    model, out = cg.relax.model, cg.relax.outcome
    assert out.reduced_costs is not None
    d, v = out.reduced_costs, cg.relax.values
    sub = cg.cand
    dy = np.maximum(model.y(d), 0.0)
    dx = np.maximum(model.x(d), 0.0)
    min_dx = np.full(sub.num_pairs, np.inf)
    np.minimum.at(min_dx, sub.arc_pair, dx)
    min_dx[~np.isfinite(min_dx)] = 0.0
    slack = upper - cg.bound + eps * max(abs(upper), 1.0)
    inner_pairs = (model.y(v) > INTEGRAL_TOL) | (dy + min_dx <= slack)
    inner_arcs = (model.x(v) > INTEGRAL_TOL) | (dx + dy[sub.arc_pair] <= slack)
    keep_pairs = np.where(cg.keep, False, cg.full_rc <= slack)
    keep_pairs[np.flatnonzero(cg.keep)] = inner_pairs
    keep_arcs = ~cg.keep[cand.arc_pair]
    keep_arcs[np.flatnonzero(cg.keep[cand.arc_pair])] = inner_arcs
    return keep_pairs, keep_arcs


def initial_columns(
    data: ProblemData, cand: Candidates, per_order: int, must: Assignment | None = None
) -> BoolArray:
    """A small starting set of shipments: each order's ``per_order`` most promising nodes.

    A node's promise for an order is its fixed cost plus, for each line it stocks, the
    per-unit cost minus the unfilled penalty it saves; ``must`` adds the pairs of a known
    plan so that it stays representable (warm start).
    """
    saving = (cand.arc_unit - data.sku_penalty[data.line_sku[cand.arc_line]]) * cand.arc_cap
    score = cand.pair_fixed + np.bincount(cand.arc_pair, weights=saving, minlength=cand.num_pairs)
    order = np.lexsort((score, cand.pair_order))
    sorted_orders = cand.pair_order[order]
    first = np.searchsorted(sorted_orders, sorted_orders, side="left")
    rank = np.arange(order.size) - first
    keep = np.zeros(cand.num_pairs, dtype=bool)
    keep[order[rank < per_order]] = True
    if must is not None and len(must):
        key = cand.pair_order * data.num_nodes + cand.pair_node
        keep |= np.isin(key, must.order * data.num_nodes + must.node)
    return keep


def pair_reduced_costs(data: ProblemData, cand: Candidates, relax: Relaxation) -> FloatArray:
    """Least reduced cost of each candidate shipment (column) under the LP's duals.

    With duals π (demand), λ (stock), μ (order capacity), ν (unit capacity), σ (split),
    and the link duals chosen at their best, a shipment's column prices at
    ``F − μ_n − σ_o + Σ_a cap_a · min(0, c_a − π_l − λ_ns − ν_n)``. If every column
    prices ≥ 0 the restricted LP is optimal for the full candidate set; either way
    ``z_R + Σ_p min(0, rc_p)`` is a proven lower bound (Lagrangian, since y ≤ 1).
    """
    model, duals = relax.model, relax.outcome.duals
    assert duals is not None
    S = data.num_skus
    pi = np.zeros(data.num_lines)
    lam = np.zeros(data.num_nodes * S)
    mu = np.zeros(data.num_nodes)
    nu = np.zeros(data.num_nodes)
    sigma = np.zeros(data.num_orders)
    for kind, target in ((DEMAND, pi), (STOCK, lam), (ORDERS, mu), (UNITS, nu), (SPLIT, sigma)):
        rows = model.row_kind == kind
        target[model.row_ref[rows]] = duals[rows]
    arc_node = cand.arc_node()
    rc_x = (
        cand.arc_unit
        - pi[cand.arc_line]
        - lam[arc_node * S + data.line_sku[cand.arc_line]]
        - nu[arc_node]
    )
    rc_y = cand.pair_fixed - mu[cand.pair_node] - sigma[cand.pair_order]
    return rc_y + np.bincount(
        cand.arc_pair, weights=cand.arc_cap * np.minimum(rc_x, 0.0), minlength=cand.num_pairs
    )


@dataclass(frozen=True, eq=False)
class ColumnGeneration:
    """Restricted candidates, their LP, and a bound valid for the full candidate set."""

    keep: BoolArray  # over the full candidates
    cand: Candidates  # the restricted candidates
    relax: Relaxation
    bound: float
    full_rc: FloatArray  # per full pair
    converged: bool
    rounds: int


def column_generation(
    data: ProblemData,
    cand: Candidates,
    keep: BoolArray,
    deadline_s: float,
    add_per_order: int = 5,
    max_rounds: int = 30,
) -> ColumnGeneration | None:
    """Solve the LP over all of ``cand`` while only ever building it over a subset."""
    start = time.perf_counter()
    keep = keep.copy()
    last: ColumnGeneration | None = None
    for rnd in range(1, max_rounds + 1):
        sub = cand.subset(keep)
        model = build_mip(data, sub)
        remaining = deadline_s - (time.perf_counter() - start)
        relax = solve_relaxation(model, max(remaining, 0.05)) if remaining > 0 or not last else None
        if relax is None:
            return last
        rc = pair_reduced_costs(data, cand, relax)
        rc_out = np.where(keep, 0.0, np.minimum(rc, 0.0))
        bound = relax.bound + float(rc_out.sum())
        if last is not None:  # every round's Lagrangian bound is valid: keep the best
            bound = max(bound, last.bound)
        tol = 1e-7 * max(abs(relax.bound), 1.0)
        negative = rc_out < -tol
        last = ColumnGeneration(keep.copy(), sub, relax, bound, rc, not negative.any(), rnd)
        if not negative.any() or time.perf_counter() - start > deadline_s:
            return last
        # add each order's most negative columns
        idx = np.flatnonzero(negative)
        order = idx[np.lexsort((rc[idx], cand.pair_order[idx]))]
        so = cand.pair_order[order]
        rank = np.arange(order.size) - np.searchsorted(so, so, side="left")
        keep[order[rank < add_per_order]] = True
    return last
