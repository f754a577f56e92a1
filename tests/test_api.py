"""The HTTP API end to end, in process: status codes, bodies, auth, limits, metrics.

Each test gets a fresh SQLite store holding the contract example's network and stock,
loaded through the API itself (``PUT /v1/network``, ``PUT /v1/inventory``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from router.service import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"

# distinctive keys, so that "no response echoes a key" is a meaningful check
ADMIN_KEY, ROUTE_KEY, READ_KEY = "adm-7Qx1secret", "rt-9Wz2secret", "rd-4Kp8secret"
KEYS = f"{ADMIN_KEY}:admin;{ROUTE_KEY}:route;{READ_KEY}:read"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
ROUTE = {"Authorization": f"Bearer {ROUTE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}
SECRETS = (ADMIN_KEY, ROUTE_KEY, READ_KEY)

NEAR_W0001 = {"lat": 17.0, "lon": 108.0}  # ships SKU00004 from W0001 (cheapest)


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "small-problem.json").read_text())
    return data


def network_of(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: problem[k] for k in ("nodes", "skus", "rates")}


def ship(oid: str, sku: str = "SKU00004", qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": oid, **NEAR_W0001, "lines": [{"sku": sku, "qty": qty}], **extra}


def make_client(tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/r.db", api_keys=KEYS, **settings))
    return TestClient(app, raise_server_exceptions=False)


def load_example(c: TestClient) -> None:
    problem = example()
    assert c.put("/v1/network", json=network_of(problem), headers=ADMIN).status_code == 200
    r = c.put("/v1/inventory", json={"inventory": problem["inventory"]}, headers=ADMIN)
    assert r.status_code == 200


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:  # as a context manager: the lifespan runs
        load_example(c)
        yield c


def stock(c: TestClient, node: str, sku: str) -> dict[str, int]:
    r = c.get("/v1/inventory", params={"node": node, "sku": sku}, headers=READ)
    assert r.status_code == 200
    rows = r.json()["inventory"]
    assert len(rows) <= 1
    return rows[0] if rows else {"on_hand": 0, "reserved": 0, "safety_stock": 0, "atp": 0}


def all_stock(c: TestClient) -> list[dict[str, Any]]:
    r = c.get("/v1/inventory", headers=READ)
    assert r.status_code == 200
    rows: list[dict[str, Any]] = r.json()["inventory"]
    return rows


def route(c: TestClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = c.post("/v1/orders", json=body, params=params, headers=ROUTE)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with these labels in Prometheus text."""
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def assert_error(r: Any, status: int, error: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "message", "errors"}
    if error is not None:
        assert body["error"] == error
    for secret in SECRETS:
        assert secret not in r.text
    return body


# -- network and stock -----------------------------------------------------------------


def test_put_network_replaces_it_and_get_returns_it(client: TestClient) -> None:
    problem = example()
    got = client.get("/v1/network", headers=READ)
    assert got.status_code == 200
    net = got.json()
    assert [n["id"] for n in net["nodes"]] == [n["id"] for n in problem["nodes"]]
    assert [s["id"] for s in net["skus"]] == [s["id"] for s in problem["skus"]]
    assert [b["max_km"] for b in net["rates"]] == [b["max_km"] for b in problem["rates"]]
    by_id = {n["id"]: n for n in net["nodes"]}
    assert by_id["S0006"]["can_pickup"] is True  # the contract's defaults are filled in
    assert by_id["W0001"]["can_pickup"] is False
    assert by_id["S0005"]["enabled"] is False

    # replace: drop S0006 (no reservations on it); its stock goes with it
    smaller = network_of(problem)
    smaller["nodes"] = [n for n in smaller["nodes"] if n["id"] != "S0006"]
    put = client.put("/v1/network", json=smaller, headers=ADMIN)
    assert put.status_code == 200
    assert [n["id"] for n in put.json()["nodes"]] == [n["id"] for n in smaller["nodes"]]
    assert client.get("/v1/network", headers=READ).json() == put.json()
    assert client.get("/v1/inventory", params={"node": "S0006"}, headers=READ).json() == {
        "inventory": []
    }
    assert stock(client, "W0001", "SKU00004")["on_hand"] == 6  # other stock is kept


def test_put_network_dropping_a_node_with_reservations_is_409_and_changes_nothing(
    client: TestClient,
) -> None:
    answer = route(client, ship("N1", qty=8))  # W0001 ships 6, W0002 ships 2
    assert "W0002" in {sh["node"] for sh in answer["plan"]["shipments"]}
    before_net = client.get("/v1/network", headers=READ).json()
    before_stock = all_stock(client)
    smaller = network_of(example())
    smaller["nodes"] = [n for n in smaller["nodes"] if n["id"] != "W0002"]
    body = assert_error(client.put("/v1/network", json=smaller, headers=ADMIN), 409, "conflict")
    assert "W0002" in body["message"]
    assert client.get("/v1/network", headers=READ).json() == before_net
    assert all_stock(client) == before_stock


