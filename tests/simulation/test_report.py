"""The simulation report: kpis.json, days.csv and a self-contained report.html that a real
headless browser renders (Debian's chromium, from ``bash tests/system-deps.sh``).

The SimulationResult is built by hand, so these tests do not depend on the engine.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from router.simulation.report import REQUIRED_KPIS, render_html, summary_lines, write_outputs
from router.simulation.result import (
    KPI_NAMES,
    Interval,
    NodeVolume,
    ScenarioResult,
    SeedRun,
    SimulationResult,
)

T975 = {1: 12.706204736174707, 2: 4.302652729749464}  # Student t, 97.5 %, by df

BASE = "Ship-from-store on"
ALT = 'Close DC-South & $5/$8 card <script>document.body.dataset.pwned="yes"</script>'
SEEDS = [11, 12]
DAYS = 3
SUMMED = {
    "orders",
    "units",
    "total_cost",
    "shipping_cost",
    "handling_cost",
    "penalty_cost",
    "lost_units_online",
    "lost_units_walkin",
    "walkin_units",
    "rejections",
    "reroutes",
    "hindsight_cost",
}

# (code, type, lat, lon): warehouses in the three big metros, a few stores
NODES = [
    ("DC-North", "warehouse", 21.0245, 105.8412),
    ("DC-South", "warehouse", 10.8230, 106.6297),
    ("DC-Central", "warehouse", 16.0678, 108.2208),
    ("S-HaiPhong", "store", 20.8648, 106.6834),
    ("S-Hue", "store", 16.4619, 107.5955),
    ("S-NhaTrang", "store", 12.2451, 109.1943),
    ("S-CanTho", "store", 10.0452, 105.7469),
    ("S-Saigon-D1", "store", 10.7769, 106.7009),
]


def _protects(region: str, units: int, first: int, last: int) -> dict[str, Any]:
    return {"region": region, "expected_units": units, "days": [first, last]}


TRACE: dict[str, Any] = {  # the alternative's first seed: rebalancing and opportunity costs
    "transfers": [
        {"day": 0, "from": "DC-North", "to": "S-HaiPhong", "sku": "SKU-1", "units": 12,
         "cost": 30.5, "protects": [_protects("store:S-HaiPhong", 12, 1, 3)]},
        {"day": 1, "from": "DC-North", "to": "S-HaiPhong", "sku": "SKU-1", "units": 8,
         "cost": 20.0, "protects": [_protects("store:S-HaiPhong", 6, 2, 4),
                                    _protects("near:S-HaiPhong", 2, 2, 4)]},
        {"day": 1, "from": "DC-Central", "to": "S-Hue", "sku": "SKU-<2>", "units": 3,
         "cost": 9.0, "protects": [_protects("near:S-Hue", 3, 2, 4)]},
    ],
    "opportunity": [
        {"node": "S-CanTho", "sku": "SKU-1", "opportunity_cost": 7.25,
         "protects": [{"region": "R3(10.05,105.75)", "units": 4.0, "days": 2.5}]},
    ],
    "opportunity_day": 2,
    "opportunity_minute": 90,
}  # fmt: skip


def _interval(xs: list[float]) -> Interval:
    n = len(xs)
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = T975[n - 1] * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def _day_kpis(scenario: int, seed: int, day: int) -> dict[str, float]:
    """Deterministic, plausible daily KPIs; the alternative costs more and fills less."""
    wiggle = (seed % 7) * 0.9 + day * 0.4
    orders = 400.0 + 25 * day + 3 * (seed % 5)
    cost_per_order = 52.0 + wiggle + (6.5 + 0.3 * day if scenario else 0.0)
    total = orders * cost_per_order
    kpis = {name: 0.0 for name in KPI_NAMES}
    kpis.update(
        orders=orders,
        units=orders * 1.6,
        cost_per_order=cost_per_order,
        total_cost=total,
        shipping_cost=total * 0.7,
        handling_cost=total * 0.25,
        penalty_cost=total * 0.05,
        shipments_per_order=1.12 + 0.01 * day + (0.05 if scenario else 0.0),
        split_rate=0.10 + 0.005 * day + (0.04 if scenario else 0.0),
        units_per_shipment=1.45 - 0.01 * day,
        fill_rate=0.985 - 0.002 * day - (0.02 + 0.001 * (seed % 3) if scenario else 0.0),
        mean_distance_km=180.0 + 4 * day + (seed % 3) + (95.0 if scenario else 0.0),
        promise_attainment=0.93 - 0.01 * day - (0.07 if scenario else 0.0),
        ship_from_store_share=0.31 + (0.12 if scenario else 0.0),
        pickup_share=0.12,
        lost_units_online=8.0 + day + (25.0 if scenario else 0.0),
        lost_units_walkin=30.0 + 2 * day + (seed % 4),
        walkin_units=900.0 + 10 * day,
        rejections=6.0 + day + (4.0 if scenario else 0.0),
        reroutes=5.0 + day + (4.0 if scenario else 0.0),
        node_utilization=0.55 + (0.1 if scenario else 0.0) + 0.01 * (seed % 2),
        hindsight_cost=total * (0.9 - 0.01 * (seed % 3)),
    )
    kpis["hindsight_gap"] = (total - kpis["hindsight_cost"]) / total
    return kpis


def _nodes(scenario: int, seed: int) -> list[NodeVolume]:
    out = []
    for i, (code, kind, lat, lon) in enumerate(NODES):
        units = (4000.0 if kind == "warehouse" else 500.0) / (1 + i) + 10 * (seed % 3)
        if scenario and code == "DC-South":
            units = 0.0  # closed: ships nothing
        elif scenario and code == "S-Saigon-D1":
            units *= 4
        util = None if kind == "warehouse" else min(units / 1500.0, 1.0)
        out.append(NodeVolume(code, kind, lat, lon, units, units / 1.5, util))
    return out


def _mean_nodes(runs: list[SeedRun]) -> list[NodeVolume]:
    first = runs[0].nodes
    result = []
    for i, node in enumerate(first):
        units = sum(r.nodes[i].units for r in runs) / len(runs)
        ships = sum(r.nodes[i].shipments for r in runs) / len(runs)
        utils = [r.nodes[i].utilization for r in runs]
        util = None if None in utils else sum(u for u in utils if u is not None) / len(utils)
        result.append(NodeVolume(node.node, node.type, node.lat, node.lon, units, ships, util))
    return result


def build_result() -> SimulationResult:
    """2 scenarios × 2 seeds × 3 days, 8 nodes in Vietnam."""
    scenarios = []
    for s, (name, policy, desc) in enumerate(
        [
            (BASE, "myopic", "Today's network: 3 DCs, ship-from-store in 5 stores."),
            (ALT, "inventory_aware", "Close DC-South on day 1 <b>and</b> re-route its orders."),
        ]
    ):
        runs = []
        for seed in SEEDS:
            days = [{"day": float(d), **_day_kpis(s, seed, d)} for d in range(1, DAYS + 1)]
            totals = {  # sums of the days, and for rates their means
                k: sum(day[k] for day in days) / (1 if k in SUMMED else DAYS) for k in KPI_NAMES
            }
            trace = TRACE if s == 1 and seed == SEEDS[0] else {}
            runs.append(SeedRun(seed, totals, days, _nodes(s, seed), trace=trace))
        kpis = {k: _interval([r.kpis[k] for r in runs]) for k in KPI_NAMES}
        scenarios.append(ScenarioResult(name, policy, runs, kpis, _mean_nodes(runs), desc))
    base_runs = scenarios[0].runs
    paired = {
        scenarios[1].name: {
            k: _interval(
                [a.kpis[k] - b.kpis[k] for a, b in zip(scenarios[1].runs, base_runs, strict=True)]
            )
            for k in KPI_NAMES
        }
    }
    return SimulationResult(
        scenarios, SEEDS, DAYS, paired, meta={"network": "vn", "currency": "kVND"}
    )


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return build_result()


@pytest.fixture(scope="module")
def outputs(result: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_outputs(result, tmp_path_factory.mktemp("report"))


def test_the_three_files_exist(outputs: dict[str, Path]) -> None:
    assert {p.name for p in outputs.values()} == {"kpis.json", "days.csv", "report.html"}
    for path in outputs.values():
        assert path.is_file() and path.stat().st_size > 0


def test_kpis_json_has_every_key_with_the_right_numbers(
    outputs: dict[str, Path], result: SimulationResult
) -> None:
    doc = json.loads(outputs["kpis"].read_text(encoding="utf-8"))
    assert list(doc) == [BASE, ALT]
    for i, scenario in enumerate(result.scenarios):
        entry = doc[scenario.name]
        assert entry["policy"] == scenario.policy
        assert set(REQUIRED_KPIS) <= set(KPI_NAMES) <= set(entry)
        for kpi in KPI_NAMES:
            iv = scenario.kpis[kpi]
            assert isinstance(entry[kpi], float)
            assert entry[kpi] == pytest.approx(iv.mean)
            assert entry["ci"][kpi]["low"] == pytest.approx(iv.low)
            assert entry["ci"][kpi]["high"] == pytest.approx(iv.high)
            assert entry["ci"][kpi]["n"] == 2
        if i == 0:
            assert "vs_base" not in entry
        else:
            for kpi in KPI_NAMES:
                d = result.paired[scenario.name][kpi]
                got = entry["vs_base"][kpi]
                assert (got["mean"], got["low"], got["high"]) == pytest.approx(
                    (d.mean, d.low, d.high)
                )
    # spot-check against numbers computed independently of the Interval objects
    per_seed = [r.kpis["cost_per_order"] for r in result.scenarios[1].runs]
    assert doc[ALT]["cost_per_order"] == pytest.approx(sum(per_seed) / 2)
    base_seed = [r.kpis["cost_per_order"] for r in result.scenarios[0].runs]
    diffs = [a - b for a, b in zip(per_seed, base_seed, strict=True)]
    assert doc[ALT]["vs_base"]["cost_per_order"]["mean"] == pytest.approx(sum(diffs) / 2)
    assert doc[ALT]["vs_base"]["cost_per_order"]["low"] > 0  # it costs more: significant


def test_days_csv_has_one_row_per_scenario_seed_day(
    outputs: dict[str, Path], result: SimulationResult
) -> None:
    with outputs["days"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 3
    assert rows and set(KPI_NAMES) | {"scenario", "seed", "day"} <= set(rows[0])
    keys = {(r["scenario"], int(r["seed"]), int(r["day"])) for r in rows}
    assert keys == {(s, seed, d) for s in (BASE, ALT) for seed in SEEDS for d in (1, 2, 3)}
    for r in rows:
        scenario = next(s for s in result.scenarios if s.name == r["scenario"])
        run = next(run for run in scenario.runs if run.seed == int(r["seed"]))
        day = next(d for d in run.days if d["day"] == int(r["day"]))
        for kpi in KPI_NAMES:
            assert float(r[kpi]) == pytest.approx(day[kpi]), (r["scenario"], kpi)


def test_html_loads_nothing_from_the_network(outputs: dict[str, Path]) -> None:
    page = outputs["report"].read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert refs, "expected embedded images"
    for ref in refs:
        assert ref.startswith(("data:", "#")), ref[:80]
    assert not re.search(r"url\(\s*['\"]?(?!data:|#)", page)
    assert "@import" not in page and "<link" not in page.lower()
    assert "<iframe" not in page.lower()


def test_scenario_text_is_escaped(outputs: dict[str, Path]) -> None:
    page = outputs["report"].read_text(encoding="utf-8")
    assert page.count("<script") == 1  # ours, nothing injected
    assert "&lt;script&gt;document.body.dataset.pwned=&quot;yes&quot;&lt;/script&gt;" in page
    assert "&lt;b&gt;and&lt;/b&gt;" in page and "<b>and</b>" not in page
    assert "Close DC-South &amp; $5/$8 card" in page


def test_report_shows_the_comparison(outputs: dict[str, Path]) -> None:
    page = outputs["report"].read_text(encoding="utf-8")
    assert 'id="kpi-table"' in page
    for kpi in REQUIRED_KPIS:
        assert f'data-kpi="{kpi}"' in page
    # the alternative costs more, fills less: coloured worse; lower-is-better respected
    row = re.search(r'<tr data-kpi="cost_per_order">.*?</tr>', page, flags=re.S)
    assert row and 'data-verdict="worse"' in row.group(0)
    row = re.search(r'<tr data-kpi="fill_rate">.*?</tr>', page, flags=re.S)
    assert row and 'data-verdict="worse"' in row.group(0)
    assert page.count('<img class="chart') == 2  # cost per day, map
    assert "Gap to the hindsight bound" in page


def test_report_explains_transfers_and_opportunity_costs(outputs: dict[str, Path]) -> None:
    page = outputs["report"].read_text()
    assert 'id="explain"' in page
    section = page[page.index('id="explain"') :]
    section = section[: section.index("</section>")]
    assert "largest transfers (seed 11, whole run)" in section
    # DC-North → S-HaiPhong summed over its two transfers, first; regions and days merged
    rows = re.findall(r"<tr><td>(.*?)</tr>", section)
    assert rows[0].startswith("DC-North</td><td>S-HaiPhong</td><td>SKU-1</td>")
    assert ">20<" in rows[0] and ">50.50<" in rows[0] and ">2<" in rows[0]
    assert "store:S-HaiPhong (18 units, days 1–4); near:S-HaiPhong (2 units, days 2–4)" in rows[0]
    assert "SKU-&lt;2&gt;" in section and "SKU-<2>" not in section
    assert "highest opportunity costs at the last recompute (seed 11, day 2 01:30)" in section
    assert "S-CanTho" in section and "7.25" in section
    assert "R3(10.05,105.75) (4 units, 2.50 days of demand)" in section
    assert "seed 12" not in section  # one seed's trace


def test_report_without_traces_has_no_explain_section(result: SimulationResult) -> None:
    plain = [
        ScenarioResult(s.name, "myopic", [SeedRun(r.seed, r.kpis, r.days) for r in s.runs], s.kpis)
        for s in result.scenarios
    ]
    assert 'id="explain"' not in render_html(SimulationResult(plain, SEEDS, DAYS))


def test_summary_lines(result: SimulationResult) -> None:
    lines = summary_lines(result)
    assert lines[1].startswith(BASE)
    assert any("cost/order +" in line and "(worse)" in line for line in lines)


def test_degenerate_results_still_render() -> None:
    r = build_result()
    one_seed = [
        ScenarioResult(
            s.name,
            s.policy,
            s.runs[:1],
            {k: Interval(v.mean, math.nan, math.nan, 1) for k, v in s.kpis.items()},
            [],
        )
        for s in r.scenarios
    ]
    page = render_html(SimulationResult(one_seed, [11], 3, {}, {}))
    assert "n = 1, no CI" in page and "No node volumes" in page


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "chromium is not installed: run `bash tests/system-deps.sh` (as root) to install "
            "it; the report's browser test needs a real headless browser",
            pytrace=False,
        )
    return exe


def test_report_renders_in_a_real_headless_browser(
    outputs: dict[str, Path], tmp_path: Path
) -> None:
    exe = _chromium()
    url = outputs["report"].resolve().as_uri()
    shot = tmp_path / "report.png"
    common = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.Popen(
        [exe, *common, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    snap = subprocess.Popen(
        [
            exe,
            *common,
            f"--user-data-dir={tmp_path / 'p2'}",
            f"--screenshot={shot}",
            "--window-size=1400,2400",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = dom.communicate(timeout=25)
        _, snap_err = snap.communicate(timeout=25)
    finally:
        for proc in (dom, snap):
            if proc.poll() is None:
                proc.kill()
    assert dom.returncode == 0, err[-2000:]
    body = re.search(r"<body[^>]*>", out)
    assert body, out[:500]
    assert 'data-rendered="ok"' in body.group(0), body.group(0)
    assert "data-pwned" not in body.group(0)
    assert 'id="kpi-table"' in out and "Cost per order" in out
    assert 'id="explain"' in out and "S-CanTho" in out

    assert snap.returncode == 0, snap_err[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000
    if keep := os.environ.get("REPORT_SCREENSHOT_DIR"):  # to look at it by eye
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")
        shutil.copy(outputs["report"], Path(keep) / "report.html")
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1300
    rgb = pixels[..., :3].reshape(-1, 3)
    assert float(rgb.std(axis=0).max()) > 0.05, "screenshot is a single colour"
    distinct = {tuple(p) for p in (rgb[:: max(len(rgb) // 20_000, 1)] * 255).astype(int)}
    assert len(distinct) > 50, "screenshot has almost no content"
