"""Scenario files: merged, validated, and every error named by its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import BadInput
from router.simulation import load_scenario
from router.simulation.scenario import validate_scenario
from tests.simulation.conftest import SMALL, small

REPO = Path(__file__).resolve().parents[2]


def _paths(exc: BadInput) -> set[str]:
    return {e.path for e in exc.errors}


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_bad_yaml_is_bad_input(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yaml", "days: [1, 2\nnetwork: {demo: vn")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_scenario(p)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="mapping"):
        load_scenario(write(tmp_path, "list.yaml", "- 1\n- 2\n"))


def test_every_error_named_by_path(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "s.yaml",
        "days: -1\nnetwork: {demo: vn}\npolicy: {kind: psychic}\n"
        "demand: {pickup_share: 1.5, colour: blue}\n",
    )
    with pytest.raises(BadInput) as info:
        load_scenario(p)
    paths = _paths(info.value)
    assert {"days", "policy.kind", "demand.pickup_share", "demand.colour"} <= paths
    assert "unknown policy 'psychic'" in str(info.value)


def test_returns_come_back_a_day_later_at_the_earliest() -> None:
    """A same-day return would be scheduled after the day's events were drawn and never
    restock (a reviewer's finding): refused, by its path."""
    with pytest.raises(BadInput) as info:
        small(demand={"returns": {"rate": 0.2, "delay_days": 0}})
    assert _paths(info.value) == {"demand.returns.delay_days"}


def test_unknown_node_in_change() -> None:
    with pytest.raises(BadInput) as info:
        small(
            changes=[
                {"day": 1, "node": "W-NOPE", "enabled": False},
                {"day": 0, "nodes": ["W-SGN", "S9999"], "can_ship": False},
                {"day": 9, "ship_from_store": False},
            ]
        )
    assert _paths(info.value) == {"changes[0].node", "changes[1].nodes[1]", "changes[2].day"}


def test_change_needs_an_action_and_a_target() -> None:
    with pytest.raises(BadInput) as info:
        small(changes=[{"day": 1}, {"day": 1, "enabled": False}])
    assert _paths(info.value) == {"changes[0]", "changes[1]"}


def test_network_needs_exactly_one_source() -> None:
    data = {**SMALL, "network": {"demo": "vn", "file": "x.json"}}
    with pytest.raises(BadInput) as info:
        validate_scenario(data)
    assert _paths(info.value) == {"network"}


def test_inline_network_errors_carry_the_path() -> None:
    inline = {
        "nodes": [{"id": "A", "type": "warehouse", "lat": 100, "lon": 0}],
        "skus": [{"id": "X"}],
        "rates": [],
        "inventory": [{"node": "B", "sku": "X", "on_hand": 1}],
    }
    with pytest.raises(BadInput) as info:
        validate_scenario({**SMALL, "network": {"inline": inline}})
    assert "network.inline.nodes[0].lat" in _paths(info.value)


def test_extends_deep_merges_and_names_by_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        "days: 2\nnetwork: {demo: vn, stores: 6, skus: 30}\n"
        "demand: {orders_per_day: 40, pickup_share: 0.3}\n",
    )
    alt = write(tmp_path, "alt.yaml", "extends: base.yaml\ndemand: {orders_per_day: 10}\n")
    sc = load_scenario(alt)
    assert sc.name == "alt"
    assert sc.days == 2
    assert sc.demand.orders_per_day == 10
    assert sc.demand.pickup_share == 0.3


def test_extends_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(BadInput, match="cycle"):
        load_scenario(tmp_path / "a.yaml")


def test_file_network_relative_to_the_yaml(tmp_path: Path) -> None:
    src = REPO.parent / "shared" / "examples" / "small-problem.json"
    if not src.exists():
        pytest.skip("shared example not present")
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "p.json").write_text(src.read_text())
    p = write(
        tmp_path,
        "f.yaml",
        "days: 2\nseeds: 1\nnetwork: {file: net/p.json}\n"
        "demand: {orders_per_day: 5}\nhindsight: {enabled: false}\n",
    )
    sc = load_scenario(p)
    from router.simulation import run

    assert run(sc).kpis["orders"].mean == 10


def test_example_scenarios_are_valid() -> None:
    files = sorted((REPO / "scenarios").glob("*.yaml"))
    assert len(files) >= 7
    for f in files:
        sc = load_scenario(f)
        assert sc.name == f.stem


def test_rebalancing_with_the_hindsight_bound_is_refused() -> None:
    """The bound does not know about transfers: asking for both is an error, not a wrong
    number."""
    from models import BadInput
    from router.simulation.scenario import validate_scenario
    from tests.simulation.conftest import SMALL

    with pytest.raises(BadInput) as err:
        validate_scenario({**SMALL, "rebalance": {"every_days": 2}})
    assert "rebalancing" in str(err.value)
    validate_scenario({**SMALL, "rebalance": {"every_days": 2}, "hindsight": {"enabled": False}})