def test_put_and_get_inventory(client: TestClient) -> None:
    r = client.put(
        "/v1/inventory",
        json={
            "inventory": [
                {"node": "W0001", "sku": "SKU00001", "on_hand": 9, "safety_stock": 2},
                {"node": "W0002", "sku": "SKU00001", "on_hand": 4, "reserved": 3},
            ]
        },
        headers=ADMIN,
    )
    assert r.status_code == 200
    assert r.json() == {
        "inventory": [
            {
                "node": "W0001",
                "sku": "SKU00001",
                "on_hand": 9,
                "reserved": 0,
                "safety_stock": 2,
                "atp": 7,
            },
            # reserved is the engine's own: a value sent in is ignored
            {
                "node": "W0002",
                "sku": "SKU00001",
                "on_hand": 4,
                "reserved": 0,
                "safety_stock": 0,
                "atp": 4,
            },
        ]
    }
    # the example's own records, loaded by the fixture: atp = on_hand - reserved - safety
    assert stock(client, "S0004", "SKU00004") == {
        "node": "S0004",
        "sku": "SKU00004",
        "on_hand": 1,
        "reserved": 0,
        "safety_stock": 2,
        "atp": 0,
    }
    assert stock(client, "W0001", "SKU00002")["reserved"] == 0  # sent as 1, ignored
    # filters
    by_node = client.get("/v1/inventory", params={"node": "S0006"}, headers=READ).json()
    assert {row["node"] for row in by_node["inventory"]} == {"S0006"}
    assert {row["sku"] for row in by_node["inventory"]} == {
        "SKU00004",
        "SKU00005",
        "SKU00006",
        "SKU00007",
    }
    by_sku = client.get("/v1/inventory", params={"sku": "SKU00004"}, headers=READ).json()
    assert {row["node"] for row in by_sku["inventory"]} == {
        "W0001",
        "W0002",
        "S0004",
        "S0005",
        "S0006",
    }
    assert len(all_stock(client)) == len(example()["inventory"]) + 1


def test_adjustments_apply_signed_deltas(client: TestClient) -> None:
    r = client.post(
        "/v1/inventory/adjustments",
        json={
            "adjustments": [
                {"node": "W0001", "sku": "SKU00004", "delta": 5, "reason": "receipt"},
                {"node": "S0006", "sku": "SKU00004", "delta": -1, "reason": "pos_sale"},
                {"node": "S0004", "sku": "SKU00001", "delta": 2, "reason": "in_store_return"},
            ]
        },
        headers=ADMIN,
    )
    assert r.status_code == 200
    levels = {(x["node"], x["sku"]): x for x in r.json()["inventory"]}
    assert set(levels) == {("W0001", "SKU00004"), ("S0006", "SKU00004"), ("S0004", "SKU00001")}
    assert levels["W0001", "SKU00004"]["on_hand"] == 11
    assert levels["S0006", "SKU00004"]["on_hand"] == 0
    assert levels["S0004", "SKU00001"]["on_hand"] == 2  # a pair with no record yet
    assert stock(client, "W0001", "SKU00004")["on_hand"] == 11
    assert stock(client, "S0006", "SKU00004")["atp"] == 0


def test_availability_lists_nodes_with_stock_nearest_first(client: TestClient) -> None:
    s0006 = {"lat": 15.92122, "lon": 106.86482}
    r = client.get(
        "/v1/availability", params={"sku": "SKU00004", **s0006, "radius_km": 500}, headers=READ
    )
    assert r.status_code == 200
    body = r.json()
    assert body["sku"] == "SKU00004"
    nodes = body["nodes"]
    # S0004 has atp 0 (safety stock) and S0005 is disabled: neither is listed
    assert [n["node"] for n in nodes] == ["S0006", "W0001", "W0002"]
    assert nodes[0]["distance_km"] == pytest.approx(0.0, abs=1e-9)
    assert nodes[0] | {"distance_km": 0} == {
        "node": "S0006",
        "type": "store",
        "distance_km": 0,
        "atp": 1,
        "can_pickup": True,
        "can_ship": True,
    }
    assert [n["atp"] for n in nodes] == [1, 6, 2]
    distances = [n["distance_km"] for n in nodes]
    assert distances == sorted(distances) and distances[-1] <= 500
    near = client.get(
        "/v1/availability", params={"sku": "SKU00004", **s0006, "radius_km": 50}, headers=READ
    )
    assert [n["node"] for n in near.json()["nodes"]] == ["S0006"]


# -- orders ----------------------------------------------------------------------------


