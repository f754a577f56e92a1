"""The live state's database: engine, transactions and migrations, SQLite or PostgreSQL.

SQLite (the embedded default) runs in WAL mode with a busy timeout; every write
transaction starts with ``BEGIN IMMEDIATE`` so writers queue instead of failing half-way,
and reads run in deferred transactions that never block writers. PostgreSQL runs the
same statements under READ COMMITTED; the guarded updates (``... WHERE atp >= q``) take
row locks, so two transactions can never both take the last unit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from router.service.settings import Settings

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class RetryTransaction(Exception):
    """Raised inside a write transaction to roll it back and run it again from the start
    (a guarded update lost a race for stock under PostgreSQL)."""


def database_url(url: str) -> sa.URL:
    """The URL with a driver SQLAlchemy knows: ``postgresql://`` means psycopg 3."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Store:
    """Connections and transactions over one database; migrates it on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = database_url(settings.database_url)
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self._writers: AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else nullcontext()
        )
        if self.is_sqlite:
            if url.database and url.database != ":memory:":
                Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                url,
                connect_args={
                    "timeout": settings.busy_timeout_ms / 1000,
                    "check_same_thread": False,
                },
                pool_size=settings.pool_size,
                max_overflow=2 * settings.pool_size,
            )
            _sqlite_setup(self.engine, settings.busy_timeout_ms)
        else:
            self.engine = sa.create_engine(
                url,
                pool_size=settings.pool_size,
                max_overflow=2 * settings.pool_size,
                pool_pre_ping=True,
            )

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic); safe for several workers."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.exec_driver_sql("SELECT pg_advisory_lock(74291)")
                conn.commit()
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                if not self.is_sqlite:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(74291)")
                    conn.commit()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: a consistent snapshot that never blocks writers."""
        with self.engine.connect() as conn:
            conn.execution_options(readonly=True)
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: all of it commits, or none of it.

        On SQLite, writers of this process queue on a lock first: SQLite's own busy
        handler waits by sleeping (up to 100 ms a time), which under load turns a queue
        of millisecond transactions into seconds of latency. Other processes still meet
        at ``BEGIN IMMEDIATE`` and the busy timeout.
        """
        with self._writers, self.engine.connect() as conn, conn.begin():
            yield conn

    def transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, again from the start on a lost race."""
        attempts = self.settings.route_attempts
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except RetryTransaction:
                if attempt == attempts - 1:
                    raise
            except sa.exc.IntegrityError:
                # a concurrent transaction inserted the same order id or idempotency key:
                # run again, to see it and answer as if we had come second
                if attempt == attempts - 1:
                    raise
            except sa.exc.OperationalError as exc:
                if not _is_transient(exc) or attempt == attempts - 1:
                    raise
            time.sleep(0.002 * (attempt + 1))
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _is_transient(exc: sa.exc.OperationalError) -> bool:
    """Deadlocks and serialization failures (PostgreSQL) and a busy SQLite are retried."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, busy timeout; ``BEGIN IMMEDIATE`` for writes (SQLAlchemy recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get("readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
