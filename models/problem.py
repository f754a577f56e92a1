"""The routing problem of the contract (``shared/spec/routing-contract.md``) as pydantic models.

Field names, types and defaults follow the contract table for table. Structural checks
(types, ranges, NaN) live on the fields; checks that need the whole problem (unknown ids,
duplicates, pickup nodes, sorted rate bands) live in :func:`reference_errors`, and
:func:`parse_problem` reports both kinds together.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from models._base import ContractModel, Id, Latitude, Longitude, NonNegFloat, NonNegInt, PosInt
from models.errors import BadInput, FieldError, from_validation_error


class Node(ContractModel):
    """A place that can fulfil: a warehouse or a store."""

    id: Id
    type: Literal["warehouse", "store"]
    lat: Latitude
    lon: Longitude
    can_ship: bool = True
    can_pickup: bool | None = None  # resolved by type below
    enabled: bool = True
    order_capacity: NonNegInt | None = None
    unit_capacity: NonNegInt | None = None
    handling_cost_per_shipment: NonNegFloat = 0.0
    handling_cost_per_unit: NonNegFloat = 0.0

    @model_validator(mode="after")
    def _pickup_default(self) -> Node:
        if self.can_pickup is None:
            object.__setattr__(self, "can_pickup", self.type == "store")
        return self

    @property
    def pickup(self) -> bool:
        """``can_pickup`` with its type-dependent default applied."""
        return bool(self.can_pickup)


class Sku(ContractModel):
    id: Id
    weight_kg: NonNegFloat = 1.0
    store_eligible: bool = True
    unfilled_penalty: NonNegFloat = 1000.0


class RateBand(ContractModel):
    """The carrier's price for parcels up to ``max_km`` (null: no limit)."""

    max_km: NonNegFloat | None = None
    base: NonNegFloat
    per_kg: NonNegFloat
    transit_days: NonNegInt


class StockRecord(ContractModel):
    node: Id
    sku: Id
    on_hand: NonNegInt
    reserved: NonNegInt = 0
    safety_stock: NonNegInt = 0

    @property
    def atp(self) -> int:
        """Available to promise: ``max(0, on_hand − reserved − safety_stock)``."""
        return max(0, self.on_hand - self.reserved - self.safety_stock)


class Line(ContractModel):
    sku: Id
    qty: PosInt


class Order(ContractModel):
    """An online order. ``lat``/``lon`` matter for ``ship``, ``pickup_node`` for ``pickup``."""

    id: Id
    method: Literal["ship", "pickup"] = "ship"
    lat: float | None = None
    lon: float | None = None
    pickup_node: str | None = None
    lines: list[Line] = Field(min_length=1)
    allow_split: bool = True
    allow_transfer: bool = True
    deliver_within_days: NonNegInt | None = None
    excluded_nodes: list[Id] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _ignore_inapplicable(cls, data: Any) -> Any:
        """Fields that do not apply to the method are ignored, whatever they hold."""
        if isinstance(data, dict):
            method = data.get("method") or "ship"  # null takes the default
            if method == "pickup":
                data = {k: v for k, v in data.items() if k not in ("lat", "lon")}
            elif method == "ship":
                data = {k: v for k, v in data.items() if k != "pickup_node"}
        return data


class Options(ContractModel):
    time_limit_s: NonNegFloat = 10.0


class Problem(ContractModel):
    """A whole routing problem. Constructing one runs every contract check."""

    nodes: list[Node]
    skus: list[Sku]
    rates: list[RateBand]
    inventory: list[StockRecord]
    orders: list[Order]
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _references(self) -> Problem:
        errors = reference_errors(self.nodes, self.skus, self.rates, self.inventory, self.orders)
        if errors:
            raise BadInput(errors)
        return self


_LISTS: dict[str, type[ContractModel]] = {
    "nodes": Node,
    "skus": Sku,
    "rates": RateBand,
    "inventory": StockRecord,
    "orders": Order,
}


def _duplicates(items: list[Any], key: str, section: str) -> list[FieldError]:
    seen: set[str] = set()
    errors = []
    for i, item in enumerate(items):
        value = getattr(item, key)
        if value in seen and value != PLACEHOLDER:
            errors.append(FieldError(f"{section}[{i}].{key}", f"duplicate id {value!r}"))
        seen.add(value)
    return errors


