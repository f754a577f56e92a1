"""Sweeps: grid expansion, validation errors by ``vary.<key>``, serial == distributed (a
real two-process Dask LocalCluster), outputs, and ``router sweep`` end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from distributed import LocalCluster

from models import BadInput, Order, OrderPlan
from router.cli import main
from router.simulation import KPI_NAMES
from router.simulation.engine import interval
from router.simulation.policies import POLICIES, RuleBasedPolicy
from router.simulation.scenario import PolicySpec, Scenario
from router.simulation.state import StateView
from router.simulation.sweep import (
    SweepResult,
    expand_grid,
    parse_vary,
    sweep,
    sweep_document,
    write_sweep,
)
from tests.simulation.conftest import SMALL, small

TINY: dict[str, Any] = {"days": 2, "demand": {"orders_per_day": 30}, "hindsight": {"enabled": True}}


def tiny(**overrides: Any) -> Scenario:
    base = small(**TINY)
    return base if not overrides else small(**{**TINY, **overrides})


def errors_of(exc: pytest.ExceptionInfo[BadInput]) -> dict[str, str]:
    return {e.path: e.message for e in exc.value.errors}


def exact(d: dict[str, float]) -> dict[str, Any]:
    """KPIs comparable with ==, NaN included (hindsight off gives NaN)."""
    return {k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()}


# ------------------------------------------------------------------------- the grid


def test_grid_is_the_cartesian_product_in_vary_order() -> None:
    base = tiny()
    vary: dict[str, list[Any]] = {
        "demand.orders_per_day": [10, 20],
        "policy.kind": ["myopic", "rule_based"],
        "initial_stock.scale": [1, 2.5],
    }
    points = expand_grid(base, vary)
    assert [p.index for p in points] == list(range(8))
    assert points[0].values == {
        "demand.orders_per_day": 10,
        "policy.kind": "myopic",
        "initial_stock.scale": 1,
    }
    assert points[1].values["initial_stock.scale"] == 2.5  # the last key varies fastest
    assert points[7].values == {
        "demand.orders_per_day": 20,
        "policy.kind": "rule_based",
        "initial_stock.scale": 2.5,
    }
    assert points[5].name == "demand.orders_per_day=20, policy.kind=myopic, initial_stock.scale=2.5"
    assert len({p.name for p in points}) == 8
    for p in points:
        sc = p.scenario
        assert sc.name == p.name
        assert sc.demand.orders_per_day == p.values["demand.orders_per_day"]
        assert sc.policy.kind == p.values["policy.kind"]
        assert sc.initial_stock.scale == p.values["initial_stock.scale"]
        # everything not varied is the base's
        assert sc.demand.walkins_per_store == base.demand.walkins_per_store
        assert sc.network == base.network
        assert sc.days == base.days


def test_paths_into_lists_and_integer_keyed_mappings() -> None:
    base = tiny(changes=[{"day": 0, "ship_from_store": False}], days=3)
    points = expand_grid(base, {"changes[0].day": [1, 2]})
    assert [p.scenario.changes[0].day for p in points] == [1, 2]
    assert all(p.scenario.changes[0].ship_from_store is False for p in points)
    points = expand_grid(base, {"changes.0.ship_from_store": [True]})
    assert points[0].scenario.changes[0].ship_from_store is True
    points = expand_grid(base, {"demand.lines": [{1: 1.0}, {1: 0.5, 2: 0.5}]})
    assert points[1].scenario.demand.lines == {1: 0.5, 2: 0.5}
    # a section that is not set yet is created; a mapping value merges into the section
    points = expand_grid(base, {"rejections": [{"store_accuracy": 1.0}]})
    assert points[0].scenario.rejections.store_accuracy == 1.0
    assert points[0].scenario.rejections.warehouse_accuracy == base.rejections.warehouse_accuracy


def test_every_bad_key_and_value_is_named_by_its_vary_key() -> None:
    base = tiny()
    with pytest.raises(BadInput) as exc:
        expand_grid(
            base,
            {
                "demand.orders_per_day": [10, -5, "many"],
                "policy.kind": ["myopic", "telepathic"],
                "demand.orderz_per_day": [1],
                "days.x": [1],
                "seeds": [3],
                "initial_stock.scale": [1, 1],
                "changes[2].day": [1],
                "a..b": [1],
            },
        )
    by = errors_of(exc)  # the keys themselves first, all at once
    assert set(by) == {"vary.seeds", "vary.initial_stock.scale", "vary.a..b"}
    assert "cannot be varied" in by["vary.seeds"]
    assert "given twice" in by["vary.initial_stock.scale"]
    assert "not a dotted path" in by["vary.a..b"]
    # with the keys fixed, every value is checked (each alone), all errors at once
    with pytest.raises(BadInput) as exc:
        expand_grid(
            base,
            {
                "demand.orders_per_day": [10, -5, "many"],
                "policy.kind": ["myopic", "telepathic"],
                "demand.orderz_per_day": [1],
                "days.x": [1],
                "changes[2].day": [1],
            },
        )
    msgs = [(e.path, e.message) for e in exc.value.errors]
    ours = [m for p, m in msgs if p == "vary.demand.orders_per_day"]
    assert len(ours) == 2  # -5 and "many", each named with its value
    assert any(m.startswith("demand.orders_per_day=-5:") for m in ours)
    assert any(m.startswith("demand.orders_per_day=many:") for m in ours)
    by = dict(msgs)
    assert "telepathic" in by["vary.policy.kind"] and "unknown policy" in by["vary.policy.kind"]
    assert "unknown field" in by["vary.demand.orderz_per_day"]
    assert "not a mapping" in by["vary.days.x"]
    assert "changes" in by["vary.changes[2].day"]


def test_an_error_of_a_combination_names_the_key_it_is_about() -> None:
    base = tiny(days=5, changes=[{"day": 1, "ship_from_store": False}])
    # days=2 is fine alone, changes[0].day=3 is fine alone; together the change is too late
    with pytest.raises(BadInput) as exc:
        expand_grid(base, {"days": [2, 5], "changes[0].day": [1, 3]})
    assert [e.path for e in exc.value.errors] == ["vary.changes[0].day"]
    assert "days=2, changes[0].day=3" in exc.value.errors[0].message
    assert "past the horizon" in exc.value.errors[0].message


def test_empty_vary_and_bad_seeds_are_refused() -> None:
    with pytest.raises(BadInput) as exc:
        expand_grid(tiny(), {})
    assert list(errors_of(exc)) == ["vary"]
    bad_seeds: list[Any] = [0, [], [1, 1], True, "3"]
    for seeds in bad_seeds:
        with pytest.raises(BadInput) as exc:
            sweep(tiny(), {"days": [1]}, seeds)
        assert list(errors_of(exc)) == ["seeds"]
    with pytest.raises(BadInput) as exc:
        sweep(tiny(), {"days": [1]}, 1, workers=2)  # workers mean nothing serially
    assert list(errors_of(exc)) == ["workers"]
    with pytest.raises(BadInput) as exc:
        sweep(tiny(), {"days": [1]}, 1, client="local", workers=10_000)  # > cores
    assert "solver threads × workers ≤ cores" in errors_of(exc)["workers"]


def test_vary_values_parse_as_yaml() -> None:
    vary = parse_vary(
        [
            "demand.orders_per_day=1000,2000",
            "hindsight.enabled=false,true",
            "initial_stock.scale=0.5, 2",
            "policy.kind=myopic,'rule_based'",
            "demand.lines={1: 0.5, 2: 0.5},{1: 1}",
            "policy.wave_minutes=null,[30]",
        ]
    )
    assert vary == {
        "demand.orders_per_day": [1000, 2000],
        "hindsight.enabled": [False, True],
        "initial_stock.scale": [0.5, 2],
        "policy.kind": ["myopic", "rule_based"],
        "demand.lines": [{1: 0.5, 2: 0.5}, {1: 1}],
        "policy.wave_minutes": [None, [30]],
    }
    assert type(vary["demand.orders_per_day"][0]) is int
    with pytest.raises(BadInput) as exc:
        parse_vary(["nokey", "a=1", "a=2", "b=", "c=1,,2", "d=[1"])
    assert errors_of(exc) == {
        "vary": "expected key=v1,v2,..., got 'nokey'",
        "vary.a": "given twice; list all its values in one --vary",
        "vary.b": "empty value in ''",
        "vary.c": "empty value in '1,,2'",
        "vary.d": "not a YAML value: '[1'",
    }


# ------------------------------------------------------------------------- running


class NearestFirst:
    """A policy registered by the caller's code only (not at import of any module)."""

    name = "sweep_test_nearest"

    def __init__(self, spec: PolicySpec) -> None:
        self.inner = RuleBasedPolicy(spec)
        self.wave_minutes = self.inner.wave_minutes

    def route(self, orders: list[Order], view: StateView) -> list[OrderPlan]:
        return self.inner.route(orders, view)


