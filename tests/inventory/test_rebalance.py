"""The rebalancing plan: a hand-checkable two-store case, capacities, the protects trace,
the simulator applying plans, and the CLI and API entry points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from models import Node, RateBand, Sku
from router.cli import main
from router.inventory.rebalance import (
    Demand,
    RebalanceInput,
    Region,
    catchment_forecast,
    plan_as_dict,
    plan_rebalance,
)
from router.service import Settings
from router.simulation import run
from tests.simulation.conftest import small

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"

# Two stores ~700 km apart; one band: a parcel costs 5 + 1/kg, a transfer (consolidated
# over 20 units) 5/20 + 1 = 1.25 per unit of 1 kg.
A = Node(id="A", type="store", lat=10.8, lon=106.7)
B = Node(id="B", type="store", lat=16.0, lon=108.2)
RATES = [RateBand(max_km=2000, base=5, per_kg=1, transit_days=2)]
TRANSFER_UNIT = 5 / 20 + 1


def two_stores(penalty: float, need: float, **kw: Any) -> RebalanceInput:
    """A holds 10 units; B's walk-in catchment expects ``need`` units after the lead time."""
    return RebalanceInput(
        nodes=[A, B],
        skus=[Sku(id="X", weight_kg=1.0, unfilled_penalty=penalty)],
        rates=RATES,
        stock={("A", "X"): 10},
        regions=[Region("B-walkins", B.lat, B.lon, node="B")],
        demand=[Demand("B-walkins", "X", need)],
        **kw,
    )


def test_transfer_when_the_lost_sale_costs_more_than_the_transfer() -> None:
    plan = plan_rebalance(two_stores(penalty=50.0, need=6))
    assert [(t.from_node, t.to_node, t.sku, t.qty) for t in plan.transfers] == [("A", "B", "X", 6)]
    t = plan.transfers[0]
    assert t.cost == pytest.approx(6 * TRANSFER_UNIT)
    assert plan.expected_cost_before == pytest.approx(6 * 50.0)
    assert plan.expected_cost_after == pytest.approx(6 * TRANSFER_UNIT)
    assert plan.expected_saving == pytest.approx(300.0 - 6 * TRANSFER_UNIT)
    assert [(p.region, p.expected_units, p.days) for p in t.protects] == [("B-walkins", 6, (1, 6))]


def test_no_transfer_when_the_saving_is_below_the_transfer_cost() -> None:
    plan = plan_rebalance(two_stores(penalty=1.0, need=6))  # 1.0 < 1.25 per unit
    assert plan.transfers == []
    assert plan.expected_saving == pytest.approx(0.0)
    assert plan.expected_cost_before == pytest.approx(plan.expected_cost_after)


def test_parcel_demand_moves_stock_only_if_local_shipping_plus_transfer_is_cheaper() -> None:
    # Customers next to B: a parcel from A costs 5/1.5 + 1 = 4.33, from B the same (one band),
    # so a transfer (1.25) never pays with a single band ...
    inp = RebalanceInput(
        nodes=[A, B],
        skus=[Sku(id="X", weight_kg=1.0)],
        rates=RATES,
        stock={("A", "X"): 10},
        regions=[Region("Da Nang", B.lat, B.lon)],
        demand=[Demand("Da Nang", "X", 4)],
    )
    assert plan_rebalance(inp).transfers == []
    # ... but with a cheap local band and a dear long one it does: 4 units × (12/1.5 + 1 −
    # (2/1.5 + 1)) = 26.67 saved for 4 × (12/20 + 1) = 6.4 of transfers.
    rates = [
        RateBand(max_km=50, base=2, per_kg=1, transit_days=1),
        RateBand(max_km=2000, base=12, per_kg=1, transit_days=3),
    ]
    plan = plan_rebalance(RebalanceInput(**{**inp.__dict__, "rates": rates}))
    assert [(t.from_node, t.to_node, t.qty) for t in plan.transfers] == [("A", "B", 4)]
    assert plan.expected_saving == pytest.approx(4 * (12 / 1.5 - 2 / 1.5) - 4 * (12 / 20 + 1))
    assert plan.transfers[0].protects[0].region == "Da Nang"