def test_post_order_routes_and_reserves_201_and_get_returns_it(client: TestClient) -> None:
    before = stock(client, "W0001", "SKU00004")
    r = client.post("/v1/orders", json=ship("A1", qty=2), headers=ROUTE)
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers
    answer = r.json()
    assert answer["state"] == "reserved"
    assert answer["explanation"] is None
    plan = answer["plan"]
    assert plan["order_id"] == "A1" and plan["status"] == "fulfilled" and plan["unfilled"] == []
    (sh,) = plan["shipments"]
    assert sh["node"] == "W0001" and sh["state"] == "reserved"
    assert sh["lines"] == [{"sku": "SKU00004", "qty": 2}]
    assert plan["cost"]["total"] == pytest.approx(sh["cost"]["total"])
    after = stock(client, "W0001", "SKU00004")
    assert after["reserved"] == before["reserved"] + 2
    assert after["on_hand"] == before["on_hand"]
    assert after["atp"] == before["atp"] - 2

    got = client.get("/v1/orders/A1", headers=READ)
    assert got.status_code == 200
    assert got.json() == answer


def test_explain_says_why_this_node(client: TestClient) -> None:
    answer = route(client, ship("E1", qty=2), explain="true")
    explanation = answer["explanation"]
    assert explanation["chosen"] == [sh["node"] for sh in answer["plan"]["shipments"]]
    alternatives = explanation["alternatives"]
    assert alternatives
    assert explanation["chosen"][0] not in {a["node"] for a in alternatives}
    for alt in alternatives:
        assert set(alt) == {"node", "cost", "cost_difference", "feasible", "reasons"}
        if alt["feasible"]:  # the chosen plan is optimal
            assert alt["cost_difference"] >= -1e-9
            assert alt["reasons"] == []
        else:
            assert alt["reasons"]
    by_node = {a["node"]: a for a in alternatives}
    assert "disabled" in by_node["S0005"]["reasons"]
    assert "no_stock" in by_node["S0004"]["reasons"]  # atp 0 behind safety stock
    assert "cannot_ship" in by_node["S0003"]["reasons"]


def test_cancel_releases_the_reservation(client: TestClient) -> None:
    before = stock(client, "W0001", "SKU00004")
    route(client, ship("C1", qty=3))
    assert stock(client, "W0001", "SKU00004")["reserved"] == before["reserved"] + 3
    r = client.post("/v1/orders/C1/cancel", headers=ROUTE)
    assert r.status_code == 200
    assert r.json()["state"] == "cancelled"
    assert [sh["state"] for sh in r.json()["plan"]["shipments"]] == ["cancelled"]
    assert stock(client, "W0001", "SKU00004") == before
    again = client.post("/v1/orders/C1/cancel", headers=ROUTE)  # nothing left to release
    assert again.status_code == 200 and again.json() == r.json()
    assert stock(client, "W0001", "SKU00004") == before
    assert client.get("/v1/orders/C1", headers=READ).json()["state"] == "cancelled"


def test_full_life_route_fulfil_return_to_store(client: TestClient) -> None:
    w1 = stock(client, "W0001", "SKU00004")
    w2 = stock(client, "W0002", "SKU00004")
    s6 = stock(client, "S0006", "SKU00004")
    assert (w1["on_hand"], w2["on_hand"]) == (6, 2)
    answer = route(client, ship("L1", qty=8))
    shipped = {sh["node"]: sh["lines"][0]["qty"] for sh in answer["plan"]["shipments"]}
    assert shipped == {"W0001": 6, "W0002": 2}
    assert stock(client, "W0001", "SKU00004")["reserved"] == 6

    # W0001 ships its part: on hand and reserved both fall
    r = client.post("/v1/orders/L1/fulfil", json={"node": "W0001"}, headers=ROUTE)
    assert r.status_code == 200
    assert r.json()["state"] == "partially_fulfilled"
    states = {sh["node"]: sh["state"] for sh in r.json()["plan"]["shipments"]}
    assert states == {"W0001": "fulfilled", "W0002": "reserved"}
    assert stock(client, "W0001", "SKU00004") == w1 | {"on_hand": 0, "reserved": 0, "atp": 0}
    again = client.post("/v1/orders/L1/fulfil", json={"node": "W0001"}, headers=ROUTE)
    assert_error(again, 409, "conflict")

    # the customer brings 2 units back to store S0006: sellable there again
    r = client.post(
        "/v1/orders/L1/returns",
        json={"node": "S0006", "lines": [{"sku": "SKU00004", "qty": 2}]},
        headers=ROUTE,
    )
    assert r.status_code == 200
    assert r.json()["returned"] == [{"sku": "SKU00004", "qty": 2}]
    after = stock(client, "S0006", "SKU00004")
    assert after == s6 | {"on_hand": s6["on_hand"] + 2, "atp": s6["atp"] + 2}

    # no more back than was shipped: 6 shipped, 2 back, 5 more is too many
    too_many = client.post(
        "/v1/orders/L1/returns",
        json={"node": "S0006", "lines": [{"sku": "SKU00004", "qty": 5}]},
        headers=ROUTE,
    )
    body = assert_error(too_many, 422, "bad_input")
    assert [e["path"] for e in body["errors"]] == ["lines[0].qty"]
    assert stock(client, "S0006", "SKU00004") == after

    # the rest of the order ships
    r = client.post("/v1/orders/L1/fulfil", json={"node": "W0002"}, headers=ROUTE)
    assert r.status_code == 200
    assert r.json()["state"] == "fulfilled"
    assert client.get("/v1/orders/L1", headers=READ).json() == r.json()
    assert stock(client, "W0002", "SKU00004") == w2 | {"on_hand": 0, "reserved": 0, "atp": 0}
    assert stock(client, "S0006", "SKU00004") == after
    assert_error(client.post("/v1/orders/L1/cancel", headers=ROUTE), 409, "conflict")


