"""The optimizer against an independent exhaustive search, on small random problems.

The oracle below is written from the contract text alone (``shared/spec/routing-contract.md``):
its own haversine, band lookup, feasibility rules and pricing, working on the problem as a
JSON dict. It shares no code with ``router`` (no ``router.cost``, ``router.check``,
``router.geo`` or ``router.data``), so an error in the engine's reading of the contract
shows up as a disagreement here instead of being repeated.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import models
import router
from router.assignment import Assignment
from router.data import ProblemData
from tests.strategies import nodes, problems, stock_records

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
EXAMPLE_TOTAL = 8194.659121

MAX_ENUMERATION = 20_000
"""Largest product of per-order option counts the exhaustive search takes on."""

REL = 1e-6
ABS = 1e-6

# ---------------------------------------------------------------------------------------
# The oracle: the contract, read literally
# ---------------------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine with R = 6371.0 km."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def _value(d: dict[str, Any], key: str, default: Any) -> Any:
    """A field with the contract's rule that null (or absent) means the default."""
    v = d.get(key)
    return default if v is None else v


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


@dataclass(frozen=True)
class Leg:
    """How order *o* can take units from node *n*, sku aside."""

    own: bool  # a pickup order taking its own pickup node's stock
    distance: float
    transit: int
    base: float
    per_kg: float


Ship = dict[str, dict[str, int]]  # node -> sku -> units: one order's shipments


