"""The routing contract as pydantic v2 models: the problem, the plan and bad-input errors."""

from models.errors import BadInput, FieldError
from models.explain import REASONS, Alternative, Explanation, Reason
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
    "REASONS",
    "Alternative",
    "BadInput",
    "Explanation",
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
    "Reason",
    "Shipment",
    "ShipmentCost",
    "Sku",
    "SolverInfo",
    "SolverStatus",
    "StockRecord",
    "parse_problem",
    "reference_errors",
]
