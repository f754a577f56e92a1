"""The network as each worker holds it: read from the database, compiled once per version.

Every routing call reads ``meta.network_version`` (one row) and recompiles only when
another request or worker has replaced the network since.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import Node, Problem, RateBand, Sku
from router.data import ProblemData
from router.service import schema
from router.single import SingleOrderRouter


@dataclass(frozen=True, eq=False)
class Network:
    """One version of the network: contract models, arrays and the single-order router."""

    version: int
    nodes: list[Node]
    skus: list[Sku]
    rates: list[RateBand]

    @cached_property
    def problem(self) -> Problem:
        return Problem(nodes=self.nodes, skus=self.skus, rates=self.rates, inventory=[], orders=[])

    @cached_property
    def raw(self) -> dict[str, list[dict[str, Any]]]:
        """The network as JSON-ready lists, for re-validation in the contract's own terms."""
        return {
            "nodes": [n.model_dump(mode="json") for n in self.nodes],
            "skus": [s.model_dump(mode="json") for s in self.skus],
            "rates": [r.model_dump(mode="json") for r in self.rates],
        }

    @cached_property
    def data(self) -> ProblemData:
        return ProblemData.from_problem(self.problem)

    @cached_property
    def router(self) -> SingleOrderRouter:
        return SingleOrderRouter(self.data)

    @cached_property
    def node_by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def sku_by_id(self) -> dict[str, Sku]:
        return {s.id: s for s in self.skus}


def network_version(conn: Connection) -> int:
    return int(conn.execute(sa.select(schema.meta.c.network_version)).scalar_one())


def read_network(conn: Connection, version: int | None = None) -> Network:
    """The network as stored, in the order it was given."""
    version = network_version(conn) if version is None else version
    nodes = conn.execute(sa.select(schema.nodes.c.doc).order_by(schema.nodes.c.position))
    skus = conn.execute(sa.select(schema.skus.c.doc).order_by(schema.skus.c.position))
    rates = conn.execute(sa.select(schema.rates.c.doc).order_by(schema.rates.c.position))
    return Network(
        version=version,
        nodes=[Node.model_validate(d) for (d,) in nodes],
        skus=[Sku.model_validate(d) for (d,) in skus],
        rates=[RateBand.model_validate(d) for (d,) in rates],
    )


class NetworkCache:
    """This worker's compiled network, refreshed when the stored version moves on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Network | None = None

    def get(self, conn: Connection) -> Network:
        version = network_version(conn)
        current = self._current
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._current is None or self._current.version != version:
                net = read_network(conn, version)
                _ = net.router  # compile outside the hot path of later calls
                self._current = net
            return self._current
