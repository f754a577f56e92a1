"""The reservation model under random sequences of operations (hypothesis, stateful).

A :class:`RuleBasedStateMachine` drives :class:`RoutingService` directly (no HTTP) on a fresh
database per example, SQLite and PostgreSQL, over the contract example's network (capacities,
a disabled store, a store that cannot ship, store-ineligible skus) with scarce random stock.
Rules: route an order (ship or pickup, 1–3 lines, split or not, exclusions, promises; some
with an Idempotency-Key, some replayed), refuse a bad one, cancel, fulfil, reject and reroute,
return units to a store, adjust stock (receipts, POS sales, damage that may be refused).

After every step:

- the books balance (``tests.service.server.assert_books_balance``): reservation rows are
  exactly the plans' reserved shipments, ``stock.reserved`` is their sum, each node's
  ``open_shipments``/``open_units`` are its reserved shipments and units, within capacity;
- ``on_hand`` is what the model says (start + adjustments − fulfilled + returned) and ≥ 0;
- availability is never overdrawn by a reservation: ``raw = on_hand − reserved − safety`` may
  go below 0 only by an adjustment (damage of units already promised); any other step
  leaves every pair at ``raw ≥ min(raw before, 0)``, i.e. reserves only what was available;
- every order's cost is the sum of its shipments' costs plus its penalty, its status and
  state agree with its shipments, and shipped + unfilled units are each line's qty.

Each new plan (routing, and the rerouted part after a reject) is also checked by the
contract checker (``router.check.check_plan``) on a one-order problem holding the stock and
capacity left at that moment: feasible, priced exactly as the contract says, and costing
what the batch optimizer proves optimal.
"""

from __future__ import annotations

import itertools
import math
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql

from models import BadInput, OrderPlan, Plan, Problem, StockRecord
from models import Order as OrderModel
from router.batch import optimize
from router.check import check_plan
from router.data import ProblemData
from router.service import Conflict, RoutingService, Settings
from tests.pg import PgServer
from tests.service.conftest import example_problem
from tests.service.server import Books, assert_books_balance, read_books, reserved_lines

EXAMPLE = example_problem()
NETWORK = {k: EXAMPLE[k] for k in ("nodes", "skus", "rates")}
NODES = [n["id"] for n in NETWORK["nodes"]]
SKUS = [s["id"] for s in NETWORK["skus"]]
PENALTY = {s["id"]: s.get("unfilled_penalty", 1000.0) for s in NETWORK["skus"]}
PICKUP_NODES = [
    n["id"]
    for n in NETWORK["nodes"]
    if (n.get("can_pickup") if n.get("can_pickup") is not None else n["type"] == "store")
]
PAIRS = [(n, s) for n in NODES for s in SKUS]
REASONS_UP = ["receipt", "in_store_return", "count_correction"]
REASONS_DOWN = ["pos_sale", "damage", "count_correction"]

Raw = dict[tuple[str, str], int]
NewDatabase = Callable[[], tuple[str, Callable[[], None]]]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def raw_atp(books: Books) -> Raw:
    return {pair: h - r - s for pair, (h, r, s) in books.stock.items()}


