"""Store protection levels: the Poisson quantile, the simulator applying it, the trade-off
curve and its report section, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
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
