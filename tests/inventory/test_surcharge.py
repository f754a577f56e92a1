"""SingleOrderRouter with unit surcharges: the exact optimum of the surcharged objective,
checked against a brute-force oracle over every shipment vector of tiny orders."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from models import Line, Order, parse_problem
from router import ProblemData
from router.single import SingleOrderRouter


def _network(rng: np.random.Generator, n_nodes: int, n_skus: int) -> ProblemData:
    nodes = [
        {
            "id": f"N{i}",
            "type": "store" if i % 2 else "warehouse",
            "lat": 10 + float(rng.uniform(0, 4)),
            "lon": 105 + float(rng.uniform(0, 4)),
            "handling_cost_per_shipment": float(rng.uniform(0, 3)),
            "handling_cost_per_unit": float(rng.uniform(0, 1)),
        }
        for i in range(n_nodes)
    ]
    skus = [
        {
            "id": f"S{j}",
            "weight_kg": float(rng.uniform(0.2, 3)),
            "unfilled_penalty": float(rng.uniform(5, 30)),
        }
        for j in range(n_skus)
    ]
    rates = [
        {"max_km": 150, "base": 2.0, "per_kg": 0.3, "transit_days": 1},
        {"max_km": 400, "base": 4.0, "per_kg": 0.6, "transit_days": 2},
        {"max_km": None, "base": 7.0, "per_kg": 1.0, "transit_days": 3},
    ]
    raw: dict[str, Any] = {
        "nodes": nodes, "skus": skus, "rates": rates, "inventory": [], "orders": [],
    }  # fmt: skip
    return ProblemData.from_problem(parse_problem(raw))


def _oracle(router: SingleOrderRouter, order: Order, atp: Any, units: Any, extra: Any) -> float:
    """Least surcharged cost over every shipment vector (tiny orders only)."""
    v = router._view(order, atp, None, units, ())
    n_nodes, n_lines = v.usable.shape
    cells = [(n, ln) for n in range(n_nodes) for ln in range(n_lines)]
    best = math.inf
    unit = v.unit + extra
    for x in itertools.product(*(range(int(v.usable[n, ln]) + 1) for n, ln in cells)):
        xa = np.array(x, dtype=np.int64).reshape(n_nodes, n_lines)
        per_line = xa.sum(axis=0)
        if (per_line > v.qty).any() or (xa.sum(axis=1) > v.units_left).any():
            continue
        used = xa.sum(axis=1) > 0
        if not order.allow_split and used.sum() > 1:
            continue
        cost = float(v.fixed[used].sum() + (unit * xa).sum() + v.penalty @ (v.qty - per_line))
        best = min(best, cost)
    return best


def _objective(router: SingleOrderRouter, order: Order, atp: Any, units: Any, extra: Any,
               plan: Any) -> float:  # fmt: skip
    v = router._view(order, atp, None, units, ())
    xa = np.zeros_like(v.usable)
    lines = {ln.sku: i for i, ln in enumerate(order.lines)}
    fixed = 0.0
    for sh in plan.shipments:
        n = router.node_index[sh.node]
        fixed += float(v.fixed[n])
        for ln in sh.lines:
            xa[n, lines[ln.sku]] += ln.qty
    short = v.qty - xa.sum(axis=0)
    return fixed + float(((v.unit + extra) * xa).sum()) + float(v.penalty @ short)


@pytest.mark.parametrize("case", range(60))
def test_surcharged_route_is_the_exact_optimum(case: int) -> None:
    rng = np.random.default_rng(case)
    n_nodes, n_lines = int(rng.integers(2, 5)), int(rng.integers(1, 3))
    net = _network(rng, n_nodes, 3)
    router = SingleOrderRouter(net)
    skus = rng.choice(3, size=n_lines, replace=False)
    order = Order(
        id="o",
        lat=10 + float(rng.uniform(0, 4)),
        lon=105 + float(rng.uniform(0, 4)),
        lines=[Line(sku=f"S{int(s)}", qty=int(rng.integers(1, 3))) for s in skus],
        allow_split=bool(rng.random() < 0.8),
    )
    atp = rng.integers(0, 3, size=(n_nodes, n_lines))
    units = np.where(rng.random(n_nodes) < 0.3, 1, 99).astype(np.int64)
    extra = np.where(
        rng.random((n_nodes, n_lines)) < 0.6, rng.uniform(0, 15, (n_nodes, n_lines)), 0
    )
    res = router.route(order, atp, None, units, unit_surcharge=extra)
    want = _oracle(router, order, atp, units, extra)
    assert res.objective is not None
    assert math.isclose(res.objective, want, rel_tol=1e-9, abs_tol=1e-9)
    got = _objective(router, order, atp, units, extra, res.plan)
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    # The plan is priced by the contract: its cost has no surcharge in it.
    plain = router.route(order, atp, None, units)
    assert res.cost >= plain.cost - 1e-9
    assert math.isclose(res.plan.cost.total, res.cost, rel_tol=1e-12)


def test_zero_surcharge_is_the_plain_optimum() -> None:
    rng = np.random.default_rng(7)
    net = _network(rng, 4, 3)
    router = SingleOrderRouter(net)
    order = Order(id="o", lat=11.0, lon=106.0, lines=[Line(sku="S0", qty=2), Line(sku="S1", qty=1)])
    atp = np.full((4, 2), 2)
    a = router.route(order, atp)
    b = router.route(order, atp, unit_surcharge=np.zeros((4, 2)))
    assert math.isclose(a.cost, b.cost) and b.objective is not None
    assert math.isclose(b.objective, a.cost)


def test_a_surcharge_moves_units_and_bad_surcharges_are_refused() -> None:
    rng = np.random.default_rng(3)
    net = _network(rng, 3, 2)
    router = SingleOrderRouter(net)
    order = Order(id="o", lat=12.0, lon=107.0, lines=[Line(sku="S0", qty=1)])
    atp = np.ones((3, 1), dtype=np.int64)
    plain = router.route(order, atp)
    first = router.node_index[plain.plan.shipments[0].node]
    extra = np.zeros((3, 1))
    extra[first, 0] = 1e3
    moved = router.route(order, atp, unit_surcharge=extra)
    assert all(sh.node != plain.plan.shipments[0].node for sh in moved.plan.shipments)
    with pytest.raises(ValueError):
        router.route(order, atp, unit_surcharge=np.zeros((2, 1)))
    with pytest.raises(ValueError):
        router.route(order, atp, unit_surcharge=-np.ones((3, 1)))


def test_the_mip_fallback_with_surcharges_matches_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import router.order_search as order_search

    rng = np.random.default_rng(11)
    net = _network(rng, 4, 3)
    router = SingleOrderRouter(net)
    order = Order(id="o", lat=11.5, lon=106.5, lines=[Line(sku="S0", qty=2), Line(sku="S2", qty=2)])
    atp = rng.integers(0, 3, size=(4, 2))
    extra = rng.uniform(0, 5, (4, 2))
    res = router.route(order, atp, unit_surcharge=extra)
    monkeypatch.setattr(order_search, "WORK_LIMIT", -1)
    monkeypatch.setattr(order_search, "SUBSET_LIMIT", -1)
    fb = router.route(order, atp, unit_surcharge=extra)
    assert fb.solver == "single+mip"
    assert res.objective is not None and fb.objective is not None
    assert math.isclose(res.objective, fb.objective, rel_tol=1e-7, abs_tol=1e-7)
