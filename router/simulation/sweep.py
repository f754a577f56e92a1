"""Parameter sweeps: one scenario on a grid of variations × seeds, serially or on Dask.

``vary`` maps dotted paths into the scenario document to the values to try, e.g.
``{"demand.orders_per_day": [1000, 2000], "policy.kind": ["myopic", "rule_based"]}``
(list items by index: ``changes[0].day`` or ``changes.0.day``; a mapping value is deep-merged
like ``extends``). The grid is the cartesian product, in ``vary`` order with the last key
varying fastest, and every grid point is validated as a scenario before anything runs: a
bad key or value is a :class:`models.BadInput` naming ``vary.<key>``.

Each (grid point, seed) is one task, :func:`router.simulation.run_seed`. Every grid point
runs on the same seeds (common random numbers), so each point is compared with the first,
paired, as :func:`router.simulation.simulate` compares scenarios; KPIs are aggregated with
the engine's own helpers (Student-t 95 % intervals across seeds).

Where the tasks run (``client``):

* ``None``: a plain loop in this process (serial);
* ``"local"``: a :class:`distributed.LocalCluster` of ``workers`` processes (default: one
  per core) with one thread each, started here and closed afterwards;
* a scheduler address (``"tcp://host:8786"``) or a :class:`distributed.Client`: an existing
  cluster, used as it is.

Threads: every solver call of the simulator runs single-threaded (``SolveParams(threads=1)``
in the policies and the hindsight bound: :data:`SOLVER_THREADS`), and Dask's nanny starts
each worker with ``OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1``; a local
cluster has one task thread per worker and at most ``cores // SOLVER_THREADS`` workers, so
solver threads × workers ≤ cores. An existing cluster keeps its own sizing (``dask worker``
defaults to one thread per core, which keeps the same bound).

Results do not depend on where a task ran: a task's KPIs are a function of its scenario
and seed only, and runs are put back in grid × seed order before aggregation, so a serial
and a distributed sweep give identical numbers. The caveat is the solver time limits: a
batch-wave optimization or a hindsight bound that stops at its time limit (rather than at
optimality) may stop at a different point on a busier machine. Only ``stats`` (seconds,
orders per second) differ by design.
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from models import BadInput, FieldError
from models.errors import format_path
from router.simulation.engine import Progress, _aggregate, interval, run_seed
from router.simulation.policies import POLICIES, PolicyFactory, register
from router.simulation.result import (
    KPI_NAMES,
    Interval,
    ScenarioResult,
    SeedRun,
    SimulationResult,
)
from router.simulation.scenario import Scenario, deep_merge, validate_scenario

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "SOLVER_THREADS",
    "GridPoint",
    "SweepResult",
    "expand_grid",
    "machine_cores",
    "parse_vary",
    "sweep",
    "sweep_document",
    "write_sweep",
]

SOLVER_THREADS = 1
"""Threads of every solver call in the simulator (policies and hindsight bound)."""

RESERVED_KEYS = ("name", "seeds", "extends")
"""Top-level keys a sweep does not vary: points are named by their values, seeds are the
sweep's own, and ``extends`` is resolved when the base file is read."""


@dataclass(frozen=True)
class GridPoint:
    """One combination of the varied values, as a validated scenario named by them."""

    index: int
    name: str  # "demand.orders_per_day=1000, policy.kind=myopic"
    values: dict[str, Any]  # vary key → the value at this point
    scenario: Scenario