def test_reject_releases_and_reroutes_without_that_node(client: TestClient) -> None:
    w1 = stock(client, "W0001", "SKU00004")
    w2 = stock(client, "W0002", "SKU00004")
    first = route(client, ship("R1"))
    assert [sh["node"] for sh in first["plan"]["shipments"]] == ["W0001"]

    r = client.post("/v1/orders/R1/reject", json={"node": "W0001"}, headers=ROUTE)
    assert r.status_code == 200
    answer = r.json()
    assert answer["rejected_nodes"] == ["W0001"]
    assert answer["state"] == "reserved"
    (sh,) = answer["plan"]["shipments"]
    assert sh["node"] == "W0002" and sh["state"] == "reserved"
    assert answer["plan"]["status"] == "fulfilled"
    assert stock(client, "W0001", "SKU00004") == w1  # released
    assert stock(client, "W0002", "SKU00004")["reserved"] == w2["reserved"] + 1
    assert client.get("/v1/orders/R1", headers=READ).json() == answer

    # W0002 rejects too: the next best is the store S0006
    r = client.post("/v1/orders/R1/reject", json={"node": "W0002"}, headers=ROUTE)
    assert r.status_code == 200
    assert r.json()["rejected_nodes"] == ["W0001", "W0002"]
    assert [sh["node"] for sh in r.json()["plan"]["shipments"]] == ["S0006"]
    assert stock(client, "W0002", "SKU00004") == w2
    # W0001 holds no shipment of the order any more: nothing to reject
    assert_error(client.post("/v1/orders/R1/reject", json={"node": "W0001"}, headers=ROUTE), 404)


def test_idempotency_key_replays_the_first_answer(client: TestClient) -> None:
    key = {"Idempotency-Key": "retry-7f3a"}
    body = ship("I1", qty=2)
    first = client.post("/v1/orders", json=body, headers={**ROUTE, **key})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    before = all_stock(client)

    again = client.post("/v1/orders", json=body, headers={**ROUTE, **key})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert all_stock(client) == before  # nothing more reserved

    # the same body with its keys in another order is the same request
    reordered = json.dumps(dict(reversed(list(body.items()))))
    third = client.post(
        "/v1/orders",
        content=reordered,
        headers={**ROUTE, **key, "Content-Type": "application/json"},
    )
    assert third.status_code == 201 and third.json() == first.json()
    assert third.headers["Idempotent-Replayed"] == "true"
    assert all_stock(client) == before

    # the same key with another body, or another query, is refused
    other = client.post("/v1/orders", json=ship("I1", qty=3), headers={**ROUTE, **key})
    assert "Idempotency-Key" in assert_error(other, 409, "conflict")["message"]
    other = client.post("/v1/orders", json=ship("I2"), headers={**ROUTE, **key})
    assert_error(other, 409, "conflict")
    explained = client.post(
        "/v1/orders", json=body, params={"explain": "true"}, headers={**ROUTE, **key}
    )
    assert_error(explained, 409, "conflict")
    assert all_stock(client) == before
    assert_error(client.get("/v1/orders/I2", headers=READ), 404)


def test_second_post_of_the_same_order_id_is_409(client: TestClient) -> None:
    first = route(client, ship("D1", qty=2))
    before = all_stock(client)
    for extra in ({}, {"Idempotency-Key": "another-key"}):
        r = client.post("/v1/orders", json=ship("D1", qty=2), headers={**ROUTE, **extra})
        assert "D1" in assert_error(r, 409, "conflict")["message"]
    assert all_stock(client) == before
    assert client.get("/v1/orders/D1", headers=READ).json() == first


def test_unknown_order_is_404(client: TestClient) -> None:
    for method, path, body in (
        ("GET", "/v1/orders/NOPE", None),
        ("POST", "/v1/orders/NOPE/cancel", None),
        ("POST", "/v1/orders/NOPE/fulfil", {"node": "W0001"}),
        ("POST", "/v1/orders/NOPE/reject", {"node": "W0001"}),
        (
            "POST",
            "/v1/orders/NOPE/returns",
            {"node": "S0006", "lines": [{"sku": "SKU00004", "qty": 1}]},
        ),
    ):
        headers = READ if method == "GET" else ROUTE
        r = client.request(method, path, json=body, headers=headers)
        assert "NOPE" in assert_error(r, 404, "not_found")["message"]
    route(client, ship("F1"))
    r = client.post("/v1/orders/F1/fulfil", json={"node": "S0006"}, headers=ROUTE)
    assert "S0006" in assert_error(r, 404, "not_found")["message"]
    assert_error(client.get("/v1/nothing-here", headers=READ), 404, "not_found")


