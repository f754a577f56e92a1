"""The routing contract as pydantic v2 models: the problem, the plan and bad-input errors."""

from models.errors import BadInput, FieldError
from models.plan import (
    LineQty,
    OrderCost,
    OrderPlan,
    OrderStatus,
    Plan,
    Shipment,
    ShipmentCost,
    SolverInfo,
    SolverStatus,
)
from models.problem import (
    Line,
    Node,
    Options,
    Order,
    Problem,
    RateBand,
    Sku,
    StockRecord,
    parse_problem,
    reference_errors,
)

__all__ = [
    "BadInput",
    "FieldError",
    "Line",
    "LineQty",
    "Node",
    "Options",
    "Order",
    "OrderCost",
    "OrderPlan",
    "OrderStatus",
    "Plan",
    "Problem",
    "RateBand",
    "Shipment",
    "ShipmentCost",
    "Sku",
    "SolverInfo",
    "SolverStatus",
    "StockRecord",
    "parse_problem",
    "reference_errors",
]