@dataclass(frozen=True)
class SweepResult:
    """Every grid point on the same seeds; ``paired[point][kpi]`` is the mean across seeds
    of (point − first point) with its 95 % interval."""

    base: str
    vary: dict[str, list[Any]]
    seeds: list[int]
    points: list[GridPoint]
    results: list[ScenarioResult]  # one per grid point, in grid order
    paired: dict[str, dict[str, Interval]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def simulation(self) -> SimulationResult:
        """The grid points as the scenarios of one simulation (the first is the base), for
        :func:`router.simulation.report.write_outputs`."""
        meta: dict[str, Any] = {
            "title": f"Sweep of {self.base}",
            "varied": [f"{k} = {', '.join(_fmt(v) for v in vs)}" for k, vs in self.vary.items()],
        }
        meta.update({k: v for k, v in self.meta.items() if isinstance(v, str | int | float | bool)})
        return SimulationResult(
            scenarios=list(self.results),
            seeds=list(self.seeds),
            days=max(p.scenario.days for p in self.points),
            paired=self.paired,
            meta=meta,
        )


# ------------------------------------------------------------------------- the grid


_PIECE = re.compile(r"([^.\[\]]+)((?:\[-?\d+\])*)")


def _parse_path(key: str) -> list[str | int]:
    """``changes[0].day`` → ``["changes", 0, "day"]``; bare digits stay strings (they are
    list indices or mapping keys, whichever the document holds there)."""
    parts: list[str | int] = []
    for piece in key.split("."):
        m = _PIECE.fullmatch(piece)
        if m is None or m[1] != m[1].strip():
            raise ValueError(f"not a dotted path like demand.orders_per_day: {key!r}")
        parts.append(m[1])
        parts.extend(int(i) for i in re.findall(r"-?\d+", m[2]))
    return parts


def _set_path(doc: dict[str, Any], path: Sequence[str | int], value: Any) -> list[str | int]:
    """Set ``value`` at ``path`` in ``doc`` (in place), creating missing mappings; a mapping
    value is deep-merged over a mapping already there. Returns the path as resolved (list
    indices as ints), for matching error paths."""
    node: Any = doc
    resolved: list[str | int] = []
    for i, seg in enumerate(path):
        last = i == len(path) - 1
        where = format_path(resolved) or "the scenario"
        if isinstance(node, list):
            if isinstance(seg, str) and not re.fullmatch(r"-?\d+", seg):
                raise ValueError(f"{where} is a list: index it with a number, not {seg!r}")
            idx = int(seg)
            if not -len(node) <= idx < len(node):
                raise ValueError(f"{where} has {len(node)} item(s): no index {idx}")
            idx %= len(node)
            resolved.append(idx)
            if last:
                node[idx] = _merged(node[idx], value)
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{where} is {_fmt(node)}, not a mapping")
        key: Any = seg
        if isinstance(seg, int) or (seg.isdigit() and seg not in node and int(seg) in node):
            key = int(seg)  # a mapping with integer keys (demand.lines, demand.qty)
        resolved.append(str(key))
        if last:
            node[key] = _merged(node.get(key), value)
        else:
            if node.get(key) is None:  # not set (or disabled with null): a new mapping
                if isinstance(path[i + 1], int):
                    raise ValueError(f"{format_path([*resolved])} is not set: no [{path[i + 1]}]")
                node[key] = {}
            node = node[key]
    return resolved


def _merged(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return deep_merge(old, new)
    return copy.deepcopy(new)


def _fmt(value: Any) -> str:
    """A value as a planner typed it: ``1000``, ``false``, ``myopic``, ``[1, 2]``."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return str(value)


def _related(err_path: str, key_path: str) -> bool:
    """Is a validation error at ``err_path`` about the field at ``key_path``?"""
    if not err_path:
        return True
    return any(
        a == b or a.startswith(b + ".") or a.startswith(b + "[")
        for a, b in ((err_path, key_path), (key_path, err_path))
    )


def _as_list(values: Any) -> list[Any] | None:
    if isinstance(values, list | tuple):
        return list(values)
    return None


def expand_grid(base: Scenario, vary: Mapping[str, Sequence[Any]]) -> list[GridPoint]:
    """The cartesian product of ``vary`` over ``base``, each point validated; BadInput
    naming ``vary.<key>`` for every bad key or value (all of them, not just the first)."""
    errors: list[FieldError] = []
    paths: dict[str, list[str | int]] = {}
    values: dict[str, list[Any]] = {}
    if not vary:
        raise BadInput([FieldError("vary", "give at least one key=v1,v2,... to vary")])
    for key, vals in vary.items():
        where = f"vary.{key}"
        try:
            paths[key] = _parse_path(key)
        except ValueError as exc:
            errors.append(FieldError(where, str(exc)))
            continue
        if paths[key][0] in RESERVED_KEYS:
            errors.append(FieldError(where, f"{paths[key][0]!r} cannot be varied"))
        listed = _as_list(vals)
        if not listed:
            errors.append(FieldError(where, "give at least one value"))
            continue
        labels = [_fmt(v) for v in listed]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            errors.append(FieldError(where, f"value {dupes[0]} given twice"))
        values[key] = listed
    if errors:
        raise BadInput(errors)

    base_doc = base.model_dump(exclude_unset=True)
    base_doc.pop("name", None)
    keys = list(values)
    resolved: dict[str, str] = {}

    def build(combo: dict[str, Any]) -> tuple[Scenario | None, list[FieldError]]:
        doc = copy.deepcopy(base_doc)
        errs: list[FieldError] = []
        for key, value in combo.items():
            try:
                resolved[key] = format_path(_set_path(doc, paths[key], value))
            except ValueError as exc:
                errs.append(FieldError(f"vary.{key}", str(exc)))
        if errs:
            return None, errs
        doc["name"] = ", ".join(f"{k}={_fmt(v)}" for k, v in combo.items())
        desc = f"{base.name}: {doc['name']}"
        doc["description"] = f"{desc}. {base.description}" if base.description else desc
        try:
            return validate_scenario(doc, base.base_dir), []
        except BadInput as exc:
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in combo.items())
            for e in exc.errors:
                blamed = [k for k in combo if _related(e.path, resolved[k])] or list(combo)
                for k in blamed:
                    detail = e.message if e.path == resolved[k] else str(e)
                    errs.append(FieldError(f"vary.{k}", f"{shown}: {detail}"))
            return None, errs

    # Each value alone first, so that an error is blamed on the one key that causes it.
    for key in keys:
        for value in values[key]:
            errors.extend(build({key: value})[1])
    if errors:
        raise BadInput(errors)
    points: list[GridPoint] = []
    for i, combo_values in enumerate(itertools.product(*(values[k] for k in keys))):
        combo = dict(zip(keys, combo_values, strict=True))
        scenario, errs = build(combo)
        errors.extend(errs)
        if scenario is not None:
            points.append(GridPoint(i, scenario.name, combo, scenario))
    if errors:
        raise BadInput(errors)
    return points


def parse_vary(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["demand.orders_per_day=1000,2000", "policy.kind=myopic,batch"]`` → ``vary``.

    Values are YAML scalars (``1000`` an int, ``false`` a bool, ``null`` None); commas
    inside brackets, braces or quotes do not split (``demand.lines={1: 0.5, 2: 0.5}``).
    """
    vary: dict[str, list[Any]] = {}
    errors: list[FieldError] = []
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            errors.append(FieldError("vary", f"expected key=v1,v2,..., got {spec!r}"))
            continue
        where = f"vary.{key}"
        if key in vary:
            errors.append(FieldError(where, "given twice; list all its values in one --vary"))
            continue
        parts = _split_top(text)
        if not parts or any(not p.strip() for p in parts):
            errors.append(FieldError(where, f"empty value in {text!r}"))
            continue
        vals = []
        for part in parts:
            try:
                vals.append(yaml.safe_load(part))
            except yaml.YAMLError:
                errors.append(FieldError(where, f"not a YAML value: {part.strip()!r}"))
        vary[key] = vals
    if errors:
        raise BadInput(errors)
    return vary


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts if text.strip() else []


# ------------------------------------------------------------------------- running


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity, where the OS tells)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool) or not isinstance(seeds, int | list | tuple):
        raise BadInput([FieldError("seeds", "a count K (seeds 0..K-1) or a list of integers")])
    if isinstance(seeds, int):
        if seeds < 1:
            raise BadInput([FieldError("seeds", f"need at least 1 seed, got {seeds}")])
        return list(range(seeds))
    out = list(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, int) for s in out):
        raise BadInput([FieldError("seeds", "a non-empty list of integers")])
    if len(set(out)) != len(out):
        raise BadInput([FieldError("seeds", "seeds must be distinct")])
    return out