def _check_same(a: SweepResult, b: SweepResult) -> None:
    assert [p.name for p in a.points] == [p.name for p in b.points]
    for ra, rb in zip(a.results, b.results, strict=True):
        assert [r.seed for r in ra.runs] == [r.seed for r in rb.runs]
        for x, y in zip(ra.runs, rb.runs, strict=True):
            assert exact(x.kpis) == exact(y.kpis)
            assert [exact(d) for d in x.days] == [exact(d) for d in y.days]
            assert x.nodes == y.nodes
        assert {k: exact(v.as_dict()) for k, v in ra.kpis.items()} == {
            k: exact(v.as_dict()) for k, v in rb.kpis.items()
        }
    assert sweep_document(a)["points"] == sweep_document(b)["points"]


def test_serial_and_distributed_results_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(POLICIES, "sweep_test_nearest", NearestFirst)
    base = tiny()
    assert base.hindsight.enabled  # the whole task: replay and hindsight bound
    vary = {"policy.kind": ["myopic", "sweep_test_nearest"]}
    seen: list[tuple[int, int]] = []
    serial = sweep(base, vary, [3, 7], progress=lambda d, t, _: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert serial.meta["mode"] == "serial"

    seen.clear()
    # an existing cluster by its scheduler address (`router sweep --scheduler`); the CLI
    # test below starts its own (client="local")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        dist = sweep(
            base,
            vary,
            [3, 7],
            client=cluster.scheduler_address,
            progress=lambda d, t, _: seen.append((d, t)),
        )
    assert dist.meta["mode"] == "scheduler" and dist.meta["workers"] == 2
    assert [d for d, _ in seen if d] == [1, 2, 3, 4] and {t for _, t in seen} == {4}
    _check_same(serial, dist)
    # the runs really differ between points and seeds (the comparison is not vacuous)
    costs = {r.kpis["total_cost"] for res in serial.results for r in res.runs}
    assert len(costs) == 4
    assert all(math.isfinite(r.kpis["hindsight_cost"]) for r in dist.results[0].runs)


