"""The README's main job end to end: `router serve --demo` in a subprocess on an empty
store, the curl it prints run as printed, and `router load`."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from router.cli import main
from router.service import RoutingService, Settings
from tests.service.server import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT.parent / "shared" / "examples"


def test_serve_demo_prints_a_working_curl(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")} | {
        "ROUTER_DATABASE_URL": f"sqlite:///{tmp_path / 'router.db'}"
    }
    out = tmp_path / "serve.log"
    with out.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, out.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("server did not start:\n" + out.read_text())
        text = out.read_text()
        assert "Loaded the Vietnam demo network" in text
        key = re.search(r"API key for this run.*: (\S+)", text)
        assert key, text
        curl = text[text.index("curl -s") :].split("\n\n")[0]
        cmd = shlex.split(curl.replace("\\\n", " "))
        assert cmd[0] == "curl"
        # run what the README tells a newcomer to run, with httpx standing in for curl
        body = json.loads(cmd[cmd.index("-d") + 1])
        headers = dict(
            h.split(": ", 1) for h in (cmd[i + 1] for i, a in enumerate(cmd) if a == "-H")
        )
        r = httpx.post(cmd[cmd.index("POST") + 1], json=body, headers=headers, timeout=10)
        assert r.status_code == 201, r.text
        assert r.json()["plan"]["status"] == "fulfilled"
        assert r.json()["state"] == "reserved"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_load_puts_a_problem_file_into_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'router.db'}"
    monkeypatch.setenv("ROUTER_DATABASE_URL", url)
    assert main(["load", str(EXAMPLES / "small-problem.json")]) == 0
    assert "Loaded 6 nodes" in capsys.readouterr().out
    svc = RoutingService(Settings(database_url=url))
    assert [n.id for n in svc.get_network().nodes][:2] == ["W0001", "W0002"]
    assert svc.inventory(node="W0001", sku="SKU00003").inventory[0].on_hand == 30
    svc.close()

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "nodes": [],
                "skus": [],
                "rates": [],
                "inventory": [{"node": "X", "sku": "Y", "on_hand": -1}],
                "orders": [],
            }
        )
    )
    assert main(["load", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "inventory[0].on_hand" in err and "inventory[0].node" in err
