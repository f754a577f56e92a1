"""``POST /v1/simulations`` and ``GET /v1/simulations/{id}``: background what-if jobs.

In process (TestClient); each test gets a fresh SQLite store (the jobs never touch it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from router.service import Settings
from router.service import simulations as jobs_module
from router.service.errors import ServiceError
from router.service.simulations import SimulationJobs
from router.simulation.report import REQUIRED_KPIS

ROUTE_KEY, READ_KEY = "rt-sim-key", "rd-sim-key"
ROUTE = {"Authorization": f"Bearer {ROUTE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}

TINY: dict[str, Any] = {
    "name": "tiny",
    "days": 2,
    "seeds": 1,
    "network": {"demo": "vn", "seed": 3, "stores": 8, "skus": 40},
    "demand": {"orders_per_day": 20, "walkins_per_store": 2},
    "hindsight": {"enabled": False},
}


def tiny(**overrides: Any) -> dict[str, Any]:
    return {**TINY, **overrides}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/r.db", api_keys=f"{ROUTE_KEY}:route;{READ_KEY}:read"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def wait(c: TestClient, location: str, states: tuple[str, ...] = ("done", "failed")) -> Any:
    deadline = time.monotonic() + 30
    while True:
        r = c.get(location, headers=READ)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] in states or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def errors(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_input"
    return {e["path"]: e["message"] for e in r.json()["errors"]}


def test_post_is_accepted_and_polled_until_done(client: TestClient) -> None:
    r = client.post("/v1/simulations", json={"scenario": TINY}, headers=ROUTE)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/simulations/{job['id']}"
    assert job["state"] == "queued"
    assert job["progress"] == {"done": 0, "total": 2}  # 2 days × 1 seed, no hindsight
    assert job["kpis"] is None and job["error"] is None

    done = wait(client, r.headers["location"])
    assert done["state"] == "done", done["error"]
    assert done["id"] == job["id"] and done["error"] is None
    assert done["progress"] == {"done": 2, "total": 2}
    kpis = done["kpis"]["tiny"]  # the kpis.json document, keyed by scenario name
    assert set(REQUIRED_KPIS) <= set(kpis)
    assert kpis["orders"] == 40  # 20 a day for 2 days
    assert kpis["hindsight_cost"] is None  # disabled: null, not NaN
    assert kpis["seeds"] == [0]


def test_several_scenarios_are_compared_paired(client: TestClient) -> None:
    alt = tiny(name="no-sfs", changes=[{"day": 0, "ship_from_store": False}])
    r = client.post(
        "/v1/simulations", json={"scenarios": [TINY, alt, tiny(name=None)]}, headers=ROUTE
    )
    assert r.status_code == 422  # a null name is not a name
    unnamed = {k: v for k, v in TINY.items() if k != "name"}
    r = client.post("/v1/simulations", json={"scenarios": [TINY, alt, unnamed]}, headers=ROUTE)
    assert r.status_code == 202, r.text
    done = wait(client, r.headers["location"])
    assert done["state"] == "done", done["error"]
    assert list(done["kpis"]) == ["tiny", "no-sfs", "scenario-3"]
    assert "vs_base" in done["kpis"]["no-sfs"] and "vs_base" not in done["kpis"]["tiny"]
    assert done["kpis"]["no-sfs"]["ship_from_store_share"] == 0.0


def test_unknown_job_is_404(client: TestClient) -> None:
    r = client.get("/v1/simulations/no-such-job", headers=READ)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_bad_scenarios_are_refused_with_paths(client: TestClient) -> None:
    def post(body: Any) -> dict[str, str]:
        return errors(client.post("/v1/simulations", json=body, headers=ROUTE))

    assert (
        "Input should be greater than or equal to 0"
        in post({"scenario": tiny(demand={"orders_per_day": -1})})["scenario.demand.orders_per_day"]
    )
    assert post({"scenario": tiny(demnd={})}) == {"scenario.demnd": "unknown field"}
    # checked against the built network: node names, the horizon
    bad = post(
        {"scenarios": [TINY, tiny(name="b", changes=[{"day": 5, "node": "XX", "enabled": 0}])]}
    )
    assert set(bad) == {"scenarios[1].changes[0].node", "scenarios[1].changes[0].day"}
    assert "scenario" in post({})
    assert "not both" in post({"scenario": TINY, "scenarios": [TINY]})["scenario"]
    assert "scenarios" in post({"scenarios": []})
    assert (
        "two scenarios are named 'tiny'" in post({"scenarios": [TINY, TINY]})["scenarios[1].name"]
    )
    assert "scenario" in post({"scenario": "tiny.yaml"})


def test_file_paths_are_refused(client: TestClient, tmp_path: Path) -> None:
    secret = tmp_path / "network.json"
    secret.write_text("{}")
    r = client.post(
        "/v1/simulations",
        json={"scenarios": [tiny(network={"file": str(secret)}), tiny(extends="base.yaml")]},
        headers=ROUTE,
    )
    by = errors(r)
    assert set(by) == {"scenarios[0].network.file", "scenarios[1].extends"}
    assert all("not accepted over HTTP" in m for m in by.values())


def test_jobs_are_capped_in_size(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def post(scenario: dict[str, Any]) -> dict[str, str]:
        return errors(client.post("/v1/simulations", json={"scenario": scenario}, headers=ROUTE))

    big = tiny(days=30, seeds=10, demand={"orders_per_day": 1000})  # 300,000 orders
    assert "at most 200,000 per job" in post(big)["scenario"]
    over = post(
        tiny(
            seeds=1_000_000_000,
            days=10_000,
            network={"demo": "us", "skus": 100_000},
            hindsight={"time_limit_s": 3600},
            demand={"orders_per_day": 10**9},
        )
    )
    assert {
        "scenario",
        "scenario.seeds",
        "scenario.days",
        "scenario.network",
        "scenario.hindsight.time_limit_s",
        "scenario.demand.orders_per_day",
        "scenario.demand.walkins_per_store",
    } <= set(over)
    monkeypatch.setattr(jobs_module, "MAX_ACTIVE", 0)
    r = client.post("/v1/simulations", json={"scenario": TINY}, headers=ROUTE)
    assert r.status_code == 409 and "try again later" in r.json()["message"]


def test_auth(client: TestClient) -> None:
    r = client.post("/v1/simulations", json={"scenario": TINY}, headers=READ)
    assert r.status_code == 403
    assert client.post("/v1/simulations", json={"scenario": TINY}).status_code == 401
    r = client.post("/v1/simulations", json={"scenario": TINY}, headers=ROUTE)
    assert r.status_code == 202
    assert client.get(r.headers["location"]).status_code == 401
    assert client.get(r.headers["location"], headers=READ).status_code == 200


def test_openapi_declares_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    post = paths["/v1/simulations"]["post"]
    assert {"202", "401", "403", "409", "413", "422"} <= set(post["responses"])
    assert "Location" in post["responses"]["202"]["headers"]
    get = paths["/v1/simulations/{job_id}"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(get["responses"])


def test_close_cancels_a_running_job_and_refuses_new_ones() -> None:
    from models.service import SimulationRequest

    jobs = SimulationJobs()
    long = tiny(days=60, demand={"orders_per_day": 200, "walkins_per_store": 2})
    job = jobs.submit(SimulationRequest(scenario=long))
    queued = jobs.submit(SimulationRequest(scenario=TINY))
    deadline = time.monotonic() + 20
    while jobs.get(job.id).progress.done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs.get(job.id).state == "running"
    jobs.close()
    assert jobs.get(queued.id).state == "failed"  # never started
    while jobs.get(job.id).state == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    stopped = jobs.get(job.id)
    assert stopped.state == "failed" and stopped.error == "cancelled: the service shut down"
    assert stopped.progress.done < stopped.progress.total
    with pytest.raises(ServiceError):
        jobs.submit(SimulationRequest(scenario=TINY))
