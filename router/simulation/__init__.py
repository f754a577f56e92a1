"""What-if simulator: replay days of demand under scenarios and compare them, paired.

``run(scenario)`` replays one scenario (a :class:`Scenario` or a YAML path) on its seeds;
``simulate([base, alt, ...])`` runs several on the same seeds and adds paired differences
against the first. Scenario files: :mod:`router.simulation.scenario`; policies:
:mod:`router.simulation.policies`; the bound: :mod:`router.simulation.hindsight`.
"""

from router.simulation.engine import Progress, run, run_seed, simulate
from router.simulation.policies import POLICIES, Policy, register
from router.simulation.result import (
    KPI_NAMES,
    Interval,
    NodeVolume,
    ScenarioResult,
    SeedRun,
    SimulationResult,
)
from router.simulation.scenario import Scenario, load_scenario

Result = ScenarioResult
"""What :func:`run` returns (the issue calls it ``Result``)."""

__all__ = [
    "KPI_NAMES",
    "POLICIES",
    "Interval",
    "NodeVolume",
    "Policy",
    "Progress",
    "Result",
    "Scenario",
    "ScenarioResult",
    "SeedRun",
    "SimulationResult",
    "load_scenario",
    "register",
    "run",
    "run_seed",
    "simulate",
]
