"""The routing core stays free of web, database and HTTP-client dependencies.

Only a future service layer (``router/service*``), storage layer (``router/store*``) and
the command line (``router/cli.py``) may pull those in. Each check runs in a fresh
interpreter, so modules imported by other tests cannot mask (or fake) a dependency.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTER = ROOT / "router"

FORBIDDEN = ("fastapi", "sqlite3", "psycopg", "psycopg2", "sqlalchemy", "httpx", "requests")
CORE = (
    "router.batch",
    "router.cost",
    "router.check",
    "router.greedy",
    "router.formulation",
    "router.backends",
    "router.candidates",
)
"""Named explicitly, so that a rename cannot silently drop them from the check."""


def _allowed_to_use_io(name: str) -> bool:
    return name.startswith(("service", "store")) or name == "cli"


def core_modules() -> list[str]:
    """Every module under router/, subpackages included (router.simulation,
    router.inventory, ...), except the service, storage and CLI layers."""
    found = set()
    for path in ROUTER.rglob("*.py"):
        parts = path.relative_to(ROUTER).with_suffix("").parts
        if _allowed_to_use_io(parts[0].removesuffix(".py")):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.add(".".join(("router", *parts)))
    return sorted(found | set(CORE))


def imported_after(modules: list[str]) -> list[str]:
    """Names in ``sys.modules`` after a fresh interpreter imports ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _offenders(loaded: list[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)


def test_core_list_is_complete() -> None:
    names = core_modules()
    assert set(CORE) <= set(names)
    assert "router.cli" not in names
    assert not any(n.startswith(("router.service", "router.store")) for n in names)


def test_core_modules_do_not_import_io_libraries() -> None:
    loaded = imported_after(core_modules())
    assert set(CORE) <= set(loaded)
    assert _offenders(loaded) == []


def test_the_check_sees_a_forbidden_import() -> None:
    """The detector itself: importing sqlite3 in the child is noticed."""
    assert "sqlite3" in _offenders(imported_after(["sqlite3"]))
