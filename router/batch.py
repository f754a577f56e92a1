"""The batch optimizer: an optimal plan for a whole problem, within a time limit.

Pipeline (each step keeps a valid plan in hand, so a time limit never loses one):

1. Data → candidates: every feasible (order, node) shipment, pruned with numpy.
2. Rule-based plan: the first incumbent and the fallback.
3. Dantzig–Wolfe decomposition (:mod:`router.patterns`), above
   :data:`SUPPORT_MIN_PAIRS` candidates: each order's complete plans ("patterns") as
   columns, priced exactly by the single-order search. Its Lagrangian bound is the
   strongest this engine proves (fixed costs are never paid fractionally), and the master
   gives a plan within a few tenths of a percent of it; one pass of fix-and-optimize over
   neighbourhoods of orders (all their candidates) improves that plan.
4. LP relaxation of the compact MIP by column generation: each order starts with its few
   most promising nodes; the other columns are priced with the duals, so the bound holds
   for the full problem while the LP stays small.
5. Rounding: fix what the LP routes integrally, a small MIP for the rest.
6. Reduced-cost fixing against the incumbent: removes most candidates, provably
   without losing any plan cheaper than the incumbent.
7. Exact MIP on what is left, split into independent components (orders interact only
   through binding stock and capacity rows), small ones bundled. Costs and bounds add up.

With ``threads`` ≥ 2 and a mid-size problem the compact MIP also races on a second core
from the start (:mod:`router.mip_race`, a child process; :class:`_Race`): its root cuts
give the bound, the main thread gives it incumbents, and step 3's fix-and-optimize comes
after steps 4–5 (whose support MIP found better plans in the same time: ``us-1000x100`` at
5 s, 22,899.75 against 22,903.21, before the master's one-move neighbours made the
master's plan the optimum there) and repeats while it gains.

Past :data:`LARGE_PAIRS` candidates (a day of a national network) steps 4–7 would not
fit in the time: step 3 takes most of it, then fix-and-optimize over neighbourhoods of
orders improves the master's plan (when a pass gains nothing: bundles shifted by half, then
more candidates per order; without the decomposition's bound, a share of the time is kept
for a Lagrangian one).

The answer is the best valid plan seen, with the best proven bound, ``optimal`` when
they meet (to ``rel_gap``).
"""

from __future__ import annotations

import gc
import time
from dataclasses import replace

import numpy as np

from models import Problem, SolverInfo, SolverStatus
from router.assignment import Assignment
from router.backends import SolveOutcome, solve
from router.candidates import Candidates, build_candidates
from router.check import assignment_violations
from router.components import bundles, order_components
from router.cost import lines_cost, price, total_cost
from router.data import ProblemData
from router.formulation import build_mip, vector_from_assignment
from router.greedy import route_greedy
from router.lagrange import lagrangian_bound
from router.mip_race import MipRace, RaceWorker
from router.neighbourhood import home_bundles, improve
from router.patterns import column_generation as decompose
from router.patterns import master_plan
from router.relaxation import (
    column_generation,
    initial_columns,
    reduced_cost_filter,
    round_relaxation,
    support_mip,
    to_assignment,
)
from router.result import RoutingResult, SolveParams, Timings

