"""The life of an order: route and reserve, fulfil, cancel, reject and reroute, return.

Each function runs inside one write transaction (the caller's). Stock moves only through
guarded updates, so the database refuses an oversell even when this process's view of
availability is stale: a lost race raises :class:`RetryTransaction` and the whole
transaction runs again on fresh numbers.

Invariants kept here, checked by the stateful tests: ``on_hand ≥ 0``; ``reserved`` of
every (node, sku) equals the sum of open reservations; a node's ``open_shipments`` and
``open_units`` equal its reserved shipments and units, and stay within its capacities.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Connection

from models import (
    BadInput,
    FieldError,
    LineQty,
    Order,
    OrderCost,
    OrderPlan,
    parse_problem,
)
from models.errors import from_validation_error
from models.explain import MyopicChoice
from models.problem import order_errors
from models.service import LivePlan, LiveShipment, NodeRef, OrderAnswer, OrderState, Return
from router.data import UNLIMITED
from router.inventory.opportunity import serve_first
from router.service import schema
from router.service.errors import Conflict, NotFound
from router.service.inventory import atp_expr, log_stock_event
from router.service.metrics import record_decision
from router.service.network import Network
from router.service.opportunity import OpportunityCache, explain_units, surcharge_of
from router.service.store import RetryTransaction
from router.single import SingleResult

_ORDER = TypeAdapter(Order)

# Statements of the hot path, built once (SQLAlchemy then reuses their compiled form).
_s, _n = schema.stock.c, schema.nodes.c


def _stock_and_capacity(conn: Connection, skus: list[str]) -> list[tuple[Any, ...]]:
    """(node, sku, atp, shipments left, units left) wherever one of ``skus`` has atp > 0.

    The hot path's one read, on the raw driver cursor: a node that holds none of the
    order's skus cannot take part, so its capacity is not needed, and skipping
    SQLAlchemy's row objects halves the time of this read. Capacities left are null when
    unlimited.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        "SELECT s.node, s.sku, s.on_hand - s.reserved - s.safety_stock,"
        " n.order_capacity - n.open_shipments, n.unit_capacity - n.open_units"
        " FROM stock s JOIN nodes n ON n.id = s.node"
        f" WHERE s.sku IN ({', '.join([mark] * len(skus))})"
        " AND s.on_hand - s.reserved - s.safety_stock > 0"
    )
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(skus))
        return list(cursor.fetchall())
    finally:
        cursor.close()


_TAKE_CAPACITY = (
    sa.update(schema.nodes)
    .where(
        _n.id == sa.bindparam("n"),
        sa.or_(_n.order_capacity.is_(None), _n.open_shipments + 1 <= _n.order_capacity),
        sa.or_(_n.unit_capacity.is_(None), _n.open_units + sa.bindparam("u") <= _n.unit_capacity),
    )
    .values(open_shipments=_n.open_shipments + 1, open_units=_n.open_units + sa.bindparam("u"))
)
_TAKE_STOCK = (
    sa.update(schema.stock)
    .where(
        _s.node == sa.bindparam("n"), _s.sku == sa.bindparam("k"), atp_expr() >= sa.bindparam("q")
    )
    .values(reserved=_s.reserved + sa.bindparam("q"))
)


def parse_order(raw: Any, net: Network) -> Order:
    """A contract Order checked against the current network; paths as in the body."""
    try:
        order = raw if isinstance(raw, Order) else _ORDER.validate_python(raw)
    except ValidationError as exc:
        # the slow path, on bad input only: the contract parser also salvages what it can
        # of a malformed order, so every error is reported at once
        errors = from_validation_error(exc)
        try:
            parse_problem({**net.raw, "inventory": [], "orders": [raw]})
        except BadInput as bad:
            errors = [FieldError(_strip(e.path), e.message) for e in bad.errors]
        raise BadInput(errors) from None
    errors = order_errors(order, "", net.node_by_id, net.node_by_id, net.sku_by_id)
    if errors:
        raise BadInput([FieldError(e.path.lstrip("."), e.message) for e in errors])
    return order


def _strip(path: str) -> str:
    prefix = "orders[0]"
    return path[len(prefix) + 1 :] if path.startswith(prefix + ".") else path