def reference_errors(
    nodes: list[Node],
    skus: list[Sku],
    rates: list[RateBand],
    inventory: list[StockRecord],
    orders: list[Order],
    *,
    positions: dict[str, list[int]] | None = None,
    malformed_ids: dict[str, set[str]] | None = None,
) -> list[FieldError]:
    """Checks that need more than one field: ids, references, method rules, band order.

    ``positions`` maps each list to the original index of each item, and ``malformed_ids``
    names the ids of items dropped because they failed structural validation, so that
    references to them are not reported a second time as unknown.
    """
    pos = positions or {}
    malformed = malformed_ids or {}

    def at(section: str, i: int) -> int:
        return pos[section][i] if section in pos else i

    errors: list[FieldError] = []
    for section, items in (("nodes", nodes), ("skus", skus), ("orders", orders)):
        for err in _duplicates(items, "id", section):
            idx = int(err.path.split("[")[1].split("]")[0])
            errors.append(FieldError(f"{section}[{at(section, idx)}].id", err.message))
    node_by_id = {n.id: n for n in nodes}
    known_nodes: set[str] = malformed.get("nodes", set())
    known_nodes = known_nodes if isinstance(known_nodes, _Everything) else set(known_nodes)
    known_nodes |= {*node_by_id, PLACEHOLDER}
    sku_ids: set[str] = malformed.get("skus", set())
    sku_ids = sku_ids if isinstance(sku_ids, _Everything) else set(sku_ids)
    sku_ids |= {*(s.id for s in skus), PLACEHOLDER}

    previous = -math.inf
    for i, band in enumerate(rates):
        km = math.inf if band.max_km is None else band.max_km
        if km < previous:
            errors.append(
                FieldError(
                    f"rates[{at('rates', i)}].max_km",
                    "rate bands must be sorted by max_km (non-decreasing; null last)",
                )
            )
        previous = km

    pairs: set[tuple[str, str]] = set()
    for i, rec in enumerate(inventory):
        p = f"inventory[{at('inventory', i)}]"
        if rec.node not in known_nodes:
            errors.append(FieldError(f"{p}.node", f"unknown node {rec.node!r}"))
        if rec.sku not in sku_ids:
            errors.append(FieldError(f"{p}.sku", f"unknown sku {rec.sku!r}"))
        if (rec.node, rec.sku) in pairs and PLACEHOLDER not in (rec.node, rec.sku):
            errors.append(FieldError(p, f"second stock record for ({rec.node!r}, {rec.sku!r})"))
        pairs.add((rec.node, rec.sku))

    for i, order in enumerate(orders):
        errors += order_errors(
            order, f"orders[{at('orders', i)}]", node_by_id, known_nodes, sku_ids
        )
    return errors


def order_errors(
    order: Order,
    p: str,
    node_by_id: dict[str, Node],
    known_nodes: Collection[str],
    sku_ids: Collection[str],
) -> list[FieldError]:
    """The cross-checks of one order against the network; paths start with ``p``.

    Used by :func:`reference_errors` for whole problems and by the service for each order
    it routes (with the id sets built once per network), so both refuse the same things.
    """
    errors: list[FieldError] = []
    if order.method == "ship":
        for field, limit in (("lat", 90.0), ("lon", 180.0)):
            value = getattr(order, field)
            if value is None:
                errors.append(FieldError(f"{p}.{field}", "required when method is 'ship'"))
            elif not math.isfinite(value) or abs(value) > limit:
                errors.append(
                    FieldError(f"{p}.{field}", f"must be a number in [-{limit:g}, {limit:g}]")
                )
    else:
        if order.pickup_node is None:
            errors.append(FieldError(f"{p}.pickup_node", "required when method is 'pickup'"))
        elif order.pickup_node not in known_nodes:
            errors.append(FieldError(f"{p}.pickup_node", f"unknown node {order.pickup_node!r}"))
        elif order.pickup_node in node_by_id and not node_by_id[order.pickup_node].pickup:
            errors.append(
                FieldError(f"{p}.pickup_node", f"node {order.pickup_node!r} cannot take pickups")
            )
    seen_skus: set[str] = set()
    for j, line in enumerate(order.lines):
        if line.sku not in sku_ids:
            errors.append(FieldError(f"{p}.lines[{j}].sku", f"unknown sku {line.sku!r}"))
        if line.sku in seen_skus:
            errors.append(FieldError(f"{p}.lines[{j}].sku", f"second line for sku {line.sku!r}"))
        seen_skus.add(line.sku)
    for j, node_id in enumerate(order.excluded_nodes):
        if node_id not in known_nodes:
            errors.append(FieldError(f"{p}.excluded_nodes[{j}]", f"unknown node {node_id!r}"))
    return errors