LARGE_PAIRS = 300_000
"""Above this many candidate shipments, the fix-and-optimize path (see optimize)."""
LARGE_COLUMNS = (4, 8, 16)
"""Shipments per order the fix-and-optimize path may choose from: the first number, and
the next ones when passes stop gaining."""
LARGE_BUNDLE_ORDERS = 400
"""Orders per neighbourhood re-optimized at once on the fix-and-optimize path."""
INITIAL_COLUMNS = 8
"""Shipments per order in the first restricted LP of column generation."""
SUPPORT_MIN_PAIRS = 5000
"""Below this many candidate shipments the exact MIP is quick enough on its own."""
SUPPORT_SHARE = 0.6
"""Share of the time left for the MIP over the LP's support (the main primal heuristic)."""
BUNDLE_PAIRS = 1500
"""Candidate shipments per bundle of components in the final MIPs."""
DW_SHARE = 0.5
"""Share of the time left for the Dantzig–Wolfe column generation (it stops when it
converges, usually in a few rounds)..."""
DW_SHARE_LARGE = 0.8
"""... and on the large path, where it is the main step."""
MASTER_PLAN_SHARE = 0.95
"""Share of the time then left for the plan from the master (its MIPs are what gains at
short limits: ``vn-day`` at 5 s 42,394 with 0.5, 42,185 with 0.75; with the one-move
neighbours, ``vn-day`` at 10 s on two threads 41,618.07 with 0.95 against 41,725.50 with
0.75; the master returns as soon as its last MIP is proven, so at 60 s the later stages
keep their time: ``us-1000x100`` one thread 0.002 %, ``vn-day`` unchanged)."""
MASTER_PLAN_SHARE_LARGE = 0.5
"""... and on the large path, where fix-and-optimize after it gains more (``us-day`` at 60 s:
gap 0.827 % with 0.5, 0.841 % with 0.75)."""
LAGRANGE_SHARE = 0.2
"""On the large path without the decomposition's bound: share of the time left after the
master kept for the Lagrangian bound."""
MASTER_THREADS = 1
"""Threads of the master's MIPs whatever ``threads`` says: HiGHS on two finds worse plans in
the same time (a generated US problem of 3,000 orders, 554,641 candidates, 5 s: 55,147.78
against 54,944.10 on one)."""
MID_BUNDLE_ORDERS = 200
"""Orders per neighbourhood in the fix-and-optimize pass after the master's plan."""
NEIGHBOURHOOD_SHARE = 0.9
"""Share of the time then left for that pass (on us-1000x100 one pass takes 1.5 s and
brings the master's plan from 0.09 % to 0.02 % above the optimum; with a long limit the
pass ends early and the compact steps get the rest)."""
RACE_SHARE = 0.98
"""With a spare thread, the compact MIP races until this share of the time limit (its root
cuts are the bound), and is killed then if still running (HiGHS overruns its own limit in
long presolves). The plan is priced before, while it runs."""
STAGES_SHARE = 0.92
"""The main stages' deadline, as a share of the limit (less 0.05 s): the rest is for
extracting and pricing the plan (and reading the race, if any). It was 0.85 without a
race: with 0.92, ``vn-day`` at 5 s on one thread gives 41,728.69–41,729.15 in 6 of 8
runs instead of 42,184.64–42,393.81 (its master MIP's last improvement needs the time);
other instances are unchanged, and no call overran once the component MIPs no longer
start without time for their set-up (:data:`COMPONENT_SECONDS_PER_PAIR`)."""
COMPONENT_SECONDS_PER_PAIR = 2e-5
"""The component MIPs (step 7) start only with this much time per candidate shipment left
on top of :data:`MIN_STAGE_SECONDS`: building the full model, its components and each
bundle's solver costs time whatever the MIPs' limits (``us-1000x100``, 26,523 candidates:
the stage took 0.46 s when started with 0.29 s left)."""
MIN_STAGE_SECONDS = 0.1
"""A stage of the compact path (steps 4–7) starts only with this much time left (or 2 % of
the limit, if less): each has a fixed cost (models to build, solvers to start) that would
otherwise run past the limit (``vn-day`` at 5 s ended at 5.22 s: its component MIPs had
started with 0.01 s left)."""
MIN_RACE_SECONDS = 1.0
"""With a spare thread a mid-size problem always races (below this, no process is worth
starting). The race used to wait for (nonzeros / 75,000)² seconds, what HiGHS needed for
presolve, root LP and a first cut round; with the folded model and no presolve it starts
cutting at once, and even a race too short for a useful bound is the better use of the
second core: the main stages then run their MIPs on one thread, which on ``vn-day`` finds
better plans than two (10 s: 41,724.93 against 41,899.50; 15 s: 41,630.76 with bound
41,576.13 against 41,779.78 with 41,534.64), and on a generated US day of 138,275
candidate shipments at 5 s 19,051.93 (gap 0.133 %) against 19,081.89 (0.289 %)."""


