"""The one place that checks a plan's feasibility, exactly as the contract's rules say.

:func:`assignment_violations` checks the rules on index arrays (fast; used on every plan
the engine returns in tests). :func:`check_plan` checks any plan in contract form, as
``router check`` does: structure, rules, and that reported costs and statuses equal
the repriced ones. Causes come from a fixed list, :data:`CAUSES`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel

from models import Plan
from router.assignment import Assignment
from router.cost import price, shipment_table
from router.data import ProblemData

Cause = Literal[
    "unknown_order",
    "duplicate_order",
    "missing_order",
    "unknown_node",
    "unknown_sku",
    "duplicate_shipment",
    "empty_shipment",
    "qty_mismatch",
    "node_disabled",
    "node_excluded",
    "cannot_ship",
    "store_ineligible",
    "out_of_range",
    "late",
    "transfer_not_allowed",
    "pickup_unservable",
    "split_not_allowed",
    "stock",
    "order_capacity",
    "unit_capacity",
    "status_mismatch",
    "cost_mismatch",
]
CAUSES: tuple[str, ...] = get_args(Cause)

REL_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class Violation:
    cause: Cause
    message: str
    order_id: str | None = None
    node: str | None = None
    sku: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            f"{k} {v}"
            for k, v in (("order", self.order_id), ("node", self.node), ("sku", self.sku))
            if v is not None
        )
        return f"{self.cause}: {self.message}" + (f" ({where})" if where else "")


@dataclass(frozen=True)
class CheckReport:
    """Verdict on a plan: its violations (empty when valid) and the plan repriced."""

    violations: tuple[Violation, ...]
    repriced: Plan

    @property
    def valid(self) -> bool:
        return not self.violations


def assignment_violations(data: ProblemData, a: Assignment) -> list[Violation]:
    """Every feasibility rule of the contract, checked on an assignment."""
    out: list[Violation] = []
    oid, nid, sid = data.order_ids, data.node_ids, data.sku_ids
    if len(a) == 0:
        return out
    if np.any(a.qty < 0):
        raise ValueError("assignment has negative quantities")

    shipped = a.shipped_per_line(data)
    line_keys = set((data.line_order * data.num_skus + data.line_sku).tolist())
    for o, n, s in zip(a.order.tolist(), a.node.tolist(), a.sku.tolist(), strict=True):
        if o * data.num_skus + s not in line_keys:
            out.append(Violation("qty_mismatch", "sku is not on the order", oid[o], nid[n], sid[s]))
    for ln in np.flatnonzero(shipped > data.line_qty).tolist():
        out.append(
            Violation(
                "qty_mismatch",
                f"ships {shipped[ln]} units of a line of {data.line_qty[ln]}",
                oid[data.line_order[ln]],
                None,
                sid[data.line_sku[ln]],
            )
        )

    t = shipment_table(data, a)
    o_arr, n_arr = t.order, t.node
    pickup_node = data.order_pickup_node[o_arr]
    own = t.own_pickup
    excluded = np.array(
        [(o, n) in data.excluded for o, n in zip(o_arr.tolist(), n_arr.tolist(), strict=True)],
        dtype=bool,
    )
    pn_safe = np.where(pickup_node >= 0, pickup_node, 0)
    pn_dead = data.order_pickup[o_arr] & (
        ~data.node_enabled[pn_safe]
        | np.array(
            [
                (o, p) in data.excluded
                for o, p in zip(o_arr.tolist(), pn_safe.tolist(), strict=True)
            ],
            dtype=bool,
        )
    )
    checks: list[tuple[Cause, np.ndarray, str]] = [
        ("node_disabled", ~data.node_enabled[n_arr], "node is disabled"),
        ("node_excluded", excluded, "node is in the order's excluded_nodes"),
        ("cannot_ship", ~own & ~data.node_can_ship[n_arr], "node cannot ship"),
        ("out_of_range", ~t.in_range, "no rate band reaches this distance"),
        (
            "late",
            t.transit_days > data.order_deadline[o_arr],
            "transit exceeds deliver_within_days",
        ),
        (
            "transfer_not_allowed",
            data.order_pickup[o_arr] & ~own & ~data.order_allow_transfer[o_arr],
            "pickup order without transfers uses another node",
        ),
        ("pickup_unservable", pn_dead, "pickup node is disabled or excluded"),
    ]
    for cause, mask, msg in checks:
        for k in np.flatnonzero(mask).tolist():
            out.append(Violation(cause, msg, oid[o_arr[k]], nid[n_arr[k]]))

    row_own = data.order_pickup[a.order] & (data.order_pickup_node[a.order] == a.node)
    bad_sku = data.node_is_store[a.node] & ~data.sku_store_eligible[a.sku] & ~row_own
    for r in np.flatnonzero(bad_sku).tolist():
        out.append(
            Violation(
                "store_ineligible",
                "store ships a store-ineligible sku",
                oid[a.order[r]],
                nid[a.node[r]],
                sid[a.sku[r]],
            )
        )

    per_order = np.bincount(o_arr, minlength=data.num_orders)
    for o in np.flatnonzero((per_order > 1) & ~data.order_allow_split).tolist():
        out.append(Violation("split_not_allowed", f"{per_order[o]} shipments", oid[o]))

    taken = np.zeros_like(data.atp)
    np.add.at(taken, (a.node, a.sku), a.qty)
    for n, s in zip(*np.nonzero(taken > data.atp), strict=True):
        out.append(
            Violation(
                "stock", f"takes {taken[n, s]} units, atp is {data.atp[n, s]}", None, nid[n], sid[s]
            )
        )
    ships = np.bincount(n_arr, minlength=data.num_nodes)
    for n in np.flatnonzero(ships > data.node_order_cap).tolist():
        out.append(
            Violation(
                "order_capacity",
                f"{ships[n]} shipments, capacity {data.node_order_cap[n]}",
                None,
                nid[n],
            )
        )
    units = np.bincount(a.node, weights=a.qty, minlength=data.num_nodes).astype(np.int64)
    for n in np.flatnonzero(units > data.node_unit_cap).tolist():
        out.append(
            Violation(
                "unit_capacity", f"{units[n]} units, capacity {data.node_unit_cap[n]}", None, nid[n]
            )
        )
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9)


def check_plan(data: ProblemData, plan: Plan) -> CheckReport:
    """Check any plan in contract form and reprice it; never raises on a bad plan."""
    out: list[Violation] = []
    rows: list[tuple[int, int, int, int]] = []
    stated_unfilled: dict[tuple[int, int], int] = {}
    seen_orders: Counter[str] = Counter()
    for op in plan.orders:
        seen_orders[op.order_id] += 1
        o = data.order_index.get(op.order_id)
        if o is None:
            out.append(Violation("unknown_order", "order is not in the problem", op.order_id))
            continue
        if seen_orders[op.order_id] > 1:
            out.append(Violation("duplicate_order", "order appears twice in the plan", op.order_id))
            continue
        nodes_seen: set[str] = set()
        for sh in op.shipments:
            n = data.node_index.get(sh.node)
            if n is None:
                out.append(
                    Violation("unknown_node", "node is not in the problem", op.order_id, sh.node)
                )
                continue
            if sh.node in nodes_seen:
                out.append(
                    Violation(
                        "duplicate_shipment", "two shipments from one node", op.order_id, sh.node
                    )
                )
            nodes_seen.add(sh.node)
            if sum(ln.qty for ln in sh.lines) == 0:
                out.append(
                    Violation("empty_shipment", "shipment has no units", op.order_id, sh.node)
                )
            for ln in sh.lines:
                s = data.sku_index.get(ln.sku)
                if s is None:
                    out.append(
                        Violation(
                            "unknown_sku", "sku is not in the problem", op.order_id, sh.node, ln.sku
                        )
                    )
                    continue
                rows.append((o, n, s, ln.qty))
        for ln in op.unfilled:
            s = data.sku_index.get(ln.sku)
            if s is None:
                out.append(
                    Violation("unknown_sku", "sku is not in the problem", op.order_id, None, ln.sku)
                )
                continue
            stated_unfilled[(o, s)] = stated_unfilled.get((o, s), 0) + ln.qty
    for order_id in data.order_ids:
        if seen_orders[order_id] == 0:
            out.append(Violation("missing_order", "order is not in the plan", order_id))

    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    a = Assignment.from_rows(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
    out += assignment_violations(data, a)

    shipped = a.shipped_per_line(data)
    for li in range(data.num_lines):
        o, s = int(data.line_order[li]), int(data.line_sku[li])
        if seen_orders[data.order_ids[o]] == 0:
            continue
        claimed = stated_unfilled.pop((o, s), 0)
        if shipped[li] + claimed != data.line_qty[li]:
            out.append(
                Violation(
                    "qty_mismatch",
                    f"shipped {shipped[li]} + unfilled {claimed} != qty {data.line_qty[li]}",
                    data.order_ids[o],
                    None,
                    data.sku_ids[s],
                )
            )
    for (o, s), q in stated_unfilled.items():
        out.append(
            Violation(
                "qty_mismatch",
                f"{q} unfilled units of a sku not on the order",
                data.order_ids[o],
                None,
                data.sku_ids[s],
            )
        )

    repriced = price(data, a)
    out += _reported_vs_repriced(plan, repriced)
    return CheckReport(tuple(out), repriced)


def _mismatches(reported: BaseModel | None, priced: BaseModel | None) -> list[str]:
    """Fields of ``reported`` that differ from ``priced`` (numbers to REL_TOL)."""
    if reported is None or priced is None:
        return []
    out = []
    for name in type(reported).model_fields:
        a, b = getattr(reported, name), getattr(priced, name)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            continue
        if not _close(float(a), float(b)):
            out.append(f"{name} reported {a}, priced {b}")
    return out


def _reported_vs_repriced(plan: Plan, repriced: Plan) -> list[Violation]:
    """Reported statuses, costs, distances and transit days (where given) must be exact."""
    out: list[Violation] = []
    by_id = {op.order_id: op for op in repriced.orders}
    for op in plan.orders:
        ref = by_id.get(op.order_id)
        if ref is None:
            continue
        if op.status is not None and op.status != ref.status:
            out.append(
                Violation(
                    "status_mismatch", f"reported {op.status!r}, is {ref.status!r}", op.order_id
                )
            )
        ref_ship = {sh.node: sh for sh in ref.shipments}
        for sh in op.shipments:
            r = ref_ship.get(sh.node)
            if r is None:
                continue
            diffs = _mismatches(sh, r) + _mismatches(sh.cost, r.cost)
            for msg in diffs:
                out.append(Violation("cost_mismatch", f"shipment {msg}", op.order_id, sh.node))
        for msg in _mismatches(op.cost, ref.cost):
            out.append(Violation("cost_mismatch", f"order {msg}", op.order_id))
    for msg in _mismatches(plan.cost, repriced.cost):
        out.append(Violation("cost_mismatch", f"plan {msg}"))
    return out
