"""kill -9 of a real server with routing requests in flight, then a restart on the same data.

Clients keep 24 requests in flight (route, and for some routed orders a cancel, fulfil or
reject right after) until the server is killed outright (SIGKILL to its whole process group,
workers included). After a restart on the same database, read straight from the database:

- every order whose 201 the client received is stored as answered, with exactly its
  reservations, and its idempotency key holds that answer;
- every stored order has its reservations and its key, and nothing else is stored: no order
  without reservations, no reservation without an order, no key without its order;
- ``stock.reserved`` is the sum of open reservations, ``on_hand`` is never negative and
  fell by exactly the fulfilled shipments' units (no half-done fulfilment);
- retrying every request that got no answer, with its Idempotency-Key, replays the stored
  answer when the crash came after the commit, and routes it afresh when before.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.server import Books, Server, assert_books_balance, read_books

SKUS = [f"K{j}" for j in range(5)]
NODES: list[dict[str, Any]] = [
    {"id": "W1", "type": "warehouse", "lat": 21.03, "lon": 105.85,
     "handling_cost_per_shipment": 2.0, "handling_cost_per_unit": 0.3},
    {"id": "W2", "type": "warehouse", "lat": 10.82, "lon": 106.63,
     "handling_cost_per_shipment": 2.5, "handling_cost_per_unit": 0.2},
    {"id": "S1", "type": "store", "lat": 16.05, "lon": 108.20,
     "handling_cost_per_shipment": 4.0, "handling_cost_per_unit": 0.8},
    {"id": "S2", "type": "store", "lat": 20.85, "lon": 106.68,
     "handling_cost_per_shipment": 4.5, "handling_cost_per_unit": 0.9},
]  # fmt: skip
NETWORK: dict[str, Any] = {
    "nodes": NODES,
    "skus": [{"id": s, "weight_kg": 0.5 + j} for j, s in enumerate(SKUS)],
    "rates": [
        {"max_km": 100, "base": 3.0, "per_kg": 0.3, "transit_days": 1},
        {"max_km": None, "base": 8.0, "per_kg": 0.9, "transit_days": 3},
    ],
}
# each node holds some skus, plenty of them: orders of several skus split across nodes
STOCK = {
    (n["id"], s): 100_000 for k, n in enumerate(NODES) for j, s in enumerate(SKUS) if (j + k) % 2
}
INVENTORY = [{"node": n, "sku": s, "on_hand": q} for (n, s), q in STOCK.items()]

CONCURRENCY = 24


@dataclass
class Ledger:
    """What the clients sent and what they were told."""

    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """order id (also its Idempotency-Key) → body, for every route request sent."""
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    """order id → the 201 answer to its route request."""
    unknown: set[str] = field(default_factory=set)
    """order ids whose route request got no answer (the server died)."""
    after: dict[str, dict[str, Any]] = field(default_factory=dict)
    """order id → answer of an acknowledged cancel, fulfil or reject after routing."""
    after_unknown: set[str] = field(default_factory=set)


def make_order(oid: str, rng: random.Random) -> dict[str, Any]:
    lines = [{"sku": s, "qty": rng.randint(1, 3)} for s in rng.sample(SKUS, rng.randint(1, 3))]
    return {
        "id": oid,
        "lat": rng.uniform(10.0, 21.5),
        "lon": rng.uniform(105.0, 108.5),
        "lines": lines,
        "allow_split": rng.random() < 0.8,
    }


async def storm(srv: Server, ledger: Ledger, prefix: str, seed: int, kill_after: int) -> int:
    """Keep :data:`CONCURRENCY` requests in flight; kill -9 the server after ``kill_after``
    acknowledged routings. Returns how many requests were cut off by the kill."""
    rng = random.Random(seed)
    orders = iter([make_order(f"{prefix}-{i:04d}", rng) for i in range(5000)])
    acks = 0
    ready = asyncio.Event()
    cut = 0

    async def follow_up(client: httpx.AsyncClient, oid: str, answer: dict[str, Any]) -> None:
        shipments = answer["plan"]["shipments"]
        roll = rng.random()
        if not shipments or roll < 0.5:
            return
        node = {"node": rng.choice(shipments)["node"]}
        if roll < 0.65:
            r = await client.post(f"/v1/orders/{oid}/cancel")
        elif roll < 0.85:
            r = await client.post(f"/v1/orders/{oid}/fulfil", json=node)
        else:
            r = await client.post(f"/v1/orders/{oid}/reject", json=node)
        assert r.status_code == 200, r.text
        ledger.after[oid] = r.json()

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal acks, cut
        for body in orders:
            oid = body["id"]
            ledger.bodies[oid] = body
            try:
                r = await client.post("/v1/orders", json=body, headers={"Idempotency-Key": oid})
            except httpx.TransportError:
                ledger.unknown.add(oid)
                cut += 1
                return
            assert r.status_code == 201, r.text
            ledger.acked[oid] = r.json()
            acks += 1
            if acks >= kill_after:
                ready.set()
            try:
                await follow_up(client, oid, r.json())
            except httpx.TransportError:
                ledger.after_unknown.add(oid)
                cut += 1
                return

    async with srv.async_client(connections=CONCURRENCY, timeout=30) as client:
        loops = [asyncio.ensure_future(client_loop(client)) for _ in range(CONCURRENCY)]
        try:
            await asyncio.wait_for(ready.wait(), timeout=30)
        finally:
            srv.kill()  # SIGKILL to the server's process group, mid-flight
        await asyncio.gather(*loops)
    return cut


def check_after_crash(url: str, ledger: Ledger) -> Books:
    books = read_books(url)
    assert_books_balance(books)
    stored = set(books.orders)
    assert stored <= set(ledger.bodies), sorted(stored - set(ledger.bodies))[:5]
    assert set(ledger.acked) <= stored, sorted(set(ledger.acked) - stored)[:5]
    # the key is claimed with the order and its reservations: both or neither
    assert set(books.idempotency) == stored
    for oid in stored:
        first = ledger.acked.get(oid)
        if first is not None:
            assert books.idempotency[oid] == first
        state, doc = books.orders[oid]
        if oid in ledger.after:
            now = ledger.after[oid]
        elif oid in ledger.after_unknown:
            continue  # committed or not: either is fine, the books balance either way
        else:
            now = books.idempotency[oid]
        assert (state, doc["plan"]) == (now["state"], now["plan"]), oid
        assert books.reservations.get(oid, Counter()) == books.reserved_lines(oid)
    # on hand fell by exactly the units of the fulfilled shipments
    shipped: Counter[tuple[str, str]] = Counter()
    for _, doc in books.orders.values():
        for sh in doc["plan"]["shipments"]:
            if sh["state"] == "fulfilled":
                for ln in sh["lines"]:
                    shipped[(sh["node"], ln["sku"])] += ln["qty"]
    on_hand = {pair: levels[0] for pair, levels in books.stock.items()}
    assert on_hand == {pair: q - shipped[pair] for pair, q in STOCK.items()}
    return books


def retry_unanswered(srv: Server, ledger: Ledger, books: Books) -> None:
    """The OMS retries every request it got no answer to, with the same key and body."""
    with srv.client() as client:
        for oid in sorted(ledger.unknown):
            r = client.post("/v1/orders", json=ledger.bodies[oid], headers={"Idempotency-Key": oid})
            assert r.status_code == 201, r.text
            if oid in books.orders:  # committed before the kill: the stored answer, again
                assert r.headers.get("idempotent-replayed") == "true"
                assert r.json() == books.idempotency[oid]
            else:  # never committed: routed now, for the first time
                assert "idempotent-replayed" not in r.headers
            ledger.acked[oid] = r.json()
        ledger.unknown.clear()


@pytest.mark.parametrize(
    ("backend", "workers", "cycles"),
    [pytest.param("sqlite", 1, 3, id="sqlite-1w"), pytest.param("postgres", 2, 2, id="pg-2w")],
)
def test_kill_9_mid_flight_loses_nothing_acknowledged(
    backend: str, workers: int, cycles: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'router.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    srv = Server(url, workers=workers)
    srv.start()
    try:
        with srv.client() as client:
            assert client.put("/v1/network", json=NETWORK).status_code == 200
            assert client.put("/v1/inventory", json={"inventory": INVENTORY}).status_code == 200
        ledger = Ledger()
        for cycle in range(cycles):
            cut = asyncio.run(
                storm(srv, ledger, prefix=f"c{cycle}", seed=cycle, kill_after=40 + 20 * cycle)
            )
            assert cut > 0, "the kill came when no request was in flight"
            assert srv.proc is not None and srv.proc.returncode == -9
            books = check_after_crash(url, ledger)  # as the crash left it
            srv.start()
            books = check_after_crash(url, ledger)  # and as the restarted server sees it
            retry_unanswered(srv, ledger, books)
            books = check_after_crash(url, ledger)
            assert set(books.orders) == set(ledger.acked)
            assert any(a["plan"]["shipments"] for a in ledger.acked.values())
        with srv.client() as client:  # the restarted server agrees with the database
            for oid in random.Random(3).sample(sorted(books.orders), 20):
                got = client.get(f"/v1/orders/{oid}").json()
                state, doc = books.orders[oid]
                assert (got["state"], got["plan"]) == (state, doc["plan"])
    finally:
        print(srv.logs())  # shown by pytest when the test fails
        srv.close()
