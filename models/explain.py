"""Why a single order went where it went: the answer to an operator's "why this store?".

An :class:`Explanation` names the nodes the chosen plan uses and lists a few
:class:`Alternative` nodes. Each alternative is priced the same way for every node, so the
list can be compared at a glance: ``cost`` is the contract price of shipping the *whole
order from that node alone, in one shipment*, as if the node had the stock and the rules
allowed it (handling + band price over the distance; handling only for the pickup node's
own stock). ``feasible`` says whether that one shipment would actually be valid now, and
``reasons`` says why not, from the fixed list :data:`REASONS` (meanings in
:data:`REASON_TEXT`). A feasible alternative never costs less than the chosen plan (the
chosen plan is optimal), so every cheaper alternative carries its reasons.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from models._base import ContractModel, Id

Reason = Literal[
    "no_stock",
    "capacity",
    "promise",
    "excluded",
    "disabled",
    "cannot_ship",
    "store_ineligible",
    "out_of_range",
    "transfer_not_allowed",
    "pickup_unservable",
    "no_split",
]
REASONS: tuple[str, ...] = get_args(Reason)
"""Every reason an alternative may carry, in the order they are listed."""

REASON_TEXT: dict[str, str] = {
    "no_stock": "available-to-promise is short of some line's quantity",
    "capacity": "no order capacity left, or less unit capacity left than the order's units",
    "promise": "transit days exceed the order's deliver_within_days",
    "excluded": "the node is excluded for this order (excluded_nodes, or rejected it)",
    "disabled": "the node is disabled",
    "cannot_ship": "the node cannot ship (can_ship is false)",
    "store_ineligible": "a store cannot ship one of the order's skus (store_eligible is false)",
    "out_of_range": "no rate band reaches this distance (cost is then unknown)",
    "transfer_not_allowed": "a pickup order without allow_transfer takes only its pickup node",
    "pickup_unservable": "the order's pickup node is disabled or excluded: nothing can be served",
    "no_split": "the node holds only part of the order and the order may not be split",
}
"""What each reason means; kept next to :data:`REASONS` so that docs cannot drift."""


class Alternative(ContractModel):
    """A node the order could have gone to, priced as the whole order from it alone."""

    node: Id
    cost: float | None = None
    cost_difference: float | None = None  # cost − the chosen plan's cost
    feasible: bool
    reasons: list[Reason] = Field(default_factory=list)


class Protects(ContractModel):
    """Expected demand that a node's units are kept for: ``expected_units`` of the sku in
    ``region`` over the forecast horizon, ``days`` of that region's expected demand."""

    region: str
    expected_units: float
    days: float | None = None


class UnitOpportunity(ContractModel):
    """The opportunity cost of the units the plan takes from one (node, sku): the per-unit
    cost the inventory-aware decision added, and the demand those units would have served."""

    node: Id
    sku: Id
    units: int
    opportunity_cost: float  # per unit, as used in the decision
    protects: list[Protects] = Field(default_factory=list)


class MyopicChoice(ContractModel):
    """What plain cost-only (myopic) routing would have chosen, when it differs."""

    chosen: list[Id]
    cost: float
    cost_difference: float  # the chosen plan's cost − the myopic plan's cost


class Explanation(ContractModel):
    """The nodes used by the chosen plan and the cheapest alternatives, cheapest first.

    With inventory-aware routing, ``opportunity`` gives the opportunity cost of every
    (node, sku) the plan takes and what it protects, and ``myopic`` the cost-only choice
    when it differs (both empty otherwise)."""

    chosen: list[Id]
    alternatives: list[Alternative] = Field(default_factory=list)
    opportunity: list[UnitOpportunity] = Field(default_factory=list)
    myopic: MyopicChoice | None = None


__all__ = [
    "REASONS",
    "REASON_TEXT",
    "Alternative",
    "Explanation",
    "MyopicChoice",
    "Protects",
    "Reason",
    "UnitOpportunity",
]