class Oracle:
    """Feasibility, pricing and the exhaustive optimum of one problem, from the contract."""

    def __init__(self, problem: dict[str, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        for n in problem["nodes"]:
            self.nodes[n["id"]] = {
                "store": n["type"] == "store",
                "lat": n["lat"],
                "lon": n["lon"],
                "can_ship": _value(n, "can_ship", True),
                "can_pickup": _value(n, "can_pickup", n["type"] == "store"),
                "enabled": _value(n, "enabled", True),
                "order_capacity": n.get("order_capacity"),  # None: unlimited
                "unit_capacity": n.get("unit_capacity"),
                "h_ship": _value(n, "handling_cost_per_shipment", 0.0),
                "h_unit": _value(n, "handling_cost_per_unit", 0.0),
            }
        self.skus = {
            s["id"]: {
                "weight": _value(s, "weight_kg", 1.0),
                "store_eligible": _value(s, "store_eligible", True),
                "penalty": _value(s, "unfilled_penalty", 1000.0),
            }
            for s in problem["skus"]
        }
        self.bands = [
            (
                math.inf if b.get("max_km") is None else b["max_km"],
                b["base"],
                b["per_kg"],
                b["transit_days"],
            )
            for b in problem["rates"]
        ]
        self.atp = {
            (r["node"], r["sku"]): max(
                0, r["on_hand"] - _value(r, "reserved", 0) - _value(r, "safety_stock", 0)
            )
            for r in problem["inventory"]
        }
        self.orders = []
        for o in problem["orders"]:
            method = _value(o, "method", "ship")
            self.orders.append(
                {
                    "id": o["id"],
                    "pickup": method == "pickup",
                    "lat": o.get("lat") if method == "ship" else None,
                    "lon": o.get("lon") if method == "ship" else None,
                    "pickup_node": o.get("pickup_node") if method == "pickup" else None,
                    "lines": [(ln["sku"], ln["qty"]) for ln in o["lines"]],
                    "allow_split": _value(o, "allow_split", True),
                    "allow_transfer": _value(o, "allow_transfer", True),
                    "deadline": o.get("deliver_within_days"),
                    "excluded": set(_value(o, "excluded_nodes", [])),
                }
            )
        self.order_by_id = {o["id"]: o for o in self.orders}

    # -- rules -----------------------------------------------------------------------------

    def leg(self, o: dict[str, Any], n_id: str) -> Leg | None:
        """The shipment (o, n) if the contract allows it at all, else None."""
        n = self.nodes[n_id]
        if o["pickup"]:
            p = o["pickup_node"]
            if not self.nodes[p]["enabled"] or p in o["excluded"]:
                return None  # the order cannot be served at all
        if not n["enabled"] or n_id in o["excluded"]:
            return None
        if o["pickup"] and n_id == o["pickup_node"]:
            return Leg(own=True, distance=0.0, transit=0, base=0.0, per_kg=0.0)
        if o["pickup"] and not o["allow_transfer"]:
            return None
        if not n["can_ship"]:
            return None
        if o["pickup"]:
            dest = self.nodes[o["pickup_node"]]
            d = great_circle_km(n["lat"], n["lon"], dest["lat"], dest["lon"])
        else:
            d = great_circle_km(n["lat"], n["lon"], o["lat"], o["lon"])
        band = next((b for b in self.bands if d <= b[0]), None)
        if band is None:
            return None
        if o["deadline"] is not None and band[3] > o["deadline"]:
            return None
        return Leg(own=False, distance=d, transit=band[3], base=band[1], per_kg=band[2])

    def may_send(self, n_id: str, sku: str, leg: Leg) -> bool:
        """Store-ineligible skus never leave a store, except over the pickup counter."""
        return leg.own or not self.nodes[n_id]["store"] or self.skus[sku]["store_eligible"]

    # -- pricing ---------------------------------------------------------------------------

    def shipment_price(self, leg: Leg, n_id: str, lines: dict[str, int]) -> tuple[float, float]:
        """(handling, shipping) of one shipment."""
        n = self.nodes[n_id]
        units = sum(lines.values())
        handling = n["h_ship"] + n["h_unit"] * units
        if leg.own:
            return handling, 0.0
        weight = sum(q * self.skus[s]["weight"] for s, q in lines.items())
        return handling, leg.base + leg.per_kg * weight

    def order_price(self, o: dict[str, Any], ship: Ship) -> float:
        total = 0.0
        shipped: Counter[str] = Counter()
        for n_id, lines in ship.items():
            leg = self.leg(o, n_id)
            assert leg is not None
            h, s = self.shipment_price(leg, n_id, lines)
            total += h + s
            shipped.update(lines)
        for sku, qty in o["lines"]:
            total += (qty - shipped[sku]) * self.skus[sku]["penalty"]
        return total

    # -- exhaustive search -----------------------------------------------------------------

    def _line_choices(self, o: dict[str, Any], sku: str, qty: int) -> list[dict[str, int]]:
        """Every split of a line's units over the nodes that may send it (rest unfilled)."""
        allowed = []
        for n_id in self.nodes:
            leg = self.leg(o, n_id)
            if leg is not None and self.may_send(n_id, sku, leg):
                allowed.append(n_id)
        # Taking more than the stock is never valid, so such splits are not listed.
        ranges = [range(min(qty, self.atp.get((n, sku), 0)) + 1) for n in allowed]
        return [
            {n: c for n, c in zip(allowed, counts, strict=True) if c}
            for counts in itertools.product(*ranges)
            if sum(counts) <= qty
        ]

    def enumeration_size(self) -> int:
        size = 1
        for o in self.orders:
            for sku, qty in o["lines"]:
                size *= len(self._line_choices(o, sku, qty))
        return size

    def order_options(self, o: dict[str, Any]) -> list[tuple[float, Ship]]:
        options = []
        per_line = [self._line_choices(o, sku, qty) for sku, qty in o["lines"]]
        for combo in itertools.product(*per_line):
            ship: Ship = {}
            for (sku, _), take in zip(o["lines"], combo, strict=True):
                for n_id, c in take.items():
                    ship.setdefault(n_id, {})[sku] = c
            if not o["allow_split"] and len(ship) > 1:
                continue
            options.append((self.order_price(o, ship), ship))
        return options

    def optimum(self) -> tuple[float, list[Ship]]:
        """Least plan cost over every valid plan, and one plan that attains it."""
        options = [self.order_options(o) for o in self.orders]
        node_ids = list(self.nodes)
        pairs = sorted(self.atp)
        pair_pos = {p: i for i, p in enumerate(pairs)}
        big = 10**9

        def cap(v: int | None) -> int:
            return big if v is None else v

        @cache
        def best(
            i: int, stock: tuple[int, ...], ocap: tuple[int, ...], ucap: tuple[int, ...]
        ) -> tuple[float, tuple[int, ...]]:
            if i == len(options):
                return 0.0, ()
            result: tuple[float, tuple[int, ...]] = (math.inf, ())
            for k, (cost, ship) in enumerate(options[i]):
                st_, oc, uc = list(stock), list(ocap), list(ucap)
                ok = True
                for n_id, lines in ship.items():
                    j = node_ids.index(n_id)
                    oc[j] -= 1
                    uc[j] -= sum(lines.values())
                    for sku, q in lines.items():
                        st_[pair_pos[(n_id, sku)]] -= q
                if min(oc, default=0) < 0 or min(uc, default=0) < 0 or min(st_, default=0) < 0:
                    ok = False
                if not ok:
                    continue
                rest, choice = best(i + 1, tuple(st_), tuple(oc), tuple(uc))
                if cost + rest < result[0]:
                    result = (cost + rest, (k, *choice))
            return result

        total, choice = best(
            0,
            tuple(self.atp[p] for p in pairs),
            tuple(cap(self.nodes[n]["order_capacity"]) for n in node_ids),
            tuple(cap(self.nodes[n]["unit_capacity"]) for n in node_ids),
        )
        return total, [options[i][k][1] for i, k in enumerate(choice)]

    # -- checking a plan in contract form -------------------------------------------------

    def violations(self, plan: dict[str, Any]) -> list[str]:
        """Every way ``plan`` breaks the contract's feasibility rules (empty: valid)."""
        errs: list[str] = []
        by_id: dict[str, dict[str, Any]] = {}
        for op in plan["orders"]:
            if op["order_id"] in by_id:
                errs.append(f"order {op['order_id']} twice")
            if op["order_id"] not in self.order_by_id:
                errs.append(f"unknown order {op['order_id']}")
            by_id[op["order_id"]] = op
        taken: Counter[tuple[str, str]] = Counter()
        ships: Counter[str] = Counter()
        units: Counter[str] = Counter()
        for o in self.orders:
            op = by_id.get(o["id"])
            if op is None:
                errs.append(f"order {o['id']} missing")
                continue
            order_skus = {s for s, _ in o["lines"]}
            shipped: Counter[str] = Counter()
            seen: set[str] = set()
            for sh in op["shipments"]:
                n_id = sh["node"]
                where = f"order {o['id']} node {n_id}"
                if n_id not in self.nodes:
                    errs.append(f"{where}: unknown node")
                    continue
                if n_id in seen:
                    errs.append(f"{where}: two shipments")
                seen.add(n_id)
                if sum(ln["qty"] for ln in sh["lines"]) < 1 or any(
                    ln["qty"] < 1 for ln in sh["lines"]
                ):
                    errs.append(f"{where}: empty shipment or line")
                leg = self.leg(o, n_id)
                if leg is None:
                    errs.append(f"{where}: node may not serve the order")
                for ln in sh["lines"]:
                    sku, q = ln["sku"], ln["qty"]
                    if sku not in order_skus:
                        errs.append(f"{where}: sku {sku} not on the order")
                        continue
                    if leg is not None and not self.may_send(n_id, sku, leg):
                        errs.append(f"{where}: store ships ineligible sku {sku}")
                    shipped[sku] += q
                    taken[(n_id, sku)] += q
                    units[n_id] += q
                ships[n_id] += 1
            unfilled: Counter[str] = Counter()
            for ln in op["unfilled"]:
                if ln["sku"] not in order_skus:
                    errs.append(f"order {o['id']}: unfilled sku {ln['sku']} not on the order")
                unfilled[ln["sku"]] += ln["qty"]
            for sku, qty in o["lines"]:
                if shipped[sku] + unfilled[sku] != qty or unfilled[sku] < 0:
                    errs.append(
                        f"order {o['id']} sku {sku}: {shipped[sku]} shipped + "
                        f"{unfilled[sku]} unfilled != {qty}"
                    )
            if not o["allow_split"] and len(op["shipments"]) > 1:
                errs.append(f"order {o['id']}: split but allow_split is false")
        for (n_id, sku), q in taken.items():
            if q > self.atp.get((n_id, sku), 0):
                errs.append(f"node {n_id} sku {sku}: takes {q} > atp")
        for n_id, c in ships.items():
            oc = self.nodes[n_id]["order_capacity"]
            if oc is not None and c > oc:
                errs.append(f"node {n_id}: {c} shipments > order_capacity {oc}")
        for n_id, u in units.items():
            uc = self.nodes[n_id]["unit_capacity"]
            if uc is not None and u > uc:
                errs.append(f"node {n_id}: {u} units > unit_capacity {uc}")
        return errs

    def price_plan(self, plan: dict[str, Any]) -> tuple[float, list[str]]:
        """Total cost of a valid plan, and every reported field that differs from it."""
        errs: list[str] = []
        grand = {"handling": 0.0, "shipping": 0.0, "penalty": 0.0}
        for op in plan["orders"]:
            o = self.order_by_id[op["order_id"]]
            oh = os_ = 0.0
            shipped: Counter[str] = Counter()
            for sh in op["shipments"]:
                lines = {ln["sku"]: ln["qty"] for ln in sh["lines"]}
                leg = self.leg(o, sh["node"])
                assert leg is not None
                h, s = self.shipment_price(leg, sh["node"], lines)
                oh, os_ = oh + h, os_ + s
                shipped.update(lines)
                where = f"order {o['id']} node {sh['node']}"
                if sh.get("transit_days") is not None and sh["transit_days"] != leg.transit:
                    errs.append(f"{where}: transit {sh['transit_days']} != {leg.transit}")
                if sh.get("distance_km") is not None and not close(sh["distance_km"], leg.distance):
                    errs.append(f"{where}: distance {sh['distance_km']} != {leg.distance}")
                if sh.get("cost") is not None:
                    for key, want in (("handling", h), ("shipping", s), ("total", h + s)):
                        if not close(sh["cost"][key], want):
                            errs.append(f"{where}: {key} {sh['cost'][key]} != {want}")
            penalty = sum((q - shipped[s]) * self.skus[s]["penalty"] for s, q in o["lines"])
            want_order = {
                "handling": oh,
                "shipping": os_,
                "penalty": penalty,
                "total": oh + os_ + penalty,
            }
            if op.get("cost") is not None:
                for key, want in want_order.items():
                    if not close(op["cost"][key], want):
                        errs.append(f"order {o['id']}: {key} {op['cost'][key]} != {want}")
            any_unfilled = any(q > shipped[s] for s, q in o["lines"])
            status = (
                "unfilled" if not op["shipments"] else "partial" if any_unfilled else "fulfilled"
            )
            if op.get("status") is not None and op["status"] != status:
                errs.append(f"order {o['id']}: status {op['status']} != {status}")
            for key in grand:
                grand[key] += want_order[key]
        total = sum(grand.values())
        if plan.get("cost") is not None:
            for key, want in (*grand.items(), ("total", total)):
                if not close(plan["cost"][key], want):
                    errs.append(f"plan: {key} {plan['cost'][key]} != {want}")
        return total, errs


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def compile_problem(problem: dict[str, Any]) -> ProblemData:
    """Parse (which must accept every generated problem, and leave the dict as it was)."""
    before = copy.deepcopy(problem)
    parsed = models.parse_problem(problem)
    assert problem == before
    return ProblemData.from_problem(parsed)


def solve(data: ProblemData, backend: str) -> router.RoutingResult:
    return router.optimize(data, router.SolveParams(backend=backend, time_limit=20.0))  # type: ignore[arg-type]


def plan_total(plan: models.Plan) -> float:
    assert plan.cost is not None
    return plan.cost.total


def plan_dict(plan: models.Plan) -> dict[str, Any]:
    return json.loads(plan.model_dump_json())


def assert_plan_consistent(plan: dict[str, Any]) -> None:
    """Totals add up at every level and statuses agree with shipments and unfilled units."""
    orders = plan["orders"]
    for key in ("handling", "shipping", "penalty", "total"):
        assert close(plan["cost"][key], sum(op["cost"][key] for op in orders)), key
    for op in orders:
        ship_total = sum(sh["cost"]["total"] for sh in op["shipments"])
        assert close(op["cost"]["total"], ship_total + op["cost"]["penalty"]), op["order_id"]
        assert close(op["cost"]["handling"], sum(sh["cost"]["handling"] for sh in op["shipments"]))
        assert close(op["cost"]["shipping"], sum(sh["cost"]["shipping"] for sh in op["shipments"]))
        for sh in op["shipments"]:
            assert close(sh["cost"]["total"], sh["cost"]["handling"] + sh["cost"]["shipping"])
            assert sh["lines"] and all(ln["qty"] >= 1 for ln in sh["lines"])
        assert all(ln["qty"] >= 1 for ln in op["unfilled"])
        if not op["shipments"]:
            assert op["status"] == "unfilled", op
        elif op["unfilled"]:
            assert op["status"] == "partial", op
        else:
            assert op["status"] == "fulfilled", op
        if op["status"] == "fulfilled":
            assert close(op["cost"]["penalty"], 0.0)


def assert_valid_result(
    oracle: Oracle, data: ProblemData, result: router.RoutingResult
) -> dict[str, Any]:
    """Every check a returned plan must pass, by the engine's checker and by the oracle."""
    assert router.assignment_violations(data, result.assignment) == []
    report = router.check_plan(data, result.plan)
    assert report.valid, report.violations
    assert close(plan_total(report.repriced), result.cost)
    assert close(router.total_cost(data, result.assignment), result.cost)

    plan = plan_dict(result.plan)
    assert oracle.violations(plan) == []
    priced, errs = oracle.price_plan(plan)
    assert errs == []
    assert close(priced, result.cost), (priced, result.cost)
    assert close(plan["cost"]["total"], result.cost)
    assert_plan_consistent(plan)
    for op in plan["orders"]:
        if not oracle.order_by_id[op["order_id"]]["allow_split"]:
            assert len(op["shipments"]) <= 1
    assert plan["solver"]["status"] == result.status
    if result.bound is not None:
        assert result.bound <= result.cost + ABS + REL * abs(result.cost)
    return plan


CPSAT_ABS = 1e-4
"""CP-SAT solves with the float costs scaled to integers; see the xfail tests at the end.

Until that is fixed its plans are accepted within this much (absolute) of the optimum,
and its status may be "feasible" when the gap is that small. Other backends get ABS.
"""


def cost_tol(backend: str, value: float) -> float:
    return (CPSAT_ABS if backend == "cpsat" else ABS) + REL * abs(value)


def assert_proven_optimal(result: router.RoutingResult, backend: str) -> None:
    assert result.bound is not None
    if backend == "cpsat" and result.status == "feasible":
        assert result.cost - result.bound <= cost_tol(backend, result.cost)
        return
    assert result.status == "optimal", (result.status, result.cost, result.bound)


def enumerable_oracle(problem: dict[str, Any]) -> Oracle:
    oracle = Oracle(problem)
    assume(oracle.enumeration_size() <= MAX_ENUMERATION)
    return oracle


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------


def _check_against_brute_force(problem: dict[str, Any], backend: str) -> None:
    oracle = enumerable_oracle(problem)
    best, best_plan = oracle.optimum()
    data = compile_problem(problem)
    result = solve(data, backend)
    assert_valid_result(oracle, data, result)
    assert abs(result.cost - best) <= cost_tol(backend, best), (result.cost, best, best_plan)
    assert_proven_optimal(result, backend)
    if result.bound is not None:  # a proven lower bound is below the true optimum
        assert result.bound <= best + cost_tol(backend, best), (result.bound, best)


@pytest.mark.parametrize("backend", ["highs", "cpsat"])
@settings(max_examples=250, deadline=None)
@given(problem=problems())
def test_optimum_equals_brute_force(backend: str, problem: dict[str, Any]) -> None:
    _check_against_brute_force(problem, backend)


@pytest.mark.parametrize("backend", ["scip", "scipy"])
@settings(max_examples=80, deadline=None)
@given(problem=problems())
def test_optimum_equals_brute_force_other_backends(backend: str, problem: dict[str, Any]) -> None:
    _check_against_brute_force(problem, backend)


WIDE = problems(min_nodes=8, max_nodes=12, max_orders=2, dense_stock=True)
"""Many candidate nodes per order: more than the first columns of column generation."""


@pytest.mark.parametrize("backend", ["highs", "cpsat"])
@settings(max_examples=60, deadline=None)
@given(problem=WIDE)
def test_optimum_equals_brute_force_on_wide_networks(backend: str, problem: dict[str, Any]) -> None:
    _check_against_brute_force(problem, backend)


@settings(max_examples=200, deadline=None)
@given(problem=problems())
def test_greedy_is_valid_and_never_beats_the_optimum(problem: dict[str, Any]) -> None:
    oracle = enumerable_oracle(problem)
    best, _ = oracle.optimum()
    data = compile_problem(problem)
    greedy = router.route_greedy(data)
    assert router.assignment_violations(data, greedy) == []
    greedy_cost = router.total_cost(data, greedy)
    plan = plan_dict(router.price(data, greedy))
    assert oracle.violations(plan) == []
    priced, errs = oracle.price_plan(plan)
    assert errs == []
    assert close(priced, greedy_cost)
    assert_plan_consistent(plan)
    assert best <= greedy_cost + ABS + REL * abs(greedy_cost)
    result = solve(data, "highs")
    assert result.cost <= greedy_cost + ABS + REL * abs(greedy_cost)


@settings(max_examples=300, deadline=None)
@given(problem=problems(), draw=st.data())
def test_engine_checker_agrees_with_the_oracle(
    problem: dict[str, Any], draw: st.DataObject
) -> None:
    """Random assignments, valid or not: both checkers give the same verdict and price."""
    data = compile_problem(problem)
    rows: list[tuple[int, int, int, int]] = []
    for o, order in enumerate(problem["orders"]):
        for line in order["lines"]:
            s = data.sku_index[line["sku"]]
            # Mostly nodes with stock of the sku, so that some plans are valid.
            stocked = [n for n in range(data.num_nodes) if data.atp[n, s] > 0]
            prefer_stocked = draw.draw(st.booleans(), label="prefer stocked nodes")
            pool = stocked if stocked and prefer_stocked else list(range(data.num_nodes))
            units = draw.draw(
                st.lists(st.sampled_from([None, *pool]), max_size=line["qty"]),
                label=f"units of {order['id']} {line['sku']}",
            )
            rows += [(o, n, s, 1) for n in units if n is not None]
    a = Assignment.from_rows(*(np.array([r[k] for r in rows], dtype=np.int64) for k in range(4)))
    plan = router.price(data, a)
    oracle = Oracle(problem)
    oracle_errors = oracle.violations(plan_dict(plan))
    engine_errors = router.assignment_violations(data, a)
    report = router.check_plan(data, plan)
    assert (oracle_errors == []) == (engine_errors == []), (oracle_errors, engine_errors)
    assert report.valid == (oracle_errors == []), (oracle_errors, report.violations)
    if not oracle_errors:
        priced, errs = oracle.price_plan(plan_dict(plan))
        assert errs == []
        assert close(priced, router.total_cost(data, a))
        assert_plan_consistent(plan_dict(plan))


@settings(max_examples=150, deadline=None)
@given(problem=problems(), draw=st.data())
def test_removing_stock_never_lowers_the_optimum(
    problem: dict[str, Any], draw: st.DataObject
) -> None:
    stocked = [i for i, r in enumerate(problem["inventory"]) if r["on_hand"] > 0]
    assume(stocked)
    i = draw.draw(st.sampled_from(stocked), label="record")
    fewer = copy.deepcopy(problem)
    rec = fewer["inventory"][i]
    rec["on_hand"] = draw.draw(st.integers(0, rec["on_hand"] - 1), label="on_hand")
    backend = draw.draw(st.sampled_from(["highs", "cpsat"]), label="backend")

    before = solve(compile_problem(problem), backend)
    after = solve(compile_problem(fewer), backend)
    assert_proven_optimal(before, backend)
    assert_proven_optimal(after, backend)
    assert after.cost >= before.cost - cost_tol(backend, before.cost)


@settings(max_examples=150, deadline=None)
@given(problem=problems(max_nodes=3), draw=st.data())
def test_adding_a_node_never_raises_the_optimum(
    problem: dict[str, Any], draw: st.DataObject
) -> None:
    more = copy.deepcopy(problem)
    more["nodes"].append(draw.draw(nodes("NEW", enabled=True), label="node"))
    skus = draw.draw(
        st.lists(st.sampled_from([s["id"] for s in problem["skus"]]), min_size=1, unique=True),
        label="skus",
    )
    more["inventory"] += [draw.draw(stock_records("NEW", s), label=f"stock {s}") for s in skus]
    backend = draw.draw(st.sampled_from(["highs", "cpsat"]), label="backend")

    before = solve(compile_problem(problem), backend)
    after = solve(compile_problem(more), backend)
    assert_proven_optimal(before, backend)
    assert_proven_optimal(after, backend)
    assert after.cost <= before.cost + cost_tol(backend, before.cost)


# A pickup at a warehouse with its own stock: taking 1 unit (handling 1.08) and leaving
# 1 unfilled (5.595...) is optimal at 6.675104296232954, and every backend finds it.
ONE_NODE_PICKUP: dict[str, Any] = {
    "nodes": [
        {
            "id": "W",
            "type": "warehouse",
            "lat": 45.0,
            "lon": 5.0,
            "can_pickup": True,
            "unit_capacity": 1,
            "handling_cost_per_shipment": 1.0,
            "handling_cost_per_unit": 0.08,
        }
    ],
    "skus": [{"id": "K", "weight_kg": 0.0, "unfilled_penalty": 5.595104296232954}],
    "rates": [],
    "inventory": [{"node": "W", "sku": "K", "on_hand": 2}],
    "orders": [
        {"id": "O", "method": "pickup", "pickup_node": "W", "lines": [{"sku": "K", "qty": 2}]}
    ],
}


CPSAT_SCALING = (
    "CP-SAT scales float costs to integers, so it proves optimality only to ~1e-5: its own "
    "bound sits that far below the optimum, and router keeps that honest bound (status "
    "'feasible') rather than claiming a proof CP-SAT does not have"
)


@pytest.mark.parametrize(
    "backend",
    [
        "highs",
        "scip",
        pytest.param("cpsat", marks=pytest.mark.xfail(strict=True, reason=CPSAT_SCALING)),
        "scipy",
    ],
)
def test_every_backend_proves_a_one_node_optimum(backend: str) -> None:
    """Every backend proves the optimum of a one-node problem.

    Regression: CP-SAT scales float costs to integers, and its bound came back ~1e-5
    relative below its (optimal) objective, so optimize() said "feasible" with bound
    6.67506... < cost 6.675104... on this problem (and on ~7% of small random ones).
    """
    oracle = Oracle(ONE_NODE_PICKUP)
    best, _ = oracle.optimum()
    assert close(best, 1.0 + 0.08 + 5.595104296232954)
    data = compile_problem(ONE_NODE_PICKUP)
    result = solve(data, backend)
    assert_valid_result(oracle, data, result)
    assert close(result.cost, best)
    assert result.status == "optimal", (result.cost, result.bound)
    assert result.bound is not None and close(result.bound, best)


# An order that may not split, two nodes: A fills it for 1.0 + 1e-7 (handling 1.0, one
# kg at 1e-7 per kg), B may pick only one unit. The LP bound is 0.5000001, so the MIP
# must prove the optimum 1.0000001.
TINY_COST: dict[str, Any] = {
    "nodes": [
        {
            "id": "A",
            "type": "warehouse",
            "lat": 45.0,
            "lon": 5.0,
            "handling_cost_per_shipment": 1.0,
        },
        {"id": "B", "type": "warehouse", "lat": 45.0, "lon": 5.0, "unit_capacity": 1},
    ],
    "skus": [
        {"id": "K0", "weight_kg": 0.0, "unfilled_penalty": 5.0},
        {"id": "K1", "weight_kg": 1.0, "unfilled_penalty": 5.0},
    ],
    "rates": [{"max_km": None, "base": 0.0, "per_kg": 1e-07, "transit_days": 0}],
    "inventory": [{"node": n, "sku": s, "on_hand": 2} for n in "AB" for s in ("K0", "K1")],
    "orders": [
        {
            "id": "O",
            "lat": 45.0,
            "lon": 5.0,
            "allow_split": False,
            "lines": [{"sku": "K0", "qty": 1}, {"sku": "K1", "qty": 1}],
        }
    ],
}


@pytest.mark.parametrize(
    "backend",
    [
        "highs",
        "scip",
        pytest.param(
            "cpsat",
            marks=pytest.mark.xfail(
                strict=True,
                reason="CP-SAT drops the 1e-7 cost term when it scales the float objective to "
                "integers: its objective and bound come back as 1.0, so optimize() returns the "
                "optimal plan (cost 1.0000001) with status 'feasible' and bound 1.0",
            ),
        ),
        "scipy",
    ],
)
def test_cpsat_proves_an_optimum_with_a_tiny_cost(backend: str) -> None:
    oracle = Oracle(TINY_COST)
    best, _ = oracle.optimum()
    assert close(best, 1.0000001)
    data = compile_problem(TINY_COST)
    result = solve(data, backend)
    assert_valid_result(oracle, data, result)
    assert math.isclose(result.cost, best, rel_tol=1e-12)
    assert result.status == "optimal", (result.cost, result.bound)
    assert result.bound is not None and math.isclose(result.bound, best, rel_tol=1e-12)


# Four warehouses at the address, one band (1.0 per parcel): three units come cheapest
# from B (1 unit) and D (2 units) for 2.0. C also has stock but costs 1e-5 per unit.
NEAR_TIE: dict[str, Any] = {
    "nodes": [
        {"id": "A", "type": "warehouse", "lat": 50.0, "lon": 10.0, "handling_cost_per_unit": 1.0},
        {"id": "B", "type": "warehouse", "lat": 50.0, "lon": 10.0},
        {"id": "C", "type": "warehouse", "lat": 50.0, "lon": 10.0, "handling_cost_per_unit": 1e-5},
        {"id": "D", "type": "warehouse", "lat": 50.0, "lon": 10.0},
    ],
    "skus": [{"id": "K"}],
    "rates": [{"max_km": None, "base": 1.0, "per_kg": 0.0, "transit_days": 0}],
    "inventory": [
        {"node": "A", "sku": "K", "on_hand": 2},
        {"node": "B", "sku": "K", "on_hand": 1},
        {"node": "C", "sku": "K", "on_hand": 2},
        {"node": "D", "sku": "K", "on_hand": 2},
    ],
    "orders": [{"id": "O", "lat": 50.0, "lon": 10.0, "lines": [{"sku": "K", "qty": 3}]}],
}


@pytest.mark.parametrize(
    "backend",
    [
        "highs",
        "scip",
        pytest.param(
            "cpsat",
            marks=pytest.mark.xfail(
                strict=True,
                reason="CP-SAT returns C+D (2.00001) instead of B+D (2.0): its optimality holds "
                "only to its integer scaling of the float costs. router keeps CP-SAT's own "
                "bound (1.99999999...) and reports 'feasible', but the plan is 1e-5 costlier",
            ),
        ),
        "scipy",
    ],
)
def test_no_backend_calls_a_costlier_plan_optimal(backend: str) -> None:
    oracle = Oracle(NEAR_TIE)
    best, best_plan = oracle.optimum()
    assert best == 2.0
    assert best_plan == [{"B": {"K": 1}, "D": {"K": 2}}]
    data = compile_problem(NEAR_TIE)
    result = solve(data, backend)
    assert_valid_result(oracle, data, result)
    assert math.isclose(result.cost, best, rel_tol=1e-12), result.plan.orders[0].shipments
    if result.bound is not None:  # a proven lower bound never exceeds the optimum
        assert result.bound <= best + 1e-12


# ---------------------------------------------------------------------------------------
# The contract's example
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> tuple[dict[str, Any], dict[str, Any]]:
    if not EXAMPLES.is_dir():
        pytest.skip(f"contract examples not found at {EXAMPLES}")
    problem = json.loads((EXAMPLES / "small-problem.json").read_text(encoding="utf-8"))
    plan = json.loads((EXAMPLES / "small-plan.json").read_text(encoding="utf-8"))
    return problem, plan


@pytest.mark.parametrize("backend", ["highs", "scip", "cpsat", "scipy"])
def test_example_optimum(backend: str, example: tuple[dict[str, Any], dict[str, Any]]) -> None:
    problem, _ = example
    data = compile_problem(problem)
    result = solve(data, backend)
    assert result.status == "optimal"
    assert math.isclose(result.cost, EXAMPLE_TOTAL, rel_tol=1e-9)
    assert math.isclose(plan_total(result.plan), EXAMPLE_TOTAL, rel_tol=1e-9)
    assert_valid_result(Oracle(problem), data, result)


def test_example_plan_checks_valid(example: tuple[dict[str, Any], dict[str, Any]]) -> None:
    problem, plan = example
    data = compile_problem(problem)
    report = router.check_plan(data, models.Plan.model_validate(plan))
    assert report.valid, report.violations
    assert math.isclose(plan_total(report.repriced), EXAMPLE_TOTAL, rel_tol=1e-9)
    assert math.isclose(plan_total(report.repriced), plan["cost"]["total"], rel_tol=1e-9)


def test_oracle_accepts_and_prices_the_example_plan(
    example: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """The oracle itself against the contract's worked example."""
    problem, plan = example
    oracle = Oracle(problem)
    assert oracle.violations(plan) == []
    total, errs = oracle.price_plan(plan)
    assert errs == []
    assert math.isclose(total, EXAMPLE_TOTAL, rel_tol=1e-9)
