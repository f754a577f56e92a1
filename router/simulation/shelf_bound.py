"""What walk-ins leave on a store's shelf, whatever the online policy: rows for the hindsight LP.

The hindsight bound cannot charge walk-ins (a policy may reserve a store's stock before
they come, and a lost walk-in costs nothing), but it can use the order in which they come.
A walk-in buys one unit when the store's free stock (on hand − reserved) is at least 1.
Let ``I(τ)`` be that free stock under some policy, and ``Ī(τ)`` the free stock of an
*envelope* run in which no online order ever takes anything, every possible arrival is as
large and as early as it can be, and the same walk-ins come:

* **Ī bounds I** (induction over events). Reservations only lower I. A walk-in takes one
  from each of I and Ī when they have it: ``I ≤ Ī`` gives ``I − [I ≥ 1] ≤ Ī − [Ī ≥ 1]``.
  A return adds the same units to both, at the same minute (Ī counts every order flagged
  for return, in full, at its return time; the engine takes returns before walk-ins of
  the same minute, and so does the envelope). Adding a return to Ī earlier would be
  wrong: a walk-in could take it in the envelope that found nothing in the run, and the
  run would then hold a unit that Ī does not. A store replenishment ordered on the morning of day
  ``d₀`` and arriving on ``d₁`` sends at most ``target − I(d₀) − in transit``, so after it
  ``I ≤ target + returns on days d₀ … d₁−1``; with no transfer I is unchanged: so
  ``Ī := max(Ī, target + those returns)`` at each arrival keeps ``I ≤ Ī``.
* **Rows.** Take a walk-in at ``u`` that found ``Ī(u) ≥ 1`` (so Ī drops), and the window
  from ``u`` to the store's next replenishment arrival. The units that orders arriving in
  the window reserve at (store, sku) are reserved after ``u`` (an order is routed when it
  arrives, or later the same day), from what was free at ``u`` plus what arrives in the
  window (only returns, those strictly after ``u``), and the last of them leaves the
  day's safety stock: ``Σ x ≤ Ī(u) + returns(u, end) − min safety``. When walk-ins
  would empty the shelf, this says the pickups that come afterwards find nothing, which
  the cumulative stock rows (which see only arrivals) cannot say.

Pure numpy over the simulator's draws; :mod:`router.simulation.hindsight` builds the inputs
and adds the rows to its time-indexed LP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.data import FloatArray, IntArray

MINUTES_PER_DAY = 1440.0


@dataclass(frozen=True, eq=False)
class ShelfWindows:
    """One row per anchor walk-in: orders at ``(node, sku)`` arriving in ``(start, end)``
    (minutes from the start of the horizon) reserve at most ``cap`` units in total."""

    node: IntArray
    sku: IntArray
    start: FloatArray
    end: FloatArray
    cap: IntArray

    def __len__(self) -> int:
        return int(self.node.size)


def shelf_windows(
    *,
    free0: IntArray,
    targets: IntArray,
    orders_on: list[int],
    arrive_on: list[int],
    returns: tuple[IntArray, IntArray, IntArray, IntArray],
    walkins: list[tuple[FloatArray, IntArray, IntArray]],
    enabled: list[np.ndarray],
    min_safety: list[IntArray],
    days: int,
    return_minute: FloatArray | None = None,
) -> ShelfWindows:
    """The rows of the module docstring.

    ``free0`` (nodes, skus) free stock at the start; ``targets`` the order-up-to levels
    (0 where a store is not replenished); ``orders_on[k]``/``arrive_on[k]`` the day the
    k-th replenishment is ordered and the day it arrives; ``returns`` (day, node, sku,
    qty) per returned line (every flagged order, in full), ``return_minute`` its minute of
    that day (None: all at 0, before any walk-in); ``walkins[d]`` (minute, node,
    sku) per walk-in of day d in time order; ``enabled[d]`` the nodes open on day d;
    ``min_safety[d]`` the least safety stock over days ≤ d."""
    n_nodes, n_skus = free0.shape
    r_day, r_node, r_sku, r_qty = returns
    r_min = np.zeros(r_day.size) if return_minute is None else np.asarray(return_minute, float)
    r_time = r_day * MINUTES_PER_DAY + r_min
    by_day: dict[int, list[int]] = {}
    for i, d in enumerate(r_day.tolist()):
        by_day.setdefault(d, []).append(i)
    ret = np.zeros((days + 1, n_nodes, n_skus), dtype=np.int64)  # returns per day
    np.add.at(ret, (r_day, r_node, r_sku), r_qty)
    ret_cum = np.cumsum(ret, axis=0)  # returns on days ≤ d
    arrival_of = {a: o for o, a in zip(orders_on, arrive_on, strict=True) if a < days}
    # next replenishment arrival strictly after each day (days when there is none)
    next_arrival = np.full(days, days, dtype=np.int64)
    for d in range(days - 1, -1, -1):
        nxt = int(next_arrival[d + 1]) if d + 1 < days else days
        next_arrival[d] = d + 1 if d + 1 in arrival_of else nxt
    replenished = targets > 0

    level = free0.astype(np.int64).copy()
    a_node: list[int] = []
    a_sku: list[int] = []
    a_day: list[int] = []
    a_min: list[float] = []
    a_level: list[int] = []
    for d in range(days):
        if d in arrival_of:
            o = arrival_of[d]
            since = ret_cum[d - 1] - (ret_cum[o - 1] if o > 0 else 0) if d > o else 0
            level = np.where(replenished, np.maximum(level, targets + since), level)
        minute, node, sku = walkins[d]
        open_ = enabled[d]
        rets = by_day.get(d, [])
        # the day's events in the engine's order: by minute, returns before walk-ins
        ev_min = np.concatenate([r_min[rets], minute]) if rets else np.asarray(minute)
        ev_kind = np.concatenate([np.zeros(len(rets)), np.ones(len(minute))])
        seq = np.lexsort((np.arange(ev_kind.size), ev_kind, ev_min)).tolist()
        w_node, w_sku = node.tolist(), sku.tolist()
        for e in seq:
            if e < len(rets):
                i = rets[e]
                level[r_node[i], r_sku[i]] += r_qty[i]
                continue
            k = e - len(rets)
            n, s = w_node[k], w_sku[k]
            if open_[n] and level[n, s] >= 1:
                level[n, s] -= 1
                a_node.append(n)
                a_sku.append(s)
                a_day.append(d)
                a_min.append(float(minute[k]))
                a_level.append(int(level[n, s]))
    if not a_node:
        z = np.zeros(0, dtype=np.int64)
        return ShelfWindows(z, z, np.zeros(0), np.zeros(0), z)
    node = np.asarray(a_node, dtype=np.int64)
    sku = np.asarray(a_sku, dtype=np.int64)
    day = np.asarray(a_day, dtype=np.int64)
    end_day = next_arrival[day]  # window ends on that morning (exclusive)
    last = end_day - 1
    start = (day * MINUTES_PER_DAY + np.asarray(a_min, dtype=np.float64)).astype(np.float64)
    end = (end_day * MINUTES_PER_DAY).astype(np.float64)
    # returns strictly after the anchor and before the window's end, at (node, sku)
    r_key = r_node * n_skus + r_sku
    order = np.lexsort((r_time, r_key))
    q_cum = np.concatenate([[0], np.cumsum(r_qty[order])])
    lo, hi = _between(r_key[order], r_time[order], node * n_skus + sku, start, end)
    later = q_cum[hi] - q_cum[lo]
    safety = np.stack(min_safety)[last, node, sku]
    cap = np.maximum(np.asarray(a_level, dtype=np.int64) + later - safety, 0)
    return ShelfWindows(node, sku, start, end, cap)


def window_rows(
    win: ShelfWindows,
    arc_node: IntArray,
    arc_sku: IntArray,
    arc_time: FloatArray,
    arc_cap: FloatArray,
    num_skus: int,
) -> tuple[IntArray, IntArray, FloatArray]:
    """The binding windows as sparse rows over the arcs: (row index per nonzero, arc per
    nonzero, right-hand side per row). A window whose arcs cannot exceed its cap is
    dropped."""
    key = arc_node * num_skus + arc_sku
    order = np.lexsort((arc_time, key))
    cap_cum = np.concatenate([[0.0], np.cumsum(arc_cap[order])])
    wkey = win.node * num_skus + win.sku
    lo, hi = _between(key[order], arc_time[order], wkey, win.start, win.end)
    room = cap_cum[hi] - cap_cum[lo]
    keep = room > win.cap
    lo, hi, rhs = lo[keep], hi[keep], win.cap[keep].astype(np.float64)
    size = hi - lo
    row = np.repeat(np.arange(lo.size), size)
    offs = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    arc = order[np.repeat(lo, size) + offs]
    return row, arc, rhs


def _between(
    key_sorted: IntArray, time_sorted: FloatArray, key: IntArray, start: FloatArray, end: FloatArray
) -> tuple[IntArray, IntArray]:
    """For each query i, the items of key ``key[i]`` with ``start[i] < time < end[i]`` as
    ``[lo, hi)`` in the order sorted by (key, time)."""
    k_lo = np.searchsorted(key_sorted, key, side="left")
    k_hi = np.searchsorted(key_sorted, key, side="right")
    lo, hi = k_lo.copy(), k_lo.copy()
    for i in np.flatnonzero(k_hi > k_lo).tolist():  # one binary search within each block
        a, b = int(k_lo[i]), int(k_hi[i])
        seg = time_sorted[a:b]
        lo[i] = a + int(np.searchsorted(seg, start[i], side="right"))
        hi[i] = a + int(np.searchsorted(seg, end[i], side="left"))
    return lo, hi