# -- routing ------------------------------------------------------------------------


def route_new(
    conn: Connection,
    net: Network,
    order: Order,
    *,
    explain: bool,
    opportunity: OpportunityCache | None = None,
) -> OrderAnswer:
    """Route a new order against live stock and reserve what the plan takes (with
    ``opportunity``: inventory-aware, see :mod:`router.service.opportunity`)."""
    if conn.execute(sa.select(schema.orders.c.id).where(schema.orders.c.id == order.id)).first():
        raise Conflict(f"order {order.id!r} exists already")
    result = _route(conn, net, order, exclude=(), explain=explain, opportunity=opportunity)
    shipments = [LiveShipment(**s.model_dump(), state="reserved") for s in result.plan.shipments]
    plan = LivePlan(
        order_id=order.id,
        status=result.plan.status or "unfilled",
        shipments=shipments,
        unfilled=result.plan.unfilled,
        cost=result.plan.cost or OrderCost(handling=0, shipping=0, penalty=0, total=0),
    )
    doc = {
        "order": order.model_dump(mode="json"),
        "plan": plan.model_dump(mode="json"),
        "rejected_nodes": [],
        "returned": [],
    }
    state = _state(plan)
    now = time.time()
    conn.execute(
        sa.insert(schema.orders).values(
            id=order.id, state=state, doc=doc, created_at=now, updated_at=now
        )
    )
    _reserve(conn, order.id, shipments)
    record_decision(net, order, shipments, result.seconds)
    return _answer(doc, state, result.explanation if explain else None)


def _route(
    conn: Connection,
    net: Network,
    order: Order,
    exclude: Iterable[str],
    explain: bool,
    no_stock: Iterable[str] = (),
    opportunity: OpportunityCache | None = None,
) -> SingleResult:
    """The optimal plan for ``order`` on the stock and capacity committed right now;
    ``no_stock`` nodes may still serve as the pickup point but give none of their stock."""
    data = net.data
    skus = [ln.sku for ln in order.lines]
    col = {s: j for j, s in enumerate(skus)}
    atp = np.zeros((data.num_nodes, len(skus)), dtype=np.int64)
    shipments_left = np.full(data.num_nodes, UNLIMITED, dtype=np.int64)
    units_left = np.full(data.num_nodes, UNLIMITED, dtype=np.int64)
    index = data.node_index
    for node, sku, avail, ships, units in _stock_and_capacity(conn, skus):
        i = index[node]
        atp[i, col[sku]] = avail
        if ships is not None:
            shipments_left[i] = max(0, ships)
        if units is not None:
            units_left[i] = max(0, units)
    for node in no_stock:
        atp[index[node], :] = 0
    costs = None if opportunity is None else opportunity.current(conn, net)
    surcharge = None
    if costs is not None:
        # capped as the simulator's policy does: never withhold a unit that can be served now
        view = net.router._view(order, atp, shipments_left, units_left, tuple(exclude))
        surcharge = serve_first(
            surcharge_of(costs, net, skus, atp), view.unit, view.fixed, view.usable, view.penalty
        )
    result = net.router.route(
        order,
        atp,
        shipments_left=shipments_left,
        units_left=units_left,
        exclude=tuple(exclude),
        explain=explain,
        unit_surcharge=surcharge,
    )
    if costs is None or result.explanation is None:
        return result
    # explain the inventory-aware decision: what each unit taken protects, and the
    # cost-only (myopic) choice on the same stock when it differs
    myopic = net.router.route(
        order, atp, shipments_left=shipments_left, units_left=units_left, exclude=tuple(exclude)
    )
    assert surcharge is not None
    update: dict[str, Any] = {
        "opportunity": explain_units(costs, net, result.plan, used=(skus, surcharge), atp=atp)
    }
    if _takes(myopic.plan) != _takes(result.plan):
        update["myopic"] = MyopicChoice(
            chosen=[sh.node for sh in myopic.plan.shipments],
            cost=myopic.cost,
            cost_difference=result.cost - myopic.cost,
        )
    return dataclasses.replace(result, explanation=result.explanation.model_copy(update=update))


