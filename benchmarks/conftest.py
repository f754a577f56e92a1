"""pytest configuration of the benchmark suite: the ``slow`` marker."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: minutes-long benchmarks (60 s peers on us-1000x100, us-day); "
        "deselect with -m 'not slow'",
    )