def test_aggregates_and_paired_differences_against_the_first_point() -> None:
    res = sweep(tiny(hindsight={"enabled": False}), {"initial_stock.scale": [1, 0.3]}, 3)
    first, low = res.results
    assert [r.seed for r in first.runs] == [0, 1, 2] == [r.seed for r in low.runs]
    for k in ("cost_per_order", "fill_rate", "lost_units_online"):
        assert first.kpis[k] == interval([r.kpis[k] for r in first.runs])
        diff = [b.kpis[k] - a.kpis[k] for a, b in zip(first.runs, low.runs, strict=True)]
        assert res.paired[low.name][k] == interval(diff)
    assert list(res.paired) == [low.name]
    assert set(res.paired[low.name]) == set(KPI_NAMES)
    # common random numbers: the same customers at every grid point
    assert [r.kpis["orders"] for r in first.runs] == [r.kpis["orders"] for r in low.runs]
    assert low.kpis["fill_rate"].mean < first.kpis["fill_rate"].mean  # less stock, less filled


def test_write_sweep(tmp_path: Path) -> None:
    res = sweep(tiny(hindsight={"enabled": False}), {"policy.kind": ["myopic", "rule_based"]}, 2)
    paths = write_sweep(res, tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "sweep.json",
        "sweep.csv",
        "report.html",
        "kpis.json",
        "days.csv",
    }
    doc = json.loads(paths["sweep"].read_text())  # strict JSON: NaN became null
    assert doc["vary"] == {"policy.kind": ["myopic", "rule_based"]}
    assert doc["seeds"] == [0, 1]
    first, second = doc["points"]
    assert first["values"] == {"policy.kind": "myopic"} and first["vs_first"] is None
    assert second["policy"] == "rule_based"
    assert second["kpis"]["cost_per_order"]["n"] == 2
    assert first["kpis"]["hindsight_cost"]["mean"] is None
    vs = second["vs_first"]["cost_per_order"]
    assert vs["mean"] == pytest.approx(
        second["kpis"]["cost_per_order"]["mean"] - first["kpis"]["cost_per_order"]["mean"]
    )
    with paths["csv"].open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["point"], r["policy.kind"], r["seed"]) for r in rows] == [
        ("0", "myopic", "0"),
        ("0", "myopic", "1"),
        ("1", "rule_based", "0"),
        ("1", "rule_based", "1"),
    ]
    assert rows[0]["hindsight_cost"] == ""
    assert float(rows[3]["cost_per_order"]) == res.results[1].runs[1].kpis["cost_per_order"]
    kpis = json.loads(paths["kpis"].read_text())
    assert list(kpis) == [p["name"] for p in doc["points"]]
    html = paths["report"].read_text()
    assert "Sweep of small" in html and "policy.kind=rule_based" in html