class _Best:
    """The incumbent: the cheapest valid assignment seen so far."""

    def __init__(self, data: ProblemData, a: Assignment) -> None:
        self.data, self.a, self.cost = data, a, total_cost(data, a)

    def offer(self, a: Assignment | None) -> bool:
        if a is None or assignment_violations(self.data, a):
            return False
        cost = total_cost(self.data, a)
        if cost < self.cost - 1e-9:
            self.a, self.cost = a, cost
            return True
        return False


class _Clock:
    """Time left for solver stages: the limit less a margin for extracting and pricing."""

    def __init__(self, limit: float) -> None:
        self.start = time.perf_counter()
        self.deadline = self.start + max(limit * STAGES_SHARE - 0.05, limit * 0.5)

    def left(self) -> float:
        return max(self.deadline - time.perf_counter(), 0.0)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class _Race:
    """The compact MIP racing on a second core (:mod:`router.mip_race`), with the candidates
    its vectors are over."""

    def __init__(
        self,
        data: ProblemData,
        cand: Candidates,
        race: MipRace,
        clock: _Clock,
        params: SolveParams,
    ) -> None:
        self.data, self.cand, self.race = data, cand, race
        self.offered = float("inf")
        # the latest moment to wait for it: HiGHS overruns its own limit in long presolves
        self.end = clock.start + params.time_limit * RACE_SHARE

    def finish(self, stop: bool, reserve: float = 0.0) -> SolveOutcome:
        """The race's outcome, waited for until its end less ``reserve`` seconds (kept for
        pricing its plan if that is better)."""
        wait = max(self.end - reserve - time.perf_counter(), 0.0)
        return self.race.finish(stop=stop, wait=wait)

    @staticmethod
    def spawn(cand: Candidates, params: SolveParams, clock: _Clock) -> RaceWorker | None:
        """A worker process, started (it imports while the baseline and the model are
        built) when there is a spare thread and the problem is the mid-size kind."""
        if params.threads < 2 or not SUPPORT_MIN_PAIRS < cand.num_pairs <= LARGE_PAIRS:
            return None
        if params.time_limit * RACE_SHARE - clock.elapsed() < MIN_RACE_SECONDS:
            return None
        try:
            return RaceWorker()
        except OSError:  # no process to be had (descriptors, memory): no race, no harm
            return None

    @classmethod
    def start(
        cls,
        data: ProblemData,
        cand: Candidates,
        params: SolveParams,
        clock: _Clock,
        worker: RaceWorker | None,
    ) -> _Race | None:
        """The race on ``worker``'s process (the model is built here), or None without one."""
        if worker is None:
            return None
        try:
            model = build_mip(data, cand)
        except BaseException:
            worker.cancel()
            raise
        seconds = params.time_limit * RACE_SHARE - clock.elapsed()
        try:
            race = MipRace(model, seconds, gap=params.rel_gap, worker=worker)
        except OSError:  # the worker died, a file could not be written: no race, no harm
            return None
        return cls(data, cand, race, clock, params)

    @staticmethod
    def check(race: _Race | None, best: _Best, bound: float | None) -> float | None:
        """Hand the race the incumbent if it improved; the race's bound if it has ended."""
        if race is None:
            return bound
        if best.cost < race.offered - 1e-9:
            a = best.a
            vec = vector_from_assignment(
                race.race.model, race.cand, race.data, a.order, a.node, a.sku, a.qty
            )
            if vec is not None:
                race.race.offer(vec)
                race.offered = best.cost
        if race.race.done:
            return race.absorb(race.finish(stop=False), best, bound)
        return bound

    def absorb(self, out: SolveOutcome, best: _Best, bound: float | None) -> float | None:
        """The race's plan offered to ``best`` if cheaper; the better of the two bounds."""
        if out.values is not None and out.objective is not None and out.objective < best.cost:
            best.offer(to_assignment(self.data, self.cand, self.race.model.x(out.values)))
        if out.bound is None:
            return bound
        return out.bound if bound is None else max(bound, out.bound)


