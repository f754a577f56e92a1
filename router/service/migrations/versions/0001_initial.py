"""The initial schema: network, stock, orders, reservations, idempotency keys, audit trail.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "inventory_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_version", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("order_capacity", sa.Integer(), nullable=True),
        sa.Column("unit_capacity", sa.Integer(), nullable=True),
        sa.Column("open_shipments", sa.Integer(), server_default="0", nullable=False),
        sa.Column("open_units", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("open_shipments >= 0", name="open_shipments_nonneg"),
        sa.CheckConstraint("open_units >= 0", name="open_units_nonneg"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "rates",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_table(
        "skus",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.CheckConstraint("qty > 0", name="qty_pos"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id", "node", "sku"),
    )
    op.create_index("reservations_by_stock", "reservations", ["node", "sku"], unique=False)
    op.create_table(
        "stock",
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default="0", nullable=False),
        sa.Column("safety_stock", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
        sa.CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        sa.CheckConstraint("safety_stock >= 0", name="safety_stock_nonneg"),
        sa.ForeignKeyConstraint(["node"], ["nodes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sku"], ["skus.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node", "sku"),
    )
    op.create_index("stock_by_sku", "stock", ["sku"], unique=False)
    op.execute("INSERT INTO meta (id, network_version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_index("stock_by_sku", table_name="stock")
    op.drop_table("stock")
    op.drop_index("reservations_by_stock", table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("skus")
    op.drop_table("rates")
    op.drop_table("orders")
    op.drop_table("nodes")
    op.drop_table("meta")
    op.drop_table("inventory_events")
    op.drop_table("idempotency")