def test_lane_capacity_is_respected_across_skus() -> None:
    inp = RebalanceInput(
        nodes=[A, B],
        skus=[Sku(id="X", unfilled_penalty=50.0), Sku(id="Y", unfilled_penalty=80.0)],
        rates=RATES,
        stock={("A", "X"): 10, ("A", "Y"): 10},
        regions=[Region("B-walkins", B.lat, B.lon, node="B")],
        demand=[Demand("B-walkins", "X", 6), Demand("B-walkins", "Y", 6)],
        lane_capacity=8,
    )
    plan = plan_rebalance(inp)
    assert sum(t.qty for t in plan.transfers) == 8
    by_sku = {t.sku: t.qty for t in plan.transfers}
    assert by_sku["Y"] == 6  # the dearer lost sale is protected first
    assert by_sku["X"] == 2
    out = plan_rebalance(RebalanceInput(**{**inp.__dict__, "lane_capacity": None}))
    assert sum(t.qty for t in out.transfers) == 12
    capped = plan_rebalance(
        RebalanceInput(**{**inp.__dict__, "lane_capacity": None, "outbound_capacity": 3})
    )
    assert sum(t.qty for t in capped.transfers) == 3


def test_transfers_do_not_serve_demand_before_they_arrive() -> None:
    inp = two_stores(penalty=50.0, need=0)
    inp = RebalanceInput(**{**inp.__dict__, "demand": [Demand("B-walkins", "X", 0, 5)]})
    assert plan_rebalance(inp).transfers == []


def test_catchment_forecast_from_orders() -> None:
    problem = json.loads((EXAMPLES / "small-problem.json").read_text())
    from models import parse_problem

    p = parse_problem(problem)
    regions, demand = catchment_forecast(p.nodes, p.orders, 2.0, 7, 1)
    total = sum(ln.qty for o in p.orders for ln in o.lines)
    assert sum(d.units + d.early_units for d in demand) == pytest.approx(total / 2.0 * 7)
    assert {d.region for d in demand} <= {r.id for r in regions}


def test_simulator_applies_plans() -> None:
    sc = small(rebalance={"every_days": 1, "lane_capacity": 5}, hindsight={"enabled": False})
    res = run(sc, seeds=[0], check=True)
    assert res.kpis["transfer_units"].mean > 0
    assert res.kpis["transfer_cost"].mean > 0
    off = run(small(hindsight={"enabled": False}), seeds=[0])
    assert off.kpis["transfer_units"].mean == 0


def test_cli_rebalance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    problem = str(EXAMPLES / "small-problem.json")
    assert main(["rebalance", problem, "--lane-capacity", "1", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["expected_saving"] >= 0
    assert all(t["qty"] <= 1 and t["protects"] for t in doc["transfers"])
    assert main(["rebalance", problem, "--horizon-days", "0"]) == 2
    assert "horizon_days" in capsys.readouterr().err
    assert main(["rebalance"]) == 2
    assert main(["rebalance", str(tmp_path / "nope.json")]) == 2


def test_plan_as_dict_round_trips_json() -> None:
    doc = plan_as_dict(plan_rebalance(two_stores(penalty=50.0, need=6)))
    assert json.loads(json.dumps(doc))["transfers"][0]["protects"][0]["region"] == "B-walkins"


def test_api_rebalance_plan(tmp_path: Path) -> None:
    key = {"Authorization": "Bearer adm"}
    reader = {"Authorization": "Bearer rd"}
    settings = Settings(database_url=f"sqlite:///{tmp_path}/r.db", api_keys="adm:admin;rd:read")
    app = create_app(settings)
    problem = json.loads((EXAMPLES / "small-problem.json").read_text())
    with TestClient(app, raise_server_exceptions=False) as c:
        net = {k: problem[k] for k in ("nodes", "skus", "rates")}
        assert c.put("/v1/network", json=net, headers=key).status_code == 200
        inv = {"inventory": problem["inventory"]}
        assert c.put("/v1/inventory", json=inv, headers=key).status_code == 200
        r = c.post("/v1/rebalance/plan", json={"lane_capacity": 1}, headers=key)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["forecast"] == "prior"
        assert body["expected_saving"] >= 0
        assert all(t["qty"] <= 1 and t["protects"] for t in body["transfers"])
        order = {"id": "o1", "lat": 17.0, "lon": 108.0, "lines": [{"sku": "SKU00004", "qty": 1}]}
        assert c.post("/v1/orders", json=order, headers=key).status_code == 201
        r = c.post("/v1/rebalance/plan", headers=key)
        assert r.status_code == 200, r.text
        assert r.json()["forecast"] == "history"
        bad = c.post("/v1/rebalance/plan", json={"horizon_days": 0}, headers=key)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["path"] == "horizon_days"
        assert c.post("/v1/rebalance/plan", headers=reader).status_code == 403
