"""Prometheus metrics: requests, latency, routing decisions by fulfilment type, solver time.

Kept per process (prometheus_client's default registry); with several workers, scrape
each or aggregate in Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from models import Order
from models.service import LiveShipment
from router.service.network import Network

REQUESTS = Counter(
    "router_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "router_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
)
DECISIONS = Counter(
    "router_shipments_total",
    "Shipments planned, by fulfilment type",
    ["fulfilment"],
)
UNFILLED = Counter("router_unfilled_units_total", "Units left unfilled when routing")
SOLVER = Histogram(
    "router_solver_seconds",
    "Time in the single-order solver per routing call",
    buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1),
)

FULFILMENT_TYPES = ("warehouse", "ship_from_store", "pickup_in_store", "transfer_to_pickup")


def fulfilment_type(net: Network, order: Order, shipment: LiveShipment) -> str:
    """Which of :data:`FULFILMENT_TYPES` one shipment is."""
    if order.method == "pickup":
        return "pickup_in_store" if shipment.node == order.pickup_node else "transfer_to_pickup"
    node = net.node_by_id.get(shipment.node)
    return "ship_from_store" if node is not None and node.type == "store" else "warehouse"


def record_decision(
    net: Network, order: Order, shipments: Iterable[LiveShipment], seconds: float
) -> None:
    planned = 0
    for sh in shipments:
        DECISIONS.labels(fulfilment_type(net, order, sh)).inc()
        planned += sum(ln.qty for ln in sh.lines)
    wanted = sum(ln.qty for ln in order.lines)
    if wanted > planned:
        UNFILLED.inc(wanted - planned)
    SOLVER.observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
