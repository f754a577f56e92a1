"""The compact MIP solved by HiGHS on a second core while the decomposition works: a bound.

Why: the decomposition's bound (:mod:`router.patterns`) convexifies each order's plans, but
not the integer units that orders compete for at the same scarce (node, sku); a MIP
solver's root cuts on the compact model (:mod:`router.formulation`) close most of that
(``us-1000x100``: Dantzig–Wolfe 22,832.6, HiGHS after its first cut rounds 22,877.6, the
optimum 22,898.4). Those rounds take seconds of one core, so they run beside the main
pipeline instead of after it. HiGHS gets the model with its one-unit shipments folded
(:mod:`router.presolve`) and its own presolve off: that presolve's probing took 1.3 s of
the race to find about as much, and the folded model's cut rounds also go further (alone
on a core: 22,872 after 4.0 s, against 22,864 after 4.2 s from the whole model with
presolve).

HiGHS runs in a child process (:mod:`router.race_worker`), not a thread: it cannot be
stopped inside some of its phases (a restart's presolve was seen running for minutes), and
a process can be killed at once (when finished, when dropped unfinished, at exit, and on
Linux when this process dies). It starts with the whole time limit; the pipeline may
hand it incumbents (HiGHS's *user solution* callback: they prune its search and fix
variables by reduced cost) and reads its best bound and plan whenever it likes, through a
memory-mapped temporary file. Its bound is proven for the whole problem; its plan, if better, is
offered like any other.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import IO

import numpy as np

from router import race_worker as rw
from router.backends import SolveOutcome
from router.data import FloatArray
from router.formulation import MipModel
from router.presolve import fold_unit_links, relax_unfilled

_WORKER = Path(rw.__file__).resolve()
HIGHS_OPTIONS: dict[str, str | int] = {"presolve": "off", "mip_lp_age_limit": 3}
"""HiGHS options of the race (measured on ``us-1000x100``, ``benchmarks/RESULTS.md``): no
presolve (the model comes folded, see above), and cuts leave the LP after 3 rounds unused
instead of 10 (the same cuts, rounds about a third faster)."""
ROOT_OFFERS_SECONDS = 20.0
"""A race with less time takes offered incumbents only once past its root node: with one,
HiGHS's analytic centre after its fifth cut round takes seconds (5 s calls on
``us-1000x100``: bound 22,877 instead of 22,881–22,885); a longer race takes them at once
(they prune its search: 60 s calls proved the optimum in 2 of 3 runs, against none without)."""


def _kill(proc: subprocess.Popen[bytes], files: tuple[IO[bytes], ...] = ()) -> None:
    """End the worker now (and reap it), then close ``files``: at finish, when the race or
    its worker is dropped unused, or at exit at the latest."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for f in (*files, proc.stdin):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


class RaceWorker:
    """A started worker process, importing its modules while the caller builds the model.

    The interpreter and its imports take about 0.1 s: spawned before the candidates'
    baseline plan and the model are built, the worker is ready when the model is. It
    waits for :class:`MipRace` to hand it a model; :meth:`cancel` (or dropping this
    object before that) kills it. It holds two unnamed temporary files, the model's and
    the shared floats', and a third for its error output.
    """

    def __init__(self) -> None:
        with contextlib.ExitStack() as opened:
            self.errors = opened.enter_context(tempfile.TemporaryFile())
            self.model_file = opened.enter_context(tempfile.TemporaryFile())
            self.shared_file = opened.enter_context(tempfile.TemporaryFile())
            fds = (self.model_file.fileno(), self.shared_file.fileno())
            self.proc = subprocess.Popen(
                # -P: the worker's directory (router/) is not put on sys.path
                [sys.executable, "-P", str(_WORKER), *map(str, fds), str(os.getpid())],
                pass_fds=fds,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self.errors,
            )
            opened.pop_all()  # all open: the finalizer closes them from here on
        self._reaper = weakref.finalize(
            self, _kill, self.proc, (self.errors, self.model_file, self.shared_file)
        )

    @property
    def handed(self) -> bool:
        return not self._reaper.alive

    def cancel(self) -> None:
        """No race after all: the worker is killed and its files closed (once a race has
        it, only the race ends it)."""
        self._reaper()

    def hand_over(self) -> None:
        """The process and its error file are a race's now: it ends them."""
        self._reaper.detach()
        for f in (self.model_file, self.shared_file):
            f.close()

    def failure(self) -> str:
        """The worker's error output if it has ended with an error, else ''."""
        if self.proc.poll() is None or self.proc.returncode <= 0 or self.errors.closed:
            return ""
        self.errors.seek(0)
        return self.errors.read()[-2000:].decode(errors="replace")


