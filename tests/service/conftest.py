"""Fixtures of the service tests: a real database per test, SQLite file or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.service import RoutingService, Settings

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"


def example_problem() -> dict[str, Any]:
    return json.loads((EXAMPLES / "small-problem.json").read_text())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on both back ends, on a fresh database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'router.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def svc(database_url: str) -> Iterator[RoutingService]:
    """A service on a fresh database holding the contract example's network and stock."""
    service = RoutingService(Settings(database_url=database_url, api_keys="k:admin"))
    service.load_problem(example_problem())
    yield service
    service.close()