def test_unsupported_method_is_405_with_every_allowed_method(client: TestClient) -> None:
    r = client.delete("/v1/network", headers=ADMIN)
    assert_error(r, 405)
    assert r.headers["allow"] == "GET, PUT"
    r = client.patch("/v1/orders/X1/cancel", headers=ADMIN)
    assert_error(r, 405)
    assert r.headers["allow"] == "POST"


# -- auth ------------------------------------------------------------------------------

PROTECTED = (  # one operation per scope, each with a body it would accept
    ("GET", "/v1/network", None),
    ("GET", "/v1/inventory", None),
    ("POST", "/v1/orders", ship("U1")),
    ("PUT", "/v1/inventory", {"inventory": [{"node": "W0001", "sku": "SKU00004", "on_hand": 1}]}),
)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-Zt5secret",
        f"Basic {ADMIN_KEY}",
        f"Bearer {ADMIN_KEY}x",
        f"Bearer {ADMIN_KEY[:-1]}",
        ADMIN_KEY,
    ],
)
def test_without_a_valid_key_is_401(client: TestClient, authorization: str | None) -> None:
    before = all_stock(client)
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in PROTECTED:
        r = client.request(method, path, json=body, headers=headers)
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
        assert "wrong-Zt5secret" not in r.text and "wrong-Zt5secret" not in str(r.headers)
    assert all_stock(client) == before
    assert_error(client.get("/v1/orders/U1", headers=READ), 404)


def test_a_key_without_the_scope_is_403(client: TestClient) -> None:
    before_stock = all_stock(client)
    before_net = client.get("/v1/network", headers=READ).json()

    r = client.post("/v1/orders", json=ship("S1"), headers=READ)  # read key cannot route
    assert "route" in assert_error(r, 403, "forbidden")["message"]
    assert "www-authenticate" not in r.headers
    r = client.put("/v1/network", json=network_of(example()), headers=ROUTE)
    assert "admin" in assert_error(r, 403, "forbidden")["message"]
    body = {"inventory": [{"node": "W0001", "sku": "SKU00004", "on_hand": 0}]}
    assert_error(client.put("/v1/inventory", json=body, headers=ROUTE), 403, "forbidden")
    adj = {"adjustments": [{"node": "W0001", "sku": "SKU00004", "delta": -6, "reason": "damage"}]}
    assert_error(client.post("/v1/inventory/adjustments", json=adj, headers=READ), 403)
    assert_error(client.post("/v1/plans/optimize", json=example(), headers=READ), 403)
    assert client.get("/v1/network", headers=ROUTE).status_code == 200  # route implies read

    assert all_stock(client) == before_stock
    assert client.get("/v1/network", headers=READ).json() == before_net
    assert_error(client.get("/v1/orders/S1", headers=READ), 404)
    # admin holds every scope
    assert client.get("/v1/network", headers=ADMIN).status_code == 200
    assert client.post("/v1/orders", json=ship("S2"), headers=ADMIN).status_code == 201
    # the open operational endpoints need no key
    assert client.get("/healthz").status_code == 200


# -- body size limit -------------------------------------------------------------------


