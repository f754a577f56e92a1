"""A Lagrangian lower bound for networks too large for the coupled LP.

Stock and capacity rows are priced (multipliers λ ≥ 0 per (node, sku), μ ≥ 0 per node's
order capacity, ν ≥ 0 per node's unit capacity) instead of enforced. What is left splits
per line: a unit shipped through pair *p* on arc *a* costs at least

    c_a + λ_{n,s} + ν_n + (F_p + μ_n) / Q_p,        Q_p = Σ_{a ∈ p} cap_a,

because a shipment pays its fixed cost once over at most Q_p units; a unit left unfilled
costs its penalty. So, for any multipliers,

    L(λ, μ, ν) = Σ_l q_l · min(pen_l, min_{a ∈ l} unit_a) − λ·atp − μ·order_cap − ν·unit_cap

is a proven lower bound on the optimal cost, computed for millions of candidates with a
few numpy passes. Subgradient steps (Polyak, towards the incumbent's cost) raise it.
"""

from __future__ import annotations

import time

import numpy as np

from router.candidates import Candidates
from router.data import UNLIMITED, ProblemData


def lagrangian_bound(
    data: ProblemData, cand: Candidates, upper: float, seconds: float, max_iter: int = 500
) -> float:
    """Best L(λ, μ, ν) found within ``seconds`` (at least L(0), however short the time);
    see the module docstring."""
    start = time.perf_counter()
    S = data.num_skus
    pen_l = data.sku_penalty[data.line_sku]
    q = data.line_qty.astype(np.float64)
    if cand.num_arcs == 0:
        return float(np.dot(q, pen_l))
    arc_node = cand.arc_node()
    key = arc_node * S + data.line_sku[cand.arc_line]
    qmax = np.bincount(cand.arc_pair, weights=cand.arc_cap, minlength=cand.num_pairs)
    inv_q = 1.0 / np.maximum(qmax, 1.0)[cand.arc_pair]
    perm = np.argsort(cand.arc_line, kind="stable")
    lines_sorted = cand.arc_line[perm]
    starts = np.flatnonzero(np.r_[True, lines_sorted[1:] != lines_sorted[:-1]])
    served = lines_sorted[starts]
    atp = data.atp.ravel().astype(np.float64)
    ocap_ok = data.node_order_cap < UNLIMITED
    ucap_ok = data.node_unit_cap < UNLIMITED
    ocap = np.where(ocap_ok, data.node_order_cap, 0).astype(np.float64)
    ucap = np.where(ucap_ok, data.node_unit_cap, 0).astype(np.float64)

    lam = np.zeros(atp.size)
    mu = np.zeros(data.num_nodes)
    nu = np.zeros(data.num_nodes)
    best = -np.inf
    theta, stall = 1.0, 0
    for it in range(max_iter):
        if it and time.perf_counter() - start > seconds:
            break  # the first round (zero prices) always runs: a bound, never -inf
        fixed = (cand.pair_fixed + mu[cand.pair_node])[cand.arc_pair] * inv_q
        unit = cand.arc_unit + lam[key] + nu[arc_node] + fixed
        u_sorted = unit[perm]
        mins = np.minimum.reduceat(u_sorted, starts)
        per_line = pen_l.copy()
        per_line[served] = np.minimum(pen_l[served], mins)
        value = float(np.dot(q, per_line) - np.dot(lam, atp) - np.dot(mu, ocap) - np.dot(nu, ucap))
        if value > best + 1e-9 * abs(best if np.isfinite(best) else 1.0):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
                if theta < 1e-4:
                    break
        # subgradient at the minimiser: units each chosen arc would take
        chosen_line = mins < pen_l[served]
        best_arc = np.full(served.size, -1)
        is_min = u_sorted == np.repeat(mins, np.diff(np.r_[starts, u_sorted.size]))
        first_min = np.flatnonzero(is_min)
        seg = np.searchsorted(starts, first_min, side="right") - 1
        keep = np.r_[True, seg[1:] != seg[:-1]]
        best_arc[seg[keep]] = perm[first_min[keep]]
        arcs = best_arc[chosen_line]
        units = q[served[chosen_line]]
        g_lam = np.bincount(key[arcs], weights=units, minlength=atp.size) - atp
        g_mu = np.where(
            ocap_ok,
            np.bincount(arc_node[arcs], weights=units * inv_q[arcs], minlength=data.num_nodes)
            - ocap,
            0.0,
        )
        g_nu = np.where(
            ucap_ok,
            np.bincount(arc_node[arcs], weights=units, minlength=data.num_nodes) - ucap,
            0.0,
        )
        # project: a multiplier at zero with negative subgradient cannot move
        g_lam = np.where((lam <= 0) & (g_lam < 0), 0.0, g_lam)
        g_mu = np.where((mu <= 0) & (g_mu < 0), 0.0, g_mu)
        g_nu = np.where((nu <= 0) & (g_nu < 0), 0.0, g_nu)
        norm = float(np.dot(g_lam, g_lam) + np.dot(g_mu, g_mu) + np.dot(g_nu, g_nu))
        if norm <= 0:
            break  # the minimiser is feasible for the priced rows: L is optimal here
        step = theta * max(upper - value, 1e-6 * abs(upper)) / norm
        lam = np.maximum(lam + step * g_lam, 0.0)
        mu = np.maximum(mu + step * g_mu, 0.0)
        nu = np.maximum(nu + step * g_nu, 0.0)
    return float(best)
