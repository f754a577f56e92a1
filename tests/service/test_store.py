"""The store: Alembic migrations build exactly the schema the code uses, on both back ends,
and a second start (another worker) finds the schema current and changes nothing."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from router.service import RoutingService, Settings
from router.service.schema import metadata
from router.service.store import Store


def test_migrations_match_the_schema_of_the_code(database_url: str) -> None:
    store = Store(Settings(database_url=database_url))
    store.migrate()
    store.migrate()  # idempotent: a second worker starting finds nothing to do
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    store.dispose()
    assert diffs == []
    assert version == "0002"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    svc = RoutingService(Settings(database_url=f"sqlite:///{tmp_path}/r.db"))
    with svc.store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    svc.close()