def _takes(plan: OrderPlan) -> set[tuple[str, str, int]]:
    """(node, sku, qty) of every line a plan takes."""
    return {(sh.node, ln.sku, ln.qty) for sh in plan.shipments for ln in sh.lines}


def _reserve(conn: Connection, order_id: str, shipments: list[LiveShipment]) -> None:
    """Take the plan's units and capacity with guarded updates; a lost race retries."""
    for sh in sorted(shipments, key=lambda x: x.node):  # one lock order: no deadlocks
        units = sum(ln.qty for ln in sh.lines)
        if not conn.execute(_TAKE_CAPACITY, {"n": sh.node, "u": units}).rowcount:
            raise RetryTransaction(f"capacity of {sh.node!r} taken meanwhile")
    rows = sorted((sh.node, ln.sku, ln.qty) for sh in shipments for ln in sh.lines)
    for node, sku, qty in rows:
        if not conn.execute(_TAKE_STOCK, {"n": node, "k": sku, "q": qty}).rowcount:
            raise RetryTransaction(f"stock of ({node!r}, {sku!r}) taken meanwhile")
    if rows:
        conn.execute(
            sa.insert(schema.reservations),
            [{"order_id": order_id, "node": nd, "sku": sk, "qty": q} for nd, sk, q in rows],
        )


def _release(
    conn: Connection, order_id: str, shipments: list[LiveShipment], *, shipped: bool
) -> None:
    """Give back shipments' reservations; ``shipped`` also takes the units off hand.

    Rows are locked in :func:`_reserve`'s order (nodes by id, then stock by node and sku),
    so that concurrent transactions on PostgreSQL cannot deadlock.
    """
    n, s, r = schema.nodes.c, schema.stock.c, schema.reservations.c
    for sh in sorted(shipments, key=lambda x: x.node):
        units = sum(ln.qty for ln in sh.lines)
        conn.execute(
            sa.update(schema.nodes)
            .where(n.id == sh.node)
            .values(open_shipments=n.open_shipments - 1, open_units=n.open_units - units)
        )
    for node, sku, qty in sorted((sh.node, ln.sku, ln.qty) for sh in shipments for ln in sh.lines):
        values: dict[str, Any] = {"reserved": s.reserved - qty}
        guard = [s.node == node, s.sku == sku, s.reserved >= qty]
        if shipped:
            values["on_hand"] = s.on_hand - qty
            guard.append(s.on_hand >= qty)
        done = conn.execute(sa.update(schema.stock).where(*guard).values(**values)).rowcount
        if not done:
            raise Conflict(
                f"({node!r}, {sku!r}) has fewer than {qty} units on hand: "
                "reject the shipment instead"
            )
        if shipped:
            log_stock_event(conn, node, sku, -qty, "fulfilment", order_id)
    if shipments:
        conn.execute(
            sa.delete(schema.reservations).where(
                r.order_id == order_id, r.node.in_([sh.node for sh in shipments])
            )
        )


def _lock_nodes(conn: Connection) -> None:
    """Lock every node row, in id order, before a transaction that releases and then
    reserves (reject): otherwise it could take node locks out of :func:`_reserve`'s order
    and deadlock with a concurrent routing. A no-op on SQLite (writers are serialized)."""
    n = schema.nodes.c
    conn.execute(sa.select(n.id).order_by(n.id).with_for_update()).all()


# -- the rest of an order's life ------------------------------------------------------


def get(conn: Connection, order_id: str) -> OrderAnswer:
    doc, state = _load(conn, order_id)
    return _answer(doc, state)


def cancel(conn: Connection, order_id: str) -> OrderAnswer:
    """Release every open reservation; shipments already fulfilled stay shipped."""
    doc, state = _load(conn, order_id, lock=True)
    if state == "cancelled":
        return _answer(doc, state)
    plan = LivePlan.model_validate(doc["plan"])
    if state == "fulfilled":
        raise Conflict(f"order {order_id!r} is fulfilled: nothing left to cancel")
    _release(conn, order_id, [sh for sh in plan.shipments if sh.state == "reserved"], shipped=False)
    shipments = [
        sh.model_copy(update={"state": "cancelled"}) if sh.state == "reserved" else sh
        for sh in plan.shipments
    ]
    plan = plan.model_copy(update={"shipments": shipments})
    return _save(conn, order_id, doc, plan, state="cancelled")