PLACEHOLDER = "\x00malformed"
"""Stands in for an id that failed validation, so that cross-checks skip it silently."""

_REQUIRED_STANDINS: dict[str, Any] = {
    "id": PLACEHOLDER,
    "node": PLACEHOLDER,
    "sku": PLACEHOLDER,
    "type": "store",
    "lat": 0.0,
    "lon": 0.0,
    "on_hand": 0,
    "lines": [{"sku": PLACEHOLDER, "qty": 1}],
}


class _Everything(set[str]):
    """The ids of a section that is missing altogether: every reference to it is excused."""

    def __contains__(self, item: object) -> bool:
        return True


def _salvage(model: type[ContractModel], item: Any, exc: ValidationError) -> Any | None:
    """The item with each offending field replaced by a harmless stand-in, or None.

    Lets the cross-checks still look at the item's other fields, so that an order with a
    bad quantity still has its unknown sku reported.
    """
    if not isinstance(item, dict):
        return None
    fixed = dict(item)
    for err in exc.errors():
        loc = err["loc"]
        if not loc or not isinstance(loc[0], str):
            return None
        field = loc[0]
        lines = fixed.get("lines")
        if (
            field == "lines"
            and len(loc) >= 2
            and isinstance(loc[1], int)
            and isinstance(lines, list)
        ):
            line = lines[loc[1]] if isinstance(lines[loc[1]], dict) else {}
            sku = line.get("sku") if isinstance(line.get("sku"), str) else PLACEHOLDER
            if len(loc) >= 3 and loc[2] == "sku":
                sku = PLACEHOLDER
            fixed["lines"] = [*lines[: loc[1]], {"sku": sku, "qty": 1}, *lines[loc[1] + 1 :]]
        elif field in _REQUIRED_STANDINS:
            fixed[field] = _REQUIRED_STANDINS[field]
        elif field in model.model_fields and not model.model_fields[field].is_required():
            fixed.pop(field, None)
        else:
            return None
    try:
        return TypeAdapter(model).validate_python(fixed)
    except (ValidationError, BadInput):
        return None


def parse_problem(data: Any) -> Problem:
    """Validate raw (JSON-decoded) data into a :class:`Problem` or raise :class:`BadInput`.

    When some items are malformed, the well-formed rest is still cross-checked, so one
    answer lists every error the caller must fix.
    """
    try:
        return Problem.model_validate(data)
    except ValidationError as exc:
        errors = from_validation_error(exc)
    if not isinstance(data, dict):
        raise BadInput(errors)
    good: dict[str, list[Any]] = {}
    positions: dict[str, list[int]] = {}
    malformed: dict[str, set[str]] = {}
    for section, model in _LISTS.items():
        raw = data.get(section)
        good[section], positions[section], malformed[section] = [], [], set()
        if not isinstance(raw, list):
            malformed[section] = _Everything()
            continue
        adapter = TypeAdapter(model)
        for i, item in enumerate(raw):
            try:
                good[section].append(adapter.validate_python(item))
                positions[section].append(i)
            except ValidationError as exc:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    malformed[section].add(item["id"])
                salvaged = _salvage(model, item, exc) if section != "rates" else None
                if salvaged is not None:
                    good[section].append(salvaged)
                    positions[section].append(i)
    errors += reference_errors(
        good["nodes"],
        good["skus"],
        good["rates"],
        good["inventory"],
        good["orders"],
        positions=positions,
        malformed_ids=malformed,
    )
    raise BadInput(errors)
