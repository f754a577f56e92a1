"""Hypothesis strategies for small, valid routing problems in contract (JSON) form.

The problems are dicts exactly as a caller would send them: optional fields are sometimes
omitted, sometimes given as null (which means "use the default") and sometimes given, so
the defaults of the contract are exercised too. Every problem produced is valid input
(``models.parse_problem`` accepts it) and small enough for an exhaustive search.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# A box of about 1000 km × 930 km in central Europe, so that several rate bands are used.
LAT_RANGE = (45.0, 54.0)
LON_RANGE = (5.0, 18.0)

OMIT = "omit"
NULL = "null"
GIVE = "give"

lats = st.floats(*LAT_RANGE, allow_nan=False, allow_infinity=False)
lons = st.floats(*LON_RANGE, allow_nan=False, allow_infinity=False)
money = st.floats(0.0, 8.0, allow_nan=False, allow_infinity=False)


def _optional(
    draw: st.DrawFn,
    target: dict[str, Any],
    key: str,
    values: st.SearchStrategy[Any],
    *,
    nullable: bool = True,
    give_weight: int = 2,
) -> None:
    """Set ``target[key]`` to a drawn value, to null, or leave it out (the default applies)."""
    how = draw(st.sampled_from([GIVE] * give_weight + [OMIT] + ([NULL] if nullable else [])))
    if how == GIVE:
        target[key] = draw(values)
    elif how == NULL:
        target[key] = None


def effective_can_pickup(node: dict[str, Any]) -> bool:
    value = node.get("can_pickup")
    return node["type"] == "store" if value is None else bool(value)


@st.composite
def nodes(draw: st.DrawFn, node_id: str, *, enabled: bool | None = None) -> dict[str, Any]:
    """One node; ``enabled`` forces the flag (None: random, sometimes omitted)."""
    node: dict[str, Any] = {
        "id": node_id,
        "type": draw(st.sampled_from(["warehouse", "store"])),
        "lat": draw(lats),
        "lon": draw(lons),
    }
    _optional(draw, node, "can_ship", st.sampled_from([True, True, False]))
    _optional(draw, node, "can_pickup", st.booleans())
    if enabled is None:
        _optional(draw, node, "enabled", st.sampled_from([True, True, True, False]))
    else:
        node["enabled"] = enabled
    _optional(draw, node, "order_capacity", st.integers(0, 3), give_weight=1)
    _optional(draw, node, "unit_capacity", st.integers(0, 5), give_weight=1)
    _optional(draw, node, "handling_cost_per_shipment", money)
    _optional(draw, node, "handling_cost_per_unit", st.floats(0.0, 2.0, allow_nan=False))
    return node


@st.composite
def stock_records(draw: st.DrawFn, node_id: str, sku_id: str) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "node": node_id,
        "sku": sku_id,
        "on_hand": draw(st.sampled_from([2, 3, 1, 4, 0])),
    }
    _optional(draw, rec, "reserved", st.integers(0, 2), give_weight=1)
    _optional(draw, rec, "safety_stock", st.integers(0, 2), give_weight=1)
    return rec


@st.composite
def rate_bands(draw: st.DrawFn) -> list[dict[str, Any]]:
    """0–3 bands sorted by max_km; the last one sometimes without limit."""
    k = draw(st.sampled_from([3, 2, 1, 3, 2, 0]))
    limits: list[int | None] = []
    limits += sorted(draw(st.lists(st.integers(60, 1500), min_size=k, max_size=k)))
    if k and draw(st.sampled_from([True, True, False])):
        limits[-1] = None
    bands = []
    for max_km in limits:
        band: dict[str, Any] = {
            "max_km": max_km,
            "base": draw(money),
            "per_kg": draw(st.floats(0.0, 2.0, allow_nan=False)),
            "transit_days": draw(st.integers(0, 3)),
        }
        bands.append(band)
    return bands


@st.composite
def problems(
    draw: st.DrawFn,
    *,
    min_nodes: int = 1,
    max_nodes: int = 4,
    max_skus: int = 3,
    max_orders: int = 3,
    max_lines: int = 2,
    dense_stock: bool = False,
) -> dict[str, Any]:
    """A small valid contract problem (a JSON-like dict).

    ``dense_stock`` gives every node a stock record for every sku (many candidate nodes
    per order, as a wide network has), instead of about two thirds of them.
    """
    n_nodes = draw(st.integers(min_nodes, max_nodes))
    node_list = [draw(nodes(f"N{i}")) for i in range(n_nodes)]
    node_ids = [n["id"] for n in node_list]

    skus = []
    for j in range(draw(st.integers(1, max_skus))):
        sku: dict[str, Any] = {"id": f"K{j}"}
        _optional(draw, sku, "weight_kg", st.floats(0.0, 3.0, allow_nan=False))
        _optional(draw, sku, "store_eligible", st.sampled_from([True, False]))
        # Mostly small penalties so that leaving units unfilled is sometimes optimal.
        _optional(
            draw, sku, "unfilled_penalty", st.floats(5.0, 60.0, allow_nan=False), give_weight=6
        )
        skus.append(sku)
    sku_ids = [s["id"] for s in skus]

    inventory = [
        draw(stock_records(n, s))
        for n in node_ids
        for s in sku_ids
        if dense_stock or draw(st.sampled_from([True, True, False]))
    ]

    pickup_nodes = [n["id"] for n in node_list if effective_can_pickup(n)]
    orders = []
    for i in range(draw(st.integers(1, max_orders))):
        order: dict[str, Any] = {"id": f"O{i}"}
        method = draw(st.sampled_from(["ship", "pickup"])) if pickup_nodes else "ship"
        if method == "pickup":
            order["method"] = "pickup"
            order["pickup_node"] = draw(st.sampled_from(pickup_nodes))
            if draw(st.booleans()):  # ignored for pickup orders
                order["lat"], order["lon"] = draw(lats), draw(lons)
        else:
            _optional(draw, order, "method", st.just("ship"))
            order["lat"], order["lon"] = draw(lats), draw(lons)
            if draw(st.integers(0, 3)) == 0:  # ignored for ship orders
                order["pickup_node"] = draw(st.sampled_from(node_ids))
        line_skus = draw(
            st.lists(
                st.sampled_from(sku_ids),
                min_size=1,
                max_size=min(max_lines, len(sku_ids)),
                unique=True,
            )
        )
        order["lines"] = [{"sku": s, "qty": draw(st.integers(1, 3))} for s in line_skus]
        _optional(draw, order, "allow_split", st.booleans())
        _optional(draw, order, "allow_transfer", st.booleans())
        _optional(draw, order, "deliver_within_days", st.integers(0, 5), give_weight=1)
        _optional(
            draw,
            order,
            "excluded_nodes",
            st.lists(st.sampled_from(node_ids), max_size=1),
            give_weight=1,
        )
        orders.append(order)

    problem: dict[str, Any] = {
        "nodes": node_list,
        "skus": skus,
        "rates": draw(rate_bands()),
        "inventory": inventory,
        "orders": orders,
    }
    if draw(st.booleans()):
        problem["options"] = {"time_limit_s": 10.0}
    return problem
