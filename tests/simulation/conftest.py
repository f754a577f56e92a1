"""Small scenarios that replay in a fraction of a second."""

from __future__ import annotations

from typing import Any

import pytest

from router.simulation.scenario import Scenario, deep_merge, validate_scenario

SMALL: dict[str, Any] = {
    "name": "small",
    "days": 3,
    "seeds": 2,
    "network": {"demo": "vn", "seed": 3, "stores": 8, "skus": 40},
    "demand": {
        "orders_per_day": 60,
        "walkins_per_store": 6,
        "returns": {"rate": 0.2, "delay_days": 1},
    },
    "replenishment": {"warehouse": {"every_days": 1}, "store": {"every_days": 1}},
    "policy": {"kind": "myopic"},
    "hindsight": {"time_limit_s": 2.0},
}


def small(**overrides: Any) -> Scenario:
    """The small scenario with some fields deep-merged over it."""
    return validate_scenario(deep_merge(SMALL, overrides))


@pytest.fixture
def small_scenario() -> Scenario:
    return small()
