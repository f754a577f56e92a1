"""``router``: route, check, generate, demo, serve and load from the command line.

Exit codes: 0 success, 1 a checked plan is invalid, 2 bad input (named errors on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from models import BadInput, FieldError, Plan, Problem, parse_problem
from models.errors import from_validation_error
from router.batch import optimize
from router.check import check_plan
from router.cost import shipment_table, total_cost
from router.data import ProblemData
from router.greedy import route_greedy
from router.result import RoutingResult, SolveParams

EXIT_INVALID = 1
EXIT_BAD_INPUT = 2


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput([FieldError(what, f"cannot read {path}: {exc.strerror or exc}")]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            [FieldError(what, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        ) from exc


def load_problem(path: str) -> Problem:
    return parse_problem(_read_json(path, "problem"))


def load_plan(path: str) -> Plan:
    try:
        return Plan.model_validate(_read_json(path, "plan"))
    except ValidationError as exc:
        raise BadInput(from_validation_error(exc, ("plan",))) from exc


def _write(doc: Any, out: str | None) -> None:
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    if out in (None, "-"):
        sys.stdout.write(text + "\n")
    else:
        Path(out).write_text(text + "\n", encoding="utf-8")


def _params(args: argparse.Namespace, problem: Problem) -> SolveParams:
    limit = args.time_limit if args.time_limit is not None else problem.options.time_limit_s
    return SolveParams(backend=args.backend, time_limit=limit, threads=args.threads)


def cmd_route(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    result = optimize(problem, _params(args, problem))
    _write(result.plan.model_dump(mode="json"), args.output)
    print(_status_line(result), file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    problem = load_problem(args.problem)
    plan = load_plan(args.plan)
    report = check_plan(ProblemData.from_problem(problem), plan)
    cost = report.repriced.cost
    assert cost is not None
    summary = {
        "valid": report.valid,
        "violations": [
            {
                "cause": v.cause,
                "order_id": v.order_id,
                "node": v.node,
                "sku": v.sku,
                "message": v.message,
            }
            for v in report.violations
        ],
        "cost": cost.model_dump(),
    }
    _write(summary, args.output)
    for v in report.violations:
        print(str(v), file=sys.stderr)
    return 0 if report.valid else EXIT_INVALID


def cmd_generate(args: argparse.Namespace) -> int:
    from router.generate import generate

    doc = generate(args.network, args.orders, args.seed)
    parse_problem(doc)  # the generator must speak the contract
    _write(doc, args.output)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from router.generate import generate

    console = Console()
    with console.status(f"Generating a day of {args.orders} orders on the {args.network} network"):
        problem = parse_problem(generate(args.network, args.orders, args.seed))
        data = ProblemData.from_problem(problem)
    with console.status("Routing (rule-based peer, then the optimizer)"):
        base = route_greedy(data)
        base_cost = total_cost(data, base)
        result = optimize(
            data,
            SolveParams(backend=args.backend, time_limit=args.time_limit, threads=args.threads),
        )
    table = Table(
        title=f"{args.network.upper()} demo day: {data.num_orders} orders, "
        f"{data.num_nodes} nodes, {data.num_skus} skus"
    )
    table.add_column("")
    table.add_column("rule-based", justify="right")
    table.add_column("optimized", justify="right")
    rows_b, rows_o = summarize(data, base), summarize(data, result.assignment)
    for key, label, fmt in _SUMMARY_ROWS:
        table.add_row(label, fmt.format(rows_b[key]), fmt.format(rows_o[key]))
    console.print(table)
    saving = (base_cost - result.cost) / base_cost * 100 if base_cost else 0.0
    console.print(f"Saving vs rule-based: [bold]{saving:.2f}%[/]  ·  {_status_line(result)}")
    if args.output:
        _write(result.plan.model_dump(mode="json"), args.output)
    return 0


_SUMMARY_ROWS = [
    ("total", "total cost", "{:,.2f}"),
    ("shipping", "  shipping", "{:,.2f}"),
    ("handling", "  handling", "{:,.2f}"),
    ("penalty", "  unfilled penalty", "{:,.2f}"),
    ("split_rate", "split-shipment rate", "{:.1%}"),
    ("store_share", "units from stores", "{:.1%}"),
    ("warehouse_share", "units from warehouses", "{:.1%}"),
    ("unfilled_units", "unfilled units", "{:,.0f}"),
]


def summarize(data: ProblemData, a: Any) -> dict[str, float]:
    """Cost split, split rate, store vs warehouse share and unfilled units of an assignment."""
    t = shipment_table(data, a)
    shipped = a.shipped_per_line(data)
    unfilled = data.line_qty - shipped
    units = max(int(a.qty.sum()), 1)
    store_units = int(a.qty[data.node_is_store[a.node]].sum())
    per_order = np.bincount(t.order, minlength=data.num_orders)
    served = max(int((per_order > 0).sum()), 1)
    penalty = float(np.dot(unfilled, data.sku_penalty[data.line_sku]))
    return {
        "total": float(t.handling.sum() + t.shipping.sum()) + penalty,
        "shipping": float(t.shipping.sum()),
        "handling": float(t.handling.sum()),
        "penalty": penalty,
        "split_rate": float((per_order > 1).sum()) / served,
        "store_share": store_units / units,
        "warehouse_share": (units - store_units) / units if a.qty.size else 0.0,
        "unfilled_units": float(unfilled.sum()),
    }


def _status_line(result: RoutingResult) -> str:
    bound = "none" if result.bound is None else f"{result.bound:,.2f}"
    gap = "" if result.gap is None else f", gap {result.gap:.4%}"
    return (
        f"{result.status}: cost {result.cost:,.2f}, bound {bound}{gap}, "
        f"{result.timings.total:.2f} s ({result.solver})"
    )


DEMO_ORDERS_PER_DAY = 2000
"""Store capacities of the demo network are sized for a day of this many orders."""


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the HTTP service (uvicorn) on the store that ``ROUTER_DATABASE_URL`` names."""
    import os
    import secrets

    import uvicorn

    from router.service import RoutingService, Settings

    settings = Settings()
    key = None
    if not settings.keys():
        key = secrets.token_urlsafe(24)
        os.environ["ROUTER_API_KEYS"] = f"{key}:admin"  # the workers inherit it
        settings = Settings()
    svc = RoutingService(settings)
    try:
        if args.demo and not svc.get_network().nodes:
            from router.generate import generate

            nodes, records = svc.load_problem(generate("vn", DEMO_ORDERS_PER_DAY, args.seed))
            print(f"Loaded the Vietnam demo network: {nodes} nodes, {records} stock records.")
        example = _curl_example(svc, args.host, args.port, key)
    finally:
        svc.close()
    print(f"Store: {settings.database_url}")
    if key:
        print(f"API key for this run (all scopes; set ROUTER_API_KEYS to choose your own): {key}")
    print(f"API docs: http://{args.host}:{args.port}/docs")
    if example:
        print("Route an order:\n" + example)
    uvicorn.run(
        "api:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
    )
    return 0


