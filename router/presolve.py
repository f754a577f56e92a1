"""Folding one-unit shipments into their only flow: a smaller MIP with the same optimum.

Why: a shipment ``y_p`` whose only flow is one unit (``x_a ≤ y_p``, both binary) is, in
every optimal plan, equal to that flow. On ``us-1000x100`` two thirds of the shipments
are such (single-line orders of one unit), and a MIP solver's presolve spends over a
second of probing to find this and little else; the race for a bound
(:mod:`router.mip_race`) cannot spare it. Folded here with sparse algebra in milliseconds,
the model's root LP is solved and cut while the solver's own presolve would still run.

The rule, checked on the model and not assumed from how it was built: a LINK row
``x_a − y_p ≤ 0`` of exactly these two entries is folded when both variables are
integral in [0, 1], ``y_p`` costs nothing negative, ``y_p``'s every other row is a ``≤``
row where it has a non-negative coefficient (order capacities, split limits), and
``x_a`` is not itself a shipment folded elsewhere. Then lowering any
solution's ``y_p`` to ``x_a`` keeps it feasible and no dearer, so imposing ``y_p = x_a``
loses no optimum: ``y_p``'s column and cost are added to ``x_a``'s and the row dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from router.data import BoolArray, FloatArray, IntArray
from router.formulation import LINK, MipModel


@dataclass(frozen=True, eq=False)
class Folded:
    """``min c·w  s.t. row_lb ≤ A w ≤ row_ub, var_lb ≤ w ≤ var_ub``, w of the folded model.

    Column ``j`` is the original column ``keep[j]``; the original column ``i`` takes the
    value of folded column ``source[i]`` (a folded ``y_p`` that of its ``x_a``).
    """

    c: FloatArray
    A: sp.csc_matrix
    row_lb: FloatArray
    row_ub: FloatArray
    var_lb: FloatArray
    var_ub: FloatArray
    integral: BoolArray
    keep: IntArray
    source: IntArray

    @property
    def num_vars(self) -> int:
        return int(self.c.size)

    def reduce(self, values: FloatArray) -> FloatArray:
        """A solution of the original model as one of this (``y_p`` lowered to ``x_a``)."""
        return np.asarray(values, dtype=np.float64)[self.keep]

    def expand(self, values: FloatArray) -> FloatArray:
        """A solution of this model as one of the original."""
        return np.asarray(values, dtype=np.float64)[self.source]


def fold_unit_links(model: MipModel) -> Folded:
    """``model`` with every one-unit, one-flow shipment folded into its flow (see above)."""
    n = model.num_vars
    nrows = model.A.shape[0]
    coo = model.A.tocoo()
    row, col, val = coo.row, coo.col, coo.data
    link = model.row_kind[row] == LINK
    # a foldable row is a LINK row of exactly two entries, x_a (+1) and y_p (−1)
    entries = np.bincount(row, minlength=nrows)
    xs = link & (val == 1) & (entries[row] == 2)
    ys = link & (val == -1) & (entries[row] == 2)
    x_of = np.full(nrows, -1, dtype=np.int64)
    y_of = np.full(nrows, -1, dtype=np.int64)
    x_of[row[xs]] = col[xs]
    y_of[row[ys]] = col[ys]
    rows = np.flatnonzero((x_of >= 0) & (y_of >= 0))
    x, y = x_of[rows], y_of[rows]
    unit = (model.var_lb == 0) & (model.var_ub == 1) & model.integral
    # y may be lowered when it costs nothing negative and every row of it, but the one
    # folded, caps it from above with a non-negative coefficient: its entry there is then
    # its only "unsafe" one (negative, or in a row with a lower limit)
    unsafe = (val < 0) | np.isfinite(model.row_lb[row])
    unsafe_of = np.bincount(col[unsafe], minlength=n)
    ok = (
        unit[x]
        & unit[y]
        & (unsafe_of[y] == 1)
        & (model.c[y] >= 0)
        & (model.row_lb[rows] == -np.inf)
        & (model.row_ub[rows] == 0)
    )
    # no chains: a flow that is itself a shipment folded elsewhere stays as it is
    ok &= ~np.isin(x, y[ok])
    folded_rows, x, y = rows[ok], x[ok], y[ok]
    drop = np.zeros(n, dtype=bool)
    drop[y] = True
    keep = np.flatnonzero(~drop)
    new_index = np.cumsum(~drop) - 1
    source = new_index.copy()
    source[y] = new_index[x]
    merge = sp.csr_matrix((np.ones(n), (np.arange(n), source)), shape=(n, keep.size))
    keep_rows = np.ones(nrows, dtype=bool)
    keep_rows[folded_rows] = False
    return Folded(
        c=np.asarray(merge.T @ model.c),
        A=(model.A[keep_rows] @ merge).tocsc(),
        row_lb=model.row_lb[keep_rows],
        row_ub=model.row_ub[keep_rows],
        var_lb=model.var_lb[keep],
        var_ub=model.var_ub[keep],
        integral=model.integral[keep],
        keep=keep,
        source=source,
    )


def relax_unfilled(model: MipModel) -> MipModel:
    """``model`` with its unfilled units ``u`` continuous: each is ``q_l − Σ x_a`` of integral
    flows, so integral anyway, and a MIP solver's cut rounds on the race model go further
    with fewer integer columns to separate over (measured in ``benchmarks/RESULTS.md``)."""
    integral = model.integral.copy()
    integral[model.num_pairs + model.num_arcs :] = False
    return replace(model, integral=integral)