class MipRace:
    """HiGHS on ``model`` in a child process; :meth:`finish` ends it and reports.

    ``worker``: a :class:`RaceWorker` started earlier (default: one started now).
    """

    def __init__(
        self,
        model: MipModel,
        seconds: float,
        *,
        gap: float = 1e-6,
        worker: RaceWorker | None = None,
    ) -> None:
        self.model = model
        self._start = time.perf_counter()
        worker = worker or RaceWorker()
        if worker.handed:
            raise ValueError("this worker already has a race")
        try:
            self._folded = folded = fold_unit_links(relax_unfilled(model))
            a = folded.A
            size = rw.layout_size(folded.num_vars)
            np.savez(
                worker.model_file,
                c=folded.c,
                indptr=a.indptr.astype(np.int32),
                indices=a.indices.astype(np.int32),
                data=a.data.astype(np.float64),
                row_lb=folded.row_lb,
                row_ub=folded.row_ub,
                var_lb=folded.var_lb,
                var_ub=folded.var_ub,
                integral=folded.integral,
                seconds=max(seconds, 0.01),
                options=np.array(json.dumps(HIGHS_OPTIONS)),
                root_offers=seconds >= ROOT_OFFERS_SECONDS,
                gap=gap,
            )
            worker.model_file.flush()
            worker.shared_file.truncate(size * 8)
            # the map keeps the file open once it is closed
            self._shared = np.memmap(worker.shared_file, dtype=np.float64, mode="r+", shape=(size,))
            self._shared[rw.BOUND] = -np.inf
            self._shared[rw.INCUMBENT] = np.inf
            self._shared.flush()
            stdin = worker.proc.stdin
            assert stdin is not None
            stdin.write(b"go\n")  # the worker reads the model now
            stdin.close()
        except BaseException:
            failure = worker.failure()  # e.g. it could not start HiGHS: say so
            worker.cancel()
            if failure:
                warnings.warn(f"the MIP race failed: {failure}", RuntimeWarning, stacklevel=2)
            raise
        self._outcome: SolveOutcome | None = None
        self._last_incumbent = float("inf")
        self._lock = threading.Lock()
        self._proc, self._errors = worker.proc, worker.errors
        self._reaper = weakref.finalize(self, _kill, self._proc, (self._errors,))
        worker.hand_over()

    def offer(self, values: FloatArray) -> None:
        """A feasible vector of the model (an incumbent), taken at HiGHS's next chance."""
        with self._lock:
            if self._outcome is None:
                rw.write_vector(self._shared, rw.OFFER_SEQ, rw.HEADER, self._folded.reduce(values))

    @property
    def incumbent(self) -> float:
        """The objective of HiGHS's best plan so far (offered ones included), +inf if none."""
        with self._lock:
            if self._outcome is not None:
                return self._last_incumbent
            return float(self._shared[rw.INCUMBENT])

    @property
    def done(self) -> bool:
        """True once HiGHS has stopped on its own (proven, or out of time)."""
        return self._outcome is not None or self._proc.poll() is not None

    def finish(self, *, stop: bool, wait: float | None = None) -> SolveOutcome:
        """HiGHS's bound and best vector: at once (``stop``: the process is killed, what it
        had found so far counts) or when its own time limit ends it, waiting at most
        ``wait`` seconds (HiGHS overruns its limit in long presolves; then it is killed)."""
        if not stop and self._outcome is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(wait)
        with self._lock:
            if self._outcome is not None:
                return self._outcome
            self._reaper.detach()
            _kill(self._proc)  # unless it has ended; its error file is read first
            self._outcome = self._read(time.perf_counter() - self._start)
            self._last_incumbent = float(self._shared[rw.INCUMBENT])
            if self._proc.returncode > 0:  # the worker failed (a kill gives a negative code)
                self._errors.seek(0)
                tail = self._errors.read()[-2000:].decode(errors="replace")
                warnings.warn(f"the MIP race failed: {tail}", RuntimeWarning, stacklevel=2)
            self._errors.close()
            del self._shared
            return self._outcome

    def _read(self, seconds: float) -> SolveOutcome:
        shared, n = self._shared, self._folded.num_vars
        bound_ = float(shared[rw.BOUND])
        bound = bound_ if np.isfinite(bound_) else None
        status = float(shared[rw.STATUS]) if self._proc.returncode == 0 else rw.RUNNING
        if status == rw.INFEASIBLE:
            return SolveOutcome("infeasible", None, None, None, seconds)
        found = rw.read_solution(shared, n)
        if found is None:
            return SolveOutcome("no_solution", None, None, bound, seconds)
        optimal = status == rw.OPTIMAL
        return SolveOutcome(
            "optimal" if optimal else "feasible",
            self._folded.expand(found[1]),
            found[2],
            bound,
            seconds,
        )