def one_order_problem(
    books: Books,
    order: dict[str, Any],
    released: Iterable[Any] = (),
    no_stock: Iterable[str] = (),
) -> Problem:
    """The contract problem of ``order`` alone on the stock and capacity left in ``books``,
    as if the reserved shipments in ``released`` (being rerouted) were given back first;
    ``no_stock`` nodes give none of their stock (a pickup point that rejected)."""
    empty = set(no_stock)
    give_back: Counter[tuple[str, str]] = Counter()
    open_work = {node: (s, u) for node, (_, _, s, u) in books.nodes.items()}
    for sh in released:
        s, u = open_work[sh["node"]]
        open_work[sh["node"]] = (s - 1, u - sum(ln["qty"] for ln in sh["lines"]))
        for ln in sh["lines"]:
            give_back[(sh["node"], ln["sku"])] += ln["qty"]
    nodes = []
    for node in NETWORK["nodes"]:
        s, u = open_work[node["id"]]
        oc, uc = node.get("order_capacity"), node.get("unit_capacity")
        nodes.append(
            {
                **node,
                "order_capacity": None if oc is None else max(0, oc - s),
                "unit_capacity": None if uc is None else max(0, uc - u),
            }
        )
    inventory = [
        StockRecord(
            node=n, sku=k, on_hand=h, reserved=max(0, r - give_back[(n, k)]), safety_stock=ss
        )
        if n not in empty
        else StockRecord(node=n, sku=k, on_hand=0)
        for (n, k), (h, r, ss) in books.stock.items()
    ]
    return Problem.model_validate(
        {
            "nodes": nodes,
            "skus": NETWORK["skus"],
            "rates": NETWORK["rates"],
            "inventory": [r.model_dump() for r in inventory],
            "orders": [order],
        }
    )


def assert_feasible_priced_optimal(
    problem: Problem, shipments: list[dict[str, Any]], unfilled: list[dict[str, Any]]
) -> None:
    """``shipments`` + ``unfilled`` are a valid, exactly priced, optimal plan of ``problem``'s
    one order (on its stock and capacity)."""
    order = problem.orders[0]
    handling = sum(sh["cost"]["handling"] for sh in shipments)
    shipping = sum(sh["cost"]["shipping"] for sh in shipments)
    penalty = sum(ln["qty"] * PENALTY[ln["sku"]] for ln in unfilled)
    status = "unfilled" if not shipments else ("partial" if unfilled else "fulfilled")
    plan = Plan.model_validate(
        {
            "orders": [
                OrderPlan.model_validate(
                    {
                        "order_id": order.id,
                        "status": status,
                        "shipments": [
                            {k: v for k, v in sh.items() if k != "state"} for sh in shipments
                        ],
                        "unfilled": unfilled,
                        "cost": {
                            "handling": handling,
                            "shipping": shipping,
                            "penalty": penalty,
                            "total": handling + shipping + penalty,
                        },
                    }
                ).model_dump()
            ]
        }
    )
    report = check_plan(ProblemData.from_problem(problem), plan)
    assert not report.violations, report.violations
    best = optimize(problem)
    assert best.status == "optimal"
    assert math.isclose(handling + shipping + penalty, best.cost, rel_tol=1e-9, abs_tol=1e-9), (
        handling + shipping + penalty,
        best.cost,
    )