def fulfil(conn: Connection, order_id: str, body: NodeRef) -> OrderAnswer:
    """The node shipped (or handed over) its shipment: on hand and reserved both fall."""
    doc, state = _load(conn, order_id, lock=True)
    plan = LivePlan.model_validate(doc["plan"])
    sh = _open_shipment(plan, body.node, order_id, state)
    _release(conn, order_id, [sh], shipped=True)
    shipments = [
        x.model_copy(update={"state": "fulfilled"}) if x.node == body.node else x
        for x in plan.shipments
    ]
    plan = plan.model_copy(update={"shipments": shipments})
    return _save(conn, order_id, doc, plan)


def reject(
    conn: Connection,
    net: Network,
    order_id: str,
    body: NodeRef,
    opportunity: OpportunityCache | None = None,
) -> OrderAnswer:
    """The node cannot pick its shipment: release it and reroute without that node.

    Every shipment not yet fulfilled is released and the order's remaining units are
    routed again, optimally, without the nodes that rejected it (and without nodes that
    already shipped part of it: one shipment per order and node); with ``opportunity``,
    by the same inventory-aware objective as a new order.
    """
    doc, state = _load(conn, order_id, lock=True)
    plan = LivePlan.model_validate(doc["plan"])
    _open_shipment(plan, body.node, order_id, state)
    _lock_nodes(conn)
    _release(conn, order_id, [sh for sh in plan.shipments if sh.state == "reserved"], shipped=False)
    kept = [sh for sh in plan.shipments if sh.state == "fulfilled"]
    rejected = [*doc["rejected_nodes"], body.node]
    doc = {**doc, "rejected_nodes": rejected}
    order = Order.model_validate(doc["order"])
    shipped = Counter[str]()
    for sh in kept:
        for ln in sh.lines:
            shipped[ln.sku] += ln.qty
    remaining = [
        LineQty(sku=ln.sku, qty=ln.qty - shipped[ln.sku])
        for ln in order.lines
        if ln.qty > shipped[ln.sku]
    ]
    new_shipments: list[LiveShipment] = []
    unfilled = remaining
    if remaining and (order.allow_split or not kept):
        rest = Order.model_validate(
            {**order.model_dump(mode="json"), "lines": [r.model_dump() for r in remaining]}
        )
        unusable = [*rejected, *(sh.node for sh in kept)]
        # a pickup order's own store stays its pickup point even when it rejected (or
        # already handed over) its own-stock shipment: only its stock is ruled out
        point = order.pickup_node if order.method == "pickup" else None
        result = _route(
            conn,
            net,
            rest,
            exclude=[n for n in unusable if n != point],
            explain=False,
            no_stock=[n for n in unusable if n == point],
            opportunity=opportunity,
        )
        new_shipments = [
            LiveShipment(**s.model_dump(), state="reserved") for s in result.plan.shipments
        ]
        _reserve(conn, order_id, new_shipments)
        unfilled = list(result.plan.unfilled)
        record_decision(net, rest, new_shipments, result.seconds)
    shipments = kept + new_shipments
    penalty = sum(
        ln.qty * net.sku_by_id[ln.sku].unfilled_penalty if ln.sku in net.sku_by_id else 0.0
        for ln in unfilled
    )
    handling = sum(sh.cost.handling for sh in shipments if sh.cost)
    shipping = sum(sh.cost.shipping for sh in shipments if sh.cost)
    plan = LivePlan(
        order_id=order_id,
        status="fulfilled" if not unfilled else ("partial" if shipments else "unfilled"),
        shipments=shipments,
        unfilled=unfilled,
        cost=OrderCost(
            handling=handling,
            shipping=shipping,
            penalty=penalty,
            total=handling + shipping + penalty,
        ),
    )
    return _save(conn, order_id, doc, plan)


