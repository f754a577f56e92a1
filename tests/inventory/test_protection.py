"""Store protection levels: the Poisson quantile, the simulator applying it, the trade-off
curve and its report section, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from router.cli import main
from router.inventory.protection import (
    protection_level,
    protection_study,
    tradeoff_curve,
    walkin_rates,
)
from router.simulation.engine import Replay
from router.simulation.network import build_network
from router.simulation.report import render_html
from tests.simulation.conftest import SMALL, small

LEVELS = [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]


@pytest.mark.parametrize("rate", [0.3, 1.0, 2.5, 7.0, 20.0])
@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_level_is_the_poisson_quantile(rate: float, level: float) -> None:
    s = int(protection_level(rate, level))
    assert s == int(stats.poisson.ppf(level, rate))
    assert stats.poisson.cdf(s, rate) >= level
    assert s == 0 or stats.poisson.cdf(s - 1, rate) < level  # the smallest such s


def test_level_is_monotone_in_the_service_level_and_zero_without_demand() -> None:
    rates = np.array([0.0, 0.2, 1.0, 4.0, 15.0])
    levels = np.array([protection_level(rates, x) for x in LEVELS])
    assert (np.diff(levels, axis=0) >= 0).all()
    assert (levels[0] == 0).all() and (levels[:, 0] == 0).all()
    with pytest.raises(ValueError):
        protection_level(1.0, 1.5)


def test_simulator_holds_the_level_back_at_stores() -> None:
    sc = small(protection={"service_level": 0.9}, days=1)
    net = build_network(sc)
    replay = Replay(sc, net, 0, check=True)
    replay.run()
    expect = protection_level(walkin_rates(net, sc.demand.walkins_per_store), 0.9)
    st = replay.state
    assert (st.safety[st.is_store] == expect[st.is_store]).all()
    assert (st.safety[~st.is_store] == 0).all()
    assert expect.sum() > 0


def test_walkin_lost_sales_fall_as_protection_rises() -> None:
    sc = small(days=4, replenishment={"store": {"every_days": 3}})
    points = tradeoff_curve(sc, [0.0, 0.9, 0.99], seeds=[0, 1])
    lost = [p.lost_units_walkin for p in points]
    assert lost[0] > lost[1] >= lost[2]
    assert points[0].protected_units == 0 < points[1].protected_units < points[2].protected_units
    assert points[-1].lost_units_online >= points[0].lost_units_online


def test_report_draws_the_curve() -> None:
    result = protection_study(small(days=2), [0.0, 0.9], seeds=[0])
    assert len(result.meta["protection_curve"]) == 2
    page = render_html(result)
    assert 'id="protection"' in page and "Store protection trade-off" in page
    plain = render_html(result.__class__(result.scenarios, result.seeds, result.days))
    assert 'id="protection"' not in plain


def test_cli_protection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "days": 2}))
    out = tmp_path / "out"
    args = ["protection", str(path), "--levels", "0,0.9", "--seeds", "1", "--out", str(out)]
    assert main(args) == 0
    curve = json.loads((out / "curve.json").read_text())
    assert [p["service_level"] for p in curve] == [0.0, 0.9]
    assert 'id="protection"' in (out / "report.html").read_text()
    assert main(["protection", str(path), "--levels", "0,2", "--out", str(out)]) == 2
    assert "levels" in capsys.readouterr().err


def test_scenario_rejects_a_bad_service_level() -> None:
    from models import BadInput

    with pytest.raises(BadInput) as err:
        small(protection={"service_level": 1.5})
    assert any(e.path.startswith("protection.service_level") for e in err.value.errors)


@pytest.mark.parametrize(
    "own,walk,atp", [(0.3, 0.0, 1), (0.3, 2.0, 1), (0.3, 2.0, 4), (1.0, 0.5, 2)]
)
def test_own_pickup_value_is_the_marginal_lost_pickup(own: float, walk: float, atp: int) -> None:
    """Against a direct simulation of the two Poisson streams sharing a shelf: the value
    of one unit is the penalty times the pickups lost by having one unit fewer."""
    from router.inventory.protection import own_pickup_value

    rng = np.random.default_rng(1)
    days, runs = 3.0, 200_000
    n = rng.poisson((own + walk) * days, runs)
    is_pickup = rng.random((runs, int(n.max()) + 1)) < own / (own + walk)
    served_before = np.cumsum(is_pickup, axis=1)  # pickups among the first k customers

    def lost(k: int) -> float:
        pickups = served_before[np.arange(runs), n - 1] * (n > 0)
        got = np.where(n > k, served_before[:, max(k - 1, 0)] * (k > 0), pickups)
        return float((pickups - got).mean())

    want = lost(atp - 1) - lost(atp)
    got = own_pickup_value(
        np.array([[own]]),
        np.array([1.0]),
        np.array([[atp]]),
        days,
        None if walk == 0 else np.array([[walk]]),
    )[0, 0]
    assert got == pytest.approx(want, abs=4e-3)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.01, 2.0),
    others=st.floats(0.0, 3.0),
    walk=st.floats(0.0, 2.0),
    atp=st.integers(0, 6),
    days=st.floats(0.5, 7.0),
)
def test_promise_value_of_a_one_node_set_is_the_own_pickup_value(
    rate: float, others: float, walk: float, atp: int, days: float
) -> None:
    """A promise only one node can keep is that node's own pickups again: the promised
    customers are served while they come among the first atp of everyone who draws on
    the node (the region's other orders and the store's walk-ins)."""
    from router.inventory.protection import PromiseSets, own_pickup_value, promise_value

    sets = PromiseSets(np.array([[1.0, 0.0]]), np.array([[rate]]), np.array([[rate + others]]))
    stock = np.array([[atp], [5]])
    walkins = np.array([[walk], [0.0]])
    got = promise_value(sets, np.array([0]), np.array([10.0]), stock, days, walkins)
    want = own_pickup_value(
        np.array([[rate]]), np.array([10.0]), stock[:1], days, np.array([[others + walk]])
    )
    assert got[0, 0] == pytest.approx(want[0, 0], rel=1e-9, abs=1e-12)
    assert got[1, 0] == 0.0  # not in the set


def test_promise_value_pools_the_set_and_adds_up_over_sets() -> None:
    """Units anywhere in a set protect its promise alike (the value depends on the set's
    total), it falls as the set holds more, and a node in two sets gets both values."""
    from scipy.stats import poisson

    from router.inventory.protection import PromiseSets, promise_value

    members = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    sets = PromiseSets(members, np.array([[0.5], [0.2]]), np.array([[2.0], [1.0]]))
    stock = np.array([[1], [2], [3]])
    got = promise_value(sets, np.array([0]), np.array([40.0]), stock, 2.0)[:, 0]
    v0 = 40.0 * 0.25 * poisson.sf(3 - 1, 4.0)  # set 0 holds 1 + 2
    v1 = 40.0 * 0.2 * poisson.sf(5 - 1, 2.0)  # set 1 holds 2 + 3
    np.testing.assert_allclose(got, [v0, v0 + v1, v1])
    more = promise_value(sets, np.array([0]), np.array([40.0]), stock + 2, 2.0)[:, 0]
    assert (more < got).all()
    stock[0, 0] = 0
    assert promise_value(sets, np.array([0]), np.array([40.0]), stock, 2.0)[0, 0] == 0.0


def test_promise_sets_hold_the_nodes_that_keep_each_promise() -> None:
    """One set per (region, promised days): the nodes that may ship there within them,
    with that class's share of the region's rate; no set for orders without a promise."""
    from router.inventory.protection import promise_sets

    can = np.array([[True, True], [True, False], [True, True]])
    transit = np.array([[1, 3], [2, 1], [3, 2]])
    rate = np.array([[4.0, 1.0], [2.0, 0.0]])
    sets = promise_sets(can, transit, rate, ((None, 0.7), (1, 0.1), (2, 0.2)))
    got = {(tuple(m.astype(int)), tuple(r)) for m, r in zip(sets.members, sets.rate, strict=True)}
    assert got == {
        ((1, 0, 0), (0.4, 0.1)),  # region 0 within 1 day: node 0
        ((1, 1, 0), (0.8, 0.2)),  # within 2 days: node 2 needs 3
        ((0, 0, 1), (0.4, 0.0)),  # region 1 within 2 days: node 1 may not ship there
    }
    assert len(sets) == 3
    assert (sets.region_rate == np.array([[4.0, 1.0], [4.0, 1.0], [2.0, 0.0]])).all()
    assert len(promise_sets(can, transit, rate, ((None, 1.0),))) == 0


def test_protected_demand_leads_with_what_is_worth_most() -> None:
    """The explanation of a protection term: the own pickups and the promised sets the
    node is in, the dearest first at the stock of the moment, sets worth nothing left
    out; without values, own pickups first and the sets by rate."""
    from router.inventory.protection import PromiseSets, protected_demand

    sets = PromiseSets(
        np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),
        np.array([[0.2], [0.5], [0.9]]),
        np.array([[1.0], [1.0], [1.0]]),
        np.array([4, 7, 9]),
        np.array([1, 2, 1]),
    )
    own = np.array([[0.3], [0.0]])

    def name(r: int) -> str:
        return f"R{r}"

    plain = protected_demand(own, sets, name, "S1", 0, 0, 2.0)
    assert [p["region"] for p in plain] == [
        "pickups at S1 that refuse transfers",
        "orders promised within 2 days from R7",
        "orders promised within 1 day from R4",
    ]
    assert plain[0]["units"] == pytest.approx(0.6) and plain[1]["units"] == pytest.approx(1.0)
    valued = protected_demand(
        own, sets, name, "S1", 0, 0, 2.0, own_value=1.0, set_value=np.array([3.0, 0.0, 5.0])
    )
    assert [p["region"] for p in valued] == [
        "orders promised within 1 day from R4",  # worth 3 > the own pickups' 1
        "pickups at S1 that refuse transfers",
    ]  # R7's set is worth nothing at this stock; R9's set does not hold node 0
    assert protected_demand(own, None, name, "S1", 0, 0, 2.0, own_value=0.0) == []
