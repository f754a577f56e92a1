"""Parameters and results of a routing run: small frozen objects, never bare tuples."""

from __future__ import annotations

from dataclasses import dataclass, field

from models import Plan, SolverStatus
from router.assignment import Assignment
from router.backends import Backend


@dataclass(frozen=True)
class SolveParams:
    """How to solve: back end, time limit (s), threads, and the gap that counts as optimal."""

    backend: Backend = "scip"
    time_limit: float = 10.0
    threads: int = 1
    rel_gap: float = 1e-6
    warm_start: bool = True


@dataclass(frozen=True)
class Timings:
    candidates: float = 0.0
    baseline: float = 0.0
    build: float = 0.0
    solve: float = 0.0
    extract: float = 0.0
    total: float = 0.0


@dataclass(frozen=True, eq=False)
class RoutingResult:
    """A priced plan with the solver's status and proven lower bound.

    ``status`` is ``optimal`` when ``cost`` is proven least (to ``rel_gap``), else
    ``feasible``; ``bound`` is a proven lower bound on the optimal cost, or None.
    Infeasibility is impossible (unfilled is always allowed), so there is no such status.
    """

    plan: Plan
    assignment: Assignment
    status: SolverStatus
    cost: float
    bound: float | None
    solver: str
    timings: Timings = field(default_factory=Timings)
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative gap ``(cost − bound) / cost``; 0 when proven optimal."""
        if self.bound is None:
            return None
        return max(0.0, self.cost - self.bound) / max(abs(self.cost), 1e-9)
