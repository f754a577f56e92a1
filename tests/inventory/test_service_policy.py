"""The service's inventory-aware routing option (ROUTER_ROUTING_POLICY=inventory_aware)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.service.core import RoutingService
from router.service.settings import Settings
from tests.service.conftest import example_problem


def _orders(problem: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(o, id=f"x-{o['id']}") for o in problem["orders"]]


def test_inventory_aware_service_routes_validly(tmp_path: Path) -> None:
    problem = example_problem()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/r.db",
        api_keys="k:admin",
        routing_policy="inventory_aware",
        opportunity_recompute_s=0.0,  # recompute before every order
    )
    svc = RoutingService(settings)
    try:
        svc.load_problem(problem)
        assert svc.opportunity is not None
        answers = []
        for body in problem["orders"] + _orders(problem):
            answer, replay = svc.route(body)
            assert not replay
            answers.append(answer)
        costs = svc.opportunity.costs
        assert costs is not None  # a forecast exists once orders were seen
        assert costs.status in ("optimal", "empty")
        assert (costs.cost >= 0).all()
        inv = svc.inventory()
        assert all(s.on_hand >= s.reserved >= 0 for s in inv.inventory)
    finally:
        svc.close()


def test_unknown_policy_setting_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(routing_policy="clairvoyant")
