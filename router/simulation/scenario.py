"""The scenario file: what a planner writes to ask "what changes if…", as pydantic models.

A scenario is YAML (see ``scenarios/`` for examples). Every section has defaults, so a
file can be a few lines; an alternative is usually ``extends: base.yaml`` plus the one
thing it changes (mappings are deep-merged, lists and scalars replaced). Unknown keys are
errors (a typo must not silently do nothing), and every error is reported at once with its
path, e.g. ``changes[1].node: unknown node 'W-XXX'``, as :class:`models.BadInput`.

Schema (all sections optional except ``network``)::

    name: vn-sfs-on            # default: the file name without extension
    description: ...
    extends: base.yaml         # relative to this file; deep merge, this file wins
    days: 7                    # simulated days (day 0 .. days-1)
    seeds: 3                   # a count (0..K-1) or an explicit list [11, 12, 13]
    network:                   # exactly one of demo / file / inline
      demo: vn                 # vn | us, built by router.generate
      seed: 1
      stores: 40               # optional overrides of the demo network's size
      skus: 300
      orders: 1500             # sizes store capacity and stock; default demand.orders_per_day
      # file: problem.json     # a contract problem (its orders are ignored)
      # inline: {nodes: [...], skus: [...], rates: [...], inventory: [...]}
    initial_stock: {scale: 1.0}                     # multiplies every on_hand
    demand:
      orders_per_day: 1500
      pickup_share: 0.12
      lines: {1: 0.55, 2: 0.28, 3: 0.12, 4: 0.05}  # or lines_mean: 1.7
      qty: {1: 0.75, 2: 0.18, 3: 0.07}
      allow_split_share: 0.9
      allow_transfer_share: 0.7                    # of pickup orders
      promise_share: 0.1
      promise_days: [1, 2, 3]
      walkins_per_store: 20                        # Poisson mean per store per day
      returns: {rate: 0.05, delay_days: 4}         # in-store returns of online orders
    replenishment:
      warehouse: {every_days: 2, factor: 1.1}      # receipts cover expected demand × factor
      store: {every_days: 3, target: 1.0, lead_days: 1}  # up to target × initial stock
    rejections: {store_accuracy: 0.85, warehouse_accuracy: 0.995}
    policy: {kind: myopic, wave_minutes: 60, time_limit_s: 2.0}
    hindsight: {enabled: true, time_limit_s: 20, max_orders: 60000}
    changes:
      - {day: 3, node: W-DAL, enabled: false}
      - {day: 0, ship_from_store: false}
      - {day: 2, node: S0001, order_capacity: 10}
      - {day: 1, rates: [{max_km: 300, base: 5, per_kg: 0.5, transit_days: 1}, ...]}
      - {day: 0, safety_stock: 2, scope: stores}   # or node: S0003
    rebalance: {every_days: 7, lane_capacity: 50, lead_days: 1}  # transfer plans, see below
    protection: {service_level: 0.9, cover_days: 1}  # store safety stock for walk-ins
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from models import BadInput, FieldError, RateBand
from models.errors import from_validation_error

Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]

MAX_LINES = 6
"""Most lines an order may have (each a distinct sku)."""


class _Spec(BaseModel):
    """Scenario sections: unknown keys are errors, so a typo cannot silently do nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSpec(_Spec):
    """Where the nodes, skus, rates and initial stock come from: exactly one source."""

    demo: Literal["vn", "us"] | None = None
    seed: int = 1
    stores: NonNegInt | None = None
    skus: PosInt | None = None
    orders: NonNegInt | None = None  # demo sizing basis; default demand.orders_per_day
    file: str | None = None  # a contract problem JSON, relative to the YAML that names it
    inline: dict[str, Any] | None = None  # {nodes, skus, rates, inventory} of the contract

    @model_validator(mode="after")
    def _one_source(self) -> NetworkSpec:
        given = [k for k in ("demo", "file", "inline") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of demo, file, inline (got {given or 'none'})")
        return self


class StockSpec(_Spec):
    """Initial stock is the network's inventory with every ``on_hand`` scaled (rounded)."""

    scale: NonNegFloat = 1.0


class ReturnsSpec(_Spec):
    """A share of online orders comes back to the store nearest the customer, restocking it,
    ``delay_days`` (at least one) after the order: the simulator draws a day's events
    before routing its orders, so a same-day return would never reach the shelf."""

    rate: Share = 0.05
    delay_days: PosInt = 4


class DemandSpec(_Spec):
    """Online orders and walk-ins per day; see :mod:`router.simulation.demand`."""

    orders_per_day: NonNegInt = 1000
    pickup_share: Share = 0.12
    lines: dict[int, NonNegFloat] | None = None  # lines per order → weight
    lines_mean: Annotated[float, Field(ge=1.0, le=MAX_LINES)] | None = None
    qty: dict[int, NonNegFloat] = Field(default_factory=lambda: {1: 0.75, 2: 0.18, 3: 0.07})
    allow_split_share: Share = 0.9
    allow_transfer_share: Share = 0.7
    promise_share: Share = 0.1
    promise_days: list[NonNegInt] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    walkins_per_store: NonNegFloat = 20.0
    returns: ReturnsSpec = Field(default_factory=ReturnsSpec)

    @field_validator("lines")
    @classmethod
    def _lines(cls, v: dict[int, float] | None) -> dict[int, float] | None:
        if v is not None:
            bad = [k for k in v if not 1 <= k <= MAX_LINES]
            if bad:
                raise ValueError(f"line counts must be in 1..{MAX_LINES}, got {bad}")
            if sum(v.values()) <= 0:
                raise ValueError("weights must not all be 0")
        return v

    @field_validator("qty")
    @classmethod
    def _qty(cls, v: dict[int, float]) -> dict[int, float]:
        if not v or any(k < 1 for k in v) or sum(v.values()) <= 0:
            raise ValueError("quantities must be ≥ 1 with some positive weight")
        return v

    @model_validator(mode="after")
    def _one_lines(self) -> DemandSpec:
        if self.lines is not None and self.lines_mean is not None:
            raise ValueError("give lines or lines_mean, not both")
        return self

    def line_distribution(self) -> dict[int, float]:
        """Lines per order → probability; ``lines_mean`` is 1 + a Poisson, truncated."""
        if self.lines is not None:
            total = sum(self.lines.values())
            return {k: w / total for k, w in sorted(self.lines.items())}
        if self.lines_mean is None:
            return {1: 0.55, 2: 0.28, 3: 0.12, 4: 0.05}
        lam = self.lines_mean - 1.0
        w = {k: math.exp(-lam) * lam ** (k - 1) / math.factorial(k - 1) for k in range(1, 7)}
        total = sum(w.values())
        return {k: x / total for k, x in w.items()}


class WarehouseReceipts(_Spec):
    """Every ``every_days`` (from ``start_day``), each warehouse receives the expected online
    and walk-in demand of the next ``every_days`` × ``factor``, split across warehouses by
    their share of that sku's initial warehouse stock. Independent of what happened, so it
    is identical across policies (and known to the hindsight bound)."""

    every_days: PosInt = 2
    factor: NonNegFloat = 1.1
    start_day: NonNegInt = 1


class StoreReplenishment(_Spec):
    """Every ``every_days`` (from ``start_day``) each store orders each sku it carries up to
    ``target`` × its initial on_hand; units leave the nearest warehouses that have them and
    arrive ``lead_days`` later."""

    every_days: PosInt = 3
    target: NonNegFloat = 1.0
    lead_days: NonNegInt = 1
    start_day: NonNegInt = 1


class ReplenishmentSpec(_Spec):
    warehouse: WarehouseReceipts | None = Field(default_factory=WarehouseReceipts)
    store: StoreReplenishment | None = Field(default_factory=StoreReplenishment)


class RejectionSpec(_Spec):
    """Record accuracy: each line a node is asked to ship fails with probability
    1 − accuracy; the node's unreserved units of that sku are written off (the record was
    phantom) and the order is rerouted without that node (at most ``max_reroutes`` times)."""

    store_accuracy: Share = 0.85
    warehouse_accuracy: Share = 0.995
    max_reroutes: NonNegInt = 5


class PolicySpec(_Spec):
    """The routing policy, by registered name (see :mod:`router.simulation.policies`)."""

    kind: str = "myopic"
    wave_minutes: NonNegInt | None = None  # None: the policy's default (batch: 60)
    time_limit_s: NonNegFloat = 2.0  # per optimization (batch waves)
    params: dict[str, Any] = Field(default_factory=dict)  # policy-specific knobs

    @field_validator("kind")
    @classmethod
    def _known(cls, v: str) -> str:
        from router.simulation.policies import POLICIES

        if v not in POLICIES:
            raise ValueError(f"unknown policy {v!r}; choose from {sorted(POLICIES)}")
        return v


class HindsightSpec(_Spec):
    """The perfect-information bound (see :mod:`router.simulation.hindsight`)."""

    enabled: bool = True
    time_limit_s: NonNegFloat = 20.0
    max_orders: NonNegInt = 60_000  # above this, the cheaper decoupled bound
    # seconds for the strong time-indexed LP (multi-line orders keep their shipments;
    # PDLP), tried after the others when > 0: a tighter bound at a few minutes a seed
    strong_time_limit_s: NonNegFloat = 0.0
    # seconds for the pattern bound (the time-indexed problem with whole shipments, by
    # column generation), tried last when > 0: the tightest, at minutes a seed
    patterns_time_limit_s: NonNegFloat = 0.0


class RebalanceSpec(_Spec):
    """Every ``every_days`` (from ``start_day``, in the morning after receipts) plan
    transfers between nodes with :func:`router.inventory.rebalance.plan_rebalance` over the
    next ``horizon_days`` (default ``every_days + lead_days``) of the scenario's expected
    demand (online by node catchment, plus walk-ins and pickups at each store); units leave
    the source's available stock at once and arrive ``lead_days`` later. Capacities are units
    per (from, to) lane and per node outbound, all skus together, per plan."""

    every_days: PosInt = 7
    start_day: NonNegInt = 0
    lead_days: NonNegInt = 1
    horizon_days: PosInt | None = None
    lane_capacity: NonNegInt | None = None
    outbound_capacity: NonNegInt | None = None
    consolidation_units: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = 20.0
    units_per_shipment: Annotated[float, Field(ge=1.0, allow_inf_nan=False)] = 1.5
    walkins: bool = True  # protect walk-in (and pickup) demand at stores too


class ProtectionSpec(_Spec):
    """From ``day`` on, every store holds back, per sku it carries, the smallest ``s`` with
    Poisson(walk-in rate × ``cover_days``) CDF(s) ≥ ``service_level`` as safety stock (see
    :mod:`router.inventory.protection`); a later safety-stock change overrides it."""

    service_level: Share = 0.9
    cover_days: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = 1.0
    day: NonNegInt = 0


class Change(_Spec):
    """Something that changes from the start of ``day`` on.

    Targets: ``node`` or ``nodes`` (for ``enabled``, ``can_ship``, capacities, safety stock);
    ``scope`` (stores | warehouses | all) for safety stock without a node. A capacity set to
    null means unlimited. ``rates`` replaces the whole rate card.
    """

    day: NonNegInt
    node: str | None = None
    nodes: list[str] | None = None
    enabled: bool | None = None
    can_ship: bool | None = None
    ship_from_store: bool | None = None
    order_capacity: NonNegInt | None = None
    unit_capacity: NonNegInt | None = None
    rates: list[RateBand] | None = None
    safety_stock: NonNegInt | None = None
    scope: Literal["stores", "warehouses", "all"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Change:
        fs = self.model_fields_set
        actions = {
            "enabled",
            "can_ship",
            "ship_from_store",
            "order_capacity",
            "unit_capacity",
            "rates",
            "safety_stock",
        } & fs
        if not actions:
            raise ValueError("a change needs something to change")
        node_actions = {"enabled", "can_ship", "order_capacity", "unit_capacity"} & fs
        if node_actions and not self.targets():
            raise ValueError(f"{sorted(node_actions)} need node or nodes")
        if "safety_stock" in fs and self.safety_stock is None:
            raise ValueError("safety_stock must be a number")
        if self.scope is not None and self.targets():
            raise ValueError("give scope or node(s), not both")
        for k in ("enabled", "can_ship", "ship_from_store", "rates"):
            if k in fs and getattr(self, k) is None:
                raise ValueError(f"{k} must not be null")
        return self

    def targets(self) -> list[str]:
        return ([self.node] if self.node else []) + list(self.nodes or [])


class Scenario(_Spec):
    """One what-if: a network, its demand, its rules and a routing policy over some days."""

    name: str = "scenario"
    description: str = ""
    days: PosInt = 7
    seeds: list[int] | PosInt = 3
    network: NetworkSpec
    initial_stock: StockSpec = Field(default_factory=StockSpec)
    demand: DemandSpec = Field(default_factory=DemandSpec)
    replenishment: ReplenishmentSpec = Field(default_factory=ReplenishmentSpec)
    rejections: RejectionSpec = Field(default_factory=RejectionSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    hindsight: HindsightSpec = Field(default_factory=HindsightSpec)
    changes: list[Change] = Field(default_factory=list)
    rebalance: RebalanceSpec | None = None
    protection: ProtectionSpec | None = None

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _bound_knows_no_transfers(self) -> Scenario:
        """The hindsight bound does not count stock moved by rebalancing transfers at the
        node that receives it, so with transfers it could exceed what a policy achieves:
        refused rather than reported wrong."""
        if self.rebalance is not None and self.hindsight.enabled:
            raise ValueError(
                "hindsight: the bound does not model rebalancing transfers yet; "
                "set hindsight: {enabled: false} in a scenario with rebalance"
            )
        return self

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int] | int) -> list[int] | int:
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("seeds must be a non-empty list of distinct integers")
        return v

    @property
    def seed_list(self) -> list[int]:
        """The seeds: a count K means 0..K-1."""
        return list(self.seeds) if isinstance(self.seeds, list) else list(range(self.seeds))

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths (``network.file``) are resolved against."""
        return self._base_dir

    def with_base_dir(self, base: Path) -> Scenario:
        self._base_dir = base
        return self

    def replace(self, **overrides: Any) -> Scenario:
        """A validated copy with some top-level fields deep-merged (for sweeps and tests)."""
        data = deep_merge(self.model_dump(exclude_unset=True), overrides)
        return validate_scenario(data, self._base_dir)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key; anything else is replaced."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path, chain: tuple[Path, ...], where: str) -> dict[str, Any]:
    """One file with its ``extends`` chain merged, relative paths made absolute."""
    if path in chain:
        raise BadInput([FieldError(where, f"extends cycle through {path.name}")])
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput([FieldError(where, f"file not found: {path}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BadInput([FieldError(where, f"not valid YAML{pos}: {path.name}")]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadInput([FieldError(where, f"{path.name} must hold a mapping")])
    net = raw.get("network")
    if isinstance(net, dict) and isinstance(net.get("file"), str):
        net["file"] = str((path.parent / net["file"]).resolve())
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise BadInput([FieldError("extends", "must be a file name")])
    base = _read_yaml((path.parent / parent).resolve(), (*chain, path), "extends")
    base.pop("name", None)  # an alternative is named by its own file unless it says so
    return deep_merge(base, raw)


def validate_scenario(data: Any, base_dir: Path | None = None) -> Scenario:
    """Validate a scenario mapping (already merged), checking node names against its network.

    Raises :class:`BadInput` with every error found.
    """
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise BadInput(from_validation_error(exc)) from None
    scenario.with_base_dir(base_dir or Path.cwd())
    from router.simulation.network import build_network

    net = build_network(scenario)  # cached; raises BadInput naming network.* paths
    known = set(net.node_ids)
    errors = []
    for i, ch in enumerate(scenario.changes):
        if ch.node is not None and ch.node not in known:
            errors.append(FieldError(f"changes[{i}].node", f"unknown node {ch.node!r}"))
        for j, n in enumerate(ch.nodes or []):
            if n not in known:
                errors.append(FieldError(f"changes[{i}].nodes[{j}]", f"unknown node {n!r}"))
        if ch.day >= scenario.days:
            errors.append(
                FieldError(f"changes[{i}].day", f"day {ch.day} is past the horizon (days)")
            )
    if errors:
        raise BadInput(errors)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file; :class:`BadInput` if bad."""
    p = Path(path).resolve()
    data = _read_yaml(p, (), "")
    data.setdefault("name", p.stem)
    return validate_scenario(data, p.parent)