class ReservationMachine(RuleBasedStateMachine):
    """Random life of orders over one live database."""

    def __init__(self, new_database: NewDatabase) -> None:
        """``new_database()`` gives the URL of a fresh database holding :data:`NETWORK` and
        no stock, and a function that drops it."""
        super().__init__()
        self.url, self._drop = new_database()
        self.svc = RoutingService(Settings(database_url=self.url, api_keys="k:admin"))
        self.on_hand: dict[tuple[str, str], int] = {}
        self.ids = 0
        self.keys: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        """Idempotency-Key → (order id, body, first answer)."""
        self.adjusted: dict[tuple[str, str], int] = {}
        """Deltas of the current step when it is an adjustment (the one way raw may fall)."""
        self.raw: Raw = {}

    def teardown(self) -> None:
        self.svc.close()
        self._drop()

    # -- helpers ------------------------------------------------------------------------

    def _books(self) -> Books:
        return read_books(self.svc.store)

    def _orders_where(self, keep: Callable[[str, dict[str, Any]], bool]) -> list[str]:
        return sorted(oid for oid, (state, doc) in self._books().orders.items() if keep(state, doc))

    def _draw_order(self, data: st.DataObject) -> dict[str, Any]:
        self.ids += 1
        skus = data.draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
        body: dict[str, Any] = {
            "id": f"O{self.ids}",
            "lines": [{"sku": s, "qty": data.draw(st.integers(1, 4), label="qty")} for s in skus],
            "allow_split": data.draw(st.booleans(), label="allow_split"),
        }
        if data.draw(st.integers(0, 3), label="pickup?") == 0:
            body["method"] = "pickup"
            body["pickup_node"] = data.draw(st.sampled_from(PICKUP_NODES), label="pickup_node")
            body["allow_transfer"] = data.draw(st.booleans(), label="allow_transfer")
        else:
            body["lat"] = data.draw(st.floats(9.0, 22.0), label="lat")
            body["lon"] = data.draw(st.floats(103.0, 109.5), label="lon")
        if data.draw(st.integers(0, 4), label="extras?") == 0:
            body["excluded_nodes"] = data.draw(
                st.lists(st.sampled_from(NODES), max_size=2, unique=True), label="excluded"
            )
            body["deliver_within_days"] = data.draw(
                st.none() | st.integers(0, 4), label="deliver_within_days"
            )
        return body

    # -- rules --------------------------------------------------------------------------

    @initialize(
        stock=st.dictionaries(
            st.sampled_from(PAIRS),
            st.tuples(st.integers(0, 6), st.integers(0, 2)),
            min_size=6,
            max_size=24,
        )
    )
    def load_stock(self, stock: dict[tuple[str, str], tuple[int, int]]) -> None:
        self.svc.put_inventory(
            {
                "inventory": [
                    {"node": n, "sku": s, "on_hand": h, "safety_stock": ss}
                    for (n, s), (h, ss) in sorted(stock.items())
                ]
            }
        )
        self.on_hand = {pair: h for pair, (h, _) in stock.items()}
        self.adjusted = {pair: h - ss for pair, (h, ss) in stock.items()}

    @rule(data=st.data())
    def route(self, data: st.DataObject) -> None:
        body = self._draw_order(data)
        key = f"key-{body['id']}" if data.draw(st.booleans(), label="key?") else None
        books = self._books()
        answer, replayed = self.svc.route(body, idempotency_key=key)
        assert not replayed
        a = answer.model_dump(mode="json")
        plan = a["plan"]
        assert a["state"] == ("reserved" if plan["shipments"] else "unfilled")
        assert all(sh["state"] == "reserved" for sh in plan["shipments"])
        assert self.svc.order(body["id"]) == answer
        problem = one_order_problem(books, body)
        assert_feasible_priced_optimal(problem, plan["shipments"], plan["unfilled"])
        if key is not None:
            self.keys[key] = (body["id"], body, a)
        event(f"route: {a['state']}, {len(plan['shipments'])} shipment(s)")

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """The same key and body again: the first answer, nothing more reserved; the same
        key with another body: refused."""
        if not self.keys:
            event("replay: nothing to replay")
            return
        key = data.draw(st.sampled_from(sorted(self.keys)), label="key")
        _, body, first = self.keys[key]
        before = self._books()
        answer, replayed = self.svc.route(body, idempotency_key=key)
        assert replayed and answer.model_dump(mode="json") == first
        other = {**body, "allow_split": not body["allow_split"]}
        with pytest.raises(Conflict):
            self.svc.route(other, idempotency_key=key)
        after = self._books()
        assert (after.stock, after.reservations) == (before.stock, before.reservations)

    @rule(data=st.data())
    def bad_order(self, data: st.DataObject) -> None:
        """Bad input is refused, naming the field, and changes nothing."""
        body = self._draw_order(data)
        kind = data.draw(st.sampled_from(["sku", "qty", "dup", "lat", "excluded", "pickup", "id"]))
        path = {
            "sku": "lines[0].sku",
            "qty": "lines[0].qty",
            "dup": "lines[1].sku",
            "lat": "lat",
            "excluded": "excluded_nodes[0]",
            "pickup": "pickup_node",
        }.get(kind)
        if kind == "sku":
            body["lines"][0]["sku"] = "NO-SUCH-SKU"
        elif kind == "qty":
            body["lines"][0]["qty"] = data.draw(st.sampled_from([0, -1, 1.5]))
        elif kind == "dup":
            body["lines"] = [body["lines"][0], dict(body["lines"][0])]
        elif kind == "lat":
            body.update(method="ship", lat=91.0, lon=105.0)
        elif kind == "excluded":
            body["excluded_nodes"] = ["NO-SUCH-NODE"]
        elif kind == "pickup":
            body.update(method="pickup", pickup_node="W0001")  # a warehouse: no pickups
        before = self._books()
        if kind == "id":
            if not before.orders:
                return
            body["id"] = data.draw(st.sampled_from(sorted(before.orders)))
            with pytest.raises(Conflict):
                self.svc.route(body)
        else:
            with pytest.raises(BadInput) as err:
                self.svc.route(body)
            assert path in {e.path for e in err.value.errors}, err.value.errors
        after = self._books()
        assert (after.stock, after.orders, after.reservations, after.nodes) == (
            before.stock,
            before.orders,
            before.reservations,
            before.nodes,
        )

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        everyone = self._orders_where(lambda state, doc: True)
        still_open = self._orders_where(lambda state, doc: bool(reserved_lines(doc["plan"])))
        ids = still_open if still_open and data.draw(st.integers(0, 3), label="open?") else everyone
        if not ids:
            return
        oid = data.draw(st.sampled_from(ids), label="order")
        state = self._books().orders[oid][0]
        if state == "fulfilled":
            with pytest.raises(Conflict):
                self.svc.cancel(oid)
            event("cancel: refused, fulfilled already")
            return
        answer = self.svc.cancel(oid)
        event(f"cancel: a {state} order")
        assert answer.state == "cancelled"
        assert all(sh.state != "reserved" for sh in answer.plan.shipments)
        assert self.svc.cancel(oid) == answer  # twice changes nothing

    @rule(data=st.data())
    def fulfil(self, data: st.DataObject) -> None:
        ids = self._orders_where(lambda state, doc: bool(reserved_lines(doc["plan"])))
        if not ids:
            return
        oid = data.draw(st.sampled_from(ids), label="order")
        books = self._books()
        plan = books.orders[oid][1]["plan"]
        sh = data.draw(
            st.sampled_from([s for s in plan["shipments"] if s["state"] == "reserved"]),
            label="shipment",
        )
        short = [
            ln for ln in sh["lines"] if books.stock[(sh["node"], ln["sku"])][0] < ln["qty"]
        ]  # damage took units it had promised
        if short:
            with pytest.raises(Conflict):
                self.svc.fulfil(oid, {"node": sh["node"]})
            event("fulfil: refused, damage took promised units")
            return
        answer = self.svc.fulfil(oid, {"node": sh["node"]})
        assert {s.node: s.state for s in answer.plan.shipments}[sh["node"]] == "fulfilled"
        event("fulfil: shipped")
        for ln in sh["lines"]:
            self.on_hand[(sh["node"], ln["sku"])] -= ln["qty"]
        with pytest.raises(Conflict):
            self.svc.fulfil(oid, {"node": sh["node"]})

    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        ids = self._orders_where(lambda state, doc: bool(reserved_lines(doc["plan"])))
        if not ids:
            return
        oid = data.draw(st.sampled_from(ids), label="order")
        books = self._books()
        doc = books.orders[oid][1]
        held = [s for s in doc["plan"]["shipments"] if s["state"] == "reserved"]
        node = data.draw(st.sampled_from([s["node"] for s in held]), label="node")
        answer = self.svc.reject(oid, {"node": node}).model_dump(mode="json")
        plan = answer["plan"]
        assert answer["rejected_nodes"] == [*doc["rejected_nodes"], node]
        kept = [s for s in doc["plan"]["shipments"] if s["state"] == "fulfilled"]
        assert [s for s in plan["shipments"] if s["state"] == "fulfilled"] == kept
        new = [s for s in plan["shipments"] if s["state"] == "reserved"]
        assert len(new) + len(kept) == len(plan["shipments"])
        assert not {s["node"] for s in new} & {
            *answer["rejected_nodes"],
            *(s["node"] for s in kept),
        }
        # the rerouted part is the optimum of the rest of the order, on the stock left once
        # this order's reservations were given back, without the rejected and shipped nodes
        order = OrderModel.model_validate(doc["order"]).model_dump(mode="json")
        shipped: Counter[str] = Counter()
        for s in kept:
            for ln in s["lines"]:
                shipped[ln["sku"]] += ln["qty"]
        rest = [
            {"sku": ln["sku"], "qty": ln["qty"] - shipped[ln["sku"]]}
            for ln in order["lines"]
            if ln["qty"] > shipped[ln["sku"]]
        ]
        if rest and (order["allow_split"] or not kept):
            unusable = {*answer["rejected_nodes"], *(s["node"] for s in kept)}
            # the service keeps a pickup order's own store as its pickup point after it
            # rejected: only that store's stock is ruled out
            point = order["pickup_node"] if order["method"] == "pickup" else None
            excluded = sorted({*order["excluded_nodes"], *(unusable - {point})})
            rest_order = {**order, "lines": rest, "excluded_nodes": excluded}
            no_stock = [point] if point in unusable else []
            problem = one_order_problem(books, rest_order, released=held, no_stock=no_stock)
            assert_feasible_priced_optimal(problem, new, plan["unfilled"])
            event(f"reject: rerouted to {len(new)} shipment(s)")
        else:
            event("reject: not rerouted (no split after a shipment)")
            assert not new and plan["unfilled"] == rest

    @rule(data=st.data())
    def return_units(self, data: st.DataObject) -> None:
        books = self._books()
        candidates = []
        for oid, (_, doc) in sorted(books.orders.items()):
            out: Counter[str] = Counter()
            for sh in doc["plan"]["shipments"]:
                if sh["state"] == "fulfilled":
                    for ln in sh["lines"]:
                        out[ln["sku"]] += ln["qty"]
            for ln in doc["returned"]:
                out[ln["sku"]] -= ln["qty"]
            if +out:
                candidates.append((oid, +out))
        if not candidates:
            return
        oid, out = data.draw(st.sampled_from(candidates), label="order")
        node = data.draw(st.sampled_from(NODES), label="node")
        skus = data.draw(st.lists(st.sampled_from(sorted(out)), min_size=1, unique=True))
        lines = [{"sku": s, "qty": data.draw(st.integers(1, out[s] + 1))} for s in skus]
        if any(ln["qty"] > out[ln["sku"]] for ln in lines):
            with pytest.raises(BadInput):
                self.svc.return_units(oid, {"node": node, "lines": lines})
            event("return: refused, more than was shipped")
            return
        self.svc.return_units(oid, {"node": node, "lines": lines})
        event("return: accepted")
        for ln in lines:
            pair = (node, ln["sku"])
            self.on_hand[pair] = self.on_hand.get(pair, 0) + ln["qty"]

    @rule(data=st.data())
    def adjust(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, 3), label="adjustments")
        adjustments = []
        for _ in range(n):
            stocked = sorted(p for p, h in self.on_hand.items() if h > 0)
            pool = stocked if stocked and data.draw(st.integers(0, 3), label="stocked?") else PAIRS
            node, sku = data.draw(st.sampled_from(pool), label="pair")
            if data.draw(st.booleans(), label="up?"):
                delta, reason = data.draw(st.integers(0, 5)), data.draw(st.sampled_from(REASONS_UP))
            else:
                delta = -data.draw(st.integers(1, 3))
                reason = data.draw(st.sampled_from(REASONS_DOWN))
            adjustments.append({"node": node, "sku": sku, "delta": delta, "reason": reason})
        model = dict(self.on_hand)
        refused = False
        for adj in adjustments:  # applied in turn; any negative on-hand refuses them all
            pair = (adj["node"], adj["sku"])
            model[pair] = model.get(pair, 0) + adj["delta"]
            refused = refused or model[pair] < 0
        before = self._books()
        if refused:
            with pytest.raises(BadInput) as err:
                self.svc.adjust({"adjustments": adjustments})
            assert all(e.path.endswith(".delta") for e in err.value.errors)
            assert self._books().stock == before.stock
            event("adjust: refused")
            return
        self.svc.adjust({"adjustments": adjustments})
        self.on_hand = model
        event("adjust: applied")
        for adj in adjustments:
            pair = (adj["node"], adj["sku"])
            self.adjusted[pair] = self.adjusted.get(pair, 0) + adj["delta"]

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        books = self._books()
        assert_books_balance(books)
        assert {pair: h for pair, (h, _, _) in books.stock.items()} == self.on_hand
        raw = raw_atp(books)
        for pair, now in raw.items():
            before = self.raw.get(pair, 0)
            if pair in self.adjusted:  # only an adjustment moves on-hand under reservations
                assert now == before + self.adjusted[pair], pair
            else:
                assert now >= min(before, 0), (pair, before, now)
        self.raw, self.adjusted = raw, {}
        self._orders_add_up(books)

    def _orders_add_up(self, books: Books) -> None:
        """Costs, units, statuses and states of every order agree with its shipments."""
        for oid, (state, doc) in books.orders.items():
            plan, order = doc["plan"], doc["order"]
            live = plan["shipments"]
            cost = plan["cost"]
            handling = sum(sh["cost"]["handling"] for sh in live)
            shipping = sum(sh["cost"]["shipping"] for sh in live)
            penalty = sum(ln["qty"] * PENALTY[ln["sku"]] for ln in plan["unfilled"])
            assert close(cost["handling"], handling) and close(cost["shipping"], shipping), oid
            assert close(cost["penalty"], penalty), oid
            assert close(cost["total"], handling + shipping + penalty), oid
            for sh in live:
                c = sh["cost"]
                assert close(c["total"], c["handling"] + c["shipping"])
            units: Counter[str] = Counter()
            for sh in live:
                for ln in sh["lines"]:
                    units[ln["sku"]] += ln["qty"]
            for ln in plan["unfilled"]:
                units[ln["sku"]] += ln["qty"]
            assert dict(units) == {ln["sku"]: ln["qty"] for ln in order["lines"]}, oid
            assert plan["status"] == (
                "unfilled" if not live else ("partial" if plan["unfilled"] else "fulfilled")
            ), oid
            states = {sh["state"] for sh in live}
            if state == "cancelled":
                assert "reserved" not in states
            elif not live:
                assert state == "unfilled"
            elif states == {"fulfilled"}:
                assert state == "fulfilled"
            elif "fulfilled" in states:
                assert state == "partially_fulfilled"
            else:
                assert state == "reserved" and states == {"reserved"}, (oid, state, states)


