"""The live state's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Alembic's migrations in ``migrations/`` create them; this module is what the code reads
and writes through. Stock arithmetic is guarded in SQL (``CHECK`` constraints and
``WHERE atp >= q`` updates), so the database itself refuses an oversell.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("network_version", sa.Integer, nullable=False, server_default="0"),
)
"""One row. ``network_version`` changes with every network replacement, so each worker
knows when its compiled copy of the network is stale."""

nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("order_capacity", sa.Integer, nullable=True),
    sa.Column("unit_capacity", sa.Integer, nullable=True),
    sa.Column("open_shipments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("open_units", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("open_shipments >= 0", name="open_shipments_nonneg"),
    sa.CheckConstraint("open_units >= 0", name="open_units_nonneg"),
)
"""A node's contract fields are kept as a document; the capacities and the open work
they limit (reserved, not yet fulfilled shipments and units) are columns, for guarded
updates."""

skus = sa.Table(
    "skus",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("doc", sa.JSON, nullable=False),
)

rates = sa.Table(
    "rates",
    metadata,
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
)

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("node", sa.String, sa.ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.String, sa.ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("on_hand", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
    sa.Column("safety_stock", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
    sa.CheckConstraint("reserved >= 0", name="reserved_nonneg"),
    sa.CheckConstraint("safety_stock >= 0", name="safety_stock_nonneg"),
    sa.Index("stock_by_sku", "sku", "node", "on_hand", "reserved", "safety_stock"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
"""``doc`` holds the order as received, its current plan (shipments with their state),
the nodes that rejected it and the units returned."""

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column(
        "order_id", sa.String, sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("node", sa.String, primary_key=True),
    sa.Column("sku", sa.String, primary_key=True),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.CheckConstraint("qty > 0", name="qty_pos"),
    sa.Index("reservations_by_stock", "node", "sku"),
)
"""Open reservations only: ``stock.reserved`` is always the sum of these per (node, sku)."""

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("request_hash", sa.String, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

inventory_events = sa.Table(
    "inventory_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("node", sa.String, nullable=False),
    sa.Column("sku", sa.String, nullable=False),
    sa.Column("delta", sa.Integer, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("ref", sa.String, nullable=True),
)
"""Audit trail of every change to on-hand stock: adjustments, fulfilments, returns."""
