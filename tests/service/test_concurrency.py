"""Many clients racing for the last units, against a real server (uvicorn in a subprocess).

SQLite with one worker (its threads share one database file, writers queue on
``BEGIN IMMEDIATE``) and PostgreSQL with two workers (two processes, guarded updates under
READ COMMITTED): in both, concurrent orders never take more units than there are, every
unit taken is a reservation of an order that was answered 201, and concurrent retries of one
idempotent request make one order.

One server per back end serves the whole module (starting one takes seconds); each test
works on skus of its own (:func:`skus`), so the tests do not depend on each other.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.pg import PgServer
from tests.service.server import Books, Server, assert_books_balance, read_books

TAGS = ("last", "mixed", "idem", "twice")
# 5 sellable units of each scarce sku in all: 2 + 2 + (2 on hand − 1 safety stock)
SCARCE_STOCK = {"W1": (2, 0), "S1": (2, 0), "S2": (2, 1)}
TOTAL = sum(on_hand - safety for on_hand, safety in SCARCE_STOCK.values())


def skus(tag: str) -> tuple[str, str]:
    """The test's own skus: one scarce (:data:`SCARCE_STOCK`), one plentiful (at W1)."""
    return f"SCARCE-{tag}", f"PLENTY-{tag}"


NETWORK: dict[str, Any] = {
    "nodes": [
        {"id": "W1", "type": "warehouse", "lat": 10.80, "lon": 106.70,
         "handling_cost_per_shipment": 2.0, "handling_cost_per_unit": 0.5},
        {"id": "S1", "type": "store", "lat": 10.78, "lon": 106.69,
         "handling_cost_per_shipment": 4.0, "handling_cost_per_unit": 1.0},
        {"id": "S2", "type": "store", "lat": 10.76, "lon": 106.66,
         "handling_cost_per_shipment": 5.0, "handling_cost_per_unit": 1.0},
    ],
    "skus": [
        {"id": sku, "weight_kg": 1.0 if sku.startswith("SCARCE") else 0.5}
        for tag in TAGS
        for sku in skus(tag)
    ],
    "rates": [
        {"max_km": 50, "base": 3.0, "per_kg": 0.2, "transit_days": 1},
        {"max_km": None, "base": 9.0, "per_kg": 0.8, "transit_days": 3},
    ],
}  # fmt: skip
INVENTORY = [
    *(
        {"node": node, "sku": skus(tag)[0], "on_hand": on_hand, "safety_stock": safety}
        for tag in TAGS
        for node, (on_hand, safety) in SCARCE_STOCK.items()
    ),
    *({"node": "W1", "sku": skus(tag)[1], "on_hand": 1000} for tag in TAGS),
]


def order(oid: str, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "lat": 10.79,
        "lon": 106.68,
        "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
        **extra,
    }


