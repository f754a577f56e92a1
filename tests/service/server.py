"""A real uvicorn server in a subprocess, on loopback, for the HTTP-level service tests.

``Server(database_url, workers=N).start()`` runs
``python -m uvicorn api:create_app --factory --host 127.0.0.1 --port P --workers N`` from the
repository root with ``ROUTER_DATABASE_URL`` and ``ROUTER_API_KEYS`` in its environment, and
returns once ``/healthz`` answers and every worker has finished its start-up. ``stop()``
shuts it down gracefully (SIGTERM, then SIGKILL after a grace period); ``kill()`` is
``kill -9`` of its whole process group (uvicorn's supervisor and its workers) with no
warning, to simulate a crash. The server runs in its own session, so nothing it leaves
behind outlives ``kill()``.

``read_books()`` reads the live state straight from a database (not through the service)
and ``assert_books_balance()`` checks the reservation model's invariants on it; the
concurrency, crash and stateful tests all use them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import sqlalchemy as sa

from router.service import Settings, Store, schema

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
ADMIN_KEY = "adm-test-key"
API_KEYS = f"{ADMIN_KEY}:admin"
STARTED = "Application startup complete."


class ServerFailed(RuntimeError):
    """The server exited or did not come up in time; the message holds its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """One uvicorn server process (with its workers) over one database."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 1,
        api_keys: str = API_KEYS,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.workers = workers
        self.api_keys = api_keys
        self.extra_env = dict(env or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix="router-server-"))
        self._log_path = self._log_dir / "server.log"
        self._log_file = None
        self.starts = 0

    # -- life cycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        """Start the server (again, after ``stop()`` or ``kill()``) and wait until it serves.

        A new free port is taken each time; a start that loses its port to another
        process is retried.
        """
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("server is running already")
        last: ServerFailed | None = None
        for _ in range(3):
            try:
                self._spawn()
                self._wait_ready(timeout)
                return self
            except ServerFailed as exc:
                last = exc
                self.kill()
                if "address already in use" not in str(exc).lower():
                    break
        assert last is not None
        raise last

    def stop(self, grace: float = 15.0) -> int | None:
        """Graceful shutdown (SIGTERM to uvicorn, which stops its workers); kill if stuck."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        self._close_log()
        return proc.returncode

    def kill(self) -> None:
        """``kill -9`` the server and all its workers at once: a crash, not a shutdown."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group is the server's own session
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        self._reap_group()
        self._close_log()

    def close(self) -> None:
        """Stop the server and remove its logs: the end of this object's life."""
        self.stop()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- clients --------------------------------------------------------------------------

    def headers(self, key: str = ADMIN_KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def client(self, key: str = ADMIN_KEY, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(key), timeout=timeout)

    def async_client(
        self, key: str = ADMIN_KEY, timeout: float = 30.0, connections: int = 64
    ) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(
            base_url=self.url, headers=self.headers(key), timeout=timeout, limits=limits
        )

    def log(self) -> str:
        """Output of the current (or last) start."""
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    def logs(self, tail: int = 6000) -> str:
        """The last ``tail`` characters of every start's output, oldest first: print it
        before ``close()`` in a fixture, and pytest shows it when a test fails."""
        parts = []
        for n in range(1, self.starts + 1):
            with contextlib.suppress(OSError):
                text = (self._log_dir / f"server-{n}.log").read_text(errors="replace")
                parts.append(f"--- server start {n} ---\n{text[-tail:]}")
        return "\n".join(parts)

    # -- internals ------------------------------------------------------------------------

    def _spawn(self) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "ROUTER_DATABASE_URL": self.database_url,
                "ROUTER_API_KEYS": self.api_keys,
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        self._close_log()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self._log_path = self._log_dir / f"server-{self.starts}.log"
        self._log_file = self._log_path.open("wb")
        command = [
            sys.executable, "-m", "uvicorn", "api:create_app", "--factory",
            "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
            "--log-level", "info", "--no-access-log",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the workers too
        )

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise ServerFailed(
                        f"server exited with code {self.proc.returncode}:\n{self.log()[-4000:]}"
                    )
                if self.log().count(STARTED) >= self.workers:
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get("/healthz").status_code == 200:
                            return
                if time.monotonic() > deadline:
                    raise ServerFailed(f"server not ready in {timeout:g} s:\n{self.log()[-4000:]}")
                time.sleep(0.05)

    def _reap_group(self) -> None:
        """Make sure no process of the server's group is left (workers of a killed master)."""
        proc = self.proc
        if proc is None:
            return
        for _ in range(100):
            if not _group_alive(proc.pid):
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.02)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


# -- the books, read straight from the database ------------------------------------------


