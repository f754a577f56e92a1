"""Network, stock and availability: the state that orders are routed against.

Functions here run inside a transaction the caller opened (:class:`~router.service.store.Store`)
and either finish or raise before anything is committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import (
    BadInput,
    FieldError,
    Node,
    RateBand,
    Sku,
    StockRecord,
    reference_errors,
)
from models.service import (
    Adjustments,
    Availability,
    Inventory,
    InventoryUpdate,
    Network,
    NodeAvailability,
    StockLevel,
)
from router.geo import haversine_km
from router.service import schema
from router.service.errors import Conflict
from router.service.network import Network as CompiledNetwork
from router.service.network import network_version, read_network


def atp_expr() -> sa.ColumnElement[int]:
    """``on_hand − reserved − safety_stock``, floored at 0 by the caller."""
    s = schema.stock.c
    return s.on_hand - s.reserved - s.safety_stock


def replace_network(conn: Connection, net: Network) -> int:
    """Replace nodes, skus and rates; stock of nodes or skus that are gone is dropped.

    Refused (nothing changed) when a node or sku that would go still holds open
    reservations: those orders must be cancelled or fulfilled first.
    """
    _refuse_bad_references(net.nodes, net.skus, net.rates, [])
    node_ids = {n.id for n in net.nodes}
    sku_ids = {s.id for s in net.skus}
    r = schema.reservations.c
    held = conn.execute(sa.select(r.node, r.sku).distinct()).all()
    gone = sorted(
        {n for n, _ in held if n not in node_ids} | {s for _, s in held if s not in sku_ids}
    )
    if gone:
        raise Conflict(
            f"open reservations still hold {', '.join(map(repr, gone[:5]))}"
            f"{' and more' if len(gone) > 5 else ''}: cancel or fulfil those orders first"
        )
    conn.execute(sa.delete(schema.stock).where(schema.stock.c.node.not_in(node_ids)))
    conn.execute(sa.delete(schema.stock).where(schema.stock.c.sku.not_in(sku_ids)))
    n = schema.nodes.c
    open_work = {
        row.id: (row.open_shipments, row.open_units)
        for row in conn.execute(sa.select(n.id, n.open_shipments, n.open_units))
    }
    conn.execute(sa.delete(schema.nodes).where(n.id.not_in(node_ids)))
    conn.execute(sa.delete(schema.skus).where(schema.skus.c.id.not_in(sku_ids)))
    conn.execute(sa.delete(schema.rates))
    for i, node in enumerate(net.nodes):
        values = {
            "position": i,
            "doc": node.model_dump(mode="json"),
            "order_capacity": node.order_capacity,
            "unit_capacity": node.unit_capacity,
        }
        if node.id in open_work:
            conn.execute(sa.update(schema.nodes).where(n.id == node.id).values(**values))
        else:
            conn.execute(sa.insert(schema.nodes).values(id=node.id, **values))
    existing_skus = set(conn.execute(sa.select(schema.skus.c.id)).scalars())
    for i, sku in enumerate(net.skus):
        values = {"position": i, "doc": sku.model_dump(mode="json")}
        if sku.id in existing_skus:
            conn.execute(sa.update(schema.skus).where(schema.skus.c.id == sku.id).values(**values))
        else:
            conn.execute(sa.insert(schema.skus).values(id=sku.id, **values))
    if net.rates:
        conn.execute(
            sa.insert(schema.rates),
            [{"position": i, "doc": b.model_dump(mode="json")} for i, b in enumerate(net.rates)],
        )
    version = network_version(conn) + 1
    conn.execute(sa.update(schema.meta).values(network_version=version))
    return version


def get_network(conn: Connection) -> Network:
    net = read_network(conn)
    return Network(nodes=net.nodes, skus=net.skus, rates=net.rates)


def set_inventory(conn: Connection, net: CompiledNetwork, update: InventoryUpdate) -> int:
    """Set ``on_hand`` and ``safety_stock`` of each listed (node, sku); keep ``reserved``."""
    _refuse_bad_references(net.nodes, net.skus, [], update.inventory)
    s = schema.stock.c
    now = time.time()
    listed = {(r.node, r.sku): r for r in update.inventory}
    old: dict[tuple[str, str], int] = {}
    nodes = sorted({node for node, _ in listed})
    for i in range(0, len(nodes), 500):  # bounded IN lists
        query = sa.select(s.node, s.sku, s.on_hand).where(s.node.in_(nodes[i : i + 500]))
        for node, sku, on_hand in conn.execute(query).all():
            if (node, sku) in listed:
                old[(node, sku)] = on_hand
    new_rows = [
        {
            "node": r.node,
            "sku": r.sku,
            "on_hand": r.on_hand,
            "reserved": 0,
            "safety_stock": r.safety_stock,
        }
        for key, r in listed.items()
        if key not in old
    ]
    changed = [
        {"n": r.node, "k": r.sku, "h": r.on_hand, "ss": r.safety_stock}
        for key, r in listed.items()
        if key in old
    ]
    if new_rows:
        conn.execute(sa.insert(schema.stock), new_rows)
    if changed:
        conn.execute(
            sa.update(schema.stock)
            .where(s.node == sa.bindparam("n"), s.sku == sa.bindparam("k"))
            .values(on_hand=sa.bindparam("h"), safety_stock=sa.bindparam("ss")),
            changed,
        )
    events = [
        {
            "at": now,
            "node": r.node,
            "sku": r.sku,
            "delta": r.on_hand - old.get(key, 0),
            "reason": "set",
            "ref": None,
        }
        for key, r in listed.items()
        if r.on_hand != old.get(key, 0)
    ]
    if events:
        conn.execute(sa.insert(schema.inventory_events), events)
    return len(update.inventory)


def adjust(conn: Connection, net: CompiledNetwork, body: Adjustments) -> list[StockLevel]:
    """Apply signed on-hand deltas; refused whole if any would leave on-hand negative."""
    errors: list[FieldError] = []
    for i, adj in enumerate(body.adjustments):
        if adj.node not in net.node_by_id:
            errors.append(FieldError(f"adjustments[{i}].node", f"unknown node {adj.node!r}"))
        if adj.sku not in net.sku_by_id:
            errors.append(FieldError(f"adjustments[{i}].sku", f"unknown sku {adj.sku!r}"))
    if errors:
        raise BadInput(errors)
    s = schema.stock.c
    now = time.time()
    touched: dict[tuple[str, str], None] = {}
    for i, adj in enumerate(body.adjustments):
        done = conn.execute(
            sa.update(schema.stock)
            .where(s.node == adj.node, s.sku == adj.sku, s.on_hand + adj.delta >= 0)
            .values(on_hand=s.on_hand + adj.delta)
        ).rowcount
        if not done:
            exists = conn.execute(
                sa.select(s.on_hand).where(s.node == adj.node, s.sku == adj.sku)
            ).scalar_one_or_none()
            if exists is None and adj.delta >= 0:
                conn.execute(
                    sa.insert(schema.stock).values(
                        node=adj.node, sku=adj.sku, on_hand=adj.delta, reserved=0, safety_stock=0
                    )
                )
            else:
                have = exists or 0
                raise BadInput(
                    [
                        FieldError(
                            f"adjustments[{i}].delta",
                            f"would leave on_hand of ({adj.node!r}, {adj.sku!r}) negative "
                            f"({have} {adj.delta:+d})",
                        )
                    ]
                )
        _log(conn, now, adj.node, adj.sku, adj.delta, adj.reason)
        touched[(adj.node, adj.sku)] = None
    return levels(conn, pairs=list(touched))


def levels(
    conn: Connection,
    node: str | None = None,
    sku: str | None = None,
    pairs: Iterable[tuple[str, str]] | None = None,
) -> list[StockLevel]:
    """Stock levels, optionally of one node, one sku or the listed (node, sku) pairs."""
    s = schema.stock.c
    query = sa.select(s.node, s.sku, s.on_hand, s.reserved, s.safety_stock).order_by(s.node, s.sku)
    if node is not None:
        query = query.where(s.node == node)
    if sku is not None:
        query = query.where(s.sku == sku)
    if pairs is None:
        rows = list(conn.execute(query))
    else:
        wanted = sorted(set(pairs))
        rows = []
        for i in range(0, len(wanted), _PAIRS_PER_QUERY):  # drivers cap bound parameters
            chunk = wanted[i : i + _PAIRS_PER_QUERY]
            rows += conn.execute(query.where(sa.tuple_(s.node, s.sku).in_(chunk))).all()
        rows.sort(key=lambda r: (r.node, r.sku))
    return [
        StockLevel(
            node=r.node,
            sku=r.sku,
            on_hand=r.on_hand,
            reserved=r.reserved,
            safety_stock=r.safety_stock,
            atp=max(0, r.on_hand - r.reserved - r.safety_stock),
        )
        for r in rows
    ]


_PAIRS_PER_QUERY = 1000


def inventory(conn: Connection, node: str | None, sku: str | None) -> Inventory:
    return Inventory(inventory=levels(conn, node=node, sku=sku))


def availability(
    conn: Connection, net: CompiledNetwork, sku: str, lat: float, lon: float, radius_km: float
) -> Availability:
    """ATP of ``sku`` at each enabled node within ``radius_km`` of a point, nearest first."""
    errors = []
    if sku not in net.sku_by_id:
        errors.append(FieldError("sku", f"unknown sku {sku!r}"))
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if not np.isfinite(value) or abs(value) > limit:
            errors.append(FieldError(name, f"must be a number in [-{limit:g}, {limit:g}]"))
    if not np.isfinite(radius_km) or radius_km < 0:
        errors.append(FieldError("radius_km", "must be a number ≥ 0"))
    if errors:
        raise BadInput(errors)
    s = schema.stock.c
    rows = conn.execute(
        sa.select(s.node, atp_expr().label("atp")).where(s.sku == sku, atp_expr() > 0)
    ).all()
    found = []
    data = net.data
    for node_id, atp in rows:
        node = net.node_by_id[node_id]
        if not node.enabled:
            continue
        i = data.node_index[node_id]
        d = float(haversine_km(data.node_lat[i], data.node_lon[i], lat, lon))
        if d <= radius_km:
            found.append(
                NodeAvailability(
                    node=node_id,
                    type=node.type,
                    distance_km=d,
                    atp=int(atp),
                    can_pickup=node.pickup,
                    can_ship=node.can_ship,
                )
            )
    found.sort(key=lambda a: (a.distance_km, a.node))
    return Availability(sku=sku, nodes=found)


def _log(
    conn: Connection,
    at: float,
    node: str,
    sku: str,
    delta: int,
    reason: str,
    ref: str | None = None,
) -> None:
    conn.execute(
        sa.insert(schema.inventory_events).values(
            at=at, node=node, sku=sku, delta=delta, reason=reason, ref=ref
        )
    )


def log_stock_event(
    conn: Connection, node: str, sku: str, delta: int, reason: str, ref: str | None = None
) -> None:
    """Record an on-hand change made elsewhere (fulfilment, return) in the audit trail."""
    _log(conn, time.time(), node, sku, delta, reason, ref)


def _refuse_bad_references(
    nodes: list[Node], skus: list[Sku], rates: list[RateBand], inventory: list[StockRecord]
) -> None:
    """The contract's cross-checks (ids, references, band order) on models whose fields
    pydantic has already validated; paths as in the request body."""
    errors = reference_errors(nodes, skus, rates, inventory, [])
    if errors:
        raise BadInput(errors)