@pytest.fixture(
    scope="module",
    params=[pytest.param(("sqlite", 1), id="sqlite-1w"), pytest.param(("postgres", 2), id="pg-2w")],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A running server on a fresh database holding :data:`NETWORK` and :data:`INVENTORY`."""
    backend, workers = request.param
    pg: PgServer | None = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('concurrency') / 'router.db'}"
    else:
        pg = request.getfixturevalue("postgres_server")
        url = pg.new_database()
    srv = Server(url, workers=workers)
    try:
        srv.start()
        with srv.client() as client:
            assert client.put("/v1/network", json=NETWORK).status_code == 200
            assert client.put("/v1/inventory", json={"inventory": INVENTORY}).status_code == 200
        yield srv
    finally:
        print(srv.logs())  # shown by pytest when a test of the module fails
        srv.close()
        if pg is not None:
            pg.drop_database(url)


async def burst(
    srv: Server,
    requests: list[tuple[dict[str, Any], dict[str, str]]],
    concurrency: int,
) -> list[httpx.Response]:
    """POST every order at once, ``concurrency`` connections, all released together."""
    gate = asyncio.Event()
    limit = asyncio.Semaphore(concurrency)
    async with srv.async_client(connections=concurrency) as client:
        await asyncio.gather(*(client.get("/healthz") for _ in range(concurrency)))  # warm up

        async def one(body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
            async with limit:
                await gate.wait()
                return await client.post("/v1/orders", json=body, headers=headers)

        tasks = [asyncio.ensure_future(one(body, headers)) for body, headers in requests]
        await asyncio.sleep(0.05)  # every task is parked at the gate
        gate.set()
        return await asyncio.gather(*tasks)


def reserved_by_answers(answers: list[dict[str, Any]], sku: str) -> Counter[str]:
    """node → units of ``sku`` the answered plans reserved there."""
    out: Counter[str] = Counter()
    for a in answers:
        for sh in a["plan"]["shipments"]:
            assert sh["state"] == "reserved"
            out[sh["node"]] += sum(ln["qty"] for ln in sh["lines"] if ln["sku"] == sku)
    return +out


def inventory(srv: Server, sku: str) -> dict[str, dict[str, Any]]:
    with srv.client() as client:
        r = client.get("/v1/inventory", params={"sku": sku})
        assert r.status_code == 200, r.text
        return {row["node"]: row for row in r.json()["inventory"]}


def check_against_books(srv: Server, answers: list[dict[str, Any]], prefix: str) -> Books:
    """The books balance, and the orders whose ids start with ``prefix`` are exactly the
    answered ones, stored as answered (with exactly their reservations: the books balance)."""
    books = read_books(srv.database_url)
    assert_books_balance(books)
    assert {oid for oid in books.orders if oid.startswith(prefix)} == {
        a["plan"]["order_id"] for a in answers
    }
    for a in answers:
        oid = a["plan"]["order_id"]
        state, doc = books.orders[oid]
        assert state == a["state"]
        assert doc["plan"] == a["plan"]
    return books


def test_last_units_are_never_oversold(server: Server) -> None:
    """60 one-unit orders for 5 units, 30 at a time: exactly 5 are reserved, 55 unfilled."""
    scarce = skus("last")[0]
    n = 60
    requests = [(order(f"last-{i:03d}", [(scarce, 1)]), {}) for i in range(n)]
    responses = asyncio.run(burst(server, requests, concurrency=30))

    codes = Counter(r.status_code for r in responses)
    assert codes == {201: n}, (codes, [r.text for r in responses if r.status_code != 201][:3])
    answers = [r.json() for r in responses]
    filled = [a for a in answers if a["plan"]["shipments"]]
    unfilled = [a for a in answers if not a["plan"]["shipments"]]
    assert len(filled) == TOTAL and len(unfilled) == n - TOTAL
    for a in filled:
        assert a["state"] == "reserved" and a["plan"]["status"] == "fulfilled"
        assert a["plan"]["unfilled"] == []
    for a in unfilled:
        assert a["state"] == "unfilled" and a["plan"]["status"] == "unfilled"
        assert a["plan"]["unfilled"] == [{"sku": scarce, "qty": 1}]
        assert a["plan"]["cost"]["total"] == a["plan"]["cost"]["penalty"] > 0

    taken = reserved_by_answers(answers, scarce)
    assert sum(taken.values()) == TOTAL
    levels = inventory(server, scarce)
    assert set(levels) == set(SCARCE_STOCK)
    for node, (on_hand, safety) in SCARCE_STOCK.items():
        row = levels[node]
        assert (row["on_hand"], row["safety_stock"]) == (on_hand, safety)
        assert row["reserved"] == taken[node] == on_hand - safety
        assert row["atp"] == 0
    check_against_books(server, answers, "last-")

    # the server still answers each order as it was answered at the time
    with server.client() as client:
        for a in random.Random(1).sample(answers, 10):
            got = client.get(f"/v1/orders/{a['plan']['order_id']}")
            assert got.status_code == 200 and got.json() == a


def test_mixed_orders_racing_for_scarce_stock(server: Server) -> None:
    """Orders of 1–3 units, split or not, some with a plentiful second line: however the
    race goes, what is reserved never exceeds what was sellable, and matches the answers."""
    scarce, plenty = skus("mixed")
    rng = random.Random(7)
    requests = []
    for i in range(48):
        lines = [(scarce, rng.randint(1, 3))]
        if rng.random() < 0.4:
            lines.append((plenty, rng.randint(1, 4)))
        requests.append((order(f"mixed-{i:03d}", lines, allow_split=rng.random() < 0.5), {}))
    responses = asyncio.run(burst(server, requests, concurrency=24))

    codes = Counter(r.status_code for r in responses)
    assert codes == {201: len(requests)}, codes
    answers = [r.json() for r in responses]
    taken = reserved_by_answers(answers, scarce)
    levels = inventory(server, scarce)
    for node, (on_hand, safety) in SCARCE_STOCK.items():
        assert levels[node]["reserved"] == taken[node] <= on_hand - safety
        assert levels[node]["atp"] == on_hand - safety - taken[node]
    assert inventory(server, plenty)["W1"]["reserved"] == reserved_by_answers(answers, plenty)["W1"]
    for (body, _), a in zip(requests, answers, strict=True):
        wanted = {ln["sku"]: ln["qty"] for ln in body["lines"]}
        got: Counter[str] = Counter()
        for sh in a["plan"]["shipments"]:
            for ln in sh["lines"]:
                got[ln["sku"]] += ln["qty"]
        for ln in a["plan"]["unfilled"]:
            got[ln["sku"]] += ln["qty"]
        assert dict(got) == wanted, a
        if not body["allow_split"]:
            assert len(a["plan"]["shipments"]) <= 1
    check_against_books(server, answers, "mixed-")


def test_concurrent_idempotent_retries_make_one_order(server: Server) -> None:
    """The same Idempotency-Key and body from 10 clients at once: one order, one
    reservation, ten identical answers (nine of them marked as replays)."""
    scarce, plenty = skus("idem")
    body = order("idem-1", [(plenty, 3), (scarce, 1)])
    headers = {"Idempotency-Key": "retry-me-7f3a"}
    before = inventory(server, plenty)["W1"]["reserved"]
    responses = asyncio.run(burst(server, [(body, headers)] * 10, concurrency=10))

    codes = [r.status_code for r in responses]
    assert codes == [201] * 10, [r.text for r in responses if r.status_code != 201]
    answers = [r.json() for r in responses]
    assert all(a == answers[0] for a in answers)
    replays = [r.headers.get("idempotent-replayed") for r in responses]
    assert replays.count("true") == 9 and replays.count(None) == 1, replays
    first = answers[0]
    assert first["state"] == "reserved" and first["plan"]["status"] == "fulfilled"
    assert inventory(server, plenty)["W1"]["reserved"] == before + 3
    assert sum(row["reserved"] for row in inventory(server, scarce).values()) == 1

    books = check_against_books(server, [first], "idem-")
    assert books.reservations["idem-1"] == books.reserved_lines("idem-1")
    assert sum(books.reservations["idem-1"].values()) == 4
    assert books.idempotency["retry-me-7f3a"] == first

    # a retry later is the same answer; the same key with another body is refused
    with server.client() as client:
        again = client.post("/v1/orders", json=body, headers=headers)
        assert again.status_code == 201 and again.json() == first
        other = client.post("/v1/orders", json={**body, "allow_split": False}, headers=headers)
        assert other.status_code == 409
        same_id = client.post("/v1/orders", json=body)
        assert same_id.status_code == 409
    check_against_books(server, [first], "idem-")


def test_concurrent_changes_to_one_order_apply_once(server: Server) -> None:
    """The OMS double-sends: 10 cancels of one order, 10 fulfils of one shipment and 10
    rejects of one shipment, each burst at once. Each change applies exactly once."""
    scarce, plenty = skus("twice")
    with server.client() as client:
        answers = {}
        for oid in ("CAN", "FUL", "REJ"):
            r = client.post("/v1/orders", json=order(oid, [(plenty, 2), (scarce, 1)]))
            assert r.status_code == 201 and r.json()["state"] == "reserved", r.text
            answers[oid] = r.json()
    before = inventory(server, plenty)["W1"]

    async def storm(path: str, body: dict[str, Any] | None) -> list[httpx.Response]:
        gate = asyncio.Event()
        async with server.async_client(connections=10) as client:
            await asyncio.gather(*(client.get("/healthz") for _ in range(10)))

            async def one() -> httpx.Response:
                await gate.wait()
                return await client.post(path, json=body)

            tasks = [asyncio.ensure_future(one()) for _ in range(10)]
            await asyncio.sleep(0.05)
            gate.set()
            return await asyncio.gather(*tasks)

    cancels = asyncio.run(storm("/v1/orders/CAN/cancel", None))
    assert [r.status_code for r in cancels] == [200] * 10, [r.text for r in cancels]
    assert all(r.json()["state"] == "cancelled" for r in cancels)

    node = {"node": answers["FUL"]["plan"]["shipments"][0]["node"]}
    fulfils = asyncio.run(storm("/v1/orders/FUL/fulfil", node))
    codes = Counter(r.status_code for r in fulfils)
    assert codes == {200: 1, 409: 9}, (codes, [r.text for r in fulfils])

    node = {"node": answers["REJ"]["plan"]["shipments"][0]["node"]}
    rejects = asyncio.run(storm("/v1/orders/REJ/reject", node))
    codes = Counter(r.status_code for r in rejects)
    assert codes == {200: 1, 404: 9}, (codes, [r.text for r in rejects])

    books = read_books(server.database_url)
    assert_books_balance(books)
    after = inventory(server, plenty)["W1"]
    fulfilled = sum(
        ln["qty"]
        for sh in books.orders["FUL"][1]["plan"]["shipments"]
        if sh["state"] == "fulfilled" and sh["node"] == "W1"
        for ln in sh["lines"]
        if ln["sku"] == plenty
    )
    assert after["on_hand"] == before["on_hand"] - fulfilled
    assert books.orders["CAN"][0] == "cancelled" and not books.reservations.get("CAN")
    assert books.orders["REJ"][1]["rejected_nodes"] == [node["node"]]
