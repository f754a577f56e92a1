"""``POST /v1/rebalance/plan``: a rebalancing plan over the live stock.

Stock is each (node, sku)'s available-to-promise (reserved units and safety stock never
move). The forecast is the service's order history (every order it has routed, whatever its
state): each sku's units per day by node catchment (ship orders to the node nearest the
address, pickup orders at their pickup node), the history's span counted as at least one
day (see :func:`router.inventory.rebalance.catchment_forecast`). With no history, a uniform
prior: each sku's available units sell evenly over 30 days across the catchments of all
enabled nodes (:func:`router.inventory.rebalance.uniform_prior`). The plan itself is
:func:`router.inventory.rebalance.plan_rebalance` (its cost model is documented there).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import Connection

from models import Order
from models._base import ContractModel, NonNegInt
from router.inventory.rebalance import (
    RebalanceInput,
    catchment_forecast,
    plan_rebalance,
    uniform_prior,
)
from router.service import inventory, schema
from router.service.network import Network

DAY_SECONDS = 86_400.0


class RebalanceRequest(ContractModel):
    """What to plan for: the horizon, the transfers' lead time and lane capacities."""

    horizon_days: Annotated[int, Field(ge=1, le=90, strict=True)] = 7
    lead_days: Annotated[int, Field(ge=0, le=30, strict=True)] = 1
    lane_capacity: NonNegInt | None = None
    outbound_capacity: NonNegInt | None = None


class ProtectedDemand(ContractModel):
    """Expected units of the transfer's sku in ``region`` on days ``days[0]..days[1]``."""

    region: str
    expected_units: NonNegInt
    days: list[NonNegInt]


class PlannedTransfer(ContractModel):
    from_node: str
    to_node: str
    sku: str
    qty: NonNegInt
    cost: float
    protects: list[ProtectedDemand]


class RebalancePlanAnswer(ContractModel):
    transfers: list[PlannedTransfer]
    expected_cost_before: float
    expected_cost_after: float
    expected_saving: float
    horizon_days: NonNegInt
    lead_days: NonNegInt
    forecast: Literal["history", "prior"]


def _history(conn: Connection) -> tuple[list[Order], float]:
    o = schema.orders.c
    rows = conn.execute(sa.select(o.doc, o.created_at)).all()
    if not rows:
        return [], 0.0
    orders = [Order.model_validate(r.doc["order"]) for r in rows]
    span = (time.time() - min(float(r.created_at) for r in rows)) / DAY_SECONDS
    return orders, max(span, 1.0)


def plan(conn: Connection, net: Network, req: RebalanceRequest) -> RebalancePlanAnswer:
    levels = inventory.levels(conn)
    stock = {(lv.node, lv.sku): lv.atp for lv in levels if lv.atp > 0}
    orders, days = _history(conn)
    lead = min(req.lead_days, req.horizon_days)
    if orders:
        regions, demand = catchment_forecast(net.nodes, orders, days, req.horizon_days, lead)
        source: Literal["history", "prior"] = "history"
    else:
        regions, demand = uniform_prior(net.nodes, stock, req.horizon_days, lead)
        source = "prior"
    result = plan_rebalance(
        RebalanceInput(
            nodes=net.nodes,
            skus=net.skus,
            rates=net.rates,
            stock=stock,
            regions=regions,
            demand=demand,
            horizon_days=req.horizon_days,
            lead_days=lead,
            lane_capacity=req.lane_capacity,
            outbound_capacity=req.outbound_capacity,
        )
    )
    return RebalancePlanAnswer(
        transfers=[
            PlannedTransfer(
                from_node=t.from_node,
                to_node=t.to_node,
                sku=t.sku,
                qty=t.qty,
                cost=t.cost,
                protects=[
                    ProtectedDemand(
                        region=p.region, expected_units=p.expected_units, days=list(p.days)
                    )
                    for p in t.protects
                ],
            )
            for t in result.transfers
        ],
        expected_cost_before=result.expected_cost_before,
        expected_cost_after=result.expected_cost_after,
        expected_saving=result.expected_saving,
        horizon_days=result.horizon_days,
        lead_days=result.lead_days,
        forecast=source,
    )