def test_body_over_the_limit_is_413_with_or_without_content_length(tmp_path: Path) -> None:
    limit = 1024
    with make_client(tmp_path, max_body_bytes=limit) as c:
        refused_before = metric(c.get("/metrics").text, "router_http_requests_total", status="413")
        problem = example()
        net = network_of(problem)
        assert len(json.dumps(net)) > limit
        r = c.put("/v1/network", json=net, headers=ADMIN)
        assert_error(r, 413, "too_large")
        assert c.get("/v1/network", headers=READ).json() == {"nodes": [], "skus": [], "rates": []}
        # a network that fits: one warehouse, one sku, one band
        small = {
            "nodes": [problem["nodes"][0]],
            "skus": [problem["skus"][3]],
            "rates": [problem["rates"][-1]],
        }
        assert c.put("/v1/network", json=small, headers=ADMIN).status_code == 200
        inv = {"inventory": [{"node": "W0001", "sku": "SKU00004", "on_hand": 5}]}
        assert c.put("/v1/inventory", json=inv, headers=ADMIN).status_code == 200
        before = all_stock(c)

        padded = json.dumps(ship("T1")) + " " * limit  # valid JSON, over the limit
        r = c.post(
            "/v1/orders",
            content=padded.encode(),
            headers={**ROUTE, "Content-Type": "application/json"},
        )
        assert_error(r, 413, "too_large")

        def chunks(text: str) -> Iterator[bytes]:
            data = text.encode()
            for i in range(0, len(data), 200):
                yield data[i : i + 200]

        r = c.post(
            "/v1/orders",
            content=chunks(padded),
            headers={**ROUTE, "Content-Type": "application/json"},
        )
        assert "content-length" not in r.request.headers  # sent chunked
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert_error(r, 413, "too_large")
        assert_error(c.get("/v1/orders/T1", headers=READ), 404)  # neither was routed
        assert all_stock(c) == before

        # a lying Content-Length is refused too
        r = c.post(
            "/v1/orders",
            content=b"{}",
            headers={**ROUTE, "Content-Type": "application/json", "Content-Length": "99999"},
        )
        assert_error(r, 413, "too_large")

        # bodies within the limit, chunked or not, go through
        r = c.post(
            "/v1/orders",
            content=chunks(json.dumps(ship("T2"))),
            headers={**ROUTE, "Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text
        assert c.post("/v1/orders", json=ship("T3"), headers=ROUTE).status_code == 201
        assert stock(c, "W0001", "SKU00004")["reserved"] == 2
        refused = metric(c.get("/metrics").text, "router_http_requests_total", status="413")
        assert refused == refused_before + 4  # counted, whether or not a route was matched


# -- bad input -------------------------------------------------------------------------

BAD_ORDERS = [
    (ship("B1", sku="NOPE"), ["lines[0].sku"]),
    (ship("B1", qty=0), ["lines[0].qty"]),
    (ship("B1", qty=-2), ["lines[0].qty"]),
    ({**ship("B1"), "lines": [{"sku": "SKU00004", "qty": "2"}]}, ["lines[0].qty"]),
    ({**ship("B1"), "lines": [{"sku": "SKU00004", "qty": 1.5}]}, ["lines[0].qty"]),
    ({**ship("B1"), "lines": []}, ["lines"]),
    ({k: v for k, v in ship("B1").items() if k != "lines"}, ["lines"]),
    ({k: v for k, v in ship("B1").items() if k != "id"}, ["id"]),
    ({"id": "B1", "lines": [{"sku": "SKU00004", "qty": 1}]}, ["lat", "lon"]),
    ({**ship("B1"), "lat": 91.0}, ["lat"]),
    ({**ship("B1"), "lon": -180.5}, ["lon"]),
    (ship("B1", excluded_nodes=["ZZ"]), ["excluded_nodes[0]"]),
    (ship("B1", deliver_within_days=-1), ["deliver_within_days"]),
    (ship("B1", method="teleport"), ["method"]),
    (
        {**ship("B1"), "lines": [{"sku": "SKU00004", "qty": 1}, {"sku": "SKU00004", "qty": 2}]},
        ["lines[1].sku"],
    ),
    (
        {
            "id": "B1",
            "method": "pickup",
            "pickup_node": "W0001",
            "lines": [{"sku": "SKU00004", "qty": 1}],
        },
        ["pickup_node"],
    ),
    (
        {
            "id": "B1",
            "method": "pickup",
            "pickup_node": "ZZ",
            "lines": [{"sku": "SKU00004", "qty": 1}],
        },
        ["pickup_node"],
    ),
]


@pytest.mark.parametrize(("body", "paths"), BAD_ORDERS)
def test_a_bad_order_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, body: dict[str, Any], paths: list[str]
) -> None:
    before = all_stock(client)
    r = client.post("/v1/orders", json=body, headers=ROUTE)
    errors = assert_error(r, 422, "bad_input")["errors"]
    assert sorted(e["path"] for e in errors) == sorted(paths)
    assert all(e["message"] for e in errors)
    assert all_stock(client) == before
    assert_error(client.get("/v1/orders/B1", headers=READ), 404)


BAD_STOCK = [
    (
        "PUT",
        "/v1/inventory",
        {
            "inventory": [
                {"node": "W0001", "sku": "SKU00004", "on_hand": 99},  # fine, but not applied
                {"node": "ZZ", "sku": "SKU00004", "on_hand": 1},
            ]
        },
        ["inventory[1].node"],
    ),
    (
        "PUT",
        "/v1/inventory",
        {"inventory": [{"node": "ZZ", "sku": "SKU00004", "on_hand": 1}]},
        ["inventory[0].node"],
    ),
    (
        "PUT",
        "/v1/inventory",
        {"inventory": [{"node": "W0001", "sku": "NOPE", "on_hand": 1}]},
        ["inventory[0].sku"],
    ),
    (
        "PUT",
        "/v1/inventory",
        {"inventory": [{"node": "W0001", "sku": "SKU00004", "on_hand": -1}]},
        ["inventory[0].on_hand"],
    ),
    ("PUT", "/v1/inventory", {"stock": []}, ["inventory"]),
    (
        "POST",
        "/v1/inventory/adjustments",
        {
            "adjustments": [
                {"node": "W0001", "sku": "SKU00004", "delta": 5, "reason": "receipt"},
                {"node": "S0006", "sku": "SKU00004", "delta": -2, "reason": "pos_sale"},
            ]
        },
        ["adjustments[1].delta"],
    ),
    (
        "POST",
        "/v1/inventory/adjustments",
        {"adjustments": [{"node": "W0001", "sku": "SKU00004", "delta": 1, "reason": "theft"}]},
        ["adjustments[0].reason"],
    ),
    (
        "POST",
        "/v1/inventory/adjustments",
        {"adjustments": [{"node": "W0001", "sku": "SKU00004", "delta": 1.5, "reason": "damage"}]},
        ["adjustments[0].delta"],
    ),
    (
        "POST",
        "/v1/inventory/adjustments",
        {"adjustments": [{"node": "ZZ", "sku": "NOPE", "delta": 1, "reason": "receipt"}]},
        ["adjustments[0].node", "adjustments[0].sku"],
    ),
    ("POST", "/v1/inventory/adjustments", {"adjustments": []}, ["adjustments"]),
]


@pytest.mark.parametrize(("method", "path", "body", "paths"), BAD_STOCK)
def test_bad_stock_input_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, method: str, path: str, body: dict[str, Any], paths: list[str]
) -> None:
    before = all_stock(client)
    r = client.request(method, path, json=body, headers=ADMIN)
    errors = assert_error(r, 422, "bad_input")["errors"]
    assert sorted(e["path"] for e in errors) == sorted(paths)
    assert all_stock(client) == before


