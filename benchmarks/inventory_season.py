"""Inventory-aware vs myopic routing over a scarce season (issue 5): paired by seed.

    .venv/bin/python benchmarks/inventory_season.py scenarios/vn-season-myopic.yaml \
        scenarios/vn-season-aware.yaml [--seeds 0 1 2] [--days N] [--no-hindsight] \
        [--strong-seconds S] [--patterns-seconds S]

Prints per seed the myopic, aware and hindsight costs, then the mean paired reduction
(myopic − aware) with its Student-t 95 % interval, and the share of the
myopic-to-hindsight gap closed, (myopic − aware) / (myopic − hindsight), per seed and
pooled (Σ reductions / Σ gaps). Seeds run in parallel processes. ``--strong-seconds``
and ``--patterns-seconds`` override the scenario's ``hindsight.strong_time_limit_s`` and
``hindsight.patterns_time_limit_s`` (0: skip that bound, a weaker one in seconds instead of
minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.simulation import load_scenario, run_seed
from router.simulation.engine import interval


def _one(
    path: str,
    seed: int,
    days: int | None,
    hindsight: bool,
    strong: float | None = None,
    patterns: float | None = None,
) -> dict[str, float]:
    sc = load_scenario(path)
    if days is not None:
        sc = sc.replace(days=days)
    if strong is not None:
        sc = sc.replace(hindsight={"strong_time_limit_s": strong})
    if patterns is not None:
        sc = sc.replace(hindsight={"patterns_time_limit_s": patterns})
    r = run_seed(sc, seed, hindsight=hindsight)
    k = r.kpis
    return {
        "total": k["total_cost"],
        "hindsight": k["hindsight_cost"],
        "penalty": k["penalty_cost"],
        "shipping": k["shipping_cost"],
        "handling": k["handling_cost"],
        "fill": k["fill_rate"],
        "seconds": r.stats.get("seconds", float("nan")),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("alt")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--no-hindsight", action="store_true")
    ap.add_argument("--strong-seconds", type=float, default=None)
    ap.add_argument("--patterns-seconds", type=float, default=None)
    a = ap.parse_args()
    jobs = []
    with ProcessPoolExecutor() as pool:
        for s in a.seeds:
            jobs.append(
                (
                    s,
                    pool.submit(
                        _one,
                        a.base,
                        s,
                        a.days,
                        not a.no_hindsight,
                        a.strong_seconds,
                        a.patterns_seconds,
                    ),
                    pool.submit(_one, a.alt, s, a.days, False),
                )
            )
        rows = [(s, b.result(), x.result()) for s, b, x in jobs]
    red, share = [], []
    gap_sum = red_sum = 0.0
    for s, b, x in rows:
        d = b["total"] - x["total"]
        g = b["total"] - b["hindsight"]
        red.append(d)
        share.append(d / g if g == g and g > 0 else float("nan"))
        red_sum += d
        gap_sum += g
        print(json.dumps({"seed": s, "myopic": b, "aware": x, "reduction": d, "gap": g}))
    ci = interval(red)
    rel = interval([d / b["total"] for d, (_, b, _) in zip(red, rows, strict=True)])
    sh = interval(share)
    print(f"reduction (myopic - aware): {ci.mean:.1f}  95% CI [{ci.low:.1f}, {ci.high:.1f}]")
    print(f"relative: {rel.mean:.2%}  95% CI [{rel.low:.2%}, {rel.high:.2%}]")
    pooled = red_sum / gap_sum if gap_sum else float("nan")
    print(
        f"gap closed per seed: {[round(v, 3) for v in share]}  mean {sh.mean:.3f} "
        f"95% CI [{sh.low:.3f}, {sh.high:.3f}]; pooled {pooled:.3f}"
    )


if __name__ == "__main__":
    main()
