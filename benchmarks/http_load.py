"""Routing over HTTP with reservations persisted: latency at a fixed rate and the highest
sustained rate, measured with locust (headless, a second process) on loopback.

    python -m benchmarks.http_load [--store sqlite|postgres] [--workers N]
        [--rates 200,400,...] [--duration S] [--json out.json]

Starts a real server (uvicorn, ``--workers N``) on a fresh store (an SQLite file, or a
throwaway PostgreSQL server from ``tests/pg.py``), loads the US demo network and its stock,
then for each offered rate runs locust for ``--duration`` seconds with that many users at
one order per second each (1–5-line orders from a generated US day, fresh ids), and reads
locust's aggregate: achieved requests/s, p50, p99, failures. The highest sustained rate is
the highest offered rate whose achieved rate is within 5 % of it, with p99 under 100 ms and
no failures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from router.generate import generate
from router.service import RoutingService, Settings

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


def run_locust(
    host: str, users: int, duration: int, env: dict[str, str], out: Path
) -> dict[str, float]:
    prefix = out / f"u{users}"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "benchmarks" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(max(users // 2, 1)),
        "-t",
        f"{duration}s",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "ERROR",
        "--stop-timeout",
        "5",
    ]
    subprocess.run(cmd, env=env, cwd=ROOT, check=False, capture_output=True, timeout=duration + 120)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    agg = rows["Aggregated"]
    return {
        "offered_rps": float(users),
        "achieved_rps": float(agg["Requests/s"]),
        "requests": float(agg["Request Count"]),
        "failures": float(agg["Failure Count"]),
        "p50_ms": float(agg["50%"]),
        "p90_ms": float(agg["90%"]),
        "p99_ms": float(agg["99%"]),
        "max_ms": float(agg["Max Response Time"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--rates", default="100,200,300,400,600,800")
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--orders", type=int, default=20000, help="size of the order pool")
    p.add_argument("--json", help="write the measurements here")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="http-load-"))
    pg = None
    if args.store == "postgres":
        sys.path.insert(0, str(ROOT))
        from tests.pg import start_postgres

        pg = start_postgres()
        url = pg.new_database()
    else:
        url = f"sqlite:///{tmp / 'router.db'}"
    key = secrets.token_urlsafe(16)
    settings = Settings(database_url=url, api_keys=f"{key}:admin")
    print("loading the US demo network ...", file=sys.stderr)
    problem = generate("us", args.orders, seed=7)
    svc = RoutingService(settings)
    svc.load_problem({**problem, "orders": []})
    svc.close()
    pool = tmp / "orders.json"
    pool.write_text(json.dumps([o for o in problem["orders"] if 1 <= len(o["lines"]) <= 5]))

    port = _free_port()
    env = {
        **os.environ,
        "ROUTER_DATABASE_URL": url,
        "ROUTER_API_KEYS": f"{key}:admin",
        "ROUTER_BENCH_ORDERS": str(pool),
        "ROUTER_BENCH_KEY": key,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    results: list[dict[str, float]] = []
    try:
        host = f"http://127.0.0.1:{port}"
        _wait_healthy(host, server)
        for rate in (int(r) for r in args.rates.split(",")):
            print(f"offered {rate} req/s for {args.duration} s ...", file=sys.stderr)
            r = run_locust(host, rate, args.duration, env, tmp)
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
            if r["p99_ms"] > 1000 or r["achieved_rps"] < 0.8 * rate:
                break  # far past saturation: stop
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if pg is not None:
            pg.stop()

    sustained = [
        r
        for r in results
        if r["achieved_rps"] >= 0.95 * r["offered_rps"] and r["p99_ms"] < 100 and not r["failures"]
    ]
    best = max((r["achieved_rps"] for r in sustained), default=0.0)
    machine = f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"
    print(f"\n{args.store}, {args.workers} worker(s), {machine}, {time.strftime('%Y-%m-%d')}")
    print("| offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | max ms | failures |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['offered_rps']:.0f} | {r['achieved_rps']:.1f} | {r['p50_ms']:.0f} | "
            f"{r['p90_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['failures']:.0f} |"
        )
    print(f"highest sustained rate with p99 < 100 ms: {best:.0f} req/s")
    if args.json:
        doc: dict[str, Any] = {
            "store": args.store,
            "workers": args.workers,
            "machine": machine,
            "results": results,
            "sustained_rps": best,
        }
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
