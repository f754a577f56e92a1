"""Simulation jobs of the service: ``POST /v1/simulations`` runs a what-if in the background.

A job is one :func:`router.simulation.simulate` call on inline scenario documents (the
scenario file's YAML as JSON; the first is the base and sets the seeds). It is validated
in full before it is accepted, then queued on a small thread pool that
:class:`~router.service.RoutingService` owns and shuts down on close; ``GET`` reads its
state, progress and, once done, the ``kpis.json`` document of ``router simulate``.

Limits of this design, on purpose:

* **Jobs are per process and in memory.** They are lost on restart, and with several
  uvicorn workers a ``GET`` must reach the worker that took the ``POST`` (another one
  answers 404). Finished jobs are kept up to :data:`MAX_KEPT`, oldest dropped first.
* **One job at a time** (``workers=1``): a replay is CPU-bound Python, and in a thread it
  shares the interpreter lock with the requests this process serves; one job at a time
  bounds that. Big studies belong to ``router simulate`` / ``router sweep``.
* **No file paths over HTTP.** ``extends`` and ``network.file`` are refused (422): the
  server must not read files a caller names. Networks are demo (``network.demo``) or inline.
* **Size caps** (422 naming the field), so that no request can start a job that runs for
  hours or fills the memory: simulated online orders per job (Σ days × orders per day ×
  seeds) at most :data:`MAX_ORDERS`, and the per-field caps below. They are checked before
  any network is built.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from models import BadInput, FieldError
from models.errors import format_path, from_validation_error
from models.service import SimulationJob, SimulationProgress, SimulationRequest, SimulationState
from router.service.errors import Conflict, NotFound, ServiceError
from router.simulation import simulate
from router.simulation.report import kpis_document
from router.simulation.scenario import Scenario, validate_scenario

log = logging.getLogger("router.service.simulations")

MAX_ORDERS = 200_000
"""Simulated online orders per job: Σ over scenarios of days × orders_per_day × seeds."""
MAX_ORDERS_PER_DAY = 20_000
"""``demand.orders_per_day`` and ``network.orders`` (the demo network's sizing basis)."""
MAX_WALKINS = 1_000_000
"""Expected walk-in sales per job: Σ walkins_per_store × stores × days × seeds."""
MAX_DAYS = 366
MAX_SEEDS = 10
MAX_SCENARIOS = 8
MAX_NETWORK_CELLS = 2_000_000
"""Nodes × skus of one network (the replay keeps dense node × sku arrays)."""
MAX_SOLVER_SECONDS = 30.0
"""``policy.time_limit_s`` (per wave) and ``hindsight.time_limit_s`` (per seed)."""
MAX_REROUTES = 20
MAX_ACTIVE = 8
"""Queued and running jobs; beyond that a POST is refused (409) until some finish."""
MAX_KEPT = 100
"""Finished jobs kept for GET; the oldest are dropped first."""

_NO_FILES = "not accepted over HTTP: the server reads no files"


class _Cancelled(Exception):
    pass


@dataclass
class _Job:
    id: str
    total: int
    state: SimulationState = "queued"
    done: int = 0
    kpis: dict[str, Any] | None = None
    error: str | None = None

    def snapshot(self) -> SimulationJob:
        return SimulationJob(
            id=self.id,
            state=self.state,
            progress=SimulationProgress(done=self.done, total=self.total),
            kpis=self.kpis,
            error=self.error,
        )


class SimulationJobs:
    """In-memory simulation jobs run on a thread pool of ``workers`` threads."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simulation")
        self._jobs: dict[str, _Job] = {}  # in submission order
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def submit(self, request: SimulationRequest) -> SimulationJob:
        """Validate ``request`` in full and queue it; the job's state as accepted."""
        scenarios = check_request(request)
        seeds = len(scenarios[0].seed_list)
        total = sum(seeds * (s.days + int(s.hindsight.enabled)) for s in scenarios)
        with self._lock:
            if self._closed.is_set():
                raise ServiceError("the service is shutting down")
            active = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if active >= MAX_ACTIVE:
                raise Conflict(f"{active} simulation jobs are queued or running; try again later")
            job = _Job(id=uuid.uuid4().hex, total=total)
            self._jobs[job.id] = job
            self._forget_old()
            accepted = job.snapshot()
        self._pool.submit(self._run, job, scenarios)
        return accepted

    def get(self, job_id: str) -> SimulationJob:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no simulation job {job_id!r} in this service process")
            return job.snapshot()

    def close(self) -> None:
        """Stop taking jobs, drop queued ones; a running job stops at its next simulated
        day (its state becomes failed). Does not wait."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job.state == "queued":
                    job.state, job.error = "failed", "cancelled: the service shut down"

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state in ("done", "failed")]
        for k in finished[: max(len(finished) - MAX_KEPT, 0)]:
            del self._jobs[k]

    def _run(self, job: _Job, scenarios: list[Scenario]) -> None:
        def progress(done: int, total: int, _label: str) -> None:
            if self._closed.is_set():
                raise _Cancelled()
            with self._lock:
                job.done, job.total = done, total

        with self._lock:
            if self._closed.is_set():
                return
            job.state = "running"
        start = time.perf_counter()
        state: SimulationState = "failed"
        error: str | None = None
        kpis: dict[str, Any] | None = None
        try:
            kpis = kpis_document(simulate(scenarios, progress=progress))
        except _Cancelled:
            error, kpis = "cancelled: the service shut down", None
        except Exception as exc:
            log.exception("simulation job %s failed", job.id)
            error, kpis = f"{type(exc).__name__}: {exc}", None
        else:
            state, error = "done", None
            log.info("simulation job %s done in %.1f s", job.id, time.perf_counter() - start)
        with self._lock:
            job.state, job.error, job.kpis = state, error, kpis
            if state == "done":
                job.done = job.total


# ---------------------------------------------------------------------- validation


def _prefixed(where: tuple[str | int, ...], errors: tuple[FieldError, ...]) -> list[FieldError]:
    head = format_path(where)
    return [FieldError(f"{head}.{e.path}" if e.path else head, e.message) for e in errors]


def check_request(request: SimulationRequest) -> list[Scenario]:
    """The request's scenarios, validated and within the caps; BadInput naming each field
    (``scenario.demand.orders_per_day``, ``scenarios[1].network.file``) otherwise."""
    if request.scenario is not None and request.scenarios is not None:
        raise BadInput([FieldError("scenario", "give scenario or scenarios, not both")])
    if request.scenario is None and request.scenarios is None:
        msg = "required: scenario (one document) or scenarios (a list, the first the base)"
        raise BadInput([FieldError("scenario", msg)])
    if request.scenario is not None:
        docs: list[tuple[tuple[str | int, ...], dict[str, Any]]] = [
            (("scenario",), request.scenario)
        ]
    else:
        listed = request.scenarios or []
        if not 1 <= len(listed) <= MAX_SCENARIOS:
            n = len(listed)
            raise BadInput([FieldError("scenarios", f"give 1..{MAX_SCENARIOS}, got {n}")])
        docs = [(("scenarios", i), d) for i, d in enumerate(listed)]

    errors: list[FieldError] = []
    for where, doc in docs:
        if "extends" in doc:
            errors += _prefixed(where, (FieldError("extends", f"{_NO_FILES}; send it merged"),))
        net = doc.get("network")
        if isinstance(net, dict) and "file" in net:
            msg = f"{_NO_FILES}; give network.inline or network.demo"
            errors += _prefixed(where, (FieldError("network.file", msg),))
    if errors:
        raise BadInput(errors)

    # The shape, without building anything.
    models: list[tuple[tuple[str | int, ...], dict[str, Any], Scenario]] = []
    for i, (where, doc) in enumerate(docs):
        if len(docs) > 1 and "name" not in doc:
            doc = {**doc, "name": f"scenario-{i + 1}"}
        try:
            models.append((where, doc, Scenario.model_validate(doc)))
        except ValidationError as exc:
            errors += from_validation_error(exc, where)
    if errors:
        raise BadInput(errors)

    # The caps, before a network is built or a seed list made.
    seeds = models[0][2].seeds
    n_seeds = seeds if isinstance(seeds, int) else len(seeds)
    orders = 0
    for where, _doc, sc in models:
        errors += _prefixed(where, tuple(_caps(sc, n_seeds)))
        orders += sc.days * sc.demand.orders_per_day * n_seeds
    if orders > MAX_ORDERS:
        head = "scenario" if request.scenario is not None else "scenarios"
        errors.append(
            FieldError(
                head,
                f"{orders:,} simulated orders (days × orders_per_day × seeds); at most "
                f"{MAX_ORDERS:,} per job over HTTP: run bigger ones with `router simulate`",
            )
        )
    if errors:
        raise BadInput(errors)

    scenarios = []
    for where, doc, _sc in models:
        try:
            scenarios.append(validate_scenario(doc))
        except BadInput as exc:
            errors += _prefixed(where, exc.errors)
    names = [s.name for s in scenarios]
    for (where, _doc, _sc), name in zip(models, names, strict=False):
        if names.count(name) > 1:
            errors += _prefixed(where, (FieldError("name", f"two scenarios are named {name!r}"),))
    if errors:
        raise BadInput(errors)
    return scenarios


def _caps(sc: Scenario, n_seeds: int) -> list[FieldError]:
    """Per-scenario caps (paths relative to the scenario)."""
    from router.generate import NETWORKS

    out = []

    def over(path: str, value: float, most: float, what: str = "") -> None:
        if value > most:
            out.append(FieldError(path, f"at most {most:,} {what}over HTTP, got {value:,}"))

    over("seeds", n_seeds, MAX_SEEDS, "seeds ")
    over("days", sc.days, MAX_DAYS)
    over("demand.orders_per_day", sc.demand.orders_per_day, MAX_ORDERS_PER_DAY)
    if sc.network.orders is not None:
        over("network.orders", sc.network.orders, MAX_ORDERS_PER_DAY)
    over("policy.time_limit_s", sc.policy.time_limit_s, MAX_SOLVER_SECONDS)
    over("hindsight.time_limit_s", sc.hindsight.time_limit_s, MAX_SOLVER_SECONDS)
    over("rejections.max_reroutes", sc.rejections.max_reroutes, MAX_REROUTES)
    net = sc.network
    if net.demo is not None:
        spec = NETWORKS[net.demo]
        stores = spec.default_stores if net.stores is None else net.stores
        nodes = stores + len(spec.warehouses)
        skus = spec.default_skus if net.skus is None else net.skus
    elif net.inline is not None:
        raw_nodes, raw_skus = net.inline.get("nodes"), net.inline.get("skus")
        nodes = len(raw_nodes) if isinstance(raw_nodes, list) else 0
        skus = len(raw_skus) if isinstance(raw_skus, list) else 0
        stores = nodes
    else:
        nodes = skus = stores = 0
    if nodes * skus > MAX_NETWORK_CELLS:
        out.append(
            FieldError(
                "network",
                f"{nodes:,} nodes × {skus:,} skus; at most {MAX_NETWORK_CELLS:,} over HTTP",
            )
        )
    walkins = sc.demand.walkins_per_store * stores * sc.days * n_seeds
    if walkins > MAX_WALKINS:
        out.append(
            FieldError(
                "demand.walkins_per_store",
                f"about {walkins:,.0f} walk-in sales (per store × stores × days × seeds); "
                f"at most {MAX_WALKINS:,} per job over HTTP",
            )
        )
    return out