def test_a_bad_network_is_422_naming_the_field_and_changes_nothing(client: TestClient) -> None:
    before = client.get("/v1/network", headers=READ).json()
    before_stock = all_stock(client)
    net = network_of(example())
    cases: list[tuple[dict[str, Any], str]] = [
        ({**net, "nodes": [*net["nodes"], net["nodes"][0]]}, "nodes[6].id"),
        ({**net, "rates": [net["rates"][1], net["rates"][0]]}, "rates[1].max_km"),
        ({**net, "skus": [{**net["skus"][0], "weight_kg": -1}]}, "skus[0].weight_kg"),
        ({k: v for k, v in net.items() if k != "rates"}, "rates"),
    ]
    for body, path in cases:
        errors = assert_error(client.put("/v1/network", json=body, headers=ADMIN), 422)["errors"]
        assert path in [e["path"] for e in errors]
    assert client.get("/v1/network", headers=READ).json() == before
    assert all_stock(client) == before_stock


def test_bad_input_on_the_order_life_cycle_is_422(client: TestClient) -> None:
    route(client, ship("V1"))
    before = all_stock(client)
    body = assert_error(client.post("/v1/orders/V1/fulfil", json={}, headers=ROUTE), 422)
    assert [e["path"] for e in body["errors"]] == ["node"]
    body = assert_error(client.post("/v1/orders/V1/reject", json={"node": ""}, headers=ROUTE), 422)
    assert [e["path"] for e in body["errors"]] == ["node"]
    r = client.post("/v1/orders/V1/returns", json={"node": "ZZ", "lines": []}, headers=ROUTE)
    assert [e["path"] for e in assert_error(r, 422)["errors"]] == ["lines"]
    r = client.post(
        "/v1/orders/V1/returns",
        json={"node": "ZZ", "lines": [{"sku": "SKU00004", "qty": 1}]},
        headers=ROUTE,
    )  # unknown node, and nothing of it was shipped yet
    paths = [e["path"] for e in assert_error(r, 422)["errors"]]
    assert sorted(paths) == ["lines[0].qty", "node"]
    assert all_stock(client) == before
    assert client.get("/v1/orders/V1", headers=READ).json()["state"] == "reserved"

    r = client.get("/v1/availability", params={"sku": "NOPE", "lat": 0, "lon": 0}, headers=READ)
    assert [e["path"] for e in assert_error(r, 422)["errors"]] == ["sku"]
    r = client.get(
        "/v1/availability", params={"sku": "SKU00004", "lat": 91, "lon": 0}, headers=READ
    )
    assert [e["path"].rsplit(".", 1)[-1] for e in assert_error(r, 422)["errors"]] == ["lat"]
    r = client.get("/v1/availability", params={"lat": 1, "lon": "east"}, headers=READ)
    paths = [e["path"].rsplit(".", 1)[-1] for e in assert_error(r, 422)["errors"]]
    assert sorted(paths) == ["lon", "sku"]


MALFORMED = [
    (b"{", "application/json"),
    (b'{"id": "B1", ', "application/json"),
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'"order"', "application/json"),
    (b"\xff\xfe\x00{", "application/json"),
    (b"\xc3\x28", "application/json"),
    (b"NaN", "application/json"),
    (b'{"id": "B1"}', "text/plain"),
    (b"id=B1&lat=1", "application/x-www-form-urlencoded"),
    (
        b"--x\r\nContent-Disposition: form-data; name=id\r\n\r\nB1\r\n--x--",
        "multipart/form-data; boundary=x",
    ),
    (b'{"id": "B1"}', "application/xml"),
    (b'{"id": "B1"}', None),
    (b"\x00\x01\x02", "application/octet-stream"),
]


