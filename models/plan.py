"""The plan of the contract: shipments per order, unfilled units, costs and solver status."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models._base import ContractModel, Id, NonNegInt, PosInt


class LineQty(ContractModel):
    sku: Id
    qty: PosInt


class ShipmentCost(ContractModel):
    handling: float
    shipping: float
    total: float


class OrderCost(ContractModel):
    handling: float
    shipping: float
    penalty: float
    total: float


class Shipment(ContractModel):
    """The units one order takes from one node. Priced fields may be omitted on input."""

    node: Id
    lines: list[LineQty]
    distance_km: float | None = None
    transit_days: NonNegInt | None = None
    cost: ShipmentCost | None = None


OrderStatus = Literal["fulfilled", "partial", "unfilled"]
SolverStatus = Literal["optimal", "feasible", "error"]


class OrderPlan(ContractModel):
    order_id: Id
    status: OrderStatus | None = None
    shipments: list[Shipment] = Field(default_factory=list)
    unfilled: list[LineQty] = Field(default_factory=list)
    cost: OrderCost | None = None


class SolverInfo(ContractModel):
    """Who solved the problem, how it ended, and the proven lower bound (or null)."""

    name: str
    status: SolverStatus
    bound: float | None = None
    seconds: float = 0.0
    gap: float | None = None


class Plan(ContractModel):
    orders: list[OrderPlan]
    cost: OrderCost | None = None
    solver: SolverInfo | None = None
