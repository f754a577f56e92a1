"""The routing service: one object that the API, the CLI and the tests all call.

It owns the store and this worker's compiled network, opens one transaction per call and
translates nothing to HTTP (``api.py`` does that). Inputs may be models or plain
JSON-decoded data; either way bad input raises :class:`models.BadInput` with paths.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Connection

from models import BadInput, Plan, Problem, parse_problem
from models.errors import from_validation_error
from models.service import (
    Adjustments,
    Availability,
    Inventory,
    InventoryUpdate,
    Network,
    NodeRef,
    OrderAnswer,
    Return,
    SimulationJob,
    SimulationRequest,
    StockLevel,
)
from router.batch import optimize
from router.result import SolveParams
from router.service import inventory, orders, schema
from router.service.errors import Conflict
from router.service.network import NetworkCache
from router.service.opportunity import OpportunityCache
from router.service.settings import Settings
from router.service.simulations import SimulationJobs
from router.service.store import Store

M = TypeVar("M", bound=BaseModel)

MAX_OPTIMIZE_SECONDS = 60.0


def parse(model: type[M], raw: Any) -> M:
    """``raw`` as ``model``, or :class:`BadInput` naming every offending field."""
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(from_validation_error(exc)) from None


def request_hash(body: Any, **flags: Any) -> str:
    """A fingerprint of a request, for idempotent replays: same body, same hash."""
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", exclude_unset=True)
    text = json.dumps({"body": body, "flags": flags}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class RoutingService:
    """Live inventory and order routing over one database."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store or Store(self.settings)
        self.store.migrate()
        self.networks = NetworkCache()
        self.simulations = SimulationJobs(workers=1)
        st = self.settings
        self.opportunity = (
            OpportunityCache(st.opportunity_recompute_s, st.opportunity_horizon_days,
                             st.forecast_cell_deg)
            if st.routing_policy == "inventory_aware"
            else None
        )  # fmt: skip

    def close(self) -> None:
        self.simulations.close()
        self.store.dispose()

    # network and stock ---------------------------------------------------------------

    def put_network(self, body: Network | dict[str, Any]) -> Network:
        net = parse(Network, body)
        self.store.transact(lambda c: inventory.replace_network(c, net))
        return self.get_network()

    def get_network(self) -> Network:
        with self.store.read() as conn:
            return inventory.get_network(conn)

    def put_inventory(self, body: InventoryUpdate | dict[str, Any]) -> Inventory:
        update = parse(InventoryUpdate, body)

        def work(conn: Connection) -> list[StockLevel]:
            inventory.set_inventory(conn, self.networks.get(conn), update)
            return inventory.levels(conn, pairs=[(r.node, r.sku) for r in update.inventory])

        return Inventory(inventory=self.store.transact(work))

    def adjust(self, body: Adjustments | dict[str, Any]) -> Inventory:
        adj = parse(Adjustments, body)
        levels = self.store.transact(lambda c: inventory.adjust(c, self.networks.get(c), adj))
        return Inventory(inventory=levels)

    def inventory(self, node: str | None = None, sku: str | None = None) -> Inventory:
        with self.store.read() as conn:
            return inventory.inventory(conn, node, sku)

    def availability(self, sku: str, lat: float, lon: float, radius_km: float) -> Availability:
        with self.store.read() as conn:
            return inventory.availability(conn, self.networks.get(conn), sku, lat, lon, radius_km)

    def load_problem(self, problem: Problem | dict[str, Any]) -> tuple[int, int]:
        """Network and stock of a contract problem (its orders are not routed)."""
        prob = problem if isinstance(problem, Problem) else parse_problem(problem)
        self.put_network(Network(nodes=prob.nodes, skus=prob.skus, rates=prob.rates))
        self.put_inventory(InventoryUpdate(inventory=prob.inventory))
        return len(prob.nodes), len(prob.inventory)

    # orders ------------------------------------------------------------------------

    def route(
        self, body: Any, *, idempotency_key: str | None = None, explain: bool = False
    ) -> tuple[OrderAnswer, bool]:
        """Route and reserve one order; returns the answer and whether it was a replay.

        The idempotency key is claimed in the routing transaction itself: the key, the
        order and its reservations commit together or not at all.
        """
        digest = request_hash(body, explain=explain) if idempotency_key else ""

        def work(conn: Connection) -> tuple[OrderAnswer, bool]:
            if idempotency_key:
                i = schema.idempotency.c
                row = conn.execute(
                    sa.select(i.request_hash, i.response).where(i.key == idempotency_key)
                ).first()
                if row is not None:
                    if row.request_hash != digest:
                        raise Conflict("Idempotency-Key was used before with another request")
                    return OrderAnswer.model_validate(row.response), True
                # Claim the key before reading anything else. Under READ COMMITTED a
                # concurrent request with the same key could otherwise see this order
                # committed but not the key (and answer 409): now it waits on the key's
                # row, fails once we commit, and its retry replays our answer.
                conn.execute(
                    sa.insert(schema.idempotency).values(
                        key=idempotency_key,
                        request_hash=digest,
                        status_code=201,
                        response={},
                        created_at=time.time(),
                    )
                )
            net = self.networks.get(conn)
            order = orders.parse_order(body, net)
            answer = orders.route_new(
                conn, net, order, explain=explain, opportunity=self.opportunity
            )
            if idempotency_key:
                i = schema.idempotency.c
                conn.execute(
                    sa.update(schema.idempotency)
                    .where(i.key == idempotency_key)
                    .values(response=answer.model_dump(mode="json"))
                )
            return answer, False

        return self.store.transact(work)

    def order(self, order_id: str) -> OrderAnswer:
        with self.store.read() as conn:
            return orders.get(conn, order_id)

    def cancel(self, order_id: str) -> OrderAnswer:
        return self.store.transact(lambda c: orders.cancel(c, order_id))

    def fulfil(self, order_id: str, body: NodeRef | dict[str, Any]) -> OrderAnswer:
        ref = parse(NodeRef, body)
        return self.store.transact(lambda c: orders.fulfil(c, order_id, ref))

    def reject(self, order_id: str, body: NodeRef | dict[str, Any]) -> OrderAnswer:
        ref = parse(NodeRef, body)
        return self.store.transact(
            lambda c: orders.reject(c, self.networks.get(c), order_id, ref, self.opportunity)
        )

    def return_units(self, order_id: str, body: Return | dict[str, Any]) -> OrderAnswer:
        ret = parse(Return, body)
        return self.store.transact(
            lambda c: orders.return_units(c, self.networks.get(c), order_id, ret)
        )

    # stateless ---------------------------------------------------------------------

    def optimize(self, body: Any) -> Plan:
        """Batch-optimize a whole contract problem; touches no live state."""
        problem = body if isinstance(body, Problem) else parse_problem(body)
        limit = min(problem.options.time_limit_s, MAX_OPTIMIZE_SECONDS)
        return optimize(problem, SolveParams(time_limit=limit)).plan

    def rebalance_plan(self, body: Any = None) -> Any:
        """A rebalancing plan over live stock; see :mod:`router.service.rebalance`."""
        from router.service import rebalance

        req = parse(rebalance.RebalanceRequest, body if body is not None else {})
        with self.store.read() as conn:
            return rebalance.plan(conn, self.networks.get(conn), req)

    # simulations (background jobs, in this process's memory) --------------------------

    def start_simulation(self, body: SimulationRequest | dict[str, Any]) -> SimulationJob:
        """Validate a what-if simulation and queue it; see :mod:`router.service.simulations`."""
        return self.simulations.submit(parse(SimulationRequest, body))

    def simulation(self, job_id: str) -> SimulationJob:
        return self.simulations.get(job_id)

    def ready(self) -> bool:
        return self.store.ping()