@pytest.mark.parametrize(("content", "content_type"), MALFORMED)
def test_malformed_bodies_are_422_never_a_crash(
    client: TestClient, content: bytes, content_type: str | None
) -> None:
    before = all_stock(client)
    before_net = client.get("/v1/network", headers=READ).json()
    headers = {**ADMIN} if content_type is None else {**ADMIN, "Content-Type": content_type}
    for method, path in (
        ("POST", "/v1/orders"),
        ("POST", "/v1/inventory/adjustments"),
        ("PUT", "/v1/inventory"),
        ("PUT", "/v1/network"),
        ("POST", "/v1/plans/optimize"),
        ("POST", "/v1/orders/X/fulfil"),
    ):
        r = client.request(method, path, content=content, headers=headers)
        body = assert_error(r, 422, "bad_input")
        assert body["errors"] and all(e["path"] for e in body["errors"]), path
        assert "Traceback" not in r.text and 'File "' not in r.text
    assert all_stock(client) == before
    assert client.get("/v1/network", headers=READ).json() == before_net


def test_unparseable_json_names_the_body(client: TestClient) -> None:
    r = client.post(
        "/v1/orders", content=b"{", headers={**ROUTE, "Content-Type": "application/json"}
    )
    assert assert_error(r, 422, "bad_input")["errors"][0]["path"] == "body"


# -- batch -----------------------------------------------------------------------------


def test_optimize_returns_the_example_optimum_and_leaves_stock_alone(client: TestClient) -> None:
    before = all_stock(client)
    r = client.post("/v1/plans/optimize", json=example(), headers=ROUTE)
    assert r.status_code == 200
    plan = r.json()
    assert plan["cost"]["total"] == pytest.approx(8194.659121, rel=1e-6)
    assert plan["solver"]["status"] == "optimal"
    assert len(plan["orders"]) == 12
    assert sum(o["cost"]["total"] for o in plan["orders"]) == pytest.approx(8194.659121)
    assert all_stock(client) == before
    assert_error(client.get("/v1/orders/O000001", headers=READ), 404)

    bad = example()
    bad["orders"][3]["lines"][0]["sku"] = "NOPE"
    body = assert_error(client.post("/v1/plans/optimize", json=bad, headers=ROUTE), 422)
    assert [e["path"] for e in body["errors"]] == ["orders[3].lines[0].sku"]


# -- operations --------------------------------------------------------------------------


def test_health_and_readiness(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    service = client.app.state.service  # type: ignore[attr-defined]
    monkeypatch.setattr(service.store, "ping", lambda: False)  # the database is gone
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable"}
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_metrics_count_requests_decisions_and_solver_time(client: TestClient) -> None:
    text = client.get("/metrics").text
    created = metric(text, "router_http_requests_total", route="/v1/orders", status="201")
    warehouse = metric(text, "router_shipments_total", fulfilment="warehouse")
    pickup = metric(text, "router_shipments_total", fulfilment="pickup_in_store")
    store = metric(text, "router_shipments_total", fulfilment="ship_from_store")
    moved = metric(text, "router_shipments_total", fulfilment="transfer_to_pickup")
    solved = metric(text, "router_solver_seconds_count")

    route(client, ship("M1", qty=9))  # W0001, W0002: warehouse; S0006: ship from store
    route(
        client,
        {
            "id": "M2",
            "method": "pickup",
            "pickup_node": "S0004",
            "lines": [{"sku": "SKU00001", "qty": 1}],
        },
    )  # no stock at S0004: a transfer
    r = client.post(
        "/v1/inventory/adjustments",
        headers=ADMIN,
        json={
            "adjustments": [{"node": "S0004", "sku": "SKU00002", "delta": 1, "reason": "receipt"}]
        },
    )
    assert r.status_code == 200
    route(
        client,
        {
            "id": "M3",
            "method": "pickup",
            "pickup_node": "S0004",
            "lines": [{"sku": "SKU00002", "qty": 1}],
        },
    )
    client.get("/v1/orders/NOPE", headers=READ)

    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert metric(text, "router_http_requests_total", route="/v1/orders", status="201") == (
        created + 3
    )
    assert (
        metric(
            text,
            "router_http_requests_total",
            method="GET",
            route="/v1/orders/{order_id}",
            status="404",
        )
        >= 1
    )
    assert metric(text, "router_shipments_total", fulfilment="warehouse") == warehouse + 2
    assert metric(text, "router_shipments_total", fulfilment="ship_from_store") == store + 1
    assert metric(text, "router_shipments_total", fulfilment="transfer_to_pickup") == moved + 1
    assert metric(text, "router_shipments_total", fulfilment="pickup_in_store") == pickup + 1
    assert metric(text, "router_solver_seconds_count") == solved + 3
    assert metric(text, "router_http_request_seconds_count", route="/v1/orders") >= 3
    for secret in SECRETS:
        assert secret not in text