def _curl_example(svc: Any, host: str, port: int, key: str | None) -> str:
    network = svc.get_network()
    if not network.nodes or not network.skus:
        return ""
    stocked = svc.inventory().inventory
    sku = max(stocked, key=lambda r: r.atp).sku if stocked else network.skus[0].id
    where = next((n for n in network.nodes if n.type == "warehouse"), network.nodes[0])
    order = {
        "id": "web-1",
        "lat": round(where.lat + 0.05, 4),
        "lon": round(where.lon + 0.05, 4),
        "lines": [{"sku": sku, "qty": 1}],
    }
    return (
        f"  curl -s -X POST http://{host}:{port}/v1/orders \\\n"
        f"    -H 'Authorization: Bearer {key or '<your key>'}' "
        "-H 'Content-Type: application/json' \\\n"
        f"    -d '{json.dumps(order)}'"
    )


def cmd_load(args: argparse.Namespace) -> int:
    """Load a contract file's network and stock into the store (its orders are ignored)."""
    from router.service import RoutingService

    raw = _read_json(args.problem, "problem")
    svc = RoutingService()
    try:
        nodes, records = svc.load_problem(raw)
    finally:
        svc.close()
    print(f"Loaded {nodes} nodes and {records} stock records into {svc.settings.database_url}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Replay scenarios on the same seeds and write kpis.json, days.csv and report.html."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from router.simulation import load_scenario, simulate
    from router.simulation.report import summary_lines, write_outputs

    scenarios = [load_scenario(p) for p in args.scenarios]
    seeds = list(range(args.seeds)) if args.seeds is not None else None
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("simulating", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        result = simulate(scenarios, seeds=seeds, progress=progress)
    paths = write_outputs(result, Path(args.out))
    for line in summary_lines(result):
        print(line)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a scenario on a grid of variations × seeds (Dask, or serially) and write
    sweep.json, sweep.csv and report.html (with kpis.json and days.csv)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from router.simulation import load_scenario
    from router.simulation.report import summary_lines
    from router.simulation.sweep import parse_vary, sweep, write_sweep

    vary = parse_vary(args.vary)
    base = load_scenario(args.scenario)
    seeds = args.seeds if args.seeds is not None else base.seed_list
    client = None if args.serial else (args.scheduler or "local")
    console = Console(stderr=True)
    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
        console=console,
        transient=False,
    ) as bar:
        tasks: list[Any] = []  # the bar appears once the grid is valid and tasks start

        def progress(done: int, total: int, label: str) -> None:
            if not tasks:
                tasks.append(bar.add_task("sweep", total=total, label=label))
            bar.update(tasks[0], completed=done, total=total, label=label)

        result = sweep(base, vary, seeds, client=client, workers=args.workers, progress=progress)
    paths = write_sweep(result, Path(args.out))
    meta = result.meta
    print(
        f"{meta['tasks']} tasks ({len(result.points)} grid points × {len(result.seeds)} seeds), "
        f"{meta['mode']}, {meta['workers']} worker(s), {meta['seconds']:.1f} s"
    )
    for line in summary_lines(result.simulation()):
        print(line)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def cmd_rebalance(args: argparse.Namespace) -> int:
    """Plan transfers between nodes (see :mod:`router.inventory.rebalance`) and write them.

    From a contract problem: stock is each record's atp and the problem's orders are taken
    as one day of demand, repeated over the horizon (no orders: a uniform prior, each sku's
    stock selling over 30 days). From a scenario: its network and initial (scaled) stock,
    and the forecast of its demand model (see :mod:`router.simulation.rebalancing`).
    """
    from router.inventory.rebalance import (
        RebalanceInput,
        catchment_forecast,
        plan_as_dict,
        plan_rebalance,
        uniform_prior,
    )

    if (args.problem is None) == (args.scenario is None):
        raise BadInput([FieldError("problem", "give exactly one of a problem file and --scenario")])
    horizon, lane = args.horizon_days, args.lane_capacity
    if horizon < 1:
        raise BadInput([FieldError("horizon_days", "must be at least 1")])
    if lane is not None and lane < 0:
        raise BadInput([FieldError("lane_capacity", "must be ≥ 0")])
    if args.lead_days < 0:
        raise BadInput([FieldError("lead_days", "must be ≥ 0")])
    lead = min(args.lead_days, horizon)
    if args.problem is not None:
        problem = load_problem(args.problem)
        stock = {
            (r.node, r.sku): max(0, r.on_hand - r.reserved - r.safety_stock)
            for r in problem.inventory
        }
        if problem.orders:
            regions, demand = catchment_forecast(problem.nodes, problem.orders, 1.0, horizon, lead)
        else:
            regions, demand = uniform_prior(problem.nodes, stock, horizon, lead)
        inp = RebalanceInput(
            nodes=problem.nodes,
            skus=problem.skus,
            rates=problem.rates,
            stock=stock,
            regions=regions,
            demand=demand,
            horizon_days=horizon,
            lead_days=lead,
            lane_capacity=lane,
        )
    else:
        from router.simulation import load_scenario
        from router.simulation.network import build_network
        from router.simulation.rebalancing import build_input
        from router.simulation.scenario import RebalanceSpec
        from router.simulation.state import SimState

        sc = load_scenario(args.scenario)
        net = build_network(sc)
        st = SimState(sc, net)
        atp = np.maximum(st.on_hand - st.reserved - st.safety, 0)
        atp[~st.enabled] = 0
        base = sc.rebalance.model_dump() if sc.rebalance else {}
        spec = RebalanceSpec(
            **{**base, "horizon_days": horizon, "lead_days": lead, "lane_capacity": lane}
        )
        inp = build_input(net, sc, spec, st.nodes, st.rates, atp)
    plan = plan_rebalance(inp)
    _write(plan_as_dict(plan), args.output)
    units = sum(t.qty for t in plan.transfers)
    print(
        f"{len(plan.transfers)} transfers, {units} units; expected cost "
        f"{plan.expected_cost_before:,.2f} → {plan.expected_cost_after:,.2f} "
        f"(saving {plan.expected_saving:,.2f}) over {horizon} days",
        file=sys.stderr,
    )
    return 0


def cmd_protection(args: argparse.Namespace) -> int:
    """Store protection trade-off: replay a scenario at several in-store service levels and
    write curve.json, kpis.json, days.csv and report.html (with the curve)."""
    from router.inventory.protection import protection_study
    from router.simulation import load_scenario
    from router.simulation.report import write_outputs

    try:
        levels = [float(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:
        raise BadInput([FieldError("levels", f"not a list of numbers: {args.levels!r}")]) from None
    bad = [x for x in levels if not 0.0 <= x <= 1.0]
    if not levels or bad or len(set(levels)) != len(levels):
        raise BadInput([FieldError("levels", "give distinct service levels in [0, 1]")])
    base = load_scenario(args.scenario)
    seeds = list(range(args.seeds)) if args.seeds is not None else None
    result = protection_study(base, levels, seeds)
    out = Path(args.out)
    paths = write_outputs(result, out)
    curve = out / "curve.json"
    curve.write_text(json.dumps(result.meta["protection_curve"], indent=1) + "\n")
    for p in result.meta["protection_curve"]:
        print(
            f"level {p['service_level']:g}: cost/order {p['cost_per_order']:.3f}, "
            f"walk-in lost {p['lost_units_walkin']:.1f}, online lost {p['lost_units_online']:.1f}"
        )
    for kind, path in {**paths, "curve": curve}.items():
        print(f"{kind}: {path}")
    return 0


def _threads(text: str) -> int:
    """``--threads``: a whole number ≥ 1 (argparse turns the error into exit 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads: {text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"threads: {n} is below 1")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="router", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def solver_args(p: argparse.ArgumentParser, limit: float | None) -> None:
        p.add_argument(
            "--time-limit",
            type=float,
            default=limit,
            metavar="S",
            help="seconds for the optimizer (default: the problem's options)",
        )
        p.add_argument("--backend", choices=["highs", "scip", "cpsat", "scipy"], default="scip")
        p.add_argument(
            "--threads",
            type=_threads,
            default=1,
            help="solver threads (default 1); 2 or more also races the compact MIP on "
            "a second core for a stronger bound",
        )

    p = sub.add_parser("route", help="route a problem file and write the plan")
    p.add_argument("problem", help="problem JSON (contract form), or - for stdin")
    p.add_argument("-o", "--output", help="plan JSON to write (default: stdout)")
    solver_args(p, None)
    p.set_defaults(func=cmd_route)

    p = sub.add_parser("check", help="validate and price a plan; exit 1 when invalid")
    p.add_argument("problem")
    p.add_argument("plan")
    p.add_argument("-o", "--output", help="report JSON to write (default: stdout)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("generate", help="generate a demo problem from real cities")
    p.add_argument("--network", choices=["vn", "us"], default="vn")
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="problem JSON to write (default: stdout)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="route a generated day and print a summary")
    p.add_argument("--network", choices=["vn", "us"], default="vn")
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--output", help="also write the plan JSON here")
    solver_args(p, 20.0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="run the HTTP service (store: ROUTER_DATABASE_URL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--demo", action="store_true", help="seed an empty store with the VN demo")
    p.add_argument("--seed", type=int, default=1, help="seed of the demo network")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("simulate", help="what-if: replay scenarios and compare them, paired")
    p.add_argument("scenarios", nargs="+", help="scenario YAML files; the first is the base")
    p.add_argument("--out", required=True, help="directory for kpis.json, days.csv, report.html")
    p.add_argument("--seeds", type=int, help="run seeds 0..K-1 (default: the base scenario's)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("sweep", help="what-if grid: a scenario × varied values × seeds, on Dask")
    p.add_argument("scenario", help="the base scenario YAML")
    p.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=V1,V2,...",
        help="a dotted path into the scenario and the values to try (YAML scalars); repeat "
        "for a grid, e.g. --vary demand.orders_per_day=1000,2000 --vary policy.kind=myopic,batch",
    )
    p.add_argument("--seeds", type=int, help="run seeds 0..K-1 (default: the scenario's)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler")
    where.add_argument("--serial", action="store_true", help="no Dask: one task at a time here")
    p.add_argument(
        "--workers",
        type=int,
        help="local Dask worker processes of one thread each (default: one per core; the "
        "solvers run 1 thread, so solver threads × workers ≤ cores)",
    )
    p.add_argument("--out", required=True, help="directory for sweep.json, sweep.csv, report.html")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("rebalance", help="plan stock transfers between nodes (min-cost flow)")
    p.add_argument("problem", nargs="?", help="problem JSON (contract form), or - for stdin")
    p.add_argument("--scenario", help="a scenario YAML instead: its network, stock and demand")
    p.add_argument("--horizon-days", type=int, default=7, metavar="D")
    p.add_argument("--lead-days", type=int, default=1, metavar="D", help="transfer lead time")
    p.add_argument("--lane-capacity", type=int, metavar="N", help="units per lane (all skus)")
    p.add_argument("-o", "--output", help="plan JSON to write (default: stdout)")
    p.set_defaults(func=cmd_rebalance)

    p = sub.add_parser("protection", help="store protection levels: the trade-off curve")
    p.add_argument("scenario", help="the base scenario YAML")
    p.add_argument("--levels", default="0,0.5,0.8,0.9,0.95,0.99", help="service levels")
    p.add_argument("--seeds", type=int, help="run seeds 0..K-1 (default: the scenario's)")
    p.add_argument("--out", required=True, help="directory for curve.json and report.html")
    p.set_defaults(func=cmd_protection)

    p = sub.add_parser("load", help="load a problem file's network and stock into the store")
    p.add_argument("problem", help="problem JSON (contract form), or - for stdin")
    p.set_defaults(func=cmd_load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BadInput as exc:
        for err in exc.errors:
            print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
