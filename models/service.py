"""Bodies of the service's API: the contract's shapes, plus the live state around them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from models._base import ContractModel, Id, NonNegInt
from models.explain import Explanation
from models.plan import LineQty, OrderCost, Shipment
from models.problem import Node, RateBand, Sku, StockRecord


class Network(ContractModel):
    """The contract's network lists; ``PUT /v1/network`` replaces all three."""

    nodes: list[Node]
    skus: list[Sku]
    rates: list[RateBand]


class InventoryUpdate(ContractModel):
    """``PUT /v1/inventory``: sets ``on_hand`` and ``safety_stock`` of the listed pairs.

    ``reserved`` is the engine's own (the sum of its open reservations); a value sent
    here is ignored.
    """

    inventory: list[StockRecord]


AdjustmentReason = Literal["receipt", "pos_sale", "in_store_return", "damage", "count_correction"]


class Adjustment(ContractModel):
    node: Id
    sku: Id
    delta: int = Field(strict=True)
    reason: AdjustmentReason


class Adjustments(ContractModel):
    adjustments: list[Adjustment] = Field(min_length=1)


class StockLevel(ContractModel):
    node: Id
    sku: Id
    on_hand: NonNegInt
    reserved: NonNegInt
    safety_stock: NonNegInt
    atp: NonNegInt


class Inventory(ContractModel):
    inventory: list[StockLevel]


class NodeAvailability(ContractModel):
    node: Id
    type: Literal["warehouse", "store"]
    distance_km: float
    atp: NonNegInt
    can_pickup: bool
    can_ship: bool


class Availability(ContractModel):
    sku: Id
    nodes: list[NodeAvailability]


ShipmentState = Literal["reserved", "fulfilled", "cancelled"]
OrderState = Literal["reserved", "partially_fulfilled", "fulfilled", "unfilled", "cancelled"]


class LiveShipment(Shipment):
    """A shipment of a routed order, with where it stands."""

    state: ShipmentState = "reserved"


class LivePlan(ContractModel):
    """The contract's per-order plan (``order_id``, ``status``, ``shipments``, ``unfilled``,
    ``cost``), each shipment carrying its state."""

    order_id: Id
    status: Literal["fulfilled", "partial", "unfilled"]
    shipments: list[LiveShipment]
    unfilled: list[LineQty]
    cost: OrderCost


class OrderAnswer(ContractModel):
    """What ``POST /v1/orders`` and ``GET /v1/orders/{id}`` return."""

    plan: LivePlan
    state: OrderState
    rejected_nodes: list[str] = Field(default_factory=list)
    returned: list[LineQty] = Field(default_factory=list)
    explanation: Explanation | None = None


class NodeRef(ContractModel):
    """Names the node of a shipment (fulfil, reject)."""

    node: Id


class Return(ContractModel):
    """Units of a fulfilled online order brought back to a node (usually a store)."""

    node: Id
    lines: list[LineQty] = Field(min_length=1)


class Health(ContractModel):
    status: Literal["ok", "unavailable"]


class SimulationRequest(ContractModel):
    """``POST /v1/simulations``: one scenario document, or several run on the same seeds
    (the first is the base). Documents are inline: the scenario file's YAML as JSON,
    without ``extends`` or ``network.file`` (see ``router.simulation.scenario``)."""

    scenario: dict[str, Any] | None = None
    scenarios: list[dict[str, Any]] | None = None


SimulationState = Literal["queued", "running", "done", "failed"]


class SimulationProgress(ContractModel):
    """Units of work done of ``total``: one per simulated day and hindsight bound per seed."""

    done: NonNegInt
    total: NonNegInt


class SimulationJob(ContractModel):
    """A simulation job: ``kpis`` is the ``kpis.json`` document once ``done``; ``error``
    says why when ``failed``."""

    id: Id
    state: SimulationState
    progress: SimulationProgress
    kpis: dict[str, Any] | None = None
    error: str | None = None


class ServiceErrorBody(ContractModel):
    error: str
    message: str
    errors: list[dict[str, str]] = Field(default_factory=list)


__all__ = [
    "Adjustment",
    "AdjustmentReason",
    "Adjustments",
    "Availability",
    "Health",
    "Inventory",
    "InventoryUpdate",
    "LivePlan",
    "LiveShipment",
    "Network",
    "NodeAvailability",
    "NodeRef",
    "OrderAnswer",
    "OrderState",
    "Return",
    "ServiceErrorBody",
    "ShipmentState",
    "SimulationJob",
    "SimulationProgress",
    "SimulationRequest",
    "SimulationState",
    "StockLevel",
]