def return_units(conn: Connection, net: Network, order_id: str, body: Return) -> OrderAnswer:
    """Units of a fulfilled order come back to a node: sellable there again."""
    doc, state = _load(conn, order_id, lock=True)
    errors = []
    if body.node not in net.node_by_id:
        errors.append(FieldError("node", f"unknown node {body.node!r}"))
    shipped = Counter[str]()
    plan = LivePlan.model_validate(doc["plan"])
    for sh in plan.shipments:
        if sh.state == "fulfilled":
            for ln in sh.lines:
                shipped[ln.sku] += ln.qty
    back = Counter[str]()
    for ln in doc["returned"]:
        back[ln["sku"]] += ln["qty"]
    seen: set[str] = set()
    for j, ln in enumerate(body.lines):
        if ln.sku in seen:
            errors.append(FieldError(f"lines[{j}].sku", f"second line for sku {ln.sku!r}"))
        seen.add(ln.sku)
        if ln.qty > shipped[ln.sku] - back[ln.sku]:
            errors.append(
                FieldError(
                    f"lines[{j}].qty",
                    f"only {shipped[ln.sku] - back[ln.sku]} unit(s) of {ln.sku!r} were shipped "
                    "and not yet returned",
                )
            )
    if errors:
        raise BadInput(errors)
    s = schema.stock.c
    for ln in sorted(body.lines, key=lambda x: x.sku):  # stock rows in the one lock order
        done = conn.execute(
            sa.update(schema.stock)
            .where(s.node == body.node, s.sku == ln.sku)
            .values(on_hand=s.on_hand + ln.qty)
        ).rowcount
        if not done:
            conn.execute(
                sa.insert(schema.stock).values(
                    node=body.node, sku=ln.sku, on_hand=ln.qty, reserved=0, safety_stock=0
                )
            )
        log_stock_event(conn, body.node, ln.sku, ln.qty, "online_return", order_id)
        back[ln.sku] += ln.qty
    doc = {**doc, "returned": [{"sku": k, "qty": v} for k, v in sorted(back.items())]}
    return _save(conn, order_id, doc, plan, state=state)


# -- helpers ---------------------------------------------------------------------------


def _open_shipment(plan: LivePlan, node: str, order_id: str, state: str) -> LiveShipment:
    if state == "cancelled":
        raise Conflict(f"order {order_id!r} is cancelled")
    for sh in plan.shipments:
        if sh.node == node:
            if sh.state != "reserved":
                raise Conflict(f"the shipment from {node!r} is {sh.state} already")
            return sh
    raise NotFound(f"order {order_id!r} has no shipment from {node!r}")


def _state(plan: LivePlan) -> OrderState:
    states = {sh.state for sh in plan.shipments}
    if not states:
        return "unfilled"
    if "cancelled" in states and "reserved" not in states and "fulfilled" not in states:
        return "cancelled"
    if states == {"fulfilled"}:
        return "fulfilled"
    if "fulfilled" in states:
        return "partially_fulfilled"
    return "reserved"


def _load(conn: Connection, order_id: str, *, lock: bool = False) -> tuple[dict[str, Any], str]:
    """The order's document and state; ``lock`` (for a change) holds its row until commit,
    so that concurrent changes to one order run one after the other on PostgreSQL, each
    on the state the previous one left (not both on the same old state)."""
    o = schema.orders.c
    query = sa.select(o.doc, o.state).where(o.id == order_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    return dict(row.doc), str(row.state)


def _save(
    conn: Connection,
    order_id: str,
    doc: dict[str, Any],
    plan: LivePlan,
    state: str | None = None,
) -> OrderAnswer:
    new_state = state or _state(plan)
    doc = {**doc, "plan": plan.model_dump(mode="json")}
    o = schema.orders.c
    conn.execute(
        sa.update(schema.orders)
        .where(o.id == order_id)
        .values(doc=doc, state=new_state, updated_at=time.time())
    )
    return _answer(doc, new_state)


def _answer(doc: dict[str, Any], state: str, explanation: Any = None) -> OrderAnswer:
    return OrderAnswer.model_validate(
        {
            "plan": doc["plan"],
            "state": state,
            "rejected_nodes": doc["rejected_nodes"],
            "returned": doc["returned"],
            "explanation": explanation.model_dump(mode="json") if explanation else None,
        }
    )