# -- the tests --------------------------------------------------------------------------


def seed(url: str) -> None:
    """Migrate the database at ``url`` and load :data:`NETWORK`: a template for examples."""
    svc = RoutingService(Settings(database_url=url, api_keys="k:admin"))
    try:
        svc.put_network(NETWORK)
    finally:
        svc.close()


def test_reservations_stay_balanced_sqlite(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    seed(f"sqlite:///{template}")  # closing it checkpoints the WAL into the file
    numbers = itertools.count()

    def new_database() -> tuple[str, Callable[[], None]]:
        path = tmp_path / f"example-{next(numbers)}.db"
        shutil.copyfile(template, path)

        def drop() -> None:
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)

        return f"sqlite:///{path}", drop

    run_state_machine_as_test(
        lambda: ReservationMachine(new_database),
        settings=settings(
            max_examples=80,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_reservations_stay_balanced_postgres(postgres_server: PgServer) -> None:
    template = f"tmpl_{uuid.uuid4().hex[:12]}"
    seed(postgres_server.new_database(template))  # no connection is left open to it

    def new_database() -> tuple[str, Callable[[], None]]:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with postgres_server.connect_admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )

        def drop() -> None:
            postgres_server.drop_database(name)

        return postgres_server.url_for(name), drop

    try:
        run_state_machine_as_test(
            lambda: ReservationMachine(new_database),
            settings=settings(
                max_examples=30,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        postgres_server.drop_database(template)
