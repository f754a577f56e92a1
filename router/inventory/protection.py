"""Store protection levels: safety stock held back from online orders for walk-in customers.

A store's walk-in sales of a sku over the protected period are Poisson with mean
``rate × cover_days`` (``rate`` per day from the scenario's demand model or from sales
history). The recommended protection level is the smallest ``s`` with
``P(Poisson(mean) ≤ s) ≥ service_level``, i.e. ``scipy.stats.poisson.ppf(service_level,
mean)``: with ``s`` units held back, the walk-ins of the period find the shelf stocked with
probability at least ``service_level`` (as long as the store had ``s`` to hold). A level of
0 (or a zero rate) protects nothing. Online orders then see ``atp = on_hand − reserved −
s``; walk-ins still buy any unreserved unit.

:func:`tradeoff_curve` replays a scenario at several service levels (same seeds, common
random numbers) and returns online cost per order against walk-in lost sales, the curve
the report draws (``SimulationResult.meta["protection_curve"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from router.data import FloatArray, IntArray

if TYPE_CHECKING:
    from router.simulation.scenario import Scenario


def protection_level(rate: float | np.ndarray, service_level: float) -> np.ndarray:
    """Smallest ``s`` with Poisson(``rate``) CDF(s) ≥ ``service_level`` (elementwise, ≥ 0)."""
    if not 0.0 <= service_level <= 1.0:
        raise ValueError(f"service level must be in [0, 1], got {service_level}")
    mu = np.maximum(np.asarray(rate, dtype=np.float64), 0.0)
    if service_level <= 0.0:
        return np.zeros(mu.shape, dtype=np.int64)
    level = min(service_level, 1.0 - 1e-12)  # ppf(1) is infinite
    s = stats.poisson.ppf(level, np.where(mu > 0, mu, 1.0))
    return np.where(mu > 0, np.maximum(s, 0), 0).astype(np.int64)


def own_pickup_value(
    own_rate: np.ndarray,
    penalty: np.ndarray,
    atp: np.ndarray,
    horizon_days: float,
    walkin_rate: np.ndarray | None = None,
) -> np.ndarray:
    """Per-unit value of a store's stock to its own pickups that refuse transfers (only
    that store can serve them), over ``horizon_days`` in which it is not replaced.

    Customers come as Poisson streams: such pickups at ``own_rate`` and, when given,
    walk-ins at ``walkin_rate``, each served in turn from the shelf. Pickups only get the
    ``atp`` units above the safety stock, so they are served when they come among the
    first ``atp`` customers; taking one unit now loses the ``atp``-th customer when
    there is one, a pickup with chance ``q = own / (own + walk-in)``. The value is
    ``penalty × q × P(N ≥ atp)``, N Poisson with mean ``(own + walk-in) × days``
    (``penalty × P(D ≥ atp)`` without walk-ins); 0 where nothing is left. Shapes:
    rates and ``atp`` (nodes, skus), ``penalty`` per sku."""
    own = np.asarray(own_rate, dtype=np.float64)
    atp = np.asarray(atp)
    if not (own > 0).any():  # no such pickups seen: nothing to protect
        return np.zeros(atp.shape)
    total = own if walkin_rate is None else own + np.asarray(walkin_rate, dtype=np.float64)
    q = np.divide(own, total, out=np.zeros_like(own), where=total > 0)
    p = q * stats.poisson.sf(atp - 1, total * horizon_days)
    value = np.asarray(penalty, dtype=np.float64)[None, :] * p
    return np.asarray(np.where(atp > 0, value, 0.0), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PromiseSets:
    """Who can keep each delivery promise, for :func:`promise_value`: one set per (region,
    promise class) with a promise: ``members[k, n]`` 1.0 where node n can deliver to the
    region within the promised days, ``rate[k, s]`` that class's expected units per day of
    sku s from the region, ``region_rate[k, s]`` all of the region's (every class);
    ``region[k]`` and ``days[k]`` say which (for explanations)."""

    members: FloatArray  # (sets, nodes) 0/1
    rate: FloatArray  # (sets, skus)
    region_rate: FloatArray  # (sets, skus)
    region: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    days: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.members.shape[0])


def promise_sets(
    can_ship: np.ndarray,
    transit_days: np.ndarray,
    rate: np.ndarray,
    classes: Sequence[tuple[int | None, float]],
) -> PromiseSets:
    """The sets of every region and promised class: ``can_ship`` and ``transit_days``
    (nodes, regions) from :func:`router.inventory.opportunity.unit_costs`, ``rate``
    (regions, skus) per day, ``classes`` (promised days or None, share of demand) as in
    :attr:`router.inventory.forecast.DemandForecast.promises`."""
    rate = np.asarray(rate, dtype=np.float64)
    members, class_rate, region_rate, regions, promised = [], [], [], [], []
    for days, share in classes:
        if days is None or share <= 0:
            continue
        keep = np.asarray(can_ship, dtype=bool) & (np.asarray(transit_days) <= days)
        for r in np.flatnonzero(keep.any(axis=0)).tolist():
            members.append(keep[:, r])
            class_rate.append(rate[r] * share)
            region_rate.append(rate[r])
            regions.append(r)
            promised.append(days)
    n_nodes, n_skus = np.shape(can_ship)[0], rate.shape[1]
    if not members:
        return PromiseSets(np.zeros((0, n_nodes)), np.zeros((0, n_skus)), np.zeros((0, n_skus)))
    return PromiseSets(
        np.array(members, dtype=np.float64),
        np.array(class_rate),
        np.array(region_rate),
        np.array(regions, dtype=np.int64),
        np.array(promised, dtype=np.int64),
    )


def promise_value(
    sets: PromiseSets,
    skus: np.ndarray,
    penalty: np.ndarray,
    atp: np.ndarray,
    horizon_days: float,
    walkin_rate: np.ndarray | None = None,
) -> np.ndarray:
    """Per-unit value of a node's stock to orders with a delivery promise, (nodes, skus).

    A region's orders promised within d days can only be served by the set F of nodes
    that deliver there that fast, and all of the region's demand (and the walk-ins of F's
    stores, ``walkin_rate`` (nodes, these skus)) draws on F's stock: F holds the nodes
    nearest the region, which are also its cheapest as far as the rate card goes by
    distance. As for a store's own pickups (:func:`own_pickup_value`, the case of a
    one-node set), a promised customer is served while it comes among the first
    ``A = Σ_{n∈F} atp[n]`` customers, so taking one unit from F loses one with chance
    ``q × P(N ≥ A)``, q the class's share of the customers and N Poisson with their mean
    over ``horizon_days``. A node's value is ``penalty ×`` that, summed over the sets it
    belongs to. The expected-demand LP cannot see this: per (region, sku) the promised
    demand is a fraction of a unit, so it prices those units at 0 until the set is short
    on average, and the last units are the ones a promised customer finds gone."""
    atp = np.asarray(atp)
    if len(sets) == 0:
        return np.zeros(atp.shape)
    pen = np.asarray(penalty, dtype=np.float64)[None, :]
    value = sets.members.T @ (set_loss(sets, skus, atp, horizon_days, walkin_rate) * pen)
    return np.asarray(np.where(atp > 0, value, 0.0), dtype=np.float64)


def set_loss(
    sets: PromiseSets,
    skus: np.ndarray,
    atp: np.ndarray,
    horizon_days: float,
    walkin_rate: np.ndarray | None = None,
) -> np.ndarray:
    """Per set and sku, ``q × P(N ≥ units the set holds)``: the promised customers one
    unit fewer in the set loses (:func:`promise_value`), (sets, skus)."""
    F = sets.members
    held = F @ np.maximum(np.asarray(atp), 0)
    total = sets.region_rate[:, skus]
    if walkin_rate is not None:
        total = total + F @ np.asarray(walkin_rate, dtype=np.float64)
    q = np.divide(sets.rate[:, skus], total, out=np.zeros_like(total), where=total > 0)
    return np.asarray(q * stats.poisson.sf(held - 1, total * horizon_days), dtype=np.float64)


def protected_demand(
    own_rate: np.ndarray | None,
    sets: PromiseSets | None,
    region_name: Callable[[int], str],
    node: str,
    i: int,
    j: int,
    horizon_days: float,
    own_value: float | None = None,
    set_value: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """What the protection terms keep units of (node ``i``, sku ``j``) for, over the
    horizon, in :meth:`router.inventory.opportunity.OpportunityCosts.explain`'s shape
    (``region``, ``units``, ``days``): the store's own no-transfer pickups and the
    promised orders of each region that only ``i`` and the nodes as close can serve.
    Given what each is worth at the stock of the moment (``own_value``; ``set_value``
    per set, e.g. :func:`set_loss` × penalty), the sets worth nothing are left out and
    the largest come first; else the own pickups lead and the sets follow by rate."""
    own: list[dict[str, Any]] = []
    if own_rate is not None and own_rate[i, j] > 0 and (own_value is None or own_value > 0):
        own.append(
            {
                "region": f"pickups at {node} that refuse transfers",
                "units": float(own_rate[i, j] * horizon_days),
                "days": horizon_days,
            }
        )
    promised: list[dict[str, Any]] = []
    top = 0.0
    if sets is not None and len(sets):
        hit = np.flatnonzero((sets.members[:, i] > 0) & (sets.rate[:, j] > 0))
        if set_value is None:
            order = hit[np.argsort(-sets.rate[hit, j], kind="stable")]
        else:
            hit = hit[set_value[hit] > 0]
            order = hit[np.argsort(-set_value[hit], kind="stable")]
            top = float(set_value[order[0]]) if order.size else 0.0
        for k in order.tolist():
            d = int(sets.days[k])
            promised.append(
                {
                    "region": f"orders promised within {d} day{'' if d == 1 else 's'} from "
                    f"{region_name(int(sets.region[k]))}",
                    "units": float(sets.rate[k, j] * horizon_days),
                    "days": horizon_days,
                }
            )
    if own_value is not None and top > own_value:
        return promised + own
    return own + promised


def walkin_rates(net: Any, walkins_per_store: float) -> np.ndarray:
    """Expected walk-in units per day per (node, sku) of a simulator network: each store's
    Poisson customers spread over the skus it carries by popularity (as the simulator draws
    them)."""
    from router.simulation.demand import assortment

    rates = np.zeros(net.on_hand.shape, dtype=np.float64)
    for node, carried, _cdf in assortment(net):
        p = net.popularity[carried]
        rates[node, carried] = walkins_per_store * p / p.sum()
    return rates


@dataclass(frozen=True)
class CurvePoint:
    """One service level: means across seeds with 95 % intervals (low, high)."""

    service_level: float
    cost_per_order: float
    cost_per_order_low: float
    cost_per_order_high: float
    lost_units_walkin: float
    lost_units_walkin_low: float
    lost_units_walkin_high: float
    lost_units_online: float
    protected_units: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def protection_study(
    base_scenario: Scenario, levels: Sequence[float], seeds: Sequence[int] | None = None
) -> Any:
    """Replay ``base_scenario`` with ``protection.service_level`` at each of ``levels`` (no
    hindsight bound) on the same seeds: a :class:`~router.simulation.result.SimulationResult`
    (the first level is the base of the paired comparisons) whose
    ``meta["protection_curve"]`` holds the curve points as dicts."""
    from dataclasses import replace

    from router.simulation.engine import simulate
    from router.simulation.network import build_network

    if not levels:
        raise ValueError("give at least one service level")
    net = build_network(base_scenario)
    cover = base_scenario.protection.cover_days if base_scenario.protection else 1.0
    rates = walkin_rates(net, base_scenario.demand.walkins_per_store) * cover
    scenarios = [
        base_scenario.replace(
            name=f"protection-{level:g}",
            description=f"store protection at a {level:g} walk-in service level",
            protection={"service_level": float(level), "cover_days": cover},
            hindsight={"enabled": False},
        )
        for level in levels
    ]
    result = simulate(scenarios, seeds=seeds)
    points = []
    for level, res in zip(levels, result.scenarios, strict=True):
        cpo, lw = res.kpis["cost_per_order"], res.kpis["lost_units_walkin"]
        points.append(
            CurvePoint(
                service_level=float(level),
                cost_per_order=cpo.mean,
                cost_per_order_low=cpo.low,
                cost_per_order_high=cpo.high,
                lost_units_walkin=lw.mean,
                lost_units_walkin_low=lw.low,
                lost_units_walkin_high=lw.high,
                lost_units_online=res.kpis["lost_units_online"].mean,
                protected_units=float(protection_level(rates, float(level)).sum()),
            )
        )
    meta = {
        **result.meta,
        "title": f"Store protection trade-off: {base_scenario.name}",
        "protection_curve": [p.as_dict() for p in points],
    }
    return replace(result, meta=meta)


def tradeoff_curve(
    base_scenario: Scenario, levels: Sequence[float], seeds: Sequence[int] | None = None
) -> list[CurvePoint]:
    """The trade-off curve: one point per service level (see :func:`protection_study`)."""
    result = protection_study(base_scenario, levels, seeds)
    return [CurvePoint(**p) for p in result.meta["protection_curve"]]
