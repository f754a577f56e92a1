"""Order routing engine: where each unit of each order comes from, at least total cost."""

from router.batch import optimize
from router.check import CheckReport, Violation, assignment_violations, check_plan
from router.cost import price, total_cost
from router.data import ProblemData
from router.greedy import route_greedy
from router.result import RoutingResult, SolveParams
from router.single import SingleOrderRouter, SingleResult

__all__ = [
    "CheckReport",
    "ProblemData",
    "RoutingResult",
    "SingleOrderRouter",
    "SingleResult",
    "SolveParams",
    "Violation",
    "assignment_violations",
    "check_plan",
    "optimize",
    "price",
    "route_greedy",
    "total_cost",
]