@dataclass
class Books:
    """The live state as stored, read in one snapshot, not through the service's API."""

    stock: dict[tuple[str, str], tuple[int, int, int]]
    """(node, sku) → (on_hand, reserved, safety_stock)."""
    orders: dict[str, tuple[str, dict[str, Any]]]
    """order id → (state, doc)."""
    reservations: dict[str, Counter[tuple[str, str]]]
    """order id → (node, sku) → qty, from the ``reservations`` table."""
    nodes: dict[str, tuple[int | None, int | None, int, int]]
    """node → (order_capacity, unit_capacity, open_shipments, open_units)."""
    idempotency: dict[str, dict[str, Any]]
    """key → stored answer."""

    def reserved_lines(self, order_id: str) -> Counter[tuple[str, str]]:
        """(node, sku) → qty of the order's shipments in state ``reserved``, per its plan."""
        return reserved_lines(self.orders[order_id][1]["plan"])


def reserved_lines(plan: dict[str, Any]) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for sh in plan["shipments"]:
        if sh["state"] == "reserved":
            for ln in sh["lines"]:
                out[(sh["node"], ln["sku"])] += ln["qty"]
    return out


def read_books(database: str | Store) -> Books:
    """The books of the database at ``database`` (a URL), or of an open :class:`Store`."""
    store = (
        database
        if isinstance(database, Store)
        else Store(Settings(database_url=database, api_keys=API_KEYS))
    )
    try:
        with store.read() as conn:
            s, o, r, n, i = (
                schema.stock.c,
                schema.orders.c,
                schema.reservations.c,
                schema.nodes.c,
                schema.idempotency.c,
            )
            stock = {
                (row.node, row.sku): (row.on_hand, row.reserved, row.safety_stock)
                for row in conn.execute(
                    sa.select(s.node, s.sku, s.on_hand, s.reserved, s.safety_stock)
                )
            }
            orders = {
                row.id: (row.state, dict(row.doc))
                for row in conn.execute(sa.select(o.id, o.state, o.doc))
            }
            reservations: dict[str, Counter[tuple[str, str]]] = {}
            for row in conn.execute(sa.select(r.order_id, r.node, r.sku, r.qty)):
                reservations.setdefault(row.order_id, Counter())[(row.node, row.sku)] += row.qty
            nodes = {
                row.id: (row.order_capacity, row.unit_capacity, row.open_shipments, row.open_units)
                for row in conn.execute(
                    sa.select(
                        n.id, n.order_capacity, n.unit_capacity, n.open_shipments, n.open_units
                    )
                )
            }
            idem = {
                row.key: dict(row.response) for row in conn.execute(sa.select(i.key, i.response))
            }
    finally:
        if store is not database:
            store.dispose()
    return Books(stock, orders, reservations, nodes, idem)


def assert_books_balance(books: Books) -> None:
    """The reservation model's invariants, on the stored state.

    Every order's reservation rows are exactly its plan's reserved shipments (so no order
    lacks its reservations and no reservation lacks its order); ``stock.reserved`` is the
    sum of open reservations; nothing is negative; each node's open work is its reserved
    shipments and units, within its capacities.
    """
    stray = set(books.reservations) - set(books.orders)
    assert not stray, f"reservations without an order: {sorted(stray)[:5]}"
    held: Counter[tuple[str, str]] = Counter()
    shipments: Counter[str] = Counter()
    units: Counter[str] = Counter()
    for oid, (_, doc) in books.orders.items():
        want = reserved_lines(doc["plan"])
        got = books.reservations.get(oid, Counter())
        assert got == want, f"order {oid}: reservation rows {dict(got)} != plan {dict(want)}"
        held.update(want)
        for sh in doc["plan"]["shipments"]:
            if sh["state"] == "reserved":
                shipments[sh["node"]] += 1
                units[sh["node"]] += sum(ln["qty"] for ln in sh["lines"])
    for pair, (on_hand, reserved, safety) in books.stock.items():
        assert on_hand >= 0 and reserved >= 0 and safety >= 0, (pair, on_hand, reserved)
        assert reserved == held.pop(pair, 0), f"{pair}: reserved {reserved} != open reservations"
    assert not +held, f"reservations of (node, sku) pairs without stock: {dict(held)}"
    for node, (order_cap, unit_cap, open_s, open_u) in books.nodes.items():
        assert (open_s, open_u) == (shipments.pop(node, 0), units.pop(node, 0)), node
        assert order_cap is None or open_s <= order_cap, (node, open_s, order_cap)
        assert unit_cap is None or open_u <= unit_cap, (node, open_u, unit_cap)
    assert not shipments, f"shipments reserved at unknown nodes: {dict(shipments)}"