def _proven(cost: float, bound: float | None, rel_gap: float) -> bool:
    return bound is not None and cost - bound <= rel_gap * max(abs(cost), 1.0) + 1e-9


def _fix_and_optimize(
    data: ProblemData,
    cand: Candidates,
    best: _Best,
    bound: float | None,
    race: _Race | None,
    params: SolveParams,
    clock: _Clock,
    stats: dict[str, float],
) -> float | None:
    """Fix-and-optimize over bundles of neighbouring orders with all their candidates in
    ``cand`` (the master only knows the patterns it priced, a neighbourhood's compact MIP
    knows them all; after reduced-cost fixing, every candidate a cheaper plan can use):
    one pass, or with a race (which proves the bound) passes while they gain. The bound,
    raised by the race if it has ended."""
    groups = home_bundles(data, cand, MID_BUNDLE_ORDERS)
    while clock.left() > 0.2 and not _proven(best.cost, bound, params.rel_gap):
        before = best.cost
        seconds = clock.left() * NEIGHBOURHOOD_SHARE
        best.offer(improve(data, cand, best.a, groups, params.backend, seconds, params.threads))
        stats["neighbourhood_cost"] = best.cost
        stats["passes"] = stats.get("passes", 0.0) + 1
        bound = _Race.check(race, best, bound)
        if race is None or best.cost > before - 1e-6 * abs(before):
            break
    return bound