# ------------------------------------------------------------------------- the CLI


def _scenario_file(tmp_path: Path) -> Path:
    doc = {**SMALL, **TINY, "name": "tiny-cli", "seeds": 3}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_cli_sweep_end_to_end_on_two_dask_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario_file(tmp_path)
    out = tmp_path / "out"
    argv = ["sweep", str(scenario), "--vary", "demand.orders_per_day=20,40"]
    argv += ["--vary", "hindsight.enabled=false", "--seeds", "2", "--workers", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 tasks (2 grid points × 2 seeds), local cluster, 2 worker(s)" in printed
    for name in ("sweep.json", "sweep.csv", "report.html", "kpis.json", "days.csv"):
        assert (out / name).stat().st_size > 0, name
    doc = json.loads((out / "sweep.json").read_text())
    assert [p["values"] for p in doc["points"]] == [
        {"demand.orders_per_day": 20, "hindsight.enabled": False},
        {"demand.orders_per_day": 40, "hindsight.enabled": False},
    ]
    assert (
        doc["points"][1]["kpis"]["orders"]["mean"] == 2 * doc["points"][0]["kpis"]["orders"]["mean"]
    )
    with (out / "sweep.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 4
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_cli_sweep_bad_input_exits_2_with_named_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario_file(tmp_path)
    out = tmp_path / "never"
    argv = ["sweep", str(scenario), "--vary", "demand.orders_per_day=20,-1"]
    argv += ["--vary", "policy.kind=myopic,psychic", "--vary", "demand.nope=1", "--serial"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: vary.demand.orders_per_day: demand.orders_per_day=-1:" in err
    assert "error: vary.policy.kind: policy.kind=psychic:" in err
    assert "error: vary.demand.nope: demand.nope=1: " in err
    assert not out.exists()
    assert main(["sweep", str(scenario), "--vary", "days", "--out", str(out)]) == 2
    assert "error: vary: expected key=v1,v2,..., got 'days'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: --serial and --scheduler exclude
        main(["sweep", str(scenario), "--vary", "days=1", "--serial", "--scheduler", "x"])
    assert exc.value.code == 2
