"""Write a simulation's outputs: ``kpis.json``, ``days.csv`` and a self-contained
``report.html`` that a planner reads.

The page needs nothing from the network when opened: styles and the one script are inline,
charts are matplotlib SVGs embedded as ``data:`` URIs, and every piece of text that comes
from a scenario (names, descriptions, node codes, meta) is HTML-escaped.

Colours in the KPI table follow each KPI's direction (``KPI_DIRECTION``: −1 lower is
better, +1 higher is better, 0 neither): a paired difference is green or red only when its
95 % confidence interval excludes zero.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.simulation.result import (
    KPI_NAMES,
    Interval,
    NodeVolume,
    ScenarioResult,
    SimulationResult,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "KPI_DIRECTION",
    "KPI_LABELS",
    "REQUIRED_KPIS",
    "kpis_document",
    "render_html",
    "summary_lines",
    "write_outputs",
]

REQUIRED_KPIS: tuple[str, ...] = (
    "orders",
    "cost_per_order",
    "shipping_cost",
    "handling_cost",
    "penalty_cost",
    "split_rate",
    "fill_rate",
    "mean_distance_km",
    "promise_attainment",
    "ship_from_store_share",
    "pickup_share",
    "lost_units_online",
    "lost_units_walkin",
    "hindsight_cost",
    "hindsight_gap",
)
"""The keys ``kpis.json`` promises for every scenario (the issue's list); all of
``KPI_NAMES`` are written too."""


@dataclass(frozen=True)
class _Kpi:
    label: str
    unit: str  # "money", "share", "count", "ratio", "km"
    direction: int  # -1 lower is better, +1 higher is better, 0 neither
    hint: str = ""


_KPI: dict[str, _Kpi] = {
    "orders": _Kpi("Online orders", "count", 0, "orders routed over the horizon"),
    "units": _Kpi("Units ordered online", "count", 0),
    "cost_per_order": _Kpi("Cost per order", "money", -1, "shipping + handling + penalties"),
    "total_cost": _Kpi("Total cost", "money", -1),
    "shipping_cost": _Kpi("Shipping cost", "money", -1),
    "handling_cost": _Kpi("Handling cost", "money", -1),
    "penalty_cost": _Kpi("Penalty cost", "money", -1, "late and unfilled-order penalties"),
    "shipments_per_order": _Kpi("Shipments per order", "ratio", -1),
    "split_rate": _Kpi("Split rate", "share", -1, "orders shipped in more than one parcel"),
    "units_per_shipment": _Kpi("Units per shipment", "ratio", 1),
    "fill_rate": _Kpi("Fill rate", "share", 1, "ordered units that were shipped or picked up"),
    "mean_distance_km": _Kpi("Mean shipping distance", "km", -1),
    "promise_attainment": _Kpi("Delivery promise met", "share", 1),
    "ship_from_store_share": _Kpi("Ship-from-store share", "share", 0),
    "pickup_share": _Kpi("Pickup share", "share", 0),
    "lost_units_online": _Kpi("Lost units, online", "count", -1),
    "lost_units_walkin": _Kpi("Lost units, walk-in", "count", -1),
    "walkin_units": _Kpi("Walk-in units sold", "count", 0),
    "rejections": _Kpi("Store rejections", "count", -1, "unit not found on the shelf"),
    "reroutes": _Kpi("Reroutes", "count", -1),
    "node_utilization": _Kpi("Node utilization", "share", 0, "mean over capped nodes"),
    "hindsight_cost": _Kpi("Hindsight bound", "money", 0, "perfect-information total cost"),
    "hindsight_gap": _Kpi("Gap to hindsight bound", "share", -1, "(cost − bound) / cost"),
    "transfer_units": _Kpi("Units transferred", "count", 0, "rebalancing transfers dispatched"),
    "transfer_cost": _Kpi("Transfer cost", "money", -1, "rebalancing; not in total cost"),
}

KPI_DIRECTION: dict[str, int] = {k: v.direction for k, v in _KPI.items()}
"""−1 lower is better, +1 higher is better, 0 neither (a mix, a volume or a bound)."""
KPI_LABELS: dict[str, str] = {k: v.label for k, v in _KPI.items()}

_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Volume", ("orders", "units")),
    (
        "Cost",
        ("cost_per_order", "total_cost", "shipping_cost", "handling_cost", "penalty_cost"),
    ),
    (
        "Service",
        (
            "fill_rate",
            "promise_attainment",
            "mean_distance_km",
            "lost_units_online",
            "lost_units_walkin",
        ),
    ),
    ("Parcels", ("shipments_per_order", "split_rate", "units_per_shipment")),
    ("Channel mix", ("ship_from_store_share", "pickup_share", "walkin_units")),
    ("Store operations", ("rejections", "reroutes", "node_utilization")),
    ("Optimality", ("hindsight_cost", "hindsight_gap")),
    ("Rebalancing", ("transfer_units", "transfer_cost")),
)

_HEADLINE: tuple[str, ...] = (
    "cost_per_order",
    "fill_rate",
    "promise_attainment",
    "split_rate",
    "mean_distance_km",
    "lost_units_online",
    "hindsight_gap",
)

_PALETTE = (
    "#2563eb",
    "#ea580c",
    "#16a34a",
    "#9333ea",
    "#dc2626",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)
_WAREHOUSE_COLOUR = "#c2410c"
_STORE_COLOUR = "#2563eb"
_MAX_NODE_ROWS = 25


# --------------------------------------------------------------------------- statistics


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def _interval(values: Iterable[float]) -> Interval | None:
    """Mean and 95 % Student-t interval of the finite values (None when there are none)."""
    xs = [float(v) for v in values if _finite(v)]
    if not xs:
        return None
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return Interval(mean, mean, mean, n)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = _t975(n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def _kpi_interval(scenario: ScenarioResult, kpi: str) -> Interval | None:
    """The scenario's interval for ``kpi``; computed from its runs if the engine left it out."""
    found = scenario.kpis.get(kpi)
    if found is not None:
        return found
    return _interval(run.kpis.get(kpi, math.nan) for run in scenario.runs)


def _paired(result: SimulationResult, scenario: ScenarioResult, kpi: str) -> Interval | None:
    """Scenario − base for ``kpi`` (mean and CI across seeds); from ``result.paired`` or, if
    the engine left it out, from the runs on the seeds both share."""
    found = result.paired.get(scenario.name, {}).get(kpi)
    if found is not None:
        return found
    base = {run.seed: run.kpis.get(kpi, math.nan) for run in result.base.runs}
    return _interval(
        run.kpis.get(kpi, math.nan) - base[run.seed] for run in scenario.runs if run.seed in base
    )


def _kpi_names(result: SimulationResult) -> list[str]:
    """KPI_NAMES in report order, then any other KPI a scenario reports."""
    names = list(KPI_NAMES)
    for scenario in result.scenarios:
        extra: set[str] = set(scenario.kpis)
        for run in scenario.runs:
            extra.update(run.kpis)
        names.extend(sorted(extra - set(names)))
    return names


def _num(x: Any) -> float | None:
    return float(x) if _finite(x) else None


# --------------------------------------------------------------------------- kpis.json


def kpis_document(result: SimulationResult) -> dict[str, Any]:
    """The ``kpis.json`` object: scenario name → means, ``ci``, ``policy`` and, for the
    alternatives, ``vs_base`` (paired differences). Non-finite numbers become ``null``."""
    names = [s.name for s in result.scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique, got {names}")
    kpis = _kpi_names(result)
    doc: dict[str, Any] = {}
    for i, scenario in enumerate(result.scenarios):
        entry: dict[str, Any] = {
            "policy": scenario.policy,
            "description": scenario.description,
            "seeds": [run.seed for run in scenario.runs],
        }
        ci: dict[str, dict[str, float | int | None]] = {}
        for kpi in kpis:
            iv = _kpi_interval(scenario, kpi)
            entry[kpi] = None if iv is None else _num(iv.mean)
            ci[kpi] = {
                "low": None if iv is None else _num(iv.low),
                "high": None if iv is None else _num(iv.high),
                "n": 0 if iv is None else iv.n,
            }
        entry["ci"] = ci
        if i > 0:
            vs: dict[str, dict[str, float | int | None]] = {}
            for kpi in kpis:
                d = _paired(result, scenario, kpi)
                vs[kpi] = {
                    "mean": None if d is None else _num(d.mean),
                    "low": None if d is None else _num(d.low),
                    "high": None if d is None else _num(d.high),
                    "n": 0 if d is None else d.n,
                }
            entry["vs_base"] = vs
        doc[scenario.name] = entry
    return doc


# --------------------------------------------------------------------------- days.csv


def _write_days(result: SimulationResult, path: Path) -> None:
    kpis = list(KPI_NAMES)
    extra: set[str] = set()
    for scenario in result.scenarios:
        for run in scenario.runs:
            for day in run.days:
                extra.update(day)
    kpis.extend(sorted(extra - set(kpis) - {"day"}))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["scenario", "policy", "seed", "day", *kpis])
        for scenario in result.scenarios:
            for run in scenario.runs:
                for day in run.days:
                    writer.writerow(
                        [
                            scenario.name,
                            scenario.policy,
                            run.seed,
                            _csv_value(day.get("day")),
                            *(_csv_value(day.get(k)) for k in kpis),
                        ]
                    )


def _csv_value(x: Any) -> str:
    if not _finite(x):
        return ""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return repr(float(x))


# --------------------------------------------------------------------------- formatting


def _info(kpi: str) -> _Kpi:
    return _KPI.get(kpi, _Kpi(kpi.replace("_", " ").capitalize(), "ratio", 0))


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _fmt(value: float | None, unit: str, *, signed: bool = False) -> str:
    """A KPI value (or, ``signed``, a difference) for display; shares in % (differences in
    percentage points)."""
    if value is None or not _finite(value):
        return "—"
    sign = "+" if signed else ""
    if unit == "share":
        text = f"{value * 100:{sign},.1f}" + (" pp" if signed else "%")
    elif unit == "money":
        text = f"{value:{sign},.{0 if abs(value) >= 1_000 else 2}f}"
    elif unit == "count":
        text = f"{value:{sign},.{0 if abs(value) >= 100 or float(value).is_integer() else 1}f}"
    elif unit == "km":
        text = f"{value:{sign},.1f} km"
    else:
        text = f"{value:{sign},.{2 if abs(value) < 100 else 1}f}"
    return _minus(text)


def _fmt_ci(iv: Interval | None, unit: str, *, signed: bool = False, bounded: bool = False) -> str:
    """``[low, high]``; ``bounded`` truncates a KPI's interval to its possible range (every
    known KPI is ≥ 0 and shares are ≤ 1; a t interval on few seeds can overshoot)."""
    if iv is None:
        return ""
    if iv.n < 2 or not (_finite(iv.low) and _finite(iv.high)):
        return f"n = {iv.n}, no CI"
    lo, hi = iv.low, iv.high
    if bounded:
        lo = max(lo, 0.0)
        hi = max(min(hi, 1.0), lo) if unit == "share" else max(hi, lo)
    low = _fmt(lo, unit, signed=signed).removesuffix(" pp").removesuffix(" km")
    high = _fmt(hi, unit, signed=signed)
    return f"[{low}, {high}]"


def _verdict(kpi: str, diff: Interval | None) -> str:
    """'better', 'worse', 'ns' (CI includes 0 or no CI), 'same' or 'neutral'."""
    if diff is None or not _finite(diff.mean):
        return "neutral"
    direction = _info(kpi).direction
    if diff.mean == 0 and diff.low == 0 and diff.high == 0:
        return "same"
    if direction == 0:
        return "neutral"
    significant = diff.n >= 2 and (diff.low > 0 or diff.high < 0)
    if not significant:
        return "ns"
    return "better" if diff.mean * direction > 0 else "worse"


def _relative(diff: Interval | None, base: Interval | None, unit: str) -> str:
    if unit == "share" or diff is None or base is None or not _finite(diff.mean):
        return ""
    if not _finite(base.mean) or base.mean == 0:
        return ""
    return _minus(f"{diff.mean / abs(base.mean) * 100:+.1f}%")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _mpl_text(text: str) -> str:
    """Scenario text for matplotlib: ``$`` would start mathtext."""
    return text.replace("$", r"\$")


def _currency(result: SimulationResult) -> str:
    cur = result.meta.get("currency")
    return str(cur) if isinstance(cur, str) and cur else ""


def _label(kpi: str, currency: str) -> str:
    info = _info(kpi)
    if info.unit == "money" and currency:
        return f"{info.label} ({currency})"
    return info.label


# --------------------------------------------------------------------------- charts


def _svg_img(fig: Figure, alt: str, css_class: str = "chart") -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="{css_class}" alt="{_e(alt)}" src="data:image/svg+xml;base64,{data}">'


def _rc() -> dict[Any, Any]:
    return {
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#9aa5b1",
        "axes.labelcolor": "#334155",
        "xtick.color": "#52606d",
        "ytick.color": "#52606d",
        "grid.color": "#e5e9f0",
        "svg.fonttype": "path",
        "svg.hashsalt": "omni-router-report",
    }


def _day_series(
    scenario: ScenarioResult, kpi: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    by_day: dict[float, list[float]] = {}
    for run in scenario.runs:
        for row in run.days:
            day, value = row.get("day"), row.get(kpi)
            if _finite(day) and _finite(value):
                by_day.setdefault(float(day), []).append(float(value))  # type: ignore[arg-type]
    days, mean, low, high = [], [], [], []
    for day in sorted(by_day):
        iv = _interval(by_day[day])
        if iv is None:
            continue
        days.append(day)
        mean.append(iv.mean)
        low.append(iv.low)
        high.append(iv.high)
    return days, mean, low, high


def _cost_chart(result: SimulationResult, colours: Sequence[str]) -> str:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    currency = _currency(result)
    panels = [k for k in ("total_cost", "cost_per_order") if _any_day_values(result, k)]
    if not panels:
        return '<p class="muted">No daily cost figures in this result.</p>'
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(12.5, 3.9), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, kpi in zip(axes, panels, strict=True):
            for scenario, colour in zip(result.scenarios, colours, strict=False):
                days, mean, low, high = _day_series(scenario, kpi)
                if not days:
                    continue
                ax.fill_between(days, low, high, color=colour, alpha=0.16, linewidth=0)
                ax.plot(
                    days,
                    mean,
                    color=colour,
                    linewidth=2,
                    marker="o" if len(days) <= 31 else None,
                    markersize=3.5,
                    label=_mpl_text(scenario.name),
                )
            ax.set_title(_label(kpi, currency) + " per day", loc="left")
            ax.set_xlabel("Day")
            ax.grid(True, axis="y")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_formatter(
                matplotlib.ticker.FuncFormatter(lambda v, _pos: _minus(f"{v:,.6g}"))
            )
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(
                handles,
                [_shorten(x, 60) for x in labels],
                loc="outside lower center",
                ncols=min(len(handles), 4),
                frameon=False,
            )
        return _svg_img(fig, "Cost per day by scenario, mean across seeds with 95% band")


def _any_day_values(result: SimulationResult, kpi: str) -> bool:
    return any(
        _finite(row.get(kpi)) for s in result.scenarios for run in s.runs for row in run.days
    )


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _map_chart(result: SimulationResult) -> str:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patheffects import withStroke

    located = [n for s in result.scenarios for n in s.nodes if _finite(n.lat) and _finite(n.lon)]
    if not located:
        return '<p class="muted">No node volumes in this result.</p>'
    lats = [n.lat for n in located]
    lons = [n.lon for n in located]
    lat0 = (min(lats) + max(lats)) / 2
    k = max(math.cos(math.radians(lat0)), 0.05)
    pad_lat = max((max(lats) - min(lats)) * 0.08, 0.4)
    pad_lon = max((max(lons) - min(lons)) * 0.08, 0.4)
    x_span = (max(lons) - min(lons) + 2 * pad_lon) * k
    y_span = max(lats) - min(lats) + 2 * pad_lat
    count = len(result.scenarios)
    ncols = min(count, 3)
    nrows = math.ceil(count / ncols)
    panel_w = 12.5 / ncols
    panel_h = min(max((panel_w - 0.6) * y_span / x_span + 0.75, 2.4), 7.5)
    # a tall country fills its height cap before its width: narrow the figure, not the data
    fig_w = min(max(ncols * max((panel_h - 0.75) * x_span / y_span + 1.5, 4.0), 8.0), 12.5)
    title_chars = max(int((fig_w / ncols - 0.9) * 10), 20)  # ~10 bold chars per inch
    max_units = max((n.units for n in located if _finite(n.units)), default=0.0) or 1.0
    max_area = (900.0 if ncols == 1 else 650.0) * (0.6 if len(located) > 150 * count else 1.0)

    def area(units: float) -> float:
        return max(max_area * units / max_units, 14.0)

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(fig_w, panel_h * nrows + 0.9), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for idx, ax in enumerate(axes.flat):
            if idx >= count:
                ax.set_visible(False)
                continue
            scenario = result.scenarios[idx]
            nodes = [n for n in scenario.nodes if _finite(n.lat) and _finite(n.lon)]
            shipped = [n for n in nodes if _finite(n.units) and n.units > 0]
            idle = [n for n in nodes if n not in shipped]
            for kind, marker, colour, z in (
                ("store", "o", _STORE_COLOUR, 3),
                ("warehouse", "s", _WAREHOUSE_COLOUR, 2),
            ):
                group = sorted(
                    (n for n in shipped if (n.type == "warehouse") == (kind == "warehouse")),
                    key=lambda n: -n.units,
                )
                if group:
                    ax.scatter(
                        [n.lon for n in group],
                        [n.lat for n in group],
                        s=[area(n.units) for n in group],
                        marker=marker,
                        c=colour,
                        alpha=0.55 if kind == "store" else 0.75,
                        edgecolors="white" if kind == "store" else "#7c2d12",
                        linewidths=0.6,
                        zorder=z,
                    )
                zero = [n for n in idle if (n.type == "warehouse") == (kind == "warehouse")]
                if zero:
                    ax.scatter(
                        [n.lon for n in zero],
                        [n.lat for n in zero],
                        s=60 if kind == "warehouse" else 22,
                        marker=marker,
                        facecolors="none",
                        edgecolors="#6b7280",
                        linewidths=1.2,
                        linestyle="--" if kind == "warehouse" else "-",
                        zorder=z + 2,
                    )
            for n in nodes:
                if n.type != "warehouse":
                    continue
                units = n.units if _finite(n.units) else 0.0
                text = (
                    f"{n.node}\n{_fmt(units, 'count')} u"
                    if units > 0
                    else f"{n.node}\nshipped nothing"
                )
                ax.annotate(
                    _mpl_text(text),
                    (n.lon, n.lat),
                    xytext=(math.sqrt(area(units)) / 2 + 5 if units > 0 else 10, 0),
                    textcoords="offset points",
                    fontsize=8,
                    color="#7c2d12" if units > 0 else "#6b7280",
                    fontweight="bold",
                    va="center",
                    zorder=6,
                    path_effects=[withStroke(linewidth=3, foreground="white")],
                )
            total = sum(n.units for n in shipped)
            name = "\n".join(textwrap.wrap(scenario.name, title_chars)[:2])
            if len(name.replace("\n", " ")) < len(scenario.name):
                name = _shorten(name, len(name) - 1) if name.endswith("…") else name + "…"
            ax.set_title(
                _mpl_text(name) + f"\n{_fmt(total, 'count')} units shipped",
                loc="left",
                fontsize=10,
            )
            ax.set_xlim(min(lons) - pad_lon, max(lons) + pad_lon)  # same extent in every panel
            ax.set_ylim(min(lats) - pad_lat, max(lats) + pad_lat)
            ax.set_aspect(1 / k, adjustable="box")  # equirectangular around lat0
            ax.grid(True, linewidth=0.6)
            ax.set_facecolor("#f8fafc")
            ax.tick_params(labelsize=8)
            ax.xaxis.set_major_formatter(
                matplotlib.ticker.FuncFormatter(
                    lambda v, _p: f"{abs(v):.0f}°{'E' if v >= 0 else 'W'}"
                )
            )
            ax.yaxis.set_major_formatter(
                matplotlib.ticker.FuncFormatter(
                    lambda v, _p: f"{abs(v):.0f}°{'N' if v >= 0 else 'S'}"
                )
            )
        ref = [max_units, max_units / 4]
        handles = [
            Line2D([], [], marker="s", ls="", color=_WAREHOUSE_COLOUR, ms=9, label="Warehouse"),
            Line2D([], [], marker="o", ls="", color=_STORE_COLOUR, alpha=0.6, ms=9, label="Store"),
            Line2D(
                [], [], marker="o", ls="", mfc="none", mec="#6b7280", ms=7, label="Shipped nothing"
            ),
            *(
                Line2D(
                    [],
                    [],
                    marker="o",
                    ls="",
                    color="#94a3b8",
                    alpha=0.6,
                    ms=math.sqrt(area(u)),
                    label=f"{_fmt(u, 'count')} units",
                )
                for u in ref
            ),
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=len(handles),
            frameon=False,
            fontsize=9,
            handletextpad=0.4,
            columnspacing=1.6,
        )
        return _svg_img(
            fig, "Map of nodes sized by units shipped, one panel per scenario", "chart map"
        )


# --------------------------------------------------------------------------- HTML parts


_CSS = """
:root {
  --fg: #1f2933; --muted: #64748b; --line: #e2e8f0; --bg: #f1f5f9; --card: #fff;
  --better: #166534; --better-bg: #dcfce7; --worse: #991b1b; --worse-bg: #fee2e2;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans",
    "Liberation Sans", Arial, sans-serif;
}
main { max-width: 1340px; margin: 0 auto; padding: 28px 32px 56px; }
header h1 { font-size: 28px; margin: 0 0 4px; letter-spacing: -0.01em; }
header p.sub { margin: 0; color: var(--muted); }
section {
  background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 24px; margin: 20px 0; box-shadow: 0 1px 2px rgba(15, 23, 42, .04);
}
h2 { font-size: 19px; margin: 0 0 4px; }
p.lead { margin: 0 0 14px; color: var(--muted); }
.muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
  border-top: 4px solid var(--c, #64748b); background: #fff; }
.card h3 { margin: 0 0 2px; font-size: 15px; overflow-wrap: anywhere; }
.card .policy { font-size: 12px; color: var(--muted); margin-bottom: 6px; }
.card p { margin: 0; }
.tag { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px;
  border-radius: 999px; background: #e2e8f0; color: #334155; margin-left: 6px;
  vertical-align: 2px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  background: var(--c); margin-right: 6px; vertical-align: 0; }
.findings { display: grid; gap: 12px; }
.finding h3 { margin: 0 0 6px; font-size: 15px; overflow-wrap: anywhere; }
#explain h3 { margin: 18px 0 6px; font-size: 15px; overflow-wrap: anywhere; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; }
.chip { border: 1px solid var(--line); border-radius: 8px; padding: 6px 10px; min-width: 150px;
  background: #f8fafc; }
.chip .k { font-size: 12px; color: var(--muted); }
.chip .v { font-weight: 650; font-size: 15px; font-variant-numeric: tabular-nums; }
.chip .ci { font-size: 11px; color: var(--muted); font-variant-numeric: tabular-nums; }
.chip.better { background: var(--better-bg); border-color: #86efac; }
.chip.better .v { color: var(--better); }
.chip.worse { background: var(--worse-bg); border-color: #fca5a5; }
.chip.worse .v { color: var(--worse); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: #f8fafc; text-align: right; font-size: 13px;
  border-bottom: 2px solid #cbd5e1; overflow-wrap: anywhere; }
thead th:first-child { text-align: left; }
th.scn { border-top: 4px solid var(--c, #64748b); }
table.kpi { table-layout: fixed; }
table.kpi col.kpi { width: 290px; }
td.kpi { white-space: nowrap; }
td.kpi .name { font-weight: 600; }
td.kpi .hint { font-size: 11.5px; color: var(--muted); white-space: normal; }
td.kpi .dir { font-size: 11px; color: var(--muted); margin-left: 4px; }
td.num { text-align: right; white-space: nowrap; }
td.num .v { font-weight: 600; }
td.num .ci { display: block; font-size: 11.5px; color: var(--muted); }
td.delta { text-align: right; white-space: nowrap; border-left: 1px dashed var(--line); }
td.delta .v { font-weight: 650; }
td.delta .rel { font-size: 11.5px; margin-left: 4px; }
td.delta .ci { display: block; font-size: 11.5px; color: var(--muted); }
td.delta.better { background: var(--better-bg); }
td.delta.better .v, td.delta.better .rel { color: var(--better); }
td.delta.worse { background: var(--worse-bg); }
td.delta.worse .v, td.delta.worse .rel { color: var(--worse); }
td.delta.ns .v, td.delta.same .v { color: #475569; font-weight: 500; }
tr.group th { text-align: left; background: #f1f5f9; font-size: 12px; text-transform: uppercase;
  letter-spacing: .06em; color: #475569; padding: 5px 10px; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 12px; color: var(--muted);
  margin: 10px 0 0; }
.legend span.box { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  vertical-align: -2px; margin-right: 5px; border: 1px solid var(--line); }
.bar { position: relative; height: 14px; background: #eef2f7; border-radius: 7px; min-width: 180px;
  overflow: hidden; }
.bar > i { position: absolute; left: 0; top: 0; bottom: 0; background: var(--c, #64748b);
  border-radius: 7px; }
.bar > b { position: absolute; top: 5px; height: 4px; background: #0f172a; opacity: .55;
  border-left: 2px solid #0f172a; border-right: 2px solid #0f172a; border-radius: 1px; }
td.barcell { width: 34%; vertical-align: middle; }
.util { display: flex; align-items: center; gap: 8px; justify-content: flex-end; }
.util .bar { min-width: 70px; width: 70px; height: 8px; }
.util .bar.sm { min-width: 56px; width: 56px; }
.util .shp { font-size: 12px; min-width: 52px; text-align: right; }
table.nodes td { vertical-align: middle; padding: 5px 10px; }
table.nodes th.sub { font-size: 11.5px; font-weight: 500; color: var(--muted); }
table.nodes td.muted { font-size: 12px; }
.tag.wh { background: #ffedd5; color: #9a3412; }
img.chart { width: 100%; height: auto; display: block; }
img.chart.map { width: auto; max-width: 100%; margin: 0 auto; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0;
  font-size: 13px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
"""

_SCRIPT = """
(function () {
  var tries = 0;
  function check() {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.every(function (im) { return im.complete && im.naturalWidth > 0; });
    if (ok) { document.body.dataset.rendered = "ok"; return; }
    if (++tries < 50) { setTimeout(check, 100); } else { document.body.dataset.rendered = "error"; }
  }
  window.addEventListener("load", check);
})();
"""


def _style(colour: str) -> str:
    return f' style="--c: {_e(colour)}"'


def _scenario_cards(result: SimulationResult, colours: Sequence[str]) -> str:
    cards = []
    for i, (s, colour) in enumerate(zip(result.scenarios, colours, strict=False)):
        tag = '<span class="tag">base</span>' if i == 0 else ""
        desc = _e(s.description) if s.description else '<span class="muted">No description.</span>'
        seeds = len(s.runs)
        cards.append(
            f'<div class="card"{_style(colour)}><h3>{_e(s.name)}{tag}</h3>'
            f'<div class="policy">policy <b>{_e(s.policy)}</b> · {seeds} '
            f"seed{'s' if seeds != 1 else ''}</div><p>{desc}</p></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _findings(result: SimulationResult, colours: Sequence[str]) -> str:
    if len(result.scenarios) < 2:
        return ""
    base = result.base
    currency = _currency(result)
    blocks = []
    for s, colour in zip(result.scenarios[1:], colours[1:], strict=False):
        chips = []
        for kpi in _HEADLINE:
            diff = _paired(result, s, kpi)
            if diff is None:
                continue
            info = _info(kpi)
            verdict = _verdict(kpi, diff)
            word = {
                "better": "better",
                "worse": "worse",
                "ns": "not significant",
                "same": "no change",
            }.get(verdict, "")
            rel = _relative(diff, _kpi_interval(base, kpi), info.unit)
            chips.append(
                f'<div class="chip {verdict}"><div class="k">{_e(_label(kpi, currency))}</div>'
                f'<div class="v">{_e(_fmt(diff.mean, info.unit, signed=True))}'
                f"{' (' + _e(rel) + ')' if rel else ''}</div>"
                f'<div class="ci">{_e(_fmt_ci(diff, info.unit, signed=True))}'
                f"{' · ' + word if word else ''}</div></div>"
            )
        blocks.append(
            f'<div class="finding"><h3><span class="swatch"{_style(colour)}></span>'
            f'{_e(s.name)} <span class="muted">vs</span> {_e(base.name)}</h3>'
            f'<div class="chips">{"".join(chips)}</div></div>'
        )
    return (
        '<section id="findings"><h2>What changes</h2>'
        '<p class="lead">Paired differences against the base scenario (same seeds, so the '
        "same customers), with 95% confidence intervals. Green or red only when the interval "
        "excludes zero.</p>"
        f'<div class="findings">{"".join(blocks)}</div></section>'
    )


def _kpi_table(result: SimulationResult, colours: Sequence[str]) -> str:
    currency = _currency(result)
    scenarios = result.scenarios
    head = ['<th scope="col">KPI</th>']
    for i, (s, colour) in enumerate(zip(scenarios, colours, strict=False)):
        tag = '<span class="tag">base</span>' if i == 0 else ""
        head.append(
            f'<th scope="col" class="scn"{_style(colour)}>{_e(s.name)}{tag}'
            f'<div class="muted" style="font-weight:400">{_e(s.policy)}</div></th>'
        )
        if i > 0:
            head.append(
                f'<th scope="col" class="scn"{_style(colour)}>vs base'
                '<div class="muted" style="font-weight:400">paired difference</div></th>'
            )
    ncols = 1 + len(scenarios) + max(len(scenarios) - 1, 0)
    names = _kpi_names(result)
    listed = {k for _, ks in _GROUPS for k in ks}
    groups = [*_GROUPS, ("Other", tuple(k for k in names if k not in listed))]
    rows = []
    for title, kpis in groups:
        present = [k for k in kpis if any(_kpi_interval(s, k) is not None for s in scenarios)]
        if not present:
            continue
        rows.append(f'<tr class="group"><th colspan="{ncols}">{_e(title)}</th></tr>')
        for kpi in present:
            info = _info(kpi)
            arrow = {-1: "↓ lower is better", 1: "↑ higher is better"}.get(info.direction, "")
            cells = [
                f'<td class="kpi"><span class="name">{_e(_label(kpi, currency))}</span>'
                f'<span class="dir">{_e(arrow)}</span>'
                + (f'<div class="hint">{_e(info.hint)}</div>' if info.hint else "")
                + "</td>"
            ]
            base_iv = _kpi_interval(scenarios[0], kpi)
            for i, s in enumerate(scenarios):
                iv = _kpi_interval(s, kpi)
                ci = _fmt_ci(iv, info.unit, bounded=kpi in _KPI)
                cells.append(
                    f'<td class="num"><span class="v">'
                    f"{_e(_fmt(None if iv is None else iv.mean, info.unit))}</span>"
                    f'<span class="ci">{_e(ci)}</span></td>'
                )
                if i > 0:
                    diff = _paired(result, s, kpi)
                    verdict = _verdict(kpi, diff)
                    rel = _relative(diff, base_iv, info.unit)
                    if verdict == "same":
                        cells.append(
                            '<td class="delta same" data-verdict="same">'
                            '<span class="v">no change</span></td>'
                        )
                        continue
                    cells.append(
                        f'<td class="delta {verdict}" data-verdict="{verdict}"><span class="v">'
                        f"{_e(_fmt(None if diff is None else diff.mean, info.unit, signed=True))}"
                        f"</span>"
                        + (f'<span class="rel">{_e(rel)}</span>' if rel else "")
                        + f'<span class="ci">{_e(_fmt_ci(diff, info.unit, signed=True))}</span>'
                        "</td>"
                    )
            rows.append(f'<tr data-kpi="{_e(kpi)}">{"".join(cells)}</tr>')
    legend = (
        '<div class="legend">'
        '<span><span class="box" style="background:var(--better-bg)"></span>better than base '
        "(95% CI excludes 0)</span>"
        '<span><span class="box" style="background:var(--worse-bg)"></span>worse than base '
        "(95% CI excludes 0)</span>"
        "<span>uncoloured: not significant, or a KPI that is neither better nor worse when "
        "it moves</span>"
        "<span>shares in %, their differences in percentage points (pp)</span></div>"
    )
    return (
        '<section id="kpis"><h2>KPIs side by side</h2>'
        '<p class="lead">Mean across seeds with its 95% confidence interval (Student t, '
        "truncated to the possible range) in brackets. Each alternative is followed by its "
        "paired difference from the base.</p>"
        '<div class="table-wrap"><table class="kpi" id="kpi-table">'
        f'<colgroup><col class="kpi">{"<col>" * (ncols - 1)}</colgroup><thead><tr>'
        f"{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"{legend}</section>"
    )


def _hindsight(result: SimulationResult, colours: Sequence[str]) -> str:
    currency = _currency(result)
    rows = []
    gaps = []
    for s in result.scenarios:
        gap = _kpi_interval(s, "hindsight_gap")
        if gap is not None and _finite(gap.high):
            gaps.append(gap.high)
        elif gap is not None and _finite(gap.mean):
            gaps.append(gap.mean)
    scale = max([g for g in gaps if g > 0], default=1.0) * 1.1
    for s, colour in zip(result.scenarios, colours, strict=False):
        cost = _kpi_interval(s, "total_cost")
        bound = _kpi_interval(s, "hindsight_cost")
        gap = _kpi_interval(s, "hindsight_gap")
        bar = ""
        if gap is not None and _finite(gap.mean):
            width = max(min(gap.mean / scale, 1.0), 0.0) * 100
            band = ""
            if gap.n >= 2 and _finite(gap.low) and _finite(gap.high):
                lo = max(min(gap.low / scale, 1.0), 0.0) * 100
                hi = max(min(gap.high / scale, 1.0), 0.0) * 100
                band = f'<b style="left:{lo:.1f}%;width:{max(hi - lo, 0.5):.1f}%"></b>'
            bar = f'<div class="bar"{_style(colour)}><i style="width:{width:.1f}%"></i>{band}</div>'
        money = " " + currency if currency else ""
        rows.append(
            f'<tr><td><span class="swatch"{_style(colour)}></span>{_e(s.name)}</td>'
            f'<td class="num">{_e(s.policy)}</td>'
            f'<td class="num"><span class="v">'
            f"{_e(_fmt(None if cost is None else cost.mean, 'money'))}{_e(money)}</span></td>"
            f'<td class="num"><span class="v">'
            f"{_e(_fmt(None if bound is None else bound.mean, 'money'))}{_e(money)}</span></td>"
            f'<td class="num"><span class="v">'
            f"{_e(_fmt(None if gap is None else gap.mean, 'share'))}</span>"
            f'<span class="ci">{_e(_fmt_ci(gap, "share", bounded=True))}</span></td>'
            f'<td class="barcell">{bar}</td></tr>'
        )
    return (
        '<section id="hindsight"><h2>Gap to the hindsight bound</h2>'
        '<p class="lead">The bound solves the whole horizon at once with perfect information '
        "about every order and receipt: no policy can cost less on the same draws. The gap is "
        "the share of the cost that better decisions could still save, at most. Bars: mean "
        "gap, whisker: its 95% CI.</p>"
        '<div class="table-wrap"><table><thead><tr><th scope="col">Scenario</th>'
        '<th scope="col">Policy</th><th scope="col">Total cost</th>'
        '<th scope="col">Hindsight bound</th><th scope="col">Gap</th><th scope="col"></th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _node_table(result: SimulationResult, colours: Sequence[str]) -> str:
    scenarios = result.scenarios
    per: list[dict[str, NodeVolume]] = [{n.node: n for n in s.nodes} for s in scenarios]
    info: dict[str, NodeVolume] = {}
    for table in per:
        for code, n in table.items():
            info.setdefault(code, n)
    if not info:
        return ""

    def units_of(n: NodeVolume | None) -> float:
        return n.units if n is not None and _finite(n.units) else 0.0

    def peak(code: str) -> float:
        return max((units_of(t.get(code)) for t in per), default=0.0)

    warehouses = sorted((c for c in info if info[c].type == "warehouse"), key=lambda c: -peak(c))
    stores = sorted((c for c in info if info[c].type != "warehouse"), key=lambda c: -peak(c))
    room = max(_MAX_NODE_ROWS - len(warehouses), 5)
    shown = warehouses + stores[:room]
    hidden = stores[room:]
    scale = {  # bars scaled within a node type, so store bars are readable too
        "warehouse": max((peak(c) for c in warehouses), default=0.0) or 1.0,
        "store": max((peak(c) for c in stores), default=0.0) or 1.0,
    }
    top = ['<th scope="col" rowspan="2">Node</th>']
    sub = []
    for s, colour in zip(scenarios, colours, strict=False):
        top.append(
            f'<th scope="colgroup" colspan="2" class="scn"{_style(colour)}>{_e(s.name)}</th>'
        )
        sub.append('<th scope="col" class="sub">Units shipped · shipments</th>')
        sub.append('<th scope="col" class="sub">Utilization</th>')
    rows = []
    for code in shown:
        kind = info[code].type
        cells = [
            f'<td class="kpi"><span class="name">{_e(code)}</span> '
            f'<span class="tag {"wh" if kind == "warehouse" else ""}">{_e(kind)}</span></td>'
        ]
        for table, colour in zip(per, colours, strict=False):
            node = table.get(code)
            if node is None:
                cells.append('<td class="num muted">—</td><td class="num muted">—</td>')
                continue
            units = units_of(node)
            width = max(min(units / scale.get(kind, scale["store"]), 1.0), 0.0) * 100
            ships = _fmt(node.shipments, "count")
            cells.append(
                f'<td class="num"><div class="util"><span class="v">{_e(_fmt(units, "count"))}'
                f'</span><span class="muted shp">{_e(ships)}</span><div class="bar"'
                f'{_style(colour)}><i style="width:{width:.1f}%"></i></div></div></td>'
            )
            if node.utilization is not None and _finite(node.utilization):
                util_w = max(min(node.utilization, 1.0), 0.0) * 100
                hot = "#b91c1c" if node.utilization >= 0.9 else "#0f766e"
                cells.append(
                    f'<td class="num"><div class="util"><span>'
                    f'{_e(_fmt(node.utilization, "share"))}</span><div class="bar sm"'
                    f'{_style(hot)}><i style="width:{util_w:.1f}%"></i></div></div></td>'
                )
            else:
                cells.append('<td class="num muted" title="no order capacity">no cap</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    note = ""
    if hidden:
        totals = [sum(units_of(t.get(c)) for c in hidden) for t in per]
        note = (
            f'<p class="muted">{len(hidden)} more stores not shown; together they shipped '
            + ", ".join(
                f"{_e(_fmt(v, 'count'))} units ({_e(s.name)})"
                for v, s in zip(totals, scenarios, strict=True)
            )
            + ".</p>"
        )
    return (
        '<section id="nodes"><h2>Node volumes and utilization</h2>'
        '<p class="lead">Units and shipments per node over the horizon (mean across seeds). '
        "Utilization is shipments against the node's order capacity, where it has one (red "
        "from 90%). Unit bars are scaled within warehouses and within stores.</p>"
        '<div class="table-wrap"><table class="nodes"><thead>'
        f"<tr>{''.join(top)}</tr><tr>{''.join(sub)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}</section>"
    )


_MAX_EXPLAIN_ROWS = 8
_MAX_REGIONS = 3


def _regions_text(protects: Any, opportunity: bool = False) -> str:
    """The regions a transfer or an opportunity cost protects, largest first."""
    if not isinstance(protects, list) or not protects:
        return "—"
    parts = []
    for p in protects[:_MAX_REGIONS]:
        units = _fmt(_num(p.get("expected_units", p.get("units"))), "count")
        days = p.get("days")
        if opportunity:
            span = "" if _num(days) is None else f", {_fmt(_num(days), 'ratio')} days of demand"
        elif isinstance(days, list | tuple) and len(days) == 2:
            span = f", days {days[0]}–{days[1]}" if days[0] != days[1] else f", day {days[0]}"
        else:
            span = ""
        parts.append(f"{p.get('region', '?')} ({units} units{span})")
    more = len(protects) - _MAX_REGIONS
    return "; ".join(parts) + (f"; {more} more" if more > 0 else "")


def _largest_transfers(transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transfers of a run summed per (from, to, sku) lane, their protects per region
    (units summed, days spanned), largest first."""
    lanes: dict[tuple[str, str, str], dict[str, Any]] = {}
    for t in transfers:
        key = (str(t.get("from")), str(t.get("to")), str(t.get("sku")))
        lane = lanes.setdefault(key, {"units": 0.0, "cost": 0.0, "count": 0, "regions": {}})
        lane["units"] += float(t.get("units", 0))
        lane["cost"] += float(t.get("cost", 0.0))
        lane["count"] += 1
        for p in t.get("protects", []):
            r = lane["regions"].setdefault(
                p["region"], {"region": p["region"], "expected_units": 0.0, "days": None}
            )
            r["expected_units"] += float(p.get("expected_units", 0))
            d = p.get("days")
            if isinstance(d, list | tuple) and len(d) == 2:
                old = r["days"]
                r["days"] = list(d) if old is None else [min(old[0], d[0]), max(old[1], d[1])]
    rows = [
        {
            "from": k[0],
            "to": k[1],
            "sku": k[2],
            "units": v["units"],
            "cost": v["cost"],
            "count": v["count"],
            "protects": sorted(v["regions"].values(), key=lambda r: -r["expected_units"]),
        }
        for k, v in lanes.items()
    ]
    rows.sort(key=lambda r: (-r["units"], -r["cost"], r["from"], r["to"], r["sku"]))
    return rows


def _explain(result: SimulationResult) -> str:
    """Issue 5's explain trace: the largest rebalancing transfers and the dearest
    opportunity costs of each scenario's first seed, with the demand they protect."""
    currency = _currency(result)
    money = f" ({currency})" if currency else ""
    blocks = []
    for s in result.scenarios:
        if not s.runs:
            continue
        run = s.runs[0]
        trace = run.trace
        transfers = trace.get("transfers")
        if isinstance(transfers, list) and transfers:
            lanes = _largest_transfers(transfers)
            rows = "".join(
                f"<tr><td>{_e(t['from'])}</td><td>{_e(t['to'])}</td><td>{_e(t['sku'])}</td>"
                f'<td class="num">{_e(_fmt(t["units"], "count"))}</td>'
                f'<td class="num">{_e(_fmt(t["cost"], "money"))}</td>'
                f'<td class="num">{_e(_fmt(float(t["count"]), "count"))}</td>'
                f"<td>{_e(_regions_text(t['protects']))}</td></tr>"
                for t in lanes[:_MAX_EXPLAIN_ROWS]
            )
            more = len(lanes) - _MAX_EXPLAIN_ROWS
            note = f'<p class="muted">{more} smaller lanes not shown.</p>' if more > 0 else ""
            blocks.append(
                f'<h3 class="explain-transfers">{_e(s.name)}: largest transfers '
                f"(seed {run.seed}, whole run)</h3>"
                '<div class="table-wrap"><table><thead><tr><th scope="col">From</th>'
                '<th scope="col">To</th><th scope="col">SKU</th><th scope="col">Units</th>'
                f'<th scope="col">Cost{_e(money)}</th><th scope="col">Transfers</th>'
                '<th scope="col">Protects (region, expected units, days)</th></tr></thead>'
                f"<tbody>{rows}</tbody></table></div>{note}"
            )
        opportunity = trace.get("opportunity")
        if s.policy == "inventory_aware" and isinstance(opportunity, list):
            when = ""
            if "opportunity_day" in trace:
                minute = int(trace.get("opportunity_minute", 0))
                when = f", day {trace['opportunity_day']} {minute // 60:02d}:{minute % 60:02d}"
            rows = "".join(
                f"<tr><td>{_e(o.get('node'))}</td><td>{_e(o.get('sku'))}</td>"
                f'<td class="num">{_e(_fmt(_num(o.get("opportunity_cost")), "money"))}</td>'
                f"<td>{_e(_regions_text(o.get('protects'), opportunity=True))}</td></tr>"
                for o in opportunity[:_MAX_EXPLAIN_ROWS]
            )
            body = (
                '<div class="table-wrap"><table><thead><tr><th scope="col">Node</th>'
                f'<th scope="col">SKU</th><th scope="col">Cost per unit{_e(money)}</th>'
                '<th scope="col">Protects (region, expected units, days of its demand)</th>'
                f"</tr></thead><tbody>{rows}</tbody></table></div>"
                if rows
                else '<p class="muted">No stock had an opportunity cost: every region\'s '
                "expected demand fits in its cheapest node's stock.</p>"
            )
            blocks.append(
                f'<h3 class="explain-opportunity">{_e(s.name)}: highest opportunity costs at '
                f"the last recompute (seed {run.seed}{when})</h3>{body}"
            )
    if not blocks:
        return ""
    return (
        '<section id="explain"><h2>What transfers and reserved stock protect</h2>'
        '<p class="lead">Rebalancing transfers summed per lane over the run, with the '
        "forecast demand (regions and simulated days) their units were sent to serve; and the "
        "units the inventory-aware policy charged most for taking, with the expected demand "
        f"elsewhere they are kept for.</p>{''.join(blocks)}</section>"
    )


def _meta(result: SimulationResult) -> str:
    items = [
        ("Seeds", ", ".join(str(s) for s in result.seeds) or "—"),
        ("Days simulated", str(result.days)),
    ]
    for key, value in result.meta.items():
        if key in ("title",):
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            items.append((str(key), _shorten(str(value), 200)))
        elif isinstance(value, list | tuple) and all(
            isinstance(v, str | int | float | bool) for v in value
        ):
            items.append((str(key), _shorten(", ".join(str(v) for v in value), 200)))
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f'<section id="run"><h2>Run details</h2><dl class="meta">{rows}</dl></section>'


def render_html(result: SimulationResult) -> str:
    """The whole report page as one self-contained HTML string."""
    if not result.scenarios:
        raise ValueError("a simulation result needs at least one scenario")
    colours = [_PALETTE[i % len(_PALETTE)] for i in range(len(result.scenarios))]
    title = str(result.meta.get("title") or "What-if simulation report")
    names = [s.name for s in result.scenarios]
    seeds = len(result.seeds)
    sub = (
        f"{len(names)} scenario{'s' if len(names) != 1 else ''} · {result.days} day"
        f"{'s' if result.days != 1 else ''} · {seeds} seed{'s' if seeds != 1 else ''} "
        "(common random numbers: every scenario sees the same customers)"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(sub)}</p></header>',
        '<section id="scenarios"><h2>Scenarios</h2>'
        '<p class="lead">The first scenario is the base every alternative is compared '
        f"with.</p>{_scenario_cards(result, colours)}</section>",
        _findings(result, colours),
        _kpi_table(result, colours),
        _hindsight(result, colours),
        _protection_curve(result),
        '<section id="cost-per-day"><h2>Cost per day</h2>'
        '<p class="lead">Mean across seeds; the shaded band is the 95% confidence interval '
        f"of the daily mean.</p>{_cost_chart(result, colours)}</section>",
        '<section id="map"><h2>Where the units shipped from</h2>'
        '<p class="lead">Each node sized by the units it shipped over the horizon (mean across '
        "seeds; the same scale in every panel). Squares are warehouses, circles stores; hollow "
        "grey markers shipped nothing.</p>"
        f"{_map_chart(result)}</section>",
        _node_table(result, colours),
        _explain(result),
        _meta(result),
        "<footer>Generated by omni-router. Self-contained: opens offline. Numbers also in "
        "kpis.json and days.csv next to this file.</footer>",
        f"</main><script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _protection_curve(result: SimulationResult) -> str:
    """The store-protection trade-off (``meta["protection_curve"]``, from
    :func:`router.inventory.protection.protection_study`), or nothing."""
    points = result.meta.get("protection_curve")
    if not isinstance(points, list) or not points:
        return ""
    import matplotlib
    from matplotlib.figure import Figure

    currency = _currency(result)
    pts = [p for p in points if isinstance(p, dict)]
    xs = [float(p.get("lost_units_walkin", math.nan)) for p in pts]
    ys = [float(p.get("cost_per_order", math.nan)) for p in pts]
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(8.5, 4.2), layout="constrained")
        ax = fig.subplots()
        for p, x, y in zip(pts, xs, ys, strict=True):
            lo, hi = _num(p.get("cost_per_order_low")), _num(p.get("cost_per_order_high"))
            xlo, xhi = _num(p.get("lost_units_walkin_low")), _num(p.get("lost_units_walkin_high"))
            if lo is not None and hi is not None:
                ax.plot([x, x], [lo, hi], color="#93c5fd", linewidth=1.5)
            if xlo is not None and xhi is not None:
                ax.plot([xlo, xhi], [y, y], color="#93c5fd", linewidth=1.5)
            ax.annotate(
                f"{float(p.get('service_level', 0.0)):g}",
                (x, y),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=9,
            )
        ax.plot(xs, ys, color=_PALETTE[0], marker="o", linewidth=2)
        ax.set_xlabel("Walk-in lost units over the horizon (mean across seeds)")
        ax.set_ylabel(_mpl_text(_label("cost_per_order", currency)))
        ax.set_title("Online cost vs walk-in lost sales, by in-store service level", loc="left")
        ax.grid(True)
        img = _svg_img(fig, "Protection trade-off: online cost per order vs walk-in lost units")
    rows = "".join(
        "<tr>"
        f"<td>{_e(_fmt(_num(p.get('service_level')), 'ratio'))}</td>"
        f"<td>{_e(_fmt(_num(p.get('protected_units')), 'count'))}</td>"
        f"<td>{_e(_fmt(_num(p.get('cost_per_order')), 'money'))}</td>"
        f"<td>{_e(_fmt(_num(p.get('lost_units_walkin')), 'count'))}</td>"
        f"<td>{_e(_fmt(_num(p.get('lost_units_online')), 'count'))}</td>"
        "</tr>"
        for p in pts
    )
    table = (
        "<table><thead><tr><th>Service level</th><th>Units protected</th>"
        "<th>Cost per order</th><th>Walk-in lost units</th><th>Online lost units</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    return (
        '<section id="protection"><h2>Store protection trade-off</h2>'
        '<p class="lead">Each point is one in-store service level: every store holds back the '
        "Poisson quantile of its walk-in demand per sku from online orders. Bars are 95% "
        f"confidence intervals across seeds.</p>{img}{table}</section>"
    )


# --------------------------------------------------------------------------- entry points


def write_outputs(result: SimulationResult, out_dir: Path) -> dict[str, Path]:
    """Write ``kpis.json``, ``days.csv`` and ``report.html`` into ``out_dir`` (created if
    needed); returns their paths under the keys ``kpis``, ``days`` and ``report``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "kpis": out_dir / "kpis.json",
        "days": out_dir / "days.csv",
        "report": out_dir / "report.html",
    }
    doc = kpis_document(result)
    paths["kpis"].write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    _write_days(result, paths["days"])
    paths["report"].write_text(render_html(result), encoding="utf-8")
    return paths


def summary_lines(result: SimulationResult) -> list[str]:
    """A short plain-text summary for the CLI: headline KPIs per scenario, then each
    alternative's significant paired differences."""
    lines = [
        f"{len(result.scenarios)} scenario(s), {result.days} day(s), "
        f"{len(result.seeds)} seed(s); 95% CI across seeds"
    ]
    for s in result.scenarios:
        bits = []
        for kpi in ("cost_per_order", "fill_rate", "split_rate", "promise_attainment"):
            iv = _kpi_interval(s, kpi)
            if iv is not None:
                bits.append(f"{_short(kpi)} {_fmt(iv.mean, _info(kpi).unit)}")
        gap = _kpi_interval(s, "hindsight_gap")
        if gap is not None:
            bits.append(f"gap to hindsight {_fmt(gap.mean, 'share')}")
        lines.append(f"{s.name} [{s.policy}]: " + ", ".join(bits))
    for s in result.scenarios[1:]:
        changes = []
        for kpi in _HEADLINE:
            diff = _paired(result, s, kpi)
            verdict = _verdict(kpi, diff)
            if diff is None or verdict not in ("better", "worse"):
                continue
            unit = _info(kpi).unit
            changes.append(
                f"{_short(kpi)} {_fmt(diff.mean, unit, signed=True)} "
                f"{_fmt_ci(diff, unit, signed=True)} ({verdict})"
            )
        lines.append(
            f"  {s.name} vs {result.base.name}: "
            + ("; ".join(changes) if changes else "no significant change in headline KPIs")
        )
    return lines


def _short(kpi: str) -> str:
    return {
        "cost_per_order": "cost/order",
        "fill_rate": "fill",
        "split_rate": "split",
        "promise_attainment": "promise met",
        "mean_distance_km": "distance",
        "lost_units_online": "lost online",
        "hindsight_gap": "hindsight gap",
    }.get(kpi, kpi)
