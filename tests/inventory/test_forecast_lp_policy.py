"""Forecast recovery, the LP's duals on a hand-checkable case, the explain trace, and the
``inventory_aware`` simulator policy on a tiny scenario."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import parse_problem
from router import ProblemData
from router.inventory.forecast import (
    DemandForecast,
    from_demand_model,
    from_history,
    make_regions,
)
from router.inventory.opportunity import opportunity_costs
from router.simulation import run_seed
from router.simulation.network import build_network
from tests.simulation.conftest import small

# ----------------------------------------------------------------------- forecast


def test_history_recovers_known_poisson_rates() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[10.5, 105.5], [20.5, 105.5], [15.5, 108.5]])
    true = np.array([[4.0, 0.5, 0.0], [1.0, 2.0, 3.0], [0.2, 0.0, 6.0]])  # region × sku
    days = 400
    lat, lon, sku, qty = [], [], [], []
    for r in range(3):
        for s in range(3):
            n = rng.poisson(true[r, s] * days)
            lat.append(centres[r, 0] + rng.uniform(-0.3, 0.3, n))
            lon.append(centres[r, 1] + rng.uniform(-0.3, 0.3, n))
            sku.append(np.full(n, s))
            qty.append(np.ones(n, dtype=np.int64))
    f = from_history(
        np.concatenate(lat), np.concatenate(lon), np.concatenate(sku), np.concatenate(qty),
        num_skus=3, days=days,
    )  # fmt: skip
    assert len(f.regions) == 3
    where = f.regions.assign(centres[:, 0], centres[:, 1])
    np.testing.assert_allclose(f.rate[where], true, atol=0.25, rtol=0.08)
    # The prior shrinks an unseen (region, sku) towards region share × sku share.
    short = from_history(
        np.array([10.5, 10.5, 20.5]), np.array([105.5] * 3), np.array([0, 1, 0]),
        np.array([1, 1, 1]), num_skus=2, days=1.0,
    )  # fmt: skip
    r20 = int(short.regions.assign(np.array([20.5]), np.array([105.5]))[0])
    assert short.rate[r20, 1] > 0


def test_regions_assign_unknown_cells_to_the_nearest_centroid() -> None:
    reg = make_regions(np.array([10.2, 10.4, 21.0]), np.array([105.1, 105.3, 105.9]))
    assert len(reg) == 2
    got = reg.assign(np.array([10.3, 12.5, 19.9]), np.array([105.2, 105.2, 105.9]))
    assert got[0] == got[1] != got[2]


def test_demand_model_rates_sum_to_the_expected_units() -> None:
    sc = small()
    net = build_network(sc)
    f = from_demand_model(net, sc.demand)
    from router.inventory.forecast import mean_units_per_order

    want = sc.demand.orders_per_day * mean_units_per_order(sc.demand)
    assert f.own is not None
    assert f.rate.sum() + f.own.sum() == pytest.approx(want)
    np.testing.assert_allclose((f.rate.sum(axis=0) + f.own.sum(axis=0)) / want, net.popularity)
    # own demand: the pickups that refuse transfers, at the stores that take pickups
    pick = sc.demand.pickup_share * (1.0 - sc.demand.allow_transfer_share)
    assert f.own.sum() == pytest.approx(want * pick)
    assert f.own[~net.is_store].sum() == 0.0


def test_own_pickup_protection_is_the_chance_of_losing_the_last_unit() -> None:
    """The policy values a store's stock for its own no-transfer pickups at
    penalty × P(Poisson demand over the horizon ≥ units there), zero where none is left."""
    from scipy.stats import poisson

    from router.inventory.policy import InventoryAwarePolicy
    from router.simulation.scenario import PolicySpec

    sc = small()
    net = build_network(sc)
    pol = InventoryAwarePolicy(PolicySpec(kind="inventory_aware", params={"horizon_days": 3}))
    pol._forecast = from_demand_model(net, sc.demand)
    assert pol._forecast.own is not None

    class View:
        network = net.data()
        day, minute = 0, 0.0

    skus = np.array([0, 1], dtype=np.int64)
    atp = np.zeros((len(net.nodes), 2), dtype=np.int64)
    atp[:, 0] = 1
    atp[:, 1] = 4
    prot = pol._own_protection(View(), skus, atp)  # type: ignore[arg-type]
    lam = pol._forecast.own[:, skus] * 3.0
    pen = np.array([net.skus[0].unfilled_penalty, net.skus[1].unfilled_penalty])
    np.testing.assert_allclose(prot[:, 0], pen[0] * (1.0 - np.exp(-lam[:, 0])))
    np.testing.assert_allclose(prot[:, 1], pen[1] * poisson.sf(3, lam[:, 1]))
    assert (prot[:, 0] >= prot[:, 1]).all()  # the last unit is worth more than the 4th
    atp[:] = 0
    assert not pol._own_protection(View(), skus, atp).any()  # type: ignore[arg-type]


# ----------------------------------------------------------------------- the LP


def _two_nodes() -> ProblemData:
    raw: dict[str, Any] = {
        "nodes": [
            {"id": "NEAR", "type": "warehouse", "lat": 10.0, "lon": 106.0},
            {"id": "FAR", "type": "warehouse", "lat": 21.0, "lon": 105.8},
        ],
        "skus": [{"id": "A", "weight_kg": 1.0, "unfilled_penalty": 100.0}],
        "rates": [
            {"max_km": 100, "base": 2.0, "per_kg": 1.0, "transit_days": 1},
            {"max_km": None, "base": 10.0, "per_kg": 2.0, "transit_days": 3},
        ],
        "inventory": [],
        "orders": [],
    }
    return ProblemData.from_problem(parse_problem(raw))


def test_dual_of_the_scarce_node_is_the_cost_difference() -> None:
    net = _two_nodes()
    regions = make_regions(np.array([10.05]), np.array([106.05]))  # next to NEAR
    fc = DemandForecast(regions=regions, rate=np.array([[3.0]]))
    # 3 units a day wanted; NEAR holds 2 (scarce), FAR 50: the third comes from FAR.
    oc = opportunity_costs(net, np.array([[2], [50]]), fc, horizon_days=1.0)
    near = 2.0 + 1.0  # base + per_kg × 1 kg, one unit per parcel
    far = 10.0 + 2.0
    assert oc.status == "optimal"
    assert oc.cost[0, 0] == pytest.approx(far - near)
    assert oc.cost[1, 0] == pytest.approx(0.0)
    assert oc.objective == pytest.approx(2 * near + far)
    trace = oc.explain(0, 0)
    assert len(trace) == 1 and trace[0]["region"].startswith("R0(")
    assert trace[0]["units"] == pytest.approx(2.0)
    assert trace[0]["days"] == pytest.approx(2.0 / 3.0)
    assert oc.explain(1, 0) == []
    assert oc.trace()[0]["node"] == "NEAR" and oc.trace()[0]["protects"]
    # Plenty at NEAR: no opportunity cost anywhere. Nothing anywhere: the penalty binds.
    assert not opportunity_costs(net, np.array([[9], [50]]), fc, 1.0).cost.any()
    short = opportunity_costs(net, np.array([[2], [0]]), fc, 1.0)
    assert short.cost[0, 0] == pytest.approx(100.0 - near)


def test_promise_demand_only_takes_nodes_that_keep_the_promise() -> None:
    """Half the demand promises 1 day: only NEAR (1 day) can serve it, FAR (3 days)
    cannot, so NEAR's scarce units are worth the penalty to that half, and the trace
    still names the one real region."""
    net = _two_nodes()
    regions = make_regions(np.array([10.05]), np.array([106.05]))
    fc = DemandForecast(regions=regions, rate=np.array([[6.0]]), promises=((None, 0.5), (1, 0.5)))
    near = 2.0 + 1.0
    oc = opportunity_costs(net, np.array([[2], [50]]), fc, horizon_days=1.0)
    # 3 promised units, 2 at NEAR: the third is lost, so NEAR's unit is worth penalty − near
    assert oc.cost[0, 0] == pytest.approx(100.0 - near)
    assert oc.objective == pytest.approx(2 * near + 100.0 + 3 * (10.0 + 2.0))
    trace = oc.explain(0, 0)
    assert len(trace) == 1 and trace[0]["units"] == pytest.approx(2.0)
    plain = opportunity_costs(
        net, np.array([[2], [50]]), DemandForecast(regions, np.array([[6.0]])), 1.0
    )
    assert plain.cost[0, 0] == pytest.approx(10.0 + 2.0 - near)


def test_promise_classes_follow_the_demand_model() -> None:
    from router.inventory.forecast import promise_classes

    assert promise_classes(0.0, [1, 2]) == ((None, 1.0),)
    got = promise_classes(0.2, [1, 2, 2, 3])
    assert got[0] == (None, pytest.approx(0.8))
    assert [d for d, _ in got[1:]] == [1, 2, 3]
    assert [w for _, w in got[1:]] == pytest.approx([0.05, 0.1, 0.05])


# ----------------------------------------------------------------------- the policy


def _aware(**params: Any) -> Any:
    return small(
        days=3,
        initial_stock={"scale": 0.4},
        policy={"kind": "inventory_aware", "params": {"horizon_days": 2, **params}},
        hindsight={"enabled": False},
    )


def test_policy_runs_deterministically_and_keeps_stock_invariants() -> None:
    sc = _aware(recompute_hours=6, stock_change=0.05)
    a = run_seed(sc, 0, check=True)
    b = run_seed(sc, 0, check=True)
    assert a.kpis == pytest.approx(b.kpis, nan_ok=True)
    assert a.kpis["orders"] > 0 and a.kpis["units_per_shipment"] > 0


def test_policy_recomputes_and_protects_stock() -> None:
    from router.simulation.engine import Replay

    sc = _aware(recompute_hours=12)
    rep = Replay(sc, build_network(sc), 0, check=True)
    rep.run()
    pol: Any = rep.policy
    assert pol.solves >= 3  # at least every 12 simulated hours over 3 days
    assert pol.costs is not None and pol.costs.status == "optimal"
    assert (pol.costs.cost >= 0).all()


def test_unknown_params_are_refused() -> None:
    with pytest.raises(ValueError):
        run_seed(_aware(bogus=1), 0)


def test_walkins_share_the_shelf_until_the_next_replenishment() -> None:
    """With walk-ins, a store's own-pickup value is the shared-shelf one over the days to
    the next store replenishment arrival."""
    from router.inventory.protection import own_pickup_value, walkin_rates
    from router.simulation.engine import Replay

    sc = _aware().replace(
        replenishment={"store": {"every_days": 2, "target": 1.0, "lead_days": 1, "start_day": 0}}
    )
    rep = Replay(sc, build_network(sc), 0)
    rep.run()
    pol: Any = rep.policy
    assert pol._arrivals == [1, 3]
    assert pol._walkin_rate is not None

    class View:
        network = rep.net.data()
        day, minute = 1, 720.0

    assert pol._shelf_days(View()) == pytest.approx(1.5)  # to day 3's morning
    View.day = 2
    assert pol._shelf_days(View()) == pytest.approx(0.5)
    skus = np.array([0, 1], dtype=np.int64)
    atp = np.full((len(rep.net.nodes), 2), 2, dtype=np.int64)
    got = pol._own_protection(View(), skus, atp)
    walk = walkin_rates(rep.net, sc.demand.walkins_per_store)[:, skus]
    pen = View.network.sku_penalty[skus]
    want = own_pickup_value(pol._forecast.own[:, skus], pen, atp, 0.5, walk) * pol.weight
    np.testing.assert_allclose(got, want)
    assert got.any()


def test_promised_orders_protect_the_nodes_that_can_keep_them() -> None:
    """The policy's promise term is the pooled-set value over the horizon for the
    demand model's promise classes, it only ever raises a unit's cost, and it is off
    with ``protect_promises: false``."""
    from router.inventory.opportunity import unit_costs
    from router.inventory.protection import promise_sets, promise_value
    from router.simulation.engine import Replay

    sc = _aware()
    assert sc.demand.promise_share > 0
    rep = Replay(sc, build_network(sc), 0, check=True)
    rep.run()
    pol: Any = rep.policy
    assert pol._promise_sets is not None and len(pol._promise_sets) > 0
    data = rep.net.data()
    fc = from_demand_model(rep.net, sc.demand, pol.cell_deg)
    _, _, ok, transit = unit_costs(data, fc, pol.units_per_parcel)
    sets = promise_sets(ok, transit, fc.rate, fc.promises)
    np.testing.assert_allclose(pol._promise_sets.members, sets.members)

    class View:
        network = data
        day, minute = 1, 720.0  # 1.5 days before the 3-day season ends: the window is cut

    skus = np.array([3, 1], dtype=np.int64)
    atp = np.full((len(rep.net.nodes), 2), 1, dtype=np.int64)
    got = pol._promise_protection(View(), skus, atp)
    pen = data.sku_penalty[skus]
    want = promise_value(sets, skus, pen, atp, 1.5, pol._walkin_rate[:, skus])
    np.testing.assert_allclose(got, want)
    assert got.any() and (got >= 0).all()

    off = Replay(_aware(protect_promises=False), build_network(sc), 0)
    off_run = off.run()
    assert off.policy._promise_sets is None  # type: ignore[attr-defined]
    # the term changes routing: here it keeps units for promised orders that come later
    on_run = run_seed(sc, 0, hindsight=False)
    assert on_run.kpis["lost_units_online"] < off_run.kpis["lost_units_online"]


@settings(max_examples=100, deadline=None)
@given(
    unit=st.floats(0.1, 50.0),
    fixed=st.floats(0.0, 30.0),
    avail=st.integers(1, 5),
    pen=st.floats(1.0, 100.0),
    extra=st.floats(0.0, 1e4),
)
def test_serve_first_keeps_a_servable_line_cheaper_than_unfilled(
    unit: float, fixed: float, avail: int, pen: float, extra: float
) -> None:
    """After the cap, a shipment carrying all the node can give of the line, alone,
    costs less than leaving those units unfilled whenever it did before the opportunity
    cost (and the cap never raises a cost)."""
    from router.inventory.opportunity import serve_first

    got = serve_first(
        np.array([[extra]]), np.array([[unit]]), np.array([fixed]), np.array([[avail]]),
        np.array([pen]),
    )[0, 0]  # fmt: skip
    assert 0.0 <= got <= extra
    if fixed + avail * unit < avail * pen:
        assert fixed + avail * (unit + got) < avail * pen


def test_trace_explains_every_term_of_the_opportunity_cost() -> None:
    """The run's trace lists the dearest units at the last recompute with the cost the
    policy used (the weighted LP dual or a protection term, whichever is larger, on that
    moment's stock) and, when a protection term set it, the promised orders or the own
    pickups it keeps them for; the report shows them."""
    from router.inventory.protection import own_pickup_value, promise_value
    from router.simulation.engine import Replay
    from router.simulation.report import render_html
    from router.simulation.result import ScenarioResult, SimulationResult

    sc = _aware()
    rep = Replay(sc, build_network(sc), 0)
    run = rep.run()
    pol: Any = rep.policy
    trace = run.trace["opportunity"]
    assert trace == pol.trace(10) and len(trace) == 10
    atp, net = pol._solved_stock, pol._network
    skus = np.arange(atp.shape[1])
    walk = pol._walkin_rate
    lp = pol.costs.cost * pol.weight
    h = pol._solved_window
    assert h <= pol.horizon_days
    own = own_pickup_value(pol._forecast.own, net.sku_penalty, atp, pol._solved_shelf_days, walk)
    promise = promise_value(pol._promise_sets, skus, net.sku_penalty, atp, h, walk)
    want = np.maximum(lp, np.maximum(own * pol.weight, promise))
    got = [t["opportunity_cost"] for t in trace]
    assert got == sorted(got, reverse=True)
    assert got[0] == pytest.approx(want.max())
    names = rep.net.node_ids, rep.net.sku_ids
    for t in trace:
        n, j = names[0].index(t["node"]), names[1].index(t["sku"])
        assert t["opportunity_cost"] == pytest.approx(want[n, j])
        assert t["protects"]
        if want[n, j] > lp[n, j] + 1e-9:  # a protection term set it: named as such
            assert any(
                p["region"].startswith(("orders promised within", "pickups at"))
                for p in t["protects"]
            )
    assert any(p["region"].startswith("orders promised") for t in trace for p in t["protects"])
    result = SimulationResult(
        scenarios=[ScenarioResult("aware", "inventory_aware", [run], {}, [])], seeds=[0], days=3
    )
    page = render_html(result)
    assert "orders promised within" in page


def test_no_line_is_lost_that_a_node_could_serve_at_a_profit() -> None:
    """Serve first, in a whole run: an order that may split never has a line left
    entirely unfilled while some node could ship what it has of it, alone, for less
    than the penalty of those units (whatever the opportunity costs)."""
    from router.simulation.engine import Replay
    from router.single import SingleOrderRouter

    sc = _aware(weight=50.0)  # opportunity costs far above every margin: the cap decides
    checked = [0]
    real = SingleOrderRouter.route

    def route(self: SingleOrderRouter, order: Any, atp: Any, *args: Any, **kw: Any) -> Any:
        res = real(self, order, atp, *args, **kw)
        if kw.get("unit_surcharge") is None or not order.allow_split:
            return res
        v = self._view(order, atp, args[0], args[1], ())
        shipped = {ln.sku for sh in res.plan.shipments for ln in sh.lines}
        for c, line in enumerate(order.lines):
            if line.sku in shipped:
                continue
            k = v.usable[:, c].astype(float)
            ok = (k > 0) & (v.ships_left > 0)
            assert not (ok & (v.fixed + k * v.unit[:, c] < k * v.penalty[c] - 1e-6)).any()
            checked[0] += 1
        return res

    SingleOrderRouter.route = route  # type: ignore[method-assign]
    try:
        Replay(sc, build_network(sc), 0).run()
    finally:
        SingleOrderRouter.route = real  # type: ignore[method-assign]
    assert checked[0] > 0  # lines were lost, for want of stock