def optimize(problem: Problem | ProblemData, params: SolveParams | None = None) -> RoutingResult:
    """Least-cost plan for ``problem``; see the module docstring for the pipeline."""
    params = params or SolveParams()
    clock = _Clock(params.time_limit)
    data = problem if isinstance(problem, ProblemData) else ProblemData.from_problem(problem)
    cand = build_candidates(data)
    t_cand = clock.elapsed()
    worker = _Race.spawn(cand, params, clock)
    best = _Best(data, route_greedy(data, cand))
    t_base = clock.elapsed()
    stats: dict[str, float] = {
        "pairs": float(cand.num_pairs),
        "arcs": float(cand.num_arcs),
        "baseline_cost": best.cost,
    }
    bound: float | None = best.cost if cand.num_pairs == 0 else None  # nothing can ship

    min_stage = min(MIN_STAGE_SECONDS, 0.02 * params.time_limit)
    race = _Race.start(data, cand, params, clock, worker)
    if race is not None:
        params = replace(params, threads=params.threads - 1)  # one core is the race's
        stats["race"] = 1.0

    if cand.num_pairs > SUPPORT_MIN_PAIRS and not _proven(best.cost, bound, params.rel_gap):
        large = cand.num_pairs > LARGE_PAIRS
        share = DW_SHARE_LARGE if large else DW_SHARE
        dec = decompose(data, cand, best.a, clock.left() * share)
        if dec is not None:
            bound = dec.bound
            stats.update(
                dw_bound=dec.bound,
                dw_lp=dec.lp,
                dw_rounds=dec.rounds,
                dw_columns=len(dec.pool),
                dw_seconds=dec.seconds,
            )
            best.offer(
                master_plan(
                    data,
                    cand,
                    dec,
                    clock.left() * (MASTER_PLAN_SHARE_LARGE if large else MASTER_PLAN_SHARE),
                    MASTER_THREADS,
                )
            )
            stats["dw_cost"] = best.cost
            bound = _Race.check(race, best, bound)
            if race is None and cand.num_pairs <= LARGE_PAIRS:
                bound = _fix_and_optimize(data, cand, best, bound, None, params, clock, stats)

    if cand.num_pairs > LARGE_PAIRS:
        # Too large for the compact LP in the time limit: fix-and-optimize over bundles of
        # neighbouring orders on restricted candidates, from the master's plan.
        # A pass that gains nothing moves on to the next neighbourhoods: bundles shifted by
        # half, then twice the candidates per order.
        variants = [(c, off) for c in LARGE_COLUMNS for off in (0, LARGE_BUNDLE_ORDERS // 2)]
        # Without the decomposition's bound, a share of the time is kept for the
        # Lagrangian one (the passes would otherwise take it all).
        reserve = LAGRANGE_SHARE * clock.left() if bound is None else 0.0
        for columns, offset in variants:
            if clock.left() - reserve <= 0.5 or _proven(best.cost, bound, params.rel_gap):
                break
            allowed = cand.subset(initial_columns(data, cand, columns, must=best.a))
            groups = home_bundles(data, allowed, LARGE_BUNDLE_ORDERS, offset)
            stats.setdefault("bundles", float(len(groups)))
            while clock.left() - reserve > 0.5 and not _proven(best.cost, bound, params.rel_gap):
                before = best.cost
                seconds = clock.left() - reserve
                a = improve(data, allowed, best.a, groups, params.backend, seconds, params.threads)
                best.offer(a)
                stats["passes"] = stats.get("passes", 0.0) + 1
                if best.cost > before - 1e-6 * abs(before):
                    break  # nothing gained: the next variant
        if bound is None:  # the decomposition did not finish a round: a cheap bound
            bound = lagrangian_bound(data, cand, best.cost, clock.left())
            stats["lagrangian_bound"] = bound
    elif not _proven(best.cost, bound, params.rel_gap) and clock.left() > min_stage:
        keep0 = initial_columns(data, cand, INITIAL_COLUMNS, must=best.a)
        cg = column_generation(data, cand, keep0, clock.left() * 0.3)
        if cg is not None:
            bound = cg.bound if bound is None else max(bound, cg.bound)
            stats.update(lp_bound=cg.bound, lp_rounds=cg.rounds, lp_columns=cg.cand.num_pairs)
            best.offer(round_relaxation(data, cg.cand, cg.relax))
            stats["rounded_cost"] = best.cost
            if cand.num_pairs > SUPPORT_MIN_PAIRS and not _proven(best.cost, bound, params.rel_gap):
                best.offer(
                    support_mip(
                        data,
                        cand,
                        cg,
                        best.a,
                        params.backend,
                        clock.left() * SUPPORT_SHARE,
                        extra_per_order=0,
                        threads=params.threads,
                    )
                )
                stats["support_cost"] = best.cost
            cand = cand.subset(*reduced_cost_filter(cand, cg, best.cost))
            stats["pairs_after_fixing"] = cand.num_pairs
    if race is not None:
        # with a race, fix-and-optimize comes after the compact LP's plans (below)
        bound = _fix_and_optimize(data, cand, best, bound, race, params, clock, stats)
    t_lp = clock.elapsed()

    if (
        race is None
        and cand.num_pairs <= LARGE_PAIRS
        and not _proven(best.cost, bound, params.rel_gap)
        and clock.left() > min_stage + cand.num_pairs * COMPONENT_SECONDS_PER_PAIR
    ):
        mip_bound = _solve_by_components(data, cand, best, params, clock, stats)
        # The reduced model's bound holds for the full problem only below the incumbent
        # that justified the fixing (see reduced_cost_filter), hence the min.
        if mip_bound is not None:
            mip_bound = min(mip_bound, best.cost)
            bound = mip_bound if bound is None else max(bound, mip_bound)
    priced = None
    if race is not None:
        bound = _Race.check(race, best, bound)  # the last plan helps it prune
        # Priced while the race runs, after a garbage collection (0.12 s on us-1000x100,
        # which inside the pricing after the wait made 5 s calls end at 5.07 s). If the
        # race's plan wins, it is priced after the wait: twice this pricing is kept for it.
        gc.collect()
        t_price = time.perf_counter()
        priced = (best.a, price(data, best.a))
        reserve = 2.0 * (time.perf_counter() - t_price) + 0.01
        out = race.finish(stop=_proven(best.cost, bound, params.rel_gap), reserve=reserve)
        bound = race.absorb(out, best, bound)
        stats["race_bound"] = float("nan") if out.bound is None else out.bound
        stats["race_seconds"] = out.seconds
    if bound is not None:
        bound = min(bound, best.cost)
    t_mip = clock.elapsed()
    status: SolverStatus = "optimal" if _proven(best.cost, bound, params.rel_gap) else "feasible"
    info = SolverInfo(
        name=f"router.batch ({params.backend})",
        status=status,
        bound=bound,
        seconds=clock.elapsed(),
        gap=None if bound is None else max(0.0, best.cost - bound) / max(abs(best.cost), 1e-9),
    )
    if priced is not None and priced[0] is best.a:
        plan = priced[1].model_copy(update={"solver": info})
    else:
        plan = price(data, best.a, info)
    timings = Timings(
        candidates=t_cand,
        baseline=t_base - t_cand,
        build=0.0,
        solve=t_mip - t_base,
        extract=clock.elapsed() - t_mip,
        total=clock.elapsed(),
    )
    stats["lp_seconds"] = t_lp - t_base
    stats["mip_seconds"] = t_mip - t_lp
    return RoutingResult(plan, best.a, status, best.cost, bound, info.name, timings, stats)


def _solve_by_components(
    data: ProblemData,
    cand: Candidates,
    best: _Best,
    params: SolveParams,
    clock: _Clock,
    stats: dict[str, float],
) -> float | None:
    """Exact MIPs over independent bundles of orders; offers the union, returns the bound."""
    if cand.num_pairs == 0:
        return None
    full = build_mip(data, cand)
    labels = order_components(data, cand, full)
    groups = bundles(labels, cand, BUNDLE_PAIRS)
    stats["components"] = float(np.unique(labels[labels >= 0]).size)
    stats["bundles"] = float(len(groups))
    pairs_left = float(cand.num_pairs)
    penalty = data.sku_penalty[data.line_sku] * data.line_qty
    bound = float(penalty[np.isin(data.line_order, np.flatnonzero(labels < 0))].sum())
    bound_ok = True
    rows: list[Assignment] = [best.a.split(np.flatnonzero(labels < 0))[0]]
    pair_bundle = np.full(data.num_orders, -1)
    for k, orders in enumerate(groups):
        pair_bundle[orders] = k
    # smallest bundles first: the largest takes the time they leave, so a solver that
    # overruns its limit on it cannot leave a small one unsolved (and the bound lost:
    # us-1000x100 at 60 s lost an 18 s MIP's bound that way)
    of_pair = pair_bundle[cand.pair_order]
    size = np.bincount(of_pair[of_pair >= 0], minlength=len(groups))
    for k in np.argsort(size, kind="stable").tolist():
        orders = groups[k]
        incumbent = best.a.split(orders)[0]
        if clock.left() <= 0:  # out of time: the rest keep the incumbent, no bound
            rows.append(incumbent)
            bound_ok = False
            continue
        sub = cand.subset(of_pair == k)
        lines = data.lines_of(orders)
        model = build_mip(data, sub, lines)
        hint = None
        if params.warm_start:
            hint = vector_from_assignment(
                model,
                sub,
                data,
                incumbent.order,
                incumbent.node,
                incumbent.sku,
                incumbent.qty,
                lines,
            )
        share = sub.num_pairs / max(pairs_left, 1.0)
        pairs_left -= sub.num_pairs
        out = solve(
            model,
            params.backend,
            time_limit=max(clock.left() * share, 0.02),
            hint=hint,
            threads=params.threads,
            gap=params.rel_gap,
        )
        if out.bound is None:
            bound_ok = False
        else:
            bound += out.bound
        found = None if out.values is None else to_assignment(data, sub, model.x(out.values))
        if found is not None and (
            out.objective is None
            or lines_cost(data, found, lines) <= lines_cost(data, incumbent, lines) + 1e-9
        ):
            rows.append(found)
        else:
            rows.append(incumbent)
    merged = Assignment.concat(rows)
    best.offer(merged)
    return bound if bound_ok else None
