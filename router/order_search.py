"""The exact search for one order's least-cost plan, as a pure function of arrays.

:class:`router.single.SingleOrderRouter` builds the arrays from a contract order (its
module docstring proves each step of the search); :mod:`router.patterns` calls the same
search with dual prices in the costs to price Dantzig–Wolfe columns.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from router.data import FloatArray, IntArray

WORK_LIMIT = 50_000
"""Shipment choices the dynamic programme may try before handing over to the MIP."""
SUBSET_LIMIT = 20_000
"""Most node sets of one size priced at once when no unit capacity binds (else: programme)."""
CHAMPIONS = 24
"""Above this many nodes, dominance is first counted against this many strong nodes only
(the cheapest, and those with the most stock), which costs K × 24 instead of K × K."""
_DOMINANCE_TOL = 1e-12
"""Float slack of the dominance test (what a swap may cost: far below the 1e-6 of a cost)."""
_REL_TOL = 1e-9
"""A plan must beat the incumbent by this (relative) to replace it: float noise is no gain."""

_Chain = tuple[int, tuple[int, ...], "_Chain | None"] | None
"""A plan in the programme: (node, units per line, the rest of the plan) linked backwards."""


class WorkLimitExceeded(Exception):
    """The dynamic programme grew past :data:`WORK_LIMIT`; the MIP takes over."""


def search(
    fixed: FloatArray,
    unit: FloatArray,
    usable: IntArray,
    units_left: IntArray,
    penalty: FloatArray,
    qty: IntArray,
    allow_split: bool,
) -> list[tuple[int, tuple[int, ...]]]:
    """Shipments (row, units per line) of an optimal one-order plan; see the module docstring.

    Rows are nodes: ``fixed[n]`` = F_n ≥ 0, ``unit[n, l]`` = c_nl, ``usable[n, l]`` = u_nl,
    ``units_left[n]`` = U_n. Pure: the same search prices Dantzig–Wolfe columns
    (:mod:`router.patterns`), where F and c carry dual prices. Raises
    :class:`WorkLimitExceeded` past :data:`WORK_LIMIT`.
    """
    pen = penalty
    useful = (usable > 0) & (unit < pen[None, :])  # step 1
    cand = np.flatnonzero(useful.any(axis=1))
    if cand.size == 0:
        return []
    u = np.where(useful[cand], usable[cand], 0)
    c = unit[cand]
    f = fixed[cand]
    total_qty = int(qty.sum())
    cap = np.minimum(units_left[cand], total_qty)

    # Step 2: the incumbent. Best single node (exact when the order may not split),
    # then greedily the node that saves most on what is left.
    all_unfilled = float(pen @ qty)
    ub, best = all_unfilled, []
    left = qty.copy()
    used = np.zeros(cand.size, dtype=bool)
    for _ in range(total_qty):
        take = _fill(np.minimum(u, left[None, :]), c, pen, cap)
        saving = ((pen[None, :] - c) * take).sum(axis=1) - f
        saving[used] = -np.inf
        k = int(np.argmax(saving))
        if saving[k] <= _tol(ub):
            break
        used[k] = True
        ub -= float(saving[k])
        best.append((int(cand[k]), tuple(take[k].tolist())))
        left -= take[k]
        if not allow_split or not left.any():
            break
    if not allow_split or total_qty == 1 or cand.size < 2:
        return best

    # Step 3: bound pruning, and the most shipments a cheaper plan can have.
    least = np.minimum(pen, np.where(u > 0, c, np.inf).min(axis=0))
    floor = float(least @ qty)
    cut = ub - _tol(ub)
    lo1, lo2 = np.partition(f, 1)[:2]
    other = np.where(f <= lo1, lo2, lo1)  # least F of another node (ties give lo1 = lo2)
    keep = f + other + floor < cut
    if np.count_nonzero(keep) < 2:
        return best
    idx, u, c, f, cap = cand[keep], u[keep], c[keep], f[keep], cap[keep]
    most = int(np.count_nonzero(np.cumsum(np.sort(f)) + floor < cut))
    most = min(most, total_qty)
    if most < 2:
        return best

    # Step 4: dominance, first against a few strong nodes, then among the rest.
    # Nodes are ranked by (F, index) from here on: the order dominators must precede in.
    by_f = np.lexsort((idx, f))
    idx, u, c, f, cap = idx[by_f], u[by_f], c[by_f], f[by_f], cap[by_f]
    if idx.size > CHAMPIONS:
        strong = np.unique(
            np.concatenate(
                [
                    np.arange(CHAMPIONS // 2),
                    np.lexsort((f, -u.sum(axis=1)))[: CHAMPIONS // 2],
                ]
            )
        )
        alive = _dominators(f, c, u, cap, strong) < most
        idx, u, c, f, cap = idx[alive], u[alive], c[alive], f[alive], cap[alive]
    alive = _dominators(f, c, u, cap, np.arange(idx.size)) < most
    idx, u, c, f, cap = idx[alive], u[alive], c[alive], f[alive], cap[alive]
    if idx.size < 2:
        return best

    # Step 5: the search, nodes still by increasing fixed cost.
    if np.all(cap >= u.sum(axis=1)):
        # No unit capacity binds: a set of nodes is priced line by line, cheapest first.
        subsets = _subsets(f, c, u, pen, qty, floor, most, ub)
        if subsets is not None:
            cost, picked, take = subsets
            if cost < ub - _tol(ub):
                best = [
                    (int(idx[k]), tuple(take[i].tolist()))
                    for i, k in enumerate(picked.tolist())
                    if take[i].any()
                ]
            return best
    suffix = np.minimum.accumulate(np.where(u > 0, c, np.inf)[::-1], axis=0)[::-1]
    least_after = [*np.minimum(suffix, pen[None, :]).tolist(), pen.tolist()]
    found = _programme(
        idx.tolist(),
        f.tolist(),
        c.tolist(),
        u.tolist(),
        cap.tolist(),
        least_after,
        pen.tolist(),
        tuple(qty.tolist()),
        ub,
    )
    return best if found is None else found


def _programme(
    nodes: list[int],
    fixed: list[float],
    unit: list[list[float]],
    usable: list[list[int]],
    cap: list[int],
    least_after: list[list[float]],
    penalty: list[float],
    demand: tuple[int, ...],
    incumbent: float,
) -> list[tuple[int, tuple[int, ...]]] | None:
    """Step 5 of the module docstring: shipments of a plan cheaper than ``incumbent`` that
    is optimal, or None when the incumbent is optimal. Nodes come by increasing fixed cost;
    ``least_after[k]`` is the least cost of a unit of each line from node ``k`` on."""
    n_lines = len(demand)
    lines = range(n_lines)
    ub = incumbent
    cut = ub - _tol(ub)
    best: _Chain = None
    states: dict[tuple[int, ...], tuple[float, _Chain]] = {demand: (0.0, None)}
    work = 0
    inf = math.inf
    for k, n in enumerate(nodes):
        f_k, c_k, u_k, cap_k = fixed[k], unit[k], usable[k], cap[k]
        m_k, m_next = least_after[k], least_after[k + 1]
        f_next = fixed[k + 1] if k + 1 < len(nodes) else inf
        nxt: dict[tuple[int, ...], tuple[float, _Chain]] = {}
        for r, (cost, chain) in states.items():
            stop = sum(penalty[i] * r[i] for i in lines)
            if cost + min(stop, f_k + sum(m_k[i] * r[i] for i in lines)) >= cut:
                continue  # nothing from here on beats the incumbent
            if cost + min(stop, f_next + sum(m_next[i] * r[i] for i in lines)) < cut:
                old = nxt.get(r)
                if old is None or cost < old[0]:
                    nxt[r] = (cost, chain)  # skip node k
            limits = [min(u_k[i], r[i]) for i in lines]
            if not any(limits):
                continue
            if cap_k >= sum(r):
                # Exchange: where node k is as cheap per unit as anything after it, a plan
                # using k takes all it can there (moving a unit to k never costs more).
                options = [
                    (m,) if m and c_k[i] <= m_next[i] else range(m + 1)
                    for i, m in enumerate(limits)
                ]
            else:
                options = [range(m + 1) for m in limits]
            for x in itertools.product(*options):
                work += 1
                units = sum(x)
                if units == 0 or units > cap_k:
                    continue
                c2 = cost + f_k + sum(c_k[i] * x[i] for i in lines)
                r2 = tuple(r[i] - x[i] for i in lines)
                done = c2 + sum(penalty[i] * r2[i] for i in lines)
                link: _Chain = (n, x, chain)
                if done < cut:
                    ub, cut, best = done, done - _tol(done), link
                if not any(r2):
                    continue
                bound = min(done, c2 + f_next + sum(m_next[i] * r2[i] for i in lines))
                if bound < cut:
                    old = nxt.get(r2)
                    if old is None or c2 < old[0]:
                        nxt[r2] = (c2, link)
            if work > WORK_LIMIT:
                raise WorkLimitExceeded
        states = nxt
        if not states:
            break
    if best is None:
        return None
    out: list[tuple[int, tuple[int, ...]]] = []
    chain = best
    while chain is not None:
        out.append((chain[0], chain[1]))
        chain = chain[2]
    return out


def _subsets(
    fixed: FloatArray,
    unit: FloatArray,
    usable: IntArray,
    penalty: FloatArray,
    qty: IntArray,
    floor: float,
    most: int,
    incumbent: float,
) -> tuple[float, IntArray, IntArray] | None:
    """Step 5 without binding unit capacities: every set of 2 to ``most`` nodes whose fixed
    costs plus ``floor`` stay below the incumbent, each priced exactly (line by line, the
    cheapest units first, the rest unfilled). Nodes come sorted by fixed cost.

    Returns the cheapest set's (cost, node positions, units per node and line), or None
    when a size has more than :data:`SUBSET_LIMIT` sets (the programme takes over).
    """
    n = fixed.size
    positions = np.arange(n)
    cut = incumbent - _tol(incumbent)
    best: tuple[float, IntArray, IntArray] = (math.inf, positions[:0], usable[:0])
    sets = positions[:, None]  # (sets, size), increasing positions
    fsum = fixed.copy()
    for _ in range(1, most):
        grow = (positions[None, :] > sets[:, -1:]) & (fsum[:, None] + fixed[None, :] + floor < cut)
        rows, cols = np.nonzero(grow)
        if rows.size == 0:
            break
        if rows.size > SUBSET_LIMIT:
            return None
        sets = np.concatenate([sets[rows], cols[:, None]], axis=1)
        fsum = fsum[rows] + fixed[cols]
        cost, take = _price_sets(sets, fsum, unit, usable, penalty, qty)
        k = int(np.argmin(cost))
        if cost[k] < min(best[0], cut):
            best = (float(cost[k]), sets[k], take[k])
            cut = best[0] - _tol(best[0])
        keep = fsum + floor < cut
        sets, fsum = sets[keep], fsum[keep]
    return best


def _price_sets(
    sets: IntArray,
    fsum: FloatArray,
    unit: FloatArray,
    usable: IntArray,
    penalty: FloatArray,
    qty: IntArray,
) -> tuple[FloatArray, IntArray]:
    """Least cost of each set of nodes (rows of ``sets``) and its units per node and line:
    with no unit capacity binding, each line takes the set's cheapest units first, up to
    its quantity (every unit left is cheaper than its penalty), the rest unfilled."""
    c = unit[sets]  # (sets, size, lines)
    u = usable[sets]
    by_cost = np.argsort(c, axis=1, kind="stable")
    c_sorted = np.take_along_axis(c, by_cost, axis=1)
    u_sorted = np.take_along_axis(u, by_cost, axis=1)
    before = np.cumsum(u_sorted, axis=1) - u_sorted
    got = np.clip(qty[None, None, :] - before, 0, u_sorted)
    short = qty[None, :] - got.sum(axis=1)
    cost = fsum + (got * c_sorted).sum(axis=(1, 2)) + (short * penalty[None, :]).sum(axis=1)
    take = np.empty_like(got)
    np.put_along_axis(take, by_cost, got, axis=1)
    return cost, take


def _fill(want: IntArray, unit: FloatArray, penalty: FloatArray, cap: IntArray) -> IntArray:
    """Each node's best shipment of ``want`` (rows: nodes) within its unit capacity: the
    units with the largest saving ``penalty − unit`` first (exact: every unit weighs 1)."""
    bind = cap < want.sum(axis=1)
    if not bind.any():
        return want
    rows = np.flatnonzero(bind)
    by_saving = np.argsort(unit[rows] - penalty[None, :], axis=1, kind="stable")
    sorted_want = np.take_along_axis(want[rows], by_saving, axis=1)
    before = np.cumsum(sorted_want, axis=1) - sorted_want
    got = np.clip(cap[rows, None] - before, 0, sorted_want)
    sub = np.empty_like(sorted_want)
    np.put_along_axis(sub, by_saving, got, axis=1)
    out = want.copy()
    out[rows] = sub
    return out


def _dominators(
    fixed: FloatArray, unit: FloatArray, usable: IntArray, cap: IntArray, among: IntArray
) -> IntArray:
    """For every node, how many nodes of ``among`` dominate it (step 4). Nodes come ranked
    by (F, index); a dominator must rank before the node it dominates.

    ``d`` dominates ``m`` when ``u_d ≥ u_m`` on every line, ``U_d ≥ U_m`` and
    ``F_d − F_m + Σ_l max(0, c_dl − c_ml)·u_ml ≤ 0``: whatever ``m`` ships, ``d`` can ship
    the same for no more (so ``F_d ≤ F_m``, and the rank only breaks ties of ``F``).
    """
    fd, cd, ud, capd = fixed[among], unit[among], usable[among], cap[among]
    extra = (np.maximum(cd[:, None, :] - unit[None, :, :], 0.0) * usable[None, :, :]).sum(axis=2)
    dominates = (
        (fd[:, None] - fixed[None, :] + extra <= _DOMINANCE_TOL)
        & (among[:, None] < np.arange(fixed.size)[None, :])
        & (capd[:, None] >= cap[None, :])
        & (ud[:, None, :] >= usable[None, :, :]).all(axis=2)
    )
    return np.asarray(dominates.sum(axis=0), dtype=np.int64)


def _tol(value: float) -> float:
    return _REL_TOL * max(1.0, abs(value))
