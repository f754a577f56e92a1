"""Inventory optimization: forecasting, inventory-aware routing, rebalancing, protection."""