def _task(scenario: Scenario, seed: int, kind: str, factory: PolicyFactory) -> SeedRun:
    """One (grid point, seed) on a worker. The policy's factory travels with the task, so a
    policy registered by the caller's own code (not imported on the worker) still runs."""
    if kind not in POLICIES:
        register(kind)(factory)
    return run_seed(scenario, seed)


Tasks = list[tuple[GridPoint, int]]


def _serial(tasks: Tasks, progress: Progress | None) -> dict[tuple[int, int], SeedRun]:
    runs = {}
    for done, (point, seed) in enumerate(tasks, start=1):
        runs[point.index, seed] = run_seed(point.scenario, seed)
        if progress is not None:
            progress(done, len(tasks), f"{point.name} · seed {seed}")
    return runs


def _distributed(
    tasks: Tasks,
    client: Client | str,
    workers: int | None,
    progress: Progress | None,
    meta: dict[str, Any],
) -> dict[tuple[int, int], SeedRun]:
    from distributed import Client, LocalCluster, as_completed

    total = len(tasks)
    cluster = None
    own: Client | None = None
    if isinstance(client, str) and client == "local":
        cores = machine_cores()
        most = max(cores // SOLVER_THREADS, 1)
        n = most if workers is None else workers
        if not 1 <= n <= most:
            raise BadInput(
                [
                    FieldError(
                        "workers",
                        f"1..{most} on this machine ({cores} cores, {SOLVER_THREADS} solver "
                        f"thread(s) per worker: solver threads × workers ≤ cores), got {n}",
                    )
                ]
            )
        if progress is not None:
            progress(0, total, f"starting a local Dask cluster ({n} workers)")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        own = dask = Client(cluster)
        meta.update(mode="local cluster", workers=n)
    elif isinstance(client, str):
        if workers is not None:
            raise BadInput(
                [FieldError("workers", "only for a local cluster: a scheduler has its own")]
            )
        if progress is not None:
            progress(0, total, f"connecting to {client}")
        try:
            own = dask = Client(client, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise BadInput([FieldError("scheduler", f"cannot reach {client}: {exc}")]) from None
        meta.update(mode="scheduler", scheduler=client, workers=len(dask.nthreads()))
    else:
        dask = client
        meta.update(mode="client", workers=len(dask.nthreads()))
    try:
        run_id = uuid.uuid4().hex[:12]
        futures = {}
        for point, seed in tasks:
            kind = point.scenario.policy.kind
            fut = dask.submit(
                _task,
                point.scenario,
                seed,
                kind,
                POLICIES[kind],
                key=f"sweep-{run_id}-{point.index}-{seed}",
            )
            futures[fut] = (point, seed)
        if progress is not None:
            progress(0, total, f"{total} tasks on {meta['workers']} workers")
        runs = {}
        try:
            for done, fut in enumerate(as_completed(list(futures)), start=1):
                point, seed = futures[fut]
                runs[point.index, seed] = fut.result()
                if progress is not None:
                    progress(done, total, f"{point.name} · seed {seed}")
        except BaseException:
            dask.cancel(list(futures))
            raise
        return runs
    finally:
        if own is not None:
            own.close()
        if cluster is not None:
            cluster.close()


def sweep(
    base: Scenario,
    vary: Mapping[str, Sequence[Any]],
    seeds: int | Sequence[int],
    *,
    client: Client | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run ``base`` on every grid point of ``vary`` × every seed (see the module docstring).

    ``seeds``: a count K (seeds 0..K-1) or a list. ``client``: None (serial, in this
    process), ``"local"`` (a local Dask cluster of ``workers`` processes, default one per
    core) or a scheduler address / :class:`distributed.Client`. ``progress(done, total,
    label)`` is called as tasks finish. Everything is validated before anything runs.
    """
    seed_list = _seed_list(seeds)
    points = expand_grid(base, vary)
    tasks: Tasks = [(p, s) for p in points for s in seed_list]
    meta: dict[str, Any] = {"tasks": len(tasks)}
    start = time.perf_counter()
    if client is None:
        if workers is not None:
            raise BadInput([FieldError("workers", "only with a Dask cluster, not serially")])
        meta.update(mode="serial", workers=1)
        runs = _serial(tasks, progress)
    else:
        runs = _distributed(tasks, client, workers, progress, meta)
    meta["seconds"] = round(time.perf_counter() - start, 3)
    results = [_aggregate(p.scenario, [runs[p.index, s] for s in seed_list]) for p in points]
    first = results[0]
    paired = {
        res.name: {
            k: interval([r.kpis[k] - b.kpis[k] for r, b in zip(res.runs, first.runs, strict=True)])
            for k in KPI_NAMES
        }
        for res in results[1:]
    }
    return SweepResult(
        base=base.name,
        vary={k: list(v) for k, v in vary.items()},
        seeds=seed_list,
        points=points,
        results=results,
        paired=paired,
        meta=meta,
    )


# ------------------------------------------------------------------------- outputs


def _num(x: float) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _iv(iv: Interval) -> dict[str, float | int | None]:
    return {"mean": _num(iv.mean), "low": _num(iv.low), "high": _num(iv.high), "n": iv.n}


def _jsonable(value: Any) -> Any:
    """YAML can hold dates and the like; JSON gets them as text."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return _fmt(value)


def sweep_document(result: SweepResult) -> dict[str, Any]:
    """The ``sweep.json`` object: per grid point its varied values, the KPI means and 95 %
    intervals across seeds and, after the first point, the paired differences against it
    (``vs_first``). Non-finite numbers are ``null``."""
    points = []
    for point, res in zip(result.points, result.results, strict=True):
        entry: dict[str, Any] = {
            "index": point.index,
            "name": point.name,
            "values": {k: _jsonable(v) for k, v in point.values.items()},
            "policy": res.policy,
            "days": point.scenario.days,
            "kpis": {k: _iv(iv) for k, iv in res.kpis.items()},
            "vs_first": None,
        }
        if point.index != result.points[0].index:
            entry["vs_first"] = {k: _iv(iv) for k, iv in result.paired[res.name].items()}
        points.append(entry)
    return {
        "base": result.base,
        "vary": {k: [_jsonable(v) for v in vs] for k, vs in result.vary.items()},
        "seeds": result.seeds,
        "points": points,
        "meta": {k: _jsonable(v) for k, v in result.meta.items()},
    }


def _csv_value(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return _fmt(x)
    if not math.isfinite(x):
        return ""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def write_sweep(result: SweepResult, out_dir: Path) -> dict[str, Path]:
    """Write ``sweep.json``, ``sweep.csv`` (one row per grid point × seed) and, through
    :func:`router.simulation.report.write_outputs`, ``report.html`` (with its ``kpis.json``
    and ``days.csv``) comparing the grid points as scenarios. Returns the paths by kind."""
    from router.simulation.report import write_outputs

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"sweep": out_dir / "sweep.json", "csv": out_dir / "sweep.csv"}
    paths["sweep"].write_text(
        json.dumps(sweep_document(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    keys = list(result.vary)
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["point", "name", *keys, "seed", *KPI_NAMES])
        for point, res in zip(result.points, result.results, strict=True):
            for run in res.runs:
                writer.writerow(
                    [
                        point.index,
                        point.name,
                        *(_fmt(point.values[k]) for k in keys),
                        run.seed,
                        *(_csv_value(run.kpis.get(k, math.nan)) for k in KPI_NAMES),
                    ]
                )
    paths.update(write_outputs(result.simulation(), out_dir))
    return paths
