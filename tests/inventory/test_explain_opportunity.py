"""Explain (issue 5, point 5): the inventory-aware answer traces each unit's opportunity
cost to the demand it protects, and names the myopic choice when the decision differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api import create_app
from router.service import Settings

KEY = {"Authorization": "Bearer adm"}
# W-A's region (A) is served cheaply by W-A only; W-B reaches it in its dearest band.
# Bands: ≤300 km costs 3 a unit of 1 kg, ≤500 km 5, ≤900 km 8, ≤1200 km 12.
A = (10.0, 106.0)
NETWORK: dict[str, Any] = {
    "nodes": [
        {"id": "W-A", "type": "warehouse", "lat": A[0], "lon": A[1]},
        {"id": "W-B", "type": "warehouse", "lat": 20.0, "lon": 106.0},
    ],
    "skus": [{"id": "X", "weight_kg": 1.0, "unfilled_penalty": 100.0}],
    "rates": [
        {"max_km": 300, "base": 2, "per_kg": 1, "transit_days": 1},
        {"max_km": 500, "base": 4, "per_kg": 1, "transit_days": 1},
        {"max_km": 900, "base": 7, "per_kg": 1, "transit_days": 2},
        {"max_km": 1200, "base": 11, "per_kg": 1, "transit_days": 3},
    ],
}


def _order(oid: str, lat: float, lon: float, **kw: Any) -> dict[str, Any]:
    return {"id": oid, "lat": lat, "lon": lon, "lines": [{"sku": "X", "qty": 1}], **kw}


def test_explanation_names_the_region_a_nodes_last_units_are_kept_for(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/r.db",
        api_keys="adm:admin",
        routing_policy="inventory_aware",
        opportunity_recompute_s=0.0,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.put("/v1/network", json=NETWORK, headers=KEY).status_code == 200
        stock = [("W-A", 2), ("W-B", 50)]
        inv = {"inventory": [{"node": n, "sku": "X", "on_hand": q} for n, q in stock]}
        assert c.put("/v1/inventory", json=inv, headers=KEY).status_code == 200
        # history: region A orders (shipped from W-B, so W-A keeps its last 2 units)
        for k in range(5):
            body = _order(f"h{k}", A[0] + 0.01, A[1] + 0.01, excluded_nodes=["W-A"])
            assert c.post("/v1/orders", json=body, headers=KEY).status_code == 201

        # M: W-A is cheaper (5 vs 8), but its units are worth 12 − 3 = 9 more to region A
        r = c.post("/v1/orders?explain=true", json=_order("m", 13.0, 106.0), headers=KEY)
        assert r.status_code == 201, r.text
        exp = r.json()["explanation"]
        assert exp["chosen"] == ["W-B"]
        assert exp["opportunity"] == [
            {"node": "W-B", "sku": "X", "units": 1, "opportunity_cost": 0.0, "protects": []}
        ]
        assert exp["myopic"]["chosen"] == ["W-A"]
        assert exp["myopic"]["cost"] == 5.0
        assert exp["myopic"]["cost_difference"] == 3.0

        # C: only W-A reaches it, so the order takes one of the protected units
        r = c.post("/v1/orders?explain=true", json=_order("c", 8.0, 106.0), headers=KEY)
        assert r.status_code == 201, r.text
        exp = r.json()["explanation"]
        assert exp["chosen"] == ["W-A"] and exp["myopic"] is None
        (unit,) = exp["opportunity"]
        assert unit["node"] == "W-A" and unit["units"] == 1
        assert unit["opportunity_cost"] > 8.0  # ≈ 12 − 3, the cost of serving A from W-B
        region = unit["protects"][0]["region"]
        assert region.startswith("R") and "(10.0" in region  # A's centroid
        assert unit["protects"][0]["expected_units"] > 0
        assert unit["protects"][0]["days"] > 0

        # without explain=true, or under the myopic policy, the answer has no explanation
        r = c.post("/v1/orders", json=_order("plain", 13.0, 106.0), headers=KEY)
        assert r.json()["explanation"] is None


def test_myopic_policy_explanation_has_no_opportunity(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/r.db", api_keys="adm:admin")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.put("/v1/network", json=NETWORK, headers=KEY).status_code == 200
        inv = {"inventory": [{"node": "W-A", "sku": "X", "on_hand": 2}]}
        assert c.put("/v1/inventory", json=inv, headers=KEY).status_code == 200
        r = c.post("/v1/orders?explain=true", json=_order("m", 13.0, 106.0), headers=KEY)
        exp = r.json()["explanation"]
        assert exp["chosen"] == ["W-A"]
        assert exp["opportunity"] == [] and exp["myopic"] is None


# ------------------------------------------------------------------- the simulator


def test_simulation_traces_transfers_and_opportunity_costs_into_the_report() -> None:
    from router.simulation import simulate
    from router.simulation.report import kpis_document, render_html
    from tests.simulation.conftest import small

    rebalancing = small(
        name="rebalancing",
        rebalance={"every_days": 1, "lane_capacity": 5},
        hindsight={"enabled": False},
    )
    aware = small(
        name="aware",
        days=3,
        initial_stock={"scale": 0.4},
        policy={"kind": "inventory_aware", "params": {"horizon_days": 2}},
        hindsight={"enabled": False},
    )
    result = simulate([rebalancing, aware], seeds=[0])
    reb, inv = (s.runs[0].trace for s in result.scenarios)
    moved = reb["transfers"]
    assert sum(t["units"] for t in moved) == result.scenarios[0].runs[0].kpis["transfer_units"]
    assert all(t["protects"] for t in moved)
    assert all(p["days"][0] >= t["day"] for t in moved for p in t["protects"])
    assert "transfers" not in inv and inv["opportunity"]
    assert all(o["opportunity_cost"] > 0 and o["protects"] for o in inv["opportunity"])
    assert 0 <= inv["opportunity_day"] < 3
    page = render_html(result)
    assert 'id="explain"' in page
    assert "rebalancing: largest transfers (seed 0, whole run)" in page
    assert "aware: highest opportunity costs at the last recompute (seed 0" in page
    assert inv["opportunity"][0]["node"] in page
    assert "trace" not in str(kpis_document(result))
