"""Stock by sku as a covering index: routing reads (node, atp) of an order's skus at every
node, and the covering index answers that without touching the table.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("stock_by_sku", table_name="stock")
    op.create_index("stock_by_sku", "stock", ["sku", "node", "on_hand", "reserved", "safety_stock"])


def downgrade() -> None:
    op.drop_index("stock_by_sku", table_name="stock")
    op.create_index("stock_by_sku", "stock", ["sku"])
