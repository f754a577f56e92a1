"""What a simulation returns: KPIs per day and in total, per scenario, with confidence
intervals across seeds, paired differences against the first scenario, and per-node
volumes for the map. Plain frozen dataclasses: the engine fills them, the report, the
CLI, the sweep and the API read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KPI_NAMES: tuple[str, ...] = (
    "orders",
    "units",
    "cost_per_order",
    "total_cost",
    "shipping_cost",
    "handling_cost",
    "penalty_cost",
    "shipments_per_order",
    "split_rate",
    "units_per_shipment",
    "fill_rate",
    "mean_distance_km",
    "promise_attainment",
    "ship_from_store_share",
    "pickup_share",
    "lost_units_online",
    "lost_units_walkin",
    "walkin_units",
    "rejections",
    "reroutes",
    "node_utilization",
    "hindsight_cost",
    "hindsight_gap",
    "transfer_units",
    "transfer_cost",
)
"""Every KPI a run reports, in report order. ``*_cost`` and ``cost_per_order`` are in the
rate card's currency; shares and rates are fractions in [0, 1]; ``hindsight_gap`` is
``(total_cost − hindsight_cost) / total_cost`` (the hindsight cost is a proven lower
bound on what any policy could achieve on the same draws). ``transfer_units`` and
``transfer_cost`` are the rebalancing transfers dispatched (scenario ``rebalance``); their
cost is not part of ``total_cost`` (which stays the online orders' cost)."""


@dataclass(frozen=True)
class Interval:
    """A mean across seeds with its 95 % confidence interval (Student t); ``n`` seeds."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": float(self.n)}


@dataclass(frozen=True)
class NodeVolume:
    """One node's work over the horizon (mean across seeds), for the map and utilization."""

    node: str
    type: str
    lat: float
    lon: float
    units: float
    shipments: float
    utilization: float | None = None  # shipments / order capacity over the horizon, if capped


@dataclass(frozen=True)
class SeedRun:
    """One scenario on one seed: KPIs in total and one row per day."""

    seed: int
    kpis: dict[str, float]
    days: list[dict[str, float]]  # each has "day" plus every KPI name of that day
    nodes: list[NodeVolume] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)  # diagnostics: seconds, speed, …
    trace: dict[str, Any] = field(default_factory=dict)
    """Explain (issue 5): ``transfers``, every rebalancing transfer dispatched (``day``,
    ``from``, ``to``, ``sku``, ``units``, ``cost``, ``protects``: ``region``,
    ``expected_units``, ``days`` as simulated days [first, last]), and with the
    inventory-aware policy ``opportunity``, the dearest opportunity costs of its last
    recompute (:meth:`router.inventory.opportunity.OpportunityCosts.trace`) and
    ``opportunity_day``/``opportunity_minute``, when it was. Not in kpis.json/days.csv."""


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario across its seeds."""

    name: str
    policy: str
    runs: list[SeedRun]
    kpis: dict[str, Interval]  # KPI name → mean and CI across seeds
    nodes: list[NodeVolume] = field(default_factory=list)  # means across seeds
    description: str = ""

    def kpi_means(self) -> dict[str, float]:
        return {k: v.mean for k, v in self.kpis.items()}


@dataclass(frozen=True)
class SimulationResult:
    """Scenarios run on the same seeds (common random numbers); the first is the base.

    ``paired[name][kpi]`` is the mean across seeds of (scenario − base), with its CI: the
    comparison that common random numbers make sharp.
    """

    scenarios: list[ScenarioResult]
    seeds: list[int]
    days: int
    paired: dict[str, dict[str, Interval]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> ScenarioResult:
        return self.scenarios[0]
